/// A key in the replicated key-value store.
public typealias Key = UInt64

/// A value in the key-value store. The load generator writes values whose first eight bytes are a
/// unique tag (little-endian), padded to the configured value size, so the checker can tell every
/// written value apart while the replicas carry values of realistic size.
public struct Value: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    @inlinable public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A value of `size` bytes (at least 8) whose first eight bytes carry `tag`.
    public init(tag: UInt64, size: Int = 8) {
        var bytes = [UInt8](repeating: 0, count: Swift.max(size, 8))
        withUnsafeBytes(of: tag.littleEndian) { src in
            for i in 0..<8 { bytes[i] = src[i] }
        }
        // Fill the padding with a cheap pattern derived from the tag, so values do not compress to nothing.
        var x = tag | 1
        for i in 8..<bytes.count {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        self.bytes = bytes
    }

    /// The unique tag in the first eight bytes (0 for a value shorter than eight bytes).
    @inlinable public var tag: UInt64 {
        guard bytes.count >= 8 else { return 0 }
        var t: UInt64 = 0
        for i in (0..<8).reversed() { t = t << 8 | UInt64(bytes[i]) }
        return t
    }

    /// A value's size in bytes.
    @inlinable public var size: Int { bytes.count }

    public var description: String { "v\(tag)" }
}

/// What a client asks the replicated store to do.
public enum Command: Hashable, Sendable {
    case get(key: Key)
    case put(key: Key, value: Value)
    /// Writes `new` only if the key currently holds `expected` (nil: the key is absent).
    case compareAndSet(key: Key, expected: Value?, new: Value)

    @inlinable public var key: Key {
        switch self {
        case let .get(key), let .put(key, _), let .compareAndSet(key, _, _): key
        }
    }

    @inlinable public var isReadOnly: Bool {
        if case .get = self { return true }
        return false
    }
}

/// One client operation on the wire. `(client, seq)` identifies it: a retry carries the same
/// pair, and the state machine applies it at most once.
public struct ClientRequest: Hashable, Sendable {
    public var client: ClientID
    public var seq: UInt64
    public var command: Command

    @inlinable public init(client: ClientID, seq: UInt64, command: Command) {
        self.client = client
        self.seq = seq
        self.command = command
    }
}

/// How a replica answered a request. The distinction between "not applied" and "unknown" is what
/// lets the checker treat a timed-out write honestly.
public enum Outcome: Hashable, Sendable {
    /// Applied. A get returns the value (nil when the key is absent); writes return nil.
    case ok(Value?)
    /// A compare-and-set that was not applied because the key held `current`.
    case compareFailed(current: Value?)
    /// Not applied: this replica does not lead; `hint` is the leader it believes in, if any.
    case notLeader(hint: NodeID?)
    /// Accepted, but this replica lost the authority to say how it ended: retry with the same seq.
    case unknown
    /// Not applied: the replica refused it (overloaded, or the request is invalid).
    case rejected(code: UInt8)

    /// True when the operation certainly took effect.
    @inlinable public var isApplied: Bool {
        switch self {
        case .ok, .compareFailed: true
        default: false
        }
    }
}

/// A replica's answer to one request.
public struct ClientReply: Hashable, Sendable {
    public var client: ClientID
    public var seq: UInt64
    public var outcome: Outcome

    @inlinable public init(client: ClientID, seq: UInt64, outcome: Outcome) {
        self.client = client
        self.seq = seq
        self.outcome = outcome
    }

    @inlinable public init(to request: ClientRequest, _ outcome: Outcome) {
        self.init(client: request.client, seq: request.seq, outcome: outcome)
    }
}

// MARK: - Wire forms

extension Value: WireCodable {
    /// The largest value the codec accepts (1 MiB): a garbage length cannot allocate more.
    public static let sizeLimit = 1 << 20

    @inlinable public func encode(to writer: inout WireWriter) { writer.writeBytes(bytes) }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(bytes: try reader.readBytes(limit: Value.sizeLimit))
    }
}

extension Command: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case let .get(key):
            writer.write(UInt8(1)); writer.write(key)
        case let .put(key, value):
            writer.write(UInt8(2)); writer.write(key); writer.write(value)
        case let .compareAndSet(key, expected, new):
            writer.write(UInt8(3)); writer.write(key); writer.write(expected); writer.write(new)
        }
    }

    public init(from reader: inout WireReader) throws {
        switch try reader.readUInt8() {
        case 1: self = .get(key: try reader.readUInt64())
        case 2: self = .put(key: try reader.readUInt64(), value: try reader.read(Value.self))
        case 3:
            let key = try reader.readUInt64()
            let expected = try reader.readOptional(Value.self)
            self = .compareAndSet(key: key, expected: expected, new: try reader.read(Value.self))
        case let tag: throw WireError.invalidTag(tag, type: "Command")
        }
    }
}

extension ClientRequest: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(client); writer.write(seq); writer.write(command)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(client: try reader.read(ClientID.self), seq: try reader.readUInt64(), command: try reader.read(Command.self))
    }
}

extension Outcome: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case let .ok(value): writer.write(UInt8(1)); writer.write(value)
        case let .compareFailed(current): writer.write(UInt8(2)); writer.write(current)
        case let .notLeader(hint): writer.write(UInt8(3)); writer.write(hint)
        case .unknown: writer.write(UInt8(4))
        case let .rejected(code): writer.write(UInt8(5)); writer.write(code)
        }
    }

    public init(from reader: inout WireReader) throws {
        switch try reader.readUInt8() {
        case 1: self = .ok(try reader.readOptional(Value.self))
        case 2: self = .compareFailed(current: try reader.readOptional(Value.self))
        case 3: self = .notLeader(hint: try reader.readOptional(NodeID.self))
        case 4: self = .unknown
        case 5: self = .rejected(code: try reader.readUInt8())
        case let tag: throw WireError.invalidTag(tag, type: "Outcome")
        }
    }
}

extension ClientReply: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(client); writer.write(seq); writer.write(outcome)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(client: try reader.read(ClientID.self), seq: try reader.readUInt64(), outcome: try reader.read(Outcome.self))
    }
}
