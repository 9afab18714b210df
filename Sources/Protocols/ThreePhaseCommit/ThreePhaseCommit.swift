import BenchCore

/// Three-phase commit (Skeen, "Nonblocking Commit Protocols", SIGMOD 1981; Bernstein, Hadzilacos &
/// Goodman, "Concurrency Control and Recovery in Database Systems", 1987, §7.5) over the same
/// sharded bank as `TwoPhaseCommit`, with the same no-wait locking, records and inspection.
///
/// CanCommit (vote), PreCommit (every participant acknowledges it is committable), DoCommit. A
/// pre-commit round means no participant can have committed while an operational one is still
/// uncertain, so when the coordinator fails the participants terminate on their own: the lowest
/// operational participant that times out collects the others' states and decides (any committed →
/// commit; any aborted → abort; any pre-committed → pre-commit the uncertain ones, then commit; all
/// uncertain → abort). A node that crashes after voting is "recovered" for that transaction: it
/// does not count in a termination and learns the outcome by asking.
///
/// The price: failures are detected by timeouts. Under a network partition the two sides each
/// believe the other crashed, and one can commit while the other aborts. Tests count those
/// violations rather than hide them.
public enum ThreePhaseCommit {}

extension ThreePhaseCommit {
    public typealias TxID = AtomicCommit.TxID

    /// 3PC's tunables. Every timeout is checked on a periodic tick, so it fires within one tick.
    public struct Settings: ReplicaSettings {
        public var tickInterval: Duration = .milliseconds(5)
        /// How long a coordinator waits for votes before it aborts.
        public var voteTimeout: Duration = .milliseconds(50)
        /// How long a coordinator waits for pre-commit acknowledgements before it treats the silent
        /// participants as crashed and commits (Skeen's rule); also a backup's wait in its own
        /// pre-commit round.
        public var ackTimeout: Duration = .milliseconds(100)
        /// How long an operational participant waits in the uncertain or pre-committed state
        /// before it starts the termination protocol (plus `terminationStagger` per participant
        /// with a lower id, so the lowest live id normally goes first).
        public var uncertainTimeout: Duration = .milliseconds(150)
        public var terminationStagger: Duration = .milliseconds(30)
        /// How long a backup coordinator collects states before it decides with those it has.
        public var terminationTimeout: Duration = .milliseconds(60)
        /// How often silent peers are asked again (votes, acknowledgements, states).
        public var retryInterval: Duration = .milliseconds(10)
        /// How often a participant in doubt asks the coordinator for the outcome before the
        /// termination protocol starts (a lost abort is not resent), and how often a recovered
        /// participant (or a coordinator that lost its authority) asks everyone.
        public var inquiryInterval: Duration = .milliseconds(20)
        public var inflightMax: Int = 1_024
        public var sharedHoldersMax: Int = 64
        /// Locking as in 2PC: wait-die by default, bounded waits.
        public var lockPolicy: AtomicCommit.LockPolicy = .waitDie
        public var lockWaitMax: Duration = .milliseconds(20)
        public var waitersMax: Int = 256

        /// Deliberately broken: the termination protocol aborts even when a participant is
        /// pre-committed (so a transaction the coordinator committed can be aborted by the rest).
        /// Tests must catch it. Never in a measurement.
        public var unsafeAbortPrecommitted = false

        public init() {}

        /// As in 2PC: how long an unreleased read keeps its shared locks, and how long a restarted
        /// node refuses writes because its shared locks were lost.
        public var readLockTimeout: Duration { voteTimeout * 2 }

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "tick-interval": tickInterval = try TwoPhaseCommit.Settings.positive(key, value)
            case "vote-timeout": voteTimeout = try TwoPhaseCommit.Settings.positive(key, value)
            case "ack-timeout": ackTimeout = try TwoPhaseCommit.Settings.positive(key, value)
            case "uncertain-timeout": uncertainTimeout = try TwoPhaseCommit.Settings.positive(key, value)
            case "termination-stagger": terminationStagger = try SettingValue.duration(key, value)
            case "termination-timeout": terminationTimeout = try TwoPhaseCommit.Settings.positive(key, value)
            case "retry-interval": retryInterval = try TwoPhaseCommit.Settings.positive(key, value)
            case "inquiry-interval": inquiryInterval = try TwoPhaseCommit.Settings.positive(key, value)
            case "inflight": inflightMax = try SettingValue.int(key, value, in: 1...65_536)
            case "shared-holders": sharedHoldersMax = try SettingValue.int(key, value, in: 1...1_024)
            case "lock-policy": lockPolicy = try TwoPhaseCommit.Settings.lockPolicy(key, value)
            case "lock-wait": lockWaitMax = try SettingValue.duration(key, value)
            case "waiters": waitersMax = try SettingValue.int(key, value, in: 0...65_536)
            case "unsafe-abort-precommitted": unsafeAbortPrecommitted = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: ThreePhaseCommit.Instance.name)
            }
        }

        public var parameters: [(key: String, value: String)] {
            [("tick-interval", tickInterval.description), ("vote-timeout", voteTimeout.description),
             ("ack-timeout", ackTimeout.description), ("uncertain-timeout", uncertainTimeout.description),
             ("termination-stagger", terminationStagger.description), ("termination-timeout", terminationTimeout.description),
             ("retry-interval", retryInterval.description), ("inquiry-interval", inquiryInterval.description),
             ("inflight", "\(inflightMax)"), ("shared-holders", "\(sharedHoldersMax)"),
             ("lock-policy", lockPolicy.rawValue), ("lock-wait", lockWaitMax.description), ("waiters", "\(waitersMax)"),
             ("unsafe-abort-precommitted", "\(unsafeAbortPrecommitted)")]
        }
    }

    public enum Timers {
        /// Drives every timeout and retransmission.
        public static let tick = TimerID(1)
    }

    /// Who may drive a transaction forward: the coordinator holds ballot (0, itself); a backup
    /// elected by the termination protocol takes a higher round. A participant follows only the
    /// highest ballot it has seen, so a superseded coordinator or backup cannot pre-commit it.
    public struct Ballot: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var round: UInt32
        public var node: NodeID

        public init(round: UInt32, node: NodeID) {
            self.round = round
            self.node = node
        }

        public static let zero = Ballot(round: 0, node: NodeID(0))
        public static func < (a: Ballot, b: Ballot) -> Bool { (a.round, a.node) < (b.round, b.node) }
        public var description: String { "b\(round).\(node.rawValue)" }
    }

    /// What a node knows of a transaction, as it reports it to a backup or an inquirer.
    public enum State: UInt8, Hashable, Sendable {
        /// Not a participant, and no decision known here.
        case none = 0
        /// Voted YES; not yet pre-committed (Skeen's w).
        case uncertain = 1
        /// Pre-committed (Skeen's p).
        case precommitted = 2
        case committed = 3
        case aborted = 4

        var isDecided: Bool { self == .committed || self == .aborted }
    }

    /// A node's answer to a state request (or to a pre-commit it refuses).
    public struct Report: Hashable, Sendable {
        public var state: State
        /// True for a participant in doubt that has not crashed since it voted.
        public var operational: Bool
        /// True when the answering node coordinates the transaction and may still decide it.
        public var coordinatorActive: Bool
        /// The highest ballot the node follows for this transaction.
        public var promised: Ballot
    }
}
