import BenchCore

/// Two-phase commit (Gray, "Notes on Data Base Operating Systems", 1978; Bernstein, Hadzilacos &
/// Goodman, "Concurrency Control and Recovery in Database Systems", 1987, ch. 7) over a sharded
/// bank, with presumed abort (Mohan, Lindsay & Obermarck, 1986) and strict no-wait two-phase locking.
///
/// The node a client asks coordinates: it sends PREPARE to the owners of the accounts; each locks
/// them, checks the balances, logs its vote and (once the vote is durable) votes; the coordinator
/// logs COMMIT iff every vote is YES and sends the decision once it is durable. A participant that
/// voted YES is in doubt until it hears the decision; if the coordinator is down it stays blocked,
/// holding its locks and asking periodically — the protocol's known weakness, measured as
/// `blocked_max_ms`. Reads run as read-only two-phase transactions under shared locks.
public enum TwoPhaseCommit {}

extension TwoPhaseCommit {
    /// 2PC's tunables. Every timeout is checked on a periodic tick, so it fires within one tick.
    public struct Settings: ReplicaSettings {
        /// The period of the tick that drives every timeout and retransmission.
        public var tickInterval: Duration = .milliseconds(5)
        /// How long a coordinator waits for votes before it aborts.
        public var voteTimeout: Duration = .milliseconds(50)
        /// How often a coordinator resends PREPARE (to silent participants) and COMMIT (to
        /// participants that have not acknowledged it).
        public var retryInterval: Duration = .milliseconds(10)
        /// How long a participant in doubt waits before asking the coordinator for the decision,
        /// and between its questions (a lost abort is not resent: presumed abort).
        public var inquiryInterval: Duration = .milliseconds(20)
        /// The most transactions one node coordinates at once; more are refused as overloaded.
        public var inflightMax: Int = 1_024
        /// The most readers sharing one account's lock; more are refused like a conflict.
        public var sharedHoldersMax: Int = 64
        /// What a participant does when a lock is taken (`no-wait` votes NO at once).
        public var lockPolicy: AtomicCommit.LockPolicy = .waitDie
        /// Under wait-die: the longest a PREPARE waits for locks before its participant votes NO,
        /// and the most PREPAREs one participant lets wait.
        public var lockWaitMax: Duration = .milliseconds(20)
        public var waitersMax: Int = 256

        /// Deliberately broken: a participant in doubt for longer than `inquiryInterval` commits on
        /// its own instead of waiting for the coordinator. Tests must catch it. Never in a measurement.
        public var unsafeCommitOnTimeout = false

        public init() {}

        /// How long a participant holds the shared locks of a read whose release it did not hear,
        /// and how long after a restart it refuses writes (its shared locks were lost in the
        /// crash): twice the vote timeout, so every read that could still be answered has
        /// finished reading before those locks could matter.
        public var readLockTimeout: Duration { voteTimeout * 2 }

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "tick-interval": tickInterval = try Self.positive(key, value)
            case "vote-timeout": voteTimeout = try Self.positive(key, value)
            case "retry-interval": retryInterval = try Self.positive(key, value)
            case "inquiry-interval": inquiryInterval = try Self.positive(key, value)
            case "inflight": inflightMax = try SettingValue.int(key, value, in: 1...65_536)
            case "shared-holders": sharedHoldersMax = try SettingValue.int(key, value, in: 1...1_024)
            case "lock-policy": lockPolicy = try Self.lockPolicy(key, value)
            case "lock-wait": lockWaitMax = try SettingValue.duration(key, value)
            case "waiters": waitersMax = try SettingValue.int(key, value, in: 0...65_536)
            case "unsafe-commit-on-timeout": unsafeCommitOnTimeout = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: TwoPhaseCommit.Instance.name)
            }
        }

        static func lockPolicy(_ key: String, _ value: String) throws(SettingError) -> AtomicCommit.LockPolicy {
            guard let policy = AtomicCommit.LockPolicy(rawValue: value.lowercased()) else {
                throw .invalid(key, value, expected: "one of \(AtomicCommit.LockPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return policy
        }

        static func positive(_ key: String, _ value: String) throws(SettingError) -> Duration {
            let duration = try SettingValue.duration(key, value)
            guard duration > .zero else { throw .invalid(key, value, expected: "a positive duration") }
            return duration
        }

        public var parameters: [(key: String, value: String)] {
            [("tick-interval", tickInterval.description), ("vote-timeout", voteTimeout.description),
             ("retry-interval", retryInterval.description), ("inquiry-interval", inquiryInterval.description),
             ("inflight", "\(inflightMax)"), ("shared-holders", "\(sharedHoldersMax)"),
             ("lock-policy", lockPolicy.rawValue), ("lock-wait", lockWaitMax.description), ("waiters", "\(waitersMax)"),
             ("unsafe-commit-on-timeout", "\(unsafeCommitOnTimeout)")]
        }
    }

    public enum Timers {
        /// Drives every timeout and retransmission.
        public static let tick = TimerID(1)
    }
}
