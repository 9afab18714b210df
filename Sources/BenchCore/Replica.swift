/// Names a timer a replica sets. Each protocol declares its own constants (`Raft.Timers.election`).
/// Setting a timer that is already set moves it; a replica sees `.timer(id)` at most once per setting.
public struct TimerID: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { "timer\(rawValue)" }
}

/// The members of one cluster. The cluster id is carried by every frame, so a node never acts on a
/// message from another experiment that happens to reach its port.
public struct ClusterConfig: Hashable, Sendable {
    public var clusterID: UInt32
    public var members: [NodeID]

    public init(clusterID: UInt32 = 1, members: [NodeID]) {
        precondition(!members.isEmpty, "a cluster has at least one member")
        precondition(Set(members).count == members.count, "member ids are distinct")
        self.clusterID = clusterID
        self.members = members.sorted()
    }

    /// Nodes 1...count.
    public init(clusterID: UInt32 = 1, size count: Int) {
        self.init(clusterID: clusterID, members: (1...count).map { NodeID(UInt32($0)) })
    }

    @inlinable public var size: Int { members.count }
    /// The smallest majority.
    @inlinable public var quorum: Int { members.count / 2 + 1 }
}

/// One input to a replica. Everything a replica learns arrives as one of these.
public enum Input<Message> {
    /// Sent once after construction (fresh or recovered): arm timers here.
    case start
    /// A message from a peer.
    case message(from: NodeID, Message)
    /// A client's request that reached this replica.
    case request(ClientRequest)
    /// A timer set earlier fired.
    case timer(TimerID)
    /// Every write issued up to the entry `(through, term)` is on disk. A report for an entry the
    /// replica has since truncated carries a term that no longer matches and must be ignored.
    case persisted(through: LogIndex, term: Term)
    /// The end of a batch of inputs: the runtime sends this after draining its input ring, the
    /// simulator after each batch a node processes. A replica that batches (a Raft leader
    /// collecting client commands into one AppendEntries) sends what it has been holding.
    case flush
}

/// A message addressed to a peer.
public struct Envelope<Message> {
    public var to: NodeID
    public var message: Message
    @inlinable public init(to: NodeID, message: Message) {
        self.to = to
        self.message = message
    }
}

extension Envelope: Sendable where Message: Sendable {}

/// A timer change.
public enum TimerRequest: Hashable, Sendable {
    case set(TimerID, at: Instant)
    case cancel(TimerID)
}

/// What a replica wants done after one input. The caller (the simulator or the node runtime)
/// carries it out in this order:
/// 1. `writes` are queued for the disk, in order (asynchronously; `.persisted` reports them);
/// 2. `messages` are sent now — a leader sends entries to followers while its own write is in flight;
/// 3. `messagesAfterDurable` are held until every write issued so far, by this step and earlier
///    ones, is durable — votes and acknowledgements must never get ahead of the disk;
/// 4. `replies` go to clients now; `timers` are set or cancelled.
/// The arrays are reused between steps (`removeAll` keeps their capacity), so a step allocates nothing here.
public struct Effects<Message> {
    public var messages: [Envelope<Message>] = []
    public var messagesAfterDurable: [Envelope<Message>] = []
    public var writes: [StorageWrite] = []
    public var replies: [ClientReply] = []
    public var timers: [TimerRequest] = []

    public init() {}

    @inlinable public mutating func send(_ message: Message, to peer: NodeID) {
        messages.append(Envelope(to: peer, message: message))
    }

    /// Sends `message` only once every write issued so far is on disk.
    @inlinable public mutating func sendAfterDurable(_ message: Message, to peer: NodeID) {
        messagesAfterDurable.append(Envelope(to: peer, message: message))
    }

    @inlinable public mutating func append(_ entry: LogEntry) { writes.append(.entry(entry)) }
    @inlinable public mutating func persist(_ state: HardState) { writes.append(.hardState(state)) }
    @inlinable public mutating func truncate(from index: LogIndex) { writes.append(.truncate(from: index)) }
    @inlinable public mutating func reply(_ reply: ClientReply) { replies.append(reply) }
    @inlinable public mutating func setTimer(_ timer: TimerID, at deadline: Instant) { timers.append(.set(timer, at: deadline)) }
    @inlinable public mutating func cancelTimer(_ timer: TimerID) { timers.append(.cancel(timer)) }

    @inlinable public var isEmpty: Bool {
        messages.isEmpty && messagesAfterDurable.isEmpty && writes.isEmpty && replies.isEmpty && timers.isEmpty
    }

    /// Empties every list, keeping the storage for the next step.
    @inlinable public mutating func removeAll() {
        messages.removeAll(keepingCapacity: true)
        messagesAfterDurable.removeAll(keepingCapacity: true)
        writes.removeAll(keepingCapacity: true)
        replies.removeAll(keepingCapacity: true)
        timers.removeAll(keepingCapacity: true)
    }
}

/// A replica's role, for status displays, readiness checks and the simulator's oracle.
public enum Role: String, Hashable, Sendable {
    case leader, follower, candidate, preCandidate = "pre-candidate", learner, coordinator, participant, peer
}

/// What a replica reports about itself; read by tests, the simulator's oracle and readiness checks.
public struct ReplicaStatus: Hashable, Sendable {
    public var role: Role
    public var term: Term
    public var leader: NodeID?
    public var commitIndex: LogIndex

    public init(role: Role, term: Term, leader: NodeID?, commitIndex: LogIndex) {
        self.role = role
        self.term = term
        self.leader = leader
        self.commitIndex = commitIndex
    }
}

/// A protocol's tunables. Every setting has a default and a textual form, so the command line,
/// a sweep file and a node process started by hand all set it the same way (`--set key=value`).
public protocol ReplicaSettings: Sendable {
    init()
    /// Applies `key=value` pairs; an unknown key or a bad value is an error naming it.
    mutating func set(_ key: String, to value: String) throws(SettingError)
    /// Every setting with its current value, for manifests and `bench list`.
    var parameters: [(key: String, value: String)] { get }
}

extension ReplicaSettings {
    public init(_ pairs: [(String, String)]) throws(SettingError) {
        self.init()
        for (key, value) in pairs { try set(key, to: value) }
    }
}

/// A setting that does not exist or a value it cannot take.
public struct SettingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    public static func unknown(_ key: String, protocol name: String) -> SettingError {
        SettingError("unknown setting '\(key)' for \(name)")
    }
    public static func invalid(_ key: String, _ value: String, expected: String) -> SettingError {
        SettingError("setting '\(key)': '\(value)' is not \(expected)")
    }
}

/// A replicated protocol, as a deterministic state machine: one input in, effects out. No I/O,
/// no clock, no unseeded randomness; the same value runs in the simulator and in a node process.
public protocol Replica: SendableMetatype {
    associatedtype Message: WireCodable & Sendable
    associatedtype Settings: ReplicaSettings

    /// The name used on the command line and in results (`raft`).
    static var name: String { get }

    init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
         random: inout some RandomNumberGenerator)

    /// Handles one input at `now` (this replica's local clock), appending what should happen to `out`.
    mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>)

    /// What the replica reports about itself.
    var status: ReplicaStatus { get }

    /// Checks what must hold of this replica after every step; returns the first violation.
    /// Run after every step in tests and in the simulator.
    func invariants() -> String?

    /// Protocol counters for the results, by column name (`blocked_max_ms`, ...). Read by node
    /// reports and the simulator at the end of a run.
    var metrics: [String: Double] { get }

    /// Protocol state a checker needs at the end of a run and cannot see in client histories
    /// (a participant's commit decisions, a replica's stored versions), in the protocol's own
    /// binary form. The node runtime serves it to the orchestrator (`ControlRequest.inspect`).
    func inspection() -> [UInt8]
}

extension Replica {
    public func invariants() -> String? { nil }
    public var metrics: [String: Double] { [:] }
    public func inspection() -> [UInt8] { [] }
}

/// A replica that keeps a replicated log, so the simulator's oracle can compare committed entries
/// across replicas (log matching, state machine safety).
public protocol LogReplica: Replica {
    /// The committed entry at `index`, or nil when `index` is not committed here.
    func committedEntry(at index: LogIndex) -> LogEntry?
}
