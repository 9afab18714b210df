import BenchCore

/// ZooKeeper's atomic broadcast, as ZooKeeper runs it (Junqueira, Reed & Serafini, "Zab:
/// High-performance broadcast for primary-backup systems", DSN 2011; Medeiros, "ZooKeeper's
/// atomic broadcast protocol: Theory and practice", 2012), as a pure state machine:
/// - fast leader election (FLE) by (currentEpoch, last zxid, id);
/// - discovery: FOLLOWERINFO, NEWEPOCH (e' = max acceptedEpoch + 1), ACKEPOCH;
/// - synchronization: DIFF, TRUNC or SNAP, then NEWLEADER, acknowledged by a quorum before the
///   leader broadcasts, then UPTODATE;
/// - broadcast: batched, pipelined PROPOSALs, ACKs after the disk, COMMIT once a quorum acked,
///   delivery in zxid order;
/// - reads at the leader after a ping round with a quorum (linearizable), or at any up-to-date
///   server from its applied state (ZooKeeper's default, which can be stale).
///
/// The history is a `LogEntry` log: `index` is the proposal's position (1, 2, 3, ...) and `term`
/// its epoch, so the log oracle applies. The zxid's counter lives in the index:
/// zxid = epoch << 32 | position (see `Zxid`).
///
/// Durable state: `HardState.term` is currentEpoch (the epoch whose NEWLEADER this server
/// acknowledged), `HardState.auxiliary` is acceptedEpoch (the last NEWEPOCH it acknowledged) and
/// `HardState.vote` is the leader it acknowledged that epoch to (a server acknowledges one epoch
/// to one leader only, so two leaders never both gather a quorum for the same epoch).
public enum ZAB {}

extension ZAB {
    /// Where reads are served.
    public enum ReadMode: String, Sendable, CaseIterable {
        /// At the leader, once a ping round with a quorum confirms it still leads and it has
        /// applied what it had committed when the read arrived: linearizable.
        case leader
        /// At any server that is up to date with a leader, from its applied state (ZooKeeper's
        /// default): sequentially consistent per client session at best, and stale reads happen.
        case follower
    }

    /// ZAB's tunables. Defaults suit loopback clusters and the simulator's default network
    /// (ZooKeeper's tickTime, initLimit and syncLimit, scaled from seconds to milliseconds).
    public struct Settings: ReplicaSettings {
        /// The ping interval (ZooKeeper's tickTime); also the retransmission clock.
        public var tickInterval: Duration = .milliseconds(50)
        /// A follower that has not heard from its leader for this long looks for a new one; a leader
        /// that has not heard from a quorum for this long steps down (ZooKeeper's syncLimit).
        public var syncLimit: Duration = .milliseconds(300)
        /// Discovery and synchronization must end within this (ZooKeeper's initLimit).
        public var initLimit: Duration = .milliseconds(600)
        /// FLE: how long a quorum must agree, with no better vote arriving, before a server decides.
        public var finalizeWait: Duration = .milliseconds(40)
        /// Batching: the most proposals, and bytes, one PROPOSAL message carries.
        public var batchEntriesMax: Int = 512
        public var batchBytesMax: Int = 1 << 20
        /// Pipelining: the most PROPOSAL messages in flight to one follower before it acknowledges.
        public var inflightMax: Int = 8
        /// The most proposals a leader holds uncommitted before it refuses new requests (overload).
        public var uncommittedEntriesMax: Int = 65_536
        public var readMode: ReadMode = .leader

        /// Deliberately broken variants, for tests that prove the checks can fail. Never on in a measurement.
        /// A new leader broadcasts at once: it neither truncates nor checks followers' histories
        /// (every follower gets a DIFF from where it says it is) and does not wait for a quorum to
        /// acknowledge NEWLEADER.
        public var unsafeSkipSync = false
        /// The leader commits a proposal once it is on its own disk, without a quorum of ACKs.
        public var unsafeCommitWithoutQuorum = false

        public init() {}

        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            switch key {
            case "tick-interval":
                let tick = try SettingValue.duration(key, value)
                if tick <= .zero { throw .invalid(key, value, expected: "a positive duration") }
                tickInterval = tick
            case "sync-limit": syncLimit = try SettingValue.duration(key, value)
            case "init-limit": initLimit = try SettingValue.duration(key, value)
            case "finalize-wait": finalizeWait = try SettingValue.duration(key, value)
            case "batch-entries": batchEntriesMax = try SettingValue.int(key, value, in: 1...65_536)
            case "batch-bytes": batchBytesMax = try SettingValue.int(key, value, in: 1_024...(64 << 20))
            case "inflight": inflightMax = try SettingValue.int(key, value, in: 1...1_024)
            case "uncommitted-max": uncommittedEntriesMax = try SettingValue.int(key, value, in: 1...(1 << 24))
            case "read-mode":
                guard let mode = ReadMode(rawValue: value.lowercased()) else {
                    throw .invalid(key, value, expected: "one of \(ReadMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                readMode = mode
            case "unsafe-skip-sync": unsafeSkipSync = try SettingValue.bool(key, value)
            case "unsafe-commit-without-quorum": unsafeCommitWithoutQuorum = try SettingValue.bool(key, value)
            default: throw .unknown(key, protocol: "zab")
            }
        }

        /// Whether the timing settings fit together (checked when a replica is built: each key is
        /// set on its own, in any order, so the relation between them cannot be checked in `set`).
        public var timingIsConsistent: Bool { tickInterval > .zero && tickInterval < syncLimit && syncLimit <= initLimit }

        public var parameters: [(key: String, value: String)] {
            [("tick-interval", tickInterval.description), ("sync-limit", syncLimit.description),
             ("init-limit", initLimit.description), ("finalize-wait", finalizeWait.description),
             ("batch-entries", "\(batchEntriesMax)"), ("batch-bytes", "\(batchBytesMax)"), ("inflight", "\(inflightMax)"),
             ("uncommitted-max", "\(uncommittedEntriesMax)"), ("read-mode", readMode.rawValue),
             ("unsafe-skip-sync", "\(unsafeSkipSync)"), ("unsafe-commit-without-quorum", "\(unsafeCommitWithoutQuorum)")]
        }
    }

    /// ZAB's timers.
    public enum Timers {
        /// Periodic: pings and quorum checks (leader), leader timeouts (follower), vote
        /// retransmission (looking), and every retransmission of the discovery and sync steps.
        public static let tick = TimerID(1)
        /// FLE's finalize wait.
        public static let finalize = TimerID(2)
    }

    /// A server's state in ZooKeeper's words (`QuorumPeer.ServerState`).
    public enum PeerState: UInt8, Hashable, Sendable, CustomStringConvertible {
        case looking = 1, following = 2, leading = 3
        public var description: String {
            switch self {
            case .looking: "LOOKING"
            case .following: "FOLLOWING"
            case .leading: "LEADING"
            }
        }
    }

    /// A ZooKeeper transaction id: the epoch in the high 32 bits and, here, the proposal's position
    /// in the history in the low 32 (ZooKeeper restarts a counter in every epoch instead). The two
    /// order histories alike: every proposal of epoch e follows the same initial history of e, so
    /// within an epoch positions grow exactly as counters do. Comparison is by (epoch, position).
    public struct Zxid: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var epoch: Term
        public var index: LogIndex

        public static let zero = Zxid(epoch: .zero, index: .zero)

        @inlinable public init(epoch: Term, index: LogIndex) {
            self.epoch = epoch
            self.index = index
        }

        /// The packed form, as on the wire and in ZooKeeper's logs.
        @inlinable public init(rawValue: UInt64) {
            self.init(epoch: Term(rawValue >> 32), index: LogIndex(rawValue & 0xffff_ffff))
        }

        @inlinable public var rawValue: UInt64 {
            precondition(epoch.rawValue <= UInt64(UInt32.max) && index.rawValue <= UInt64(UInt32.max),
                         "a zxid holds a 32-bit epoch and a 32-bit position")
            return epoch.rawValue << 32 | index.rawValue
        }

        @inlinable public static func < (a: Zxid, b: Zxid) -> Bool {
            a.epoch < b.epoch || (a.epoch == b.epoch && a.index < b.index)
        }

        public var description: String { "0x\(String(rawValue, radix: 16))" }
    }

    /// How a leader brings a follower's history in line with its own (ZooKeeper's
    /// `LearnerHandler.syncFollower`).
    public enum SyncMode: UInt8, Hashable, Sendable, CustomStringConvertible {
        /// The follower's history is a prefix of the leader's: send what it lacks.
        case diff = 1
        /// The follower holds proposals the leader does not: it truncates back to the last one they
        /// share, then gets the difference.
        case trunc = 2
        /// No common point the leader can name: the follower takes the leader's whole history
        /// (it keeps what it knows to be committed, which every leader's history holds too).
        case snap = 3

        public var description: String {
            switch self {
            case .diff: "DIFF"
            case .trunc: "TRUNC"
            case .snap: "SNAP"
            }
        }
    }
}
