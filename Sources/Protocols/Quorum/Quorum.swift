import BenchCore

/// Dynamo-style NWR quorum replication (DeCandia et al., "Dynamo: Amazon's Highly Available
/// Key-value Store", SOSP 2007), as a pure state machine.
///
/// - Partitioning (§4.2): keys live on a consistent-hash ring with virtual nodes; a key's N
///   replicas (its *preference list*) are the first N distinct nodes clockwise from its position.
/// - No leader (§4.5): whichever node a client reaches coordinates the request. A put goes to the
///   key's N replicas and is answered once W of them hold it durably; a get asks the N replicas and
///   is answered from the newest of the first R replies. With R + W > N every read quorum meets
///   every write quorum, so a get sees every put that completed before it began (no stale reads),
///   which is all this protocol promises: it is not linearizable (two concurrent gets may answer
///   in either order, and nothing is written back before a get answers).
/// - Versions (§4.4): a hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014)
///   stamps each put; the newest version wins (last writer wins). Dynamo uses vector clocks so
///   that concurrent writes survive as siblings for the application to merge; this benchmark's
///   clients issue blind puts and expect one value back, and an HLC gives a total order with
///   fixed-size versions and no sibling resolution. The price: a put coordinated on a node whose
///   clock runs behind can order before a put that completed earlier elsewhere, so fresh reads
///   need clocks closer together than a client's think time (one host: exact; the simulator's
///   default: no skew).
/// - Repair: read repair (§4.7: after a get, replicas that answered an older version get the
///   newest), periodic anti-entropy between replicas (§4.7 uses Merkle trees; here a flat digest of
///   (key, version) pairs over a key range, which is what a Merkle tree's leaves compare), and,
///   with `sloppy`, hinted handoff (§4.6): a write for an unreachable replica goes to the next node
///   on the ring with a hint, which hands it over later. With sloppy quorums R + W > N no longer
///   guarantees fresh reads.
///
/// Compare-and-set, bank transactions and locks are refused (`RejectCode.unsupported`).
public enum Quorum {}

extension Quorum {
    /// NWR's tunables. `n`, `w` and `r` are the quorum parameters the sweep passes; the cluster
    /// size is unknown here, so `Instance.init` checks `w, r ≤ n ≤ cluster size` (see `problems(clusterSize:)`).
    public struct Settings: ReplicaSettings {
        /// Replicas per key.
        public var n = 3
        /// Replicas that must hold a put durably before it is answered.
        public var w = 2
        /// Replicas whose answers a get waits for.
        public var r = 2
        /// Virtual nodes per physical node on the ring (§4.2: evens out the key ranges).
        public var virtualNodes = 32
        /// Sloppy quorums with hinted handoff (§4.6).
        public var sloppy = false
        /// How long a coordinator waits for a quorum before answering `.unknown` (the client retries).
        public var requestTimeout: Duration = .milliseconds(80)
        /// How often a coordinator resends to replicas that have not answered (messages may be lost).
        public var resendInterval: Duration = .milliseconds(20)
        /// The period of the replica's one timer, which drives timeouts, resends, anti-entropy and handoff.
        public var tickInterval: Duration = .milliseconds(5)
        /// How often a replica compares a range of keys with one peer (0: never).
        public var antiEntropyInterval: Duration = .milliseconds(100)
        /// The most keys one anti-entropy digest, reply or push carries.
        public var antiEntropyBatch = 256
        /// After a get has all its replies (or times out), replicas that sent older versions get the newest.
        public var readRepair = true
        /// Sloppy quorums: how long a coordinator waits for a home replica before writing to a fallback.
        public var hintAfter: Duration = .milliseconds(20)
        /// How often a replica tries to hand its hints to their home replicas.
        public var handoffInterval: Duration = .milliseconds(100)
        /// The most hints a replica holds; beyond it, it refuses to stand in for another replica.
        public var hintsMax = 65_536
        /// The most client requests one coordinator has in flight before it refuses new ones.
        public var pendingMax = 4_096

        /// Deliberately broken variants, for tests that prove the checks can fail. Never on in a measurement.
        /// The coordinator answers a put after the first replica holds it, whatever W says.
        public var unsafeAckEarly = false
        /// The coordinator answers a get with the first reply, not the newest of R.
        public var unsafeReadFirst = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "n": n = try SettingValue.int(key, value, in: 1...64)
            case "w": w = try SettingValue.int(key, value, in: 1...64)
            case "r": r = try SettingValue.int(key, value, in: 1...64)
            case "vnodes": virtualNodes = try SettingValue.int(key, value, in: 1...1_024)
            case "sloppy": sloppy = try SettingValue.bool(key, value)
            case "request-timeout": requestTimeout = try Self.positive(key, value)
            case "resend-interval": resendInterval = try Self.positive(key, value)
            case "tick-interval": tickInterval = try Self.positive(key, value)
            case "anti-entropy-interval": antiEntropyInterval = try SettingValue.duration(key, value)
            case "anti-entropy-batch": antiEntropyBatch = try SettingValue.int(key, value, in: 1...65_536)
            case "read-repair": readRepair = try SettingValue.bool(key, value)
            case "hint-after": hintAfter = try Self.positive(key, value)
            case "handoff-interval": handoffInterval = try Self.positive(key, value)
            case "hints-max": hintsMax = try SettingValue.int(key, value, in: 0...(1 << 24))
            case "pending-max": pendingMax = try SettingValue.int(key, value, in: 1...(1 << 20))
            case "unsafe-ack-early": unsafeAckEarly = try SettingValue.bool(key, value)
            case "unsafe-read-first": unsafeReadFirst = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "nwr")
            }
        }

        static func positive(_ key: String, _ value: String) throws(SettingError) -> Duration {
            let duration = try SettingValue.duration(key, value)
            guard duration > .zero else { throw .invalid(key, value, expected: "a duration above zero") }
            return duration
        }

        public var parameters: [(key: String, value: String)] {
            [("n", "\(n)"), ("w", "\(w)"), ("r", "\(r)"), ("vnodes", "\(virtualNodes)"), ("sloppy", "\(sloppy)"),
             ("request-timeout", requestTimeout.description), ("resend-interval", resendInterval.description),
             ("tick-interval", tickInterval.description), ("anti-entropy-interval", antiEntropyInterval.description),
             ("anti-entropy-batch", "\(antiEntropyBatch)"), ("read-repair", "\(readRepair)"),
             ("hint-after", hintAfter.description), ("handoff-interval", handoffInterval.description),
             ("hints-max", "\(hintsMax)"), ("pending-max", "\(pendingMax)"),
             ("unsafe-ack-early", "\(unsafeAckEarly)"), ("unsafe-read-first", "\(unsafeReadFirst)")]
        }

        /// What is wrong with these settings on a cluster of `clusterSize` nodes (empty: nothing).
        /// Settings are parsed key by key without knowing the cluster, so the cross-checks live here;
        /// `Instance.init` clamps what it must and reports these through `invariants()`.
        public func problems(clusterSize: Int) -> [String] {
            var found: [String] = []
            if w > n { found.append("w=\(w) exceeds n=\(n)") }
            if r > n { found.append("r=\(r) exceeds n=\(n)") }
            if n > clusterSize { found.append("n=\(n) exceeds the cluster size \(clusterSize)") }
            return found
        }
    }

    /// NWR's one timer: a periodic tick drives coordinator timeouts and resends, anti-entropy and handoff.
    public enum Timers {
        public static let tick = TimerID(1)
    }
}
