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
    /// A bank transaction: adds each delta to its account's balance, all or nothing. Refused
    /// (`.aborted`) if any balance would go negative. The deltas sum to zero for a transfer, so
    /// the bank's total never changes.
    case transaction([AccountDelta])
    /// Reads several balances as one transaction (a consistent snapshot); answered `.balances`.
    case readBalances([Key])
    /// Takes the lock `lock` for the client for `lease`, or renews it if the client holds it.
    /// `stamp` is the time the granting replica assigns when it orders the command (the client
    /// sends `.zero`); a lock is free once `stamp` passes the holder's expiry.
    case acquireLock(lock: Key, lease: Duration, stamp: Instant)
    /// Gives the lock back (if the client holds it).
    case releaseLock(lock: Key)
    /// A degraded read: any replica answers from its own applied state at once, without
    /// confirming it is current. May be stale; clients count it as degraded, never as a normal read.
    case readLocal(key: Key)

    /// The key a single-key command addresses (for transactions: the first account).
    @inlinable public var key: Key {
        switch self {
        case let .get(key), let .put(key, _), let .compareAndSet(key, _, _): key
        case let .transaction(deltas): deltas.first?.account ?? 0
        case let .readBalances(keys): keys.first ?? 0
        case let .acquireLock(lock, _, _), let .releaseLock(lock): lock
        case let .readLocal(key): key
        }
    }

    @inlinable public var isReadOnly: Bool {
        switch self {
        case .get, .readBalances, .readLocal: true
        default: false
        }
    }

    /// The command with the ordering replica's clock filled in (lock commands carry it; others
    /// are unchanged). A leader calls this when it appends, so every replica applies the same time.
    @inlinable public func stamped(_ now: Instant) -> Command {
        if case let .acquireLock(lock, lease, _) = self { return .acquireLock(lock: lock, lease: lease, stamp: now) }
        return self
    }

    /// Bytes this command takes on the wire, near enough for batch limits and cost models.
    public var approximateSize: Int {
        switch self {
        case .get: 9
        case let .put(_, value): 13 + value.size
        case let .compareAndSet(_, expected, new): 15 + (expected?.size ?? 0) + new.size
        case let .transaction(deltas): 5 + 16 * deltas.count
        case let .readBalances(keys): 5 + 8 * keys.count
        case .acquireLock: 25
        case .releaseLock, .readLocal: 9
        }
    }
}

/// One account's change in a bank transaction.
public struct AccountDelta: Hashable, Sendable {
    public var account: Key
    public var amount: Int64
    @inlinable public init(account: Key, amount: Int64) {
        self.account = account
        self.amount = amount
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
    /// A transaction that certainly did not commit (a vote no, a balance would go negative, a
    /// timeout before the decision): the client may try again with a new seq.
    case aborted
    /// The balances a `readBalances` read, in the order asked.
    case balances([Int64])
    /// A lock request that was not granted: another client holds it until `until` (granter's clock).
    case lockHeld(until: Instant)

    /// True when the operation certainly took effect and the client knows its result (a lock
    /// refused because another client holds it is such a result; an aborted transaction is not).
    @inlinable public var isApplied: Bool {
        switch self {
        case .ok, .compareFailed, .balances, .lockHeld: true
        default: false
        }
    }
}

/// Why a replica refused a request (`Outcome.rejected`).
public enum RejectCode {
    /// Too many requests in flight: back off and retry.
    public static let overloaded: UInt8 = 1
    /// The command is not one this protocol serves.
    public static let unsupported: UInt8 = 2
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

    @inlinable public func encode(to writer: inout WireWriter) { encode(into: &writer) }
    @inlinable public func encode<Sink: WireSink>(into sink: inout Sink) { sink.writeLengthPrefixed(bytes) }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(bytes: try reader.readBytes(limit: Value.sizeLimit))
    }
}

extension Command: WireCodable {
    public func encode(to writer: inout WireWriter) { encode(into: &writer) }

    /// Inlined so that a log record's encoder borrows the command's values instead of copying
    /// them: an opaque call could release them, as far as the optimizer knows (see `WireSink`).
    @inlinable @inline(__always) public func encode<Sink: WireSink>(into sink: inout Sink) {
        switch self {
        case let .get(key):
            sink.writeByte(1); sink.writeLittleEndian(key)
        case let .put(key, value):
            sink.writeByte(2); sink.writeLittleEndian(key); value.encode(into: &sink)
        case let .compareAndSet(key, expected, new):
            sink.writeByte(3); sink.writeLittleEndian(key)
            if let expected { sink.writeByte(1); expected.encode(into: &sink) } else { sink.writeByte(0) }
            new.encode(into: &sink)
        case let .transaction(deltas):
            // By index, not `for in`: an iterator holds (and finally releases) its own copy of
            // the array, and a possible release makes the optimizer copy the whole command.
            sink.writeByte(4); sink.writeLittleEndian(UInt32(deltas.count))
            for index in deltas.indices { deltas[index].encode(into: &sink) }
        case let .readBalances(keys):
            sink.writeByte(5); sink.writeLittleEndian(UInt32(keys.count))
            for index in keys.indices { sink.writeLittleEndian(keys[index]) }
        case let .acquireLock(lock, lease, stamp):
            sink.writeByte(6); sink.writeLittleEndian(lock); sink.writeLittleEndian(lease.nanoseconds)
            sink.writeLittleEndian(stamp.nanoseconds)
        case let .releaseLock(lock):
            sink.writeByte(7); sink.writeLittleEndian(lock)
        case let .readLocal(key):
            sink.writeByte(8); sink.writeLittleEndian(key)
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
        case 4: self = .transaction(try reader.readArray(AccountDelta.self, minimumSize: 16, limit: 4_096))
        case 5: self = .readBalances(try reader.readArray(UInt64.self, minimumSize: 8, limit: 1 << 20))
        case 6:
            let lock = try reader.readUInt64()
            let lease = Duration(nanoseconds: try reader.readInt64())
            guard lease >= .zero else { throw WireError.invalidValue("negative lease") }
            self = .acquireLock(lock: lock, lease: lease, stamp: try reader.read(Instant.self))
        case 7: self = .releaseLock(lock: try reader.readUInt64())
        case 8: self = .readLocal(key: try reader.readUInt64())
        case let tag: throw WireError.invalidTag(tag, type: "Command")
        }
    }
}

extension ClientRequest: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { encode(into: &writer) }
    @inlinable public func encode<Sink: WireSink>(into sink: inout Sink) {
        sink.writeLittleEndian(client.rawValue); sink.writeLittleEndian(seq); command.encode(into: &sink)
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
        case .aborted: writer.write(UInt8(6))
        case let .balances(values):
            writer.write(UInt8(7)); writer.write(UInt32(values.count))
            for v in values { writer.write(v) }
        case let .lockHeld(until): writer.write(UInt8(8)); writer.write(until)
        }
    }

    public init(from reader: inout WireReader) throws {
        switch try reader.readUInt8() {
        case 1: self = .ok(try reader.readOptional(Value.self))
        case 2: self = .compareFailed(current: try reader.readOptional(Value.self))
        case 3: self = .notLeader(hint: try reader.readOptional(NodeID.self))
        case 4: self = .unknown
        case 5: self = .rejected(code: try reader.readUInt8())
        case 6: self = .aborted
        case 7:
            let count = Int(try reader.readUInt32())
            guard count * 8 <= reader.remaining else { throw WireError.truncated(needed: count * 8, available: reader.remaining) }
            var values: [Int64] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try reader.readInt64()) }
            self = .balances(values)
        case 8: self = .lockHeld(until: try reader.read(Instant.self))
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

extension AccountDelta: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { encode(into: &writer) }
    @inlinable public func encode<Sink: WireSink>(into sink: inout Sink) {
        sink.writeLittleEndian(account); sink.writeLittleEndian(amount)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(account: try reader.readUInt64(), amount: try reader.readInt64())
    }
}
