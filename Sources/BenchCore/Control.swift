/// Commands an orchestrator (or a person with `bench ctl`) sends to a node over its client port,
/// in `.control` frames; the node answers each with one `.controlReply` frame.
public enum ControlRequest: Hashable, Sendable {
    /// Report role, term, leader and counters.
    case status
    /// Ignore every message from, and send nothing to, these peers (a partition as this node
    /// sees it); an empty list heals.
    case isolate(from: [NodeID])
    /// Message faults applied to inbound peer messages, seeded so a run repeats.
    case messageFaults(MessageFaults)
    /// Add `offset` to this node's clock (clock skew for lease experiments).
    case clockOffset(Duration)
    /// Delay every disk sync by this much (a slow disk).
    case slowDisk(Duration)
    /// Stop gracefully (as SIGTERM does).
    case stop
    /// Return the replica's `inspection()` bytes (for end-of-run checkers).
    case inspect
}

/// Drop, duplication and delay of peer messages, applied by the receiving node's transport.
public struct MessageFaults: Hashable, Sendable {
    public var dropProbability: Double
    public var duplicateProbability: Double
    public var delay: Duration
    public var delayJitter: Duration
    public var seed: UInt64

    public init(dropProbability: Double = 0, duplicateProbability: Double = 0, delay: Duration = .zero,
                delayJitter: Duration = .zero, seed: UInt64 = 1) {
        self.dropProbability = dropProbability
        self.duplicateProbability = duplicateProbability
        self.delay = delay
        self.delayJitter = delayJitter
        self.seed = seed
    }

    public static let none = MessageFaults()
    public var isNone: Bool { dropProbability == 0 && duplicateProbability == 0 && delay == .zero && delayJitter == .zero }
}

/// What a node reports about itself: its protocol status and the counters the results need.
public struct NodeReport: Hashable, Sendable {
    public var id: NodeID
    public var status: ReplicaStatus
    public var messagesSent: UInt64 = 0
    public var messagesReceived: UInt64 = 0
    public var bytesSent: UInt64 = 0
    /// Input batches the protocol thread processed, and inputs in them.
    public var batches: UInt64 = 0
    public var inputs: UInt64 = 0
    public var fsyncs: UInt64 = 0
    public var walBytes: UInt64 = 0
    /// Frames that failed to decode or came from another cluster (their connections were closed).
    public var badFrames: UInt64 = 0
    public var cpuNanos: UInt64 = 0
    public var peakRSSBytes: UInt64 = 0
    public var allocator: String = ""
    public var uptimeNanos: UInt64 = 0
    /// The replica's protocol counters (`Replica.metrics`), by column name.
    public var metrics: [String: Double] = [:]

    public init(id: NodeID, status: ReplicaStatus) {
        self.id = id
        self.status = status
    }
}

public enum ControlReply: Hashable, Sendable {
    case report(NodeReport)
    case done
    case failed(String)
    case inspection([UInt8])
}

extension Role: WireCodable {
    static let order: [Role] = [.leader, .follower, .candidate, .preCandidate, .learner, .coordinator, .participant, .peer]
    public func encode(to writer: inout WireWriter) { writer.write(UInt8(Role.order.firstIndex(of: self)!)) }
    public init(from reader: inout WireReader) throws {
        let raw = try reader.readUInt8()
        guard Int(raw) < Role.order.count else { throw WireError.invalidTag(raw, type: "Role") }
        self = Role.order[Int(raw)]
    }
}

extension ReplicaStatus: WireCodable {
    public func encode(to w: inout WireWriter) { w.write(role); w.write(term); w.write(leader); w.write(commitIndex) }
    public init(from r: inout WireReader) throws {
        self.init(role: try r.read(Role.self), term: try r.read(Term.self), leader: try r.readOptional(NodeID.self),
                  commitIndex: try r.read(LogIndex.self))
    }
}

extension Duration: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.write(nanoseconds) }
    public init(from reader: inout WireReader) throws { self.init(nanoseconds: try reader.readInt64()) }
}

extension MessageFaults: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.write(dropProbability); w.write(duplicateProbability); w.write(delay); w.write(delayJitter); w.write(seed)
    }
    public init(from r: inout WireReader) throws {
        self.init(dropProbability: try r.readDouble(), duplicateProbability: try r.readDouble(), delay: try r.read(Duration.self),
                  delayJitter: try r.read(Duration.self), seed: try r.readUInt64())
        guard (0...1).contains(dropProbability), (0...1).contains(duplicateProbability), delay >= .zero, delayJitter >= .zero else {
            throw WireError.invalidValue("message faults out of range")
        }
    }
}

extension ControlRequest: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case .status: w.write(UInt8(1))
        case let .isolate(peers): w.write(UInt8(2)); w.write(peers)
        case let .messageFaults(faults): w.write(UInt8(3)); w.write(faults)
        case let .clockOffset(offset): w.write(UInt8(4)); w.write(offset)
        case let .slowDisk(delay): w.write(UInt8(5)); w.write(delay)
        case .stop: w.write(UInt8(6))
        case .inspect: w.write(UInt8(7))
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1: self = .status
        case 2: self = .isolate(from: try r.readArray(NodeID.self, minimumSize: 4, limit: 4_096))
        case 3: self = .messageFaults(try r.read(MessageFaults.self))
        case 4: self = .clockOffset(try r.read(Duration.self))
        case 5: self = .slowDisk(try r.read(Duration.self))
        case 6: self = .stop
        case 7: self = .inspect
        case let tag: throw WireError.invalidTag(tag, type: "ControlRequest")
        }
    }
}

extension NodeReport: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.write(id); w.write(status)
        for v in [messagesSent, messagesReceived, bytesSent, batches, inputs, fsyncs, walBytes, badFrames, cpuNanos,
                  peakRSSBytes, uptimeNanos] { w.write(v) }
        w.writeBytes(Array(allocator.utf8))
        let sorted = metrics.sorted { $0.key < $1.key }
        w.write(UInt32(sorted.count))
        for (key, value) in sorted { w.writeBytes(Array(key.utf8)); w.write(value) }
    }
    public init(from r: inout WireReader) throws {
        self.init(id: try r.read(NodeID.self), status: try r.read(ReplicaStatus.self))
        messagesSent = try r.readUInt64(); messagesReceived = try r.readUInt64(); bytesSent = try r.readUInt64()
        batches = try r.readUInt64(); inputs = try r.readUInt64(); fsyncs = try r.readUInt64(); walBytes = try r.readUInt64()
        badFrames = try r.readUInt64(); cpuNanos = try r.readUInt64(); peakRSSBytes = try r.readUInt64()
        uptimeNanos = try r.readUInt64()
        allocator = String(decoding: try r.readBytes(limit: 256), as: UTF8.self)
        let count = Int(try r.readUInt32())
        guard count <= 256 else { throw WireError.lengthTooLarge(count, limit: 256) }
        for _ in 0..<count {
            let key = String(decoding: try r.readBytes(limit: 256), as: UTF8.self)
            metrics[key] = try r.readDouble()
        }
    }
}

extension ControlReply: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .report(report): w.write(UInt8(1)); w.write(report)
        case .done: w.write(UInt8(2))
        case let .failed(message): w.write(UInt8(3)); w.writeBytes(Array(message.utf8))
        case let .inspection(bytes): w.write(UInt8(4)); w.writeBytes(bytes)
        }
    }
    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1: self = .report(try r.read(NodeReport.self))
        case 2: self = .done
        case 3: self = .failed(String(decoding: try r.readBytes(limit: 4_096), as: UTF8.self))
        case 4: self = .inspection(try r.readBytes(limit: FrameHeader.lengthLimit))
        case let tag: throw WireError.invalidTag(tag, type: "ControlReply")
        }
    }
}
