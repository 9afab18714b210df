import BenchCore

/// Paxos as a replicated log, as a pure state machine. Every node is proposer, acceptor and learner.
///
/// - `multi` (the default): Multi-Paxos as in Lamport, "Paxos Made Simple" (2001), §3, and van Renesse &
///   Altinbuken, "Paxos Made Moderately Complex" (2015): a leader runs phase 1 once for every slot
///   above its commit point, adopts the highest-ballot value of each open slot, fills gaps with
///   no-ops, and then runs only phase 2 per slot, batched and pipelined.
/// - `basic`: single-decree Paxos per slot ("Paxos Made Simple", §2): whichever node receives a
///   command runs phase 1 and phase 2 for a slot of its own; concurrent proposers for one slot are
///   resolved by ballots and a randomized back-off. It exists to show what a stable leader buys.
public enum MultiPaxos {}

extension MultiPaxos {
    /// Which Paxos runs.
    public enum Mode: String, Sendable, CaseIterable {
        /// A stable leader: phase 1 once per leadership, phase 2 per slot.
        case multi
        /// No leader: phase 1 and phase 2 for every command.
        case basic
    }

    /// How a multi-mode leader serves reads.
    public enum ReadMode: String, Sendable, CaseIterable {
        /// A read takes a slot like a write: chosen, then applied, then answered.
        case log
        /// Leader lease (Raft dissertation §6.4.1, carried over to Paxos): a leader whose last
        /// heartbeat round acknowledged by a majority was sent at `t` (its own clock) answers reads
        /// from its state machine at once until `t + electionTimeout − leaseMargin`, once every slot
        /// it recovered in phase 1 is chosen; otherwise the read goes through the log. Safe because
        /// acceptors promise no other ballot for an election timeout after hearing from a leader,
        /// and only while clocks drift apart by less than `leaseMargin` over one election timeout.
        /// Basic mode has no leader and ignores it.
        case lease
    }

    /// The tunables. Defaults suit loopback clusters and the simulator's default network.
    public struct Settings: ReplicaSettings {
        public var mode: Mode = .multi
        /// A follower that has not heard from a leader for a time drawn uniformly from
        /// [this, 2 × this) starts phase 1 (multi mode).
        public var electionTimeout: Duration = .milliseconds(300)
        /// A leader's heartbeat period (multi); the period of learners' catch-up exchange (basic).
        public var heartbeatInterval: Duration = .milliseconds(50)
        /// A phase-1 or phase-2 message not answered within this is sent again to whoever did not answer.
        public var retryTimeout: Duration = .milliseconds(20)
        /// Basic mode: after a rejection a proposer waits a uniform time in [0, backoff × 2^attempts)
        /// (attempts capped at 6) before it tries the slot again with a higher ballot.
        public var backoff: Duration = .milliseconds(1)
        /// Batching: the most values, and bytes, one Accept (or Promise chunk, or Learn) carries.
        public var batchEntriesMax: Int = 512
        public var batchBytesMax: Int = 1 << 20
        /// Pipelining: the most Accept batches a leader has outstanding (multi); the most slots a
        /// node proposes at once (basic).
        public var inflightMax: Int = 8
        /// The most commands a node holds unchosen (queued or proposed) before it refuses new ones.
        public var uncommittedEntriesMax: Int = 65_536
        /// A leader that has not heard from a majority within an election timeout stops leading.
        public var checkQuorum = true
        public var readMode: ReadMode = .log
        /// Lease mode: how much shorter than the election timeout a lease is, to cover the clock
        /// rate difference between the leader and the acceptors over one election timeout.
        /// At least 0 and below `electionTimeout`.
        public var leaseMargin: Duration = .milliseconds(10)

        /// Deliberately broken: a new leader (or basic proposer) ignores the values in its peers'
        /// promises and proposes its own, so a value already chosen can be overwritten. For tests
        /// that prove the checks can fail; never on in a measurement.
        public var unsafeSkipRecovery = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "mode":
                guard let mode = Mode(rawValue: value.lowercased()) else {
                    throw .invalid(key, value, expected: "one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                self.mode = mode
            case "election-timeout":
                let timeout = try Self.positive(key, value)
                try Self.checkLease(readMode, margin: leaseMargin, electionTimeout: timeout, key, value)
                electionTimeout = timeout
            case "heartbeat-interval": heartbeatInterval = try Self.positive(key, value)
            case "retry-timeout": retryTimeout = try Self.positive(key, value)
            case "backoff": backoff = try Self.positive(key, value)
            case "batch-entries": batchEntriesMax = try SettingValue.int(key, value, in: 1...65_536)
            case "batch-bytes": batchBytesMax = try SettingValue.int(key, value, in: 1_024...(8 << 20))
            case "inflight": inflightMax = try SettingValue.int(key, value, in: 1...1_024)
            case "uncommitted-max": uncommittedEntriesMax = try SettingValue.int(key, value, in: 1...(1 << 24))
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
            case "unsafe-skip-recovery": unsafeSkipRecovery = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "paxos")
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

        /// Lease reads are on: lease mode, with a leader to hold the lease.
        var leaseReads: Bool { readMode == .lease && mode == .multi }

        static func positive(_ key: String, _ text: String) throws(SettingError) -> Duration {
            let duration = try SettingValue.duration(key, text)
            guard duration > .zero else { throw .invalid(key, text, expected: "a positive duration") }
            return duration
        }

        public var parameters: [(key: String, value: String)] {
            [("mode", mode.rawValue), ("election-timeout", electionTimeout.description),
             ("heartbeat-interval", heartbeatInterval.description), ("retry-timeout", retryTimeout.description),
             ("backoff", backoff.description), ("batch-entries", "\(batchEntriesMax)"), ("batch-bytes", "\(batchBytesMax)"),
             ("inflight", "\(inflightMax)"), ("uncommitted-max", "\(uncommittedEntriesMax)"),
             ("check-quorum", "\(checkQuorum)"), ("read-mode", readMode.rawValue),
             ("lease-margin", leaseMargin.description), ("unsafe-skip-recovery", "\(unsafeSkipRecovery)")]
        }
    }

    /// The timers.
    public enum Timers {
        /// Multi mode: no word from a leader for too long (or a phase 1 that did not finish): start phase 1.
        public static let election = TimerID(1)
        /// Multi mode: the leader's heartbeat. Basic mode: the learners' catch-up exchange and gap check.
        public static let heartbeat = TimerID(2)
        /// Resends unanswered phase-1 and phase-2 messages; ends a basic proposer's back-off.
        public static let retry = TimerID(3)
    }

    /// A ballot (proposal number): a round and the node that owns it, ordered by round, then node.
    /// Two proposers never share a ballot, because each owns its node id.
    public struct Ballot: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var round: UInt64
        public var node: NodeID

        public static let zero = Ballot(round: 0, node: NodeID(0))
        /// Node ids must fit the low 16 bits of the `Term` encoding.
        public static let nodeLimit: UInt32 = 0xFFFF
        /// Rounds must fit the high 48 bits of the `Term` encoding.
        public static let roundLimit: UInt64 = 1 << 48

        @inlinable public init(round: UInt64, node: NodeID) {
            self.round = round
            self.node = node
        }

        @inlinable public static func < (a: Ballot, b: Ballot) -> Bool {
            a.round < b.round || (a.round == b.round && a.node < b.node)
        }

        /// The ballot as a log entry's term: round in the high 48 bits, node in the low 16, so that
        /// term order is ballot order for every ballot that passes `isEncodable`.
        @inlinable public var term: Term { Term(round << 16 | UInt64(node.rawValue & Ballot.nodeLimit)) }

        /// The ballot a term encodes (the inverse of `term`).
        @inlinable public init(term: Term) {
            self.init(round: term.rawValue >> 16, node: NodeID(UInt32(term.rawValue & UInt64(Ballot.nodeLimit))))
        }

        /// Whether `term` represents this ballot exactly.
        @inlinable public var isEncodable: Bool { round < Ballot.roundLimit && node.rawValue <= Ballot.nodeLimit }

        /// An acceptor's promise as the hard state holds it: term = round, vote = node.
        @inlinable public var hardState: HardState {
            HardState(term: Term(round), vote: round == 0 && node.rawValue == 0 ? nil : node)
        }

        /// The promise a hard state records.
        @inlinable public init(hardState: HardState) {
            self.init(round: hardState.term.rawValue, node: hardState.vote ?? NodeID(0))
        }

        public var description: String { "b\(round).\(node.rawValue)" }
    }
}

extension MultiPaxos.Ballot: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(round); writer.write(node)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(round: try reader.readUInt64(), node: try reader.read(NodeID.self))
    }
}
