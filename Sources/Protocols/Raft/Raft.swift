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

        /// Deliberately broken variants, for tests that prove the checks can fail. Never on in a measurement.
        public var unsafeVoteTwice = false
        public var unsafeCommitPreviousTerms = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "election-timeout": electionTimeout = try SettingValue.duration(key, value)
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
                readMode = mode
            case "unsafe-vote-twice": unsafeVoteTwice = try SettingValue.bool(key, value)
            case "unsafe-commit-previous-terms": unsafeCommitPreviousTerms = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "raft")
            }
        }

        public var parameters: [(key: String, value: String)] {
            [("election-timeout", electionTimeout.description), ("heartbeat-interval", heartbeatInterval.description),
             ("batch-entries", "\(batchEntriesMax)"), ("batch-bytes", "\(batchBytesMax)"), ("inflight", "\(inflightMax)"),
             ("uncommitted-max", "\(uncommittedEntriesMax)"), ("pre-vote", "\(preVote)"), ("check-quorum", "\(checkQuorum)"),
             ("read-mode", readMode.rawValue), ("unsafe-vote-twice", "\(unsafeVoteTwice)"),
             ("unsafe-commit-previous-terms", "\(unsafeCommitPreviousTerms)")]
        }
    }

    /// Raft's timers.
    public enum Timers {
        public static let election = TimerID(1)
        public static let heartbeat = TimerID(2)
    }
}
