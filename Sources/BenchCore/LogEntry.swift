/// What a log entry carries.
public enum EntryPayload: Hashable, Sendable {
    /// An entry a new leader appends to commit its term (Raft §8) or to fill a gap (Paxos).
    case noop
    /// A client command for the replicated state machine.
    case command(ClientRequest)
    /// A protocol's own record (a 2PC vote or decision, a ZAB epoch marker), opaque to the log.
    case record([UInt8])
}

/// One entry of a replicated log: its position, the term (epoch, ballot round) that created it,
/// and its payload. Two entries with the same index and term are the same entry (log matching).
public struct LogEntry: Hashable, Sendable {
    public var index: LogIndex
    public var term: Term
    public var payload: EntryPayload

    @inlinable public init(index: LogIndex, term: Term, payload: EntryPayload) {
        self.index = index
        self.term = term
        self.payload = payload
    }
}

/// The small durable state a replica keeps beside its log: Raft's current term and vote, a Paxos
/// acceptor's promised ballot, ZAB's current and accepted epochs (in `auxiliary`).
public struct HardState: Hashable, Sendable {
    public var term: Term
    public var vote: NodeID?
    public var auxiliary: UInt64

    public static let initial = HardState(term: .zero, vote: nil, auxiliary: 0)

    @inlinable public init(term: Term, vote: NodeID?, auxiliary: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.auxiliary = auxiliary
    }
}

/// One durable write a replica asks for. Writes are applied in order; the log they describe is
/// what `DurableState.apply` computes, in the simulator and in the write-ahead log alike.
public enum StorageWrite: Hashable, Sendable {
    /// Replace the hard state.
    case hardState(HardState)
    /// Put an entry at its index, replacing any entry already there.
    case entry(LogEntry)
    /// Remove every entry whose index is `from` or later (Raft's conflict truncation).
    case truncate(from: LogIndex)
}

extension EntryPayload: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { encode(into: &writer) }

    /// Inlinable so that a caller's switch over its payload borrows the bytes instead of copying
    /// them (encoding runs for every log record and every replicated entry).
    @inlinable public func encode<Sink: WireSink>(into sink: inout Sink) {
        switch self {
        case .noop: sink.writeByte(1)
        case let .command(request): sink.writeByte(2); request.encode(into: &sink)
        case let .record(bytes): sink.writeByte(3); sink.writeLengthPrefixed(bytes)
        }
    }

    public init(from reader: inout WireReader) throws {
        switch try reader.readUInt8() {
        case 1: self = .noop
        case 2: self = .command(try reader.read(ClientRequest.self))
        case 3: self = .record(try reader.readBytes(limit: Value.sizeLimit * 4))
        case let tag: throw WireError.invalidTag(tag, type: "EntryPayload")
        }
    }
}

extension LogEntry: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(index); writer.write(term); writer.write(payload)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(index: try reader.read(LogIndex.self), term: try reader.read(Term.self), payload: try reader.read(EntryPayload.self))
    }
}

extension HardState: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(term); writer.write(vote); writer.write(auxiliary)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(term: try reader.read(Term.self), vote: try reader.readOptional(NodeID.self), auxiliary: try reader.readUInt64())
    }
}

extension StorageWrite: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case let .hardState(state): writer.write(UInt8(1)); writer.write(state)
        case let .entry(entry): writer.write(UInt8(2)); writer.write(entry)
        case let .truncate(from): writer.write(UInt8(3)); writer.write(from)
        }
    }

    public init(from reader: inout WireReader) throws {
        switch try reader.readUInt8() {
        case 1: self = .hardState(try reader.read(HardState.self))
        case 2: self = .entry(try reader.read(LogEntry.self))
        case 3: self = .truncate(from: try reader.read(LogIndex.self))
        case let tag: throw WireError.invalidTag(tag, type: "StorageWrite")
        }
    }
}
