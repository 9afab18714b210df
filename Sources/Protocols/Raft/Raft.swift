import BenchCore

/// Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm", 2014, and
/// Ongaro's dissertation, 2014), as a pure state machine: leader election with pre-vote, log
/// replication with batching and pipelining, linearizable reads through the log or by ReadIndex.
public enum Raft {}

extension Raft {
    /// How reads are served.
    public enum ReadMode: String, Sendable, CaseIterable {
        /// A read is a log entry like a write: committed, then applied, then answered.
        case log
        /// ReadIndex (dissertation §6.4): the leader notes its commit index, confirms it still leads
        /// with one heartbeat round, and answers once it has applied up to the noted index.
        case readIndex = "readindex"
        /// Leader lease (dissertation §6.4.1; etcd's `ReadOnlyLeaseBased`): a leader whose last
        /// quorum-acknowledged heartbeat round was sent at `t` (its own clock) answers reads from its
        /// state machine at once until `t + electionTimeout − leaseMargin`, provided it has committed
        /// an entry of its term; otherwise the read takes the ReadIndex path. Safe only because
        /// followers refuse votes for an election timeout after hearing from a leader, and only
        /// while clocks drift apart by less than `leaseMargin` over one election timeout.
        case lease
    }

    /// Raft's tunables. Defaults suit loopback clusters and the simulator's default network.
    public struct Settings: ReplicaSettings {
        /// The shortest election timeout; each timeout is drawn uniformly from [this, 2 × this).
        public var electionTimeout: Duration = .milliseconds(300)
        public var heartbeatInterval: Duration = .milliseconds(50)
        /// Batching: the most entries, and bytes, one AppendEntries carries.
        public var batchEntriesMax: Int = 512
        public var batchBytesMax: Int = 1 << 20
        /// Pipelining: the most AppendEntries in flight to one follower before it acknowledges.
        public var inflightMax: Int = 8
        /// The most entries a leader holds uncommitted before it refuses new requests (overload).
        public var uncommittedEntriesMax: Int = 65_536
        /// Pre-vote (dissertation §9.6): a node asks whether it could win before it disrupts a term.
        public var preVote = true
        /// A leader that has not heard from a majority within an election timeout steps down.
        public var checkQuorum = true
        public var readMode: ReadMode = .readIndex
        /// Lease mode: how much shorter than the election timeout a lease is, to cover the clock
        /// rate difference between the leader and its followers over one election timeout.
        /// At least 0 and below `electionTimeout`.
        public var leaseMargin: Duration = .milliseconds(10)

        /// Deliberately broken variants, for tests that prove the checks can fail. Never on in a measurement.
        public var unsafeVoteTwice = false
        public var unsafeCommitPreviousTerms = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "election-timeout":
                let timeout = try SettingValue.duration(key, value)
                try Self.checkLease(readMode, margin: leaseMargin, electionTimeout: timeout, key, value)
                electionTimeout = timeout
            case "heartbeat-interval": heartbeatInterval = try SettingValue.duration(key, value)
            case "batch-entries": batchEntriesMax = try SettingValue.int(key, value, in: 1...65_536)
            case "batch-bytes": batchBytesMax = try SettingValue.int(key, value, in: 1_024...(64 << 20))
            case "inflight": inflightMax = try SettingValue.int(key, value, in: 1...1_024)
            case "uncommitted-max": uncommittedEntriesMax = try SettingValue.int(key, value, in: 1...(1 << 24))
            case "pre-vote": preVote = try SettingValue.bool(key, value)
            case "check-quorum": checkQuorum = try SettingValue.bool(key, value)
            case "read-mode":
                guard let mode = ReadMode(rawValue: value.lowercased()) else {
                    throw .invalid(key, value, expected: "one of \(ReadMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                try Self.checkLease(mode, margin: leaseMargin, electionTimeout: electionTimeout, key, value)
                readMode = mode
            case "lease-margin":
                let margin = try SettingValue.duration(key, value)
                guard margin >= .zero else { throw .invalid(key, value, expected: "a duration of at least 0") }
                try Self.checkLease(readMode, margin: margin, electionTimeout: electionTimeout, key, value)
                leaseMargin = margin
            case "unsafe-vote-twice": unsafeVoteTwice = try SettingValue.bool(key, value)
            case "unsafe-commit-previous-terms": unsafeCommitPreviousTerms = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "raft")
            }
        }

        /// A lease must be positive: in lease mode the margin stays below the election timeout.
        /// Checked before any of the three settings changes, so a refused value leaves the settings as they were.
        static func checkLease(_ mode: ReadMode, margin: Duration, electionTimeout: Duration,
                               _ key: String, _ value: String) throws(SettingError) {
            guard mode == .lease else { return }
            guard margin >= .zero, margin < electionTimeout else {
                throw .invalid(key, value, expected: "consistent with lease-margin (\(margin)) below election-timeout (\(electionTimeout))")
            }
        }

        public var parameters: [(key: String, value: String)] {
            [("election-timeout", electionTimeout.description), ("heartbeat-interval", heartbeatInterval.description),
             ("batch-entries", "\(batchEntriesMax)"), ("batch-bytes", "\(batchBytesMax)"), ("inflight", "\(inflightMax)"),
             ("uncommitted-max", "\(uncommittedEntriesMax)"), ("pre-vote", "\(preVote)"), ("check-quorum", "\(checkQuorum)"),
             ("read-mode", readMode.rawValue), ("lease-margin", leaseMargin.description), ("unsafe-vote-twice", "\(unsafeVoteTwice)"),
             ("unsafe-commit-previous-terms", "\(unsafeCommitPreviousTerms)")]
        }
    }

    /// Raft's timers.
    public enum Timers {
        public static let election = TimerID(1)
        public static let heartbeat = TimerID(2)
    }
}
