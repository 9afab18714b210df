import BenchCore

/// Epidemic dissemination after Demers et al., "Epidemic Algorithms for Replicated Database
/// Maintenance" (PODC 1987): every node holds the whole key-value store, answers gets and puts
/// locally, and spreads updates by anti-entropy (push, pull or push-pull exchanges with random
/// peers) or by rumor mongering backed by slow anti-entropy. Conflicts resolve by last writer
/// wins on a hybrid logical clock. Reads may be stale; every live node converges once the
/// network lets messages through (eventual consistency). There is no leader.
public enum Gossip {}

extension Gossip {
    /// How updates spread (Demers §1.3 anti-entropy, §1.4 rumor mongering).
    public enum Mode: String, Sendable, CaseIterable {
        /// Anti-entropy, push: each period a node offers its digest and sends what the peer lacks.
        case push
        /// Anti-entropy, pull: each period a node sends its digest and the peer sends what is newer.
        case pull
        /// Anti-entropy, both directions in one exchange (the paper's fastest variant).
        case pushPull = "push-pull"
        /// Rumor mongering: new updates are "hot" and pushed to random peers each period until
        /// the node loses interest; push-pull anti-entropy every `antiEntropyPeriod` catches the
        /// residue rumors leave.
        case rumor
    }

    /// When a rumor monger loses interest in a rumor (Demers §1.4, "feedback" variants): after
    /// each contact that already knew it, either by counting or by tossing a coin.
    public enum RumorStop: String, Sendable, CaseIterable {
        /// Stop after `rumorK` contacts that already knew the rumor.
        case counter
        /// Stop with probability 1/`rumorK` at each contact that already knew the rumor.
        case coin
    }

    /// Gossip's tunables. Defaults suit loopback clusters and the simulator's default network.
    public struct Settings: ReplicaSettings {
        public var mode: Mode = .pushPull
        /// One gossip round: an anti-entropy exchange (anti-entropy modes) or a rumor push (rumor mode).
        public var period: Duration = .milliseconds(20)
        /// Random peers contacted per round.
        public var fanout: Int = 2
        public var rumorStop: RumorStop = .counter
        /// The k of the rumor-stop rule.
        public var rumorK: Int = 3
        /// Rumor mode only: the backing push-pull anti-entropy round with one random peer (0: off,
        /// which leaves the residue the paper predicts uninformed).
        public var antiEntropyPeriod: Duration = .milliseconds(500)
        /// The most keys one digest lists; a larger store is covered by successive key ranges.
        public var digestKeysMax: Int = 256
        /// The most updates, and bytes of values, one updates or rumor message carries.
        public var batchUpdatesMax: Int = 128
        public var batchBytesMax: Int = 256 << 10
        /// The most rumors a node keeps hot; beyond it the oldest is dropped (anti-entropy covers it).
        public var rumorsMax: Int = 4_096
        /// The most client puts waiting for their write to become durable before new ones are refused.
        public var pendingRepliesMax: Int = 65_536

        /// Deliberately broken: a node never passes on an update it learned from a peer (it
        /// spreads only updates its own clients wrote). Never on in a measurement.
        public var unsafeNoForward = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "mode":
                guard let mode = Mode(rawValue: value.lowercased()) else {
                    throw .invalid(key, value, expected: "one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                self.mode = mode
            case "period": period = try Self.positive(key, value)
            case "fanout": fanout = try SettingValue.int(key, value, in: 1...64)
            case "rumor-stop":
                guard let stop = RumorStop(rawValue: value.lowercased()) else {
                    throw .invalid(key, value, expected: "one of \(RumorStop.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                rumorStop = stop
            case "rumor-k": rumorK = try SettingValue.int(key, value, in: 1...64)
            case "anti-entropy-period":
                let period = try SettingValue.duration(key, value)
                guard period == .zero || period >= .milliseconds(1) else {
                    throw .invalid(key, value, expected: "0 (off) or a duration of at least 1ms")
                }
                antiEntropyPeriod = period
            case "digest-keys": digestKeysMax = try SettingValue.int(key, value, in: 1...65_536)
            case "batch-updates": batchUpdatesMax = try SettingValue.int(key, value, in: 1...4_096)
            case "batch-bytes": batchBytesMax = try SettingValue.int(key, value, in: 1_024...(64 << 20))
            case "rumors-max": rumorsMax = try SettingValue.int(key, value, in: 1...(1 << 20))
            case "pending-max": pendingRepliesMax = try SettingValue.int(key, value, in: 1...(1 << 24))
            case "unsafe-no-forward": unsafeNoForward = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "gossip")
            }
        }

        /// A round period: at least a millisecond, so a typo cannot make a node spin.
        static func positive(_ key: String, _ value: String) throws(SettingError) -> Duration {
            let period = try SettingValue.duration(key, value)
            guard period >= .milliseconds(1), period <= .seconds(60) else {
                throw .invalid(key, value, expected: "a duration between 1ms and 60s")
            }
            return period
        }

        public var parameters: [(key: String, value: String)] {
            [("mode", mode.rawValue), ("period", period.description), ("fanout", "\(fanout)"),
             ("rumor-stop", rumorStop.rawValue), ("rumor-k", "\(rumorK)"),
             ("anti-entropy-period", antiEntropyPeriod.description), ("digest-keys", "\(digestKeysMax)"),
             ("batch-updates", "\(batchUpdatesMax)"), ("batch-bytes", "\(batchBytesMax)"),
             ("rumors-max", "\(rumorsMax)"), ("pending-max", "\(pendingRepliesMax)"),
             ("unsafe-no-forward", "\(unsafeNoForward)")]
        }
    }

    /// Gossip's timers.
    public enum Timers {
        /// One gossip round (`Settings.period`).
        public static let round = TimerID(1)
        /// Rumor mode's backing anti-entropy round (`Settings.antiEntropyPeriod`).
        public static let antiEntropy = TimerID(2)
    }
}
