import BenchCore

// The file form of a history: a client process writes its operations with `encodedBytes()`, the
// orchestrator reads them back with `History(decoding:)`. Fixed-width little-endian fields, so a
// file written on one host reads the same on any other.

extension ClientOperation: WireCodable {
    /// Bytes one encoded operation takes: client, key, kind, written, expected, observed, swapped,
    /// invoke, complete, status.
    public static let encodedSize = 8 + 8 + 1 + 8 + 8 + 8 + 1 + 8 + 8 + 1

    public func encode(to writer: inout WireWriter) {
        writer.write(client)
        writer.write(key)
        writer.write(kind.rawValue)
        writer.write(written)
        writer.write(expected)
        writer.write(observed)
        writer.write(swapped)
        writer.write(invoke)
        writer.write(complete)
        writer.write(status.rawValue)
    }

    /// Decodes one operation. Throws on an unknown kind or status tag, and on an answered
    /// operation that completed before it was invoked (a client bug the checker must not trust).
    public init(from reader: inout WireReader) throws {
        let client = try ClientID(from: &reader)
        let key = try reader.readUInt64()
        let kindTag = try reader.readUInt8()
        guard let kind = OperationKind(rawValue: kindTag) else {
            throw WireError.invalidTag(kindTag, type: "OperationKind")
        }
        let written = try reader.readUInt64()
        let expected = try reader.readUInt64()
        let observed = try reader.readUInt64()
        let swapped = try reader.readBool()
        let invoke = try Instant(from: &reader)
        let complete = try Instant(from: &reader)
        let statusTag = try reader.readUInt8()
        guard let status = OperationStatus(rawValue: statusTag) else {
            throw WireError.invalidTag(statusTag, type: "OperationStatus")
        }
        if status != .unknown && complete < invoke {
            throw WireError.invalidValue("operation completed at \(complete) before its invocation at \(invoke)")
        }
        self.init(client: client, key: key, kind: kind, written: written, expected: expected, observed: observed,
                  swapped: swapped, invoke: invoke, complete: complete, status: status)
    }
}

extension LockBelief: WireCodable {
    /// Bytes one encoded belief takes: client, lock, start, end, ending.
    public static let encodedSize = 8 + 8 + 8 + 8 + 1

    public func encode(to writer: inout WireWriter) {
        writer.write(client)
        writer.write(lock)
        writer.write(start)
        writer.write(end)
        writer.write(ending.rawValue)
    }

    /// Decodes one belief. Throws on an unknown ending and on a belief that ends before it starts.
    public init(from reader: inout WireReader) throws {
        let client = try ClientID(from: &reader)
        let lock = try reader.readUInt64()
        let start = try Instant(from: &reader)
        let end = try Instant(from: &reader)
        let endingTag = try reader.readUInt8()
        guard let ending = LockBeliefEnding(rawValue: endingTag) else {
            throw WireError.invalidTag(endingTag, type: "LockBeliefEnding")
        }
        if end < start { throw WireError.invalidValue("lock belief ends at \(end) before it starts at \(start)") }
        self.init(client: client, lock: lock, start: start, end: end, ending: ending)
    }
}

extension History: WireCodable {
    /// The format version written first. Version 1 holds operations only; version 2 adds the lock
    /// beliefs and is written only when there are some, so other workloads' files are unchanged.
    public static let wireVersion: UInt8 = 1
    public static let wireVersionWithLocks: UInt8 = 2

    public func encode(to writer: inout WireWriter) {
        writer.write(lockBeliefs.isEmpty ? History.wireVersion : History.wireVersionWithLocks)
        writer.write(operations)
        if !lockBeliefs.isEmpty { writer.write(lockBeliefs) }
    }

    public init(from reader: inout WireReader) throws {
        let version = try reader.readUInt8()
        guard version == History.wireVersion || version == History.wireVersionWithLocks else {
            throw WireError.invalidValue("history format version \(version), expected \(History.wireVersion) or \(History.wireVersionWithLocks)")
        }
        let operations = try reader.readArray(ClientOperation.self, minimumSize: ClientOperation.encodedSize)
        let beliefs = version == History.wireVersionWithLocks
            ? try reader.readArray(LockBelief.self, minimumSize: LockBelief.encodedSize) : []
        self.init(operations, lockBeliefs: beliefs)
    }
}
