import BenchCore

/// Primary-backup replication (主备) over pairs of nodes, with a lease-based failure detector, as
/// in Alsberg & Day, "A Principle for Resilient Sharing of Distributed Resources" (1976), and the
/// lease rules of Gray & Cheriton, "Leases" (SOSP 1989); epochs fence stale primaries as views do
/// in Viewstamped Replication (Oki & Liskov 1988).
///
/// One *group* is two nodes, a primary and its backup. The primary orders every update, appends it
/// to its log as entry `(sequence, epoch)`, and replicates it synchronously: it answers the client
/// once both nodes hold the entry on disk (the backup acknowledges only after its write is durable).
/// The backup grants the primary a lease with every acknowledgement: it promises not to take over
/// for `lease-duration + lease-margin` of its own clock after it last heard from the primary, while
/// the primary trusts the lease only for `lease-duration` from when it *sent* the message the backup
/// acknowledged. With clock rates within ±ρ of true time and `lease-margin ≥ 2ρ·lease/(1−ρ)`, the old
/// primary's lease has ended (in true time) before the backup can promote itself, so two primaries
/// never serve at once. Offsets between clocks do not matter: each node measures only its own intervals.
///
/// Failover: a backup that is *in sync* (it holds every committed entry, and the primary commits
/// nothing without it) promotes itself when the lease it granted has lapsed, in a new epoch, and
/// then serves alone (degraded) until the old primary returns, catches up as its backup, and is
/// declared in sync again. The primary steps down (stops serving) when it cannot renew its lease.
///
/// What two nodes cannot do (a fact, not a choice of this design): no rule lets *either* node carry
/// on alone after losing the other and also stay safe under a partition, because a crashed peer and
/// a cut link look the same. This design lets the *backup* take over; so a crash of the backup stops
/// the primary (it cannot renew its lease) until the backup returns. A third node (a witness) would
/// remove that gap; `cluster` mode's spare node could be one, but is not (see `Mode.cluster`).
///
/// Modes (`mode=`):
/// - `pair`: one group on the first two nodes; any further node is an idle standby that redirects.
/// - `mutual` (互备): two groups on the first two nodes, each primary for half the keys (`key % 2`)
///   and backup for the other half; each half fails over on its own. Further nodes redirect.
/// - `cluster`: ⌊n/2⌋ groups on nodes (1,2), (3,4), …; key `k` belongs to group `k % groups`.
///   A request that reaches a node outside its key's group is redirected to the group's first
///   node, which redirects again if it no longer leads. With an odd node count the last node holds
///   no data and only redirects.
public enum PrimaryBackup {}

extension PrimaryBackup {
    /// How the nodes are arranged into primary-backup groups.
    public enum Mode: String, Sendable, CaseIterable {
        case pair
        case mutual
        case cluster
    }

    /// The protocol's tunables. Defaults suit loopback clusters and the simulator's default network.
    public struct Settings: ReplicaSettings {
        public var mode: Mode = .pair
        /// How long an acknowledgement lets the primary serve, measured on the primary's clock from
        /// when it sent the message that was acknowledged.
        public var leaseDuration: Duration = .milliseconds(100)
        /// How much longer than `leaseDuration` the backup waits (on its own clock) before it takes
        /// over: the allowance for clock drift. Safe while `margin ≥ 2ρ·lease/(1−ρ)` for drift ρ
        /// (10 ms covers ρ up to 4.7 % at the default lease).
        public var leaseMargin: Duration = .milliseconds(10)
        /// How often the primary sends a heartbeat (an empty append) to renew its lease.
        public var heartbeatInterval: Duration = .milliseconds(20)
        /// Batching: the most entries, and bytes, one append carries.
        public var batchEntriesMax: Int = 512
        public var batchBytesMax: Int = 1 << 20
        /// Pipelining: the most appends in flight to the backup before it acknowledges.
        public var inflightMax: Int = 8
        /// The most entries a primary holds uncommitted before it refuses new requests (overload).
        public var uncommittedEntriesMax: Int = 65_536

        /// A deliberately broken variant, for tests that prove the checks can fail: the backup
        /// promotes itself as soon as it misses two heartbeats, without waiting for the lease it
        /// granted to lapse. Never on in a measurement.
        public var unsafeNoLeaseWait = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "mode":
                guard let mode = Mode(rawValue: value.lowercased()) else {
                    throw .invalid(key, value, expected: "one of \(Mode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                self.mode = mode
            case "lease-duration": leaseDuration = try Self.positive(key, value)
            case "lease-margin": leaseMargin = try SettingValue.duration(key, value)
            case "heartbeat-interval": heartbeatInterval = try Self.positive(key, value)
            case "batch-entries": batchEntriesMax = try SettingValue.int(key, value, in: 1...65_536)
            case "batch-bytes": batchBytesMax = try SettingValue.int(key, value, in: 1_024...(64 << 20))
            case "inflight": inflightMax = try SettingValue.int(key, value, in: 1...1_024)
            case "uncommitted-max": uncommittedEntriesMax = try SettingValue.int(key, value, in: 1...(1 << 24))
            case "unsafe-no-lease-wait": unsafeNoLeaseWait = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "primary-backup")
            }
        }

        static func positive(_ key: String, _ value: String) throws(SettingError) -> Duration {
            let duration = try SettingValue.duration(key, value)
            guard duration > .zero else { throw .invalid(key, value, expected: "a positive duration") }
            return duration
        }

        public var parameters: [(key: String, value: String)] {
            [("mode", mode.rawValue), ("lease-duration", leaseDuration.description), ("lease-margin", leaseMargin.description),
             ("heartbeat-interval", heartbeatInterval.description), ("batch-entries", "\(batchEntriesMax)"),
             ("batch-bytes", "\(batchBytesMax)"), ("inflight", "\(inflightMax)"),
             ("uncommitted-max", "\(uncommittedEntriesMax)"), ("unsafe-no-lease-wait", "\(unsafeNoLeaseWait)")]
        }

        /// Why these settings cannot run, or nil. Checked by `Instance.init` (a precondition, as a
        /// node must not start with a lease it cannot renew).
        public var inconsistency: String? {
            if heartbeatInterval * 2 > leaseDuration {
                return "heartbeat-interval \(heartbeatInterval) must be at most half of lease-duration \(leaseDuration)"
            }
            return nil
        }
    }

    /// The timers a node sets (one of each, shared by the groups it belongs to).
    public enum Timers {
        /// Every heartbeat interval: primaries send heartbeats and resend what was lost; backups
        /// check whether the lease they granted has lapsed; relinquishing nodes repeat their notice.
        public static let tick = TimerID(1)
        /// Set for the moment a backup may take over when that falls before the next tick, so
        /// failover does not wait for the tick.
        public static let promote = TimerID(2)
    }
}
