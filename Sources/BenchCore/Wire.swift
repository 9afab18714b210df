/// Why a buffer could not be decoded. Decoding never traps on bad input: a truncated or garbage
/// buffer is one of these errors, and the caller decides what to do (the runtime closes that
/// connection; a recovering log stops at that record).
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case invalidTag(UInt8, type: String)
    case lengthTooLarge(Int, limit: Int)
    case trailingBytes(Int)
    case invalidValue(String)

    public var description: String {
        switch self {
        case let .truncated(needed, available): "truncated: needed \(needed) bytes, \(available) available"
        case let .invalidTag(tag, type): "invalid tag \(tag) for \(type)"
        case let .lengthTooLarge(length, limit): "length \(length) over the limit \(limit)"
        case let .trailingBytes(count): "\(count) trailing bytes after the message"
        case let .invalidValue(what): "invalid value: \(what)"
        }
    }
}

/// A value with a compact binary form: fixed-width little-endian integers, length-prefixed bytes
/// and arrays. Hand-written per type; no Codable on the hot path.
public protocol WireCodable {
    func encode(to writer: inout WireWriter)
    init(from reader: inout WireReader) throws
}

extension WireCodable {
    /// Encodes into a fresh array (tests and cold paths; the hot path reuses a writer).
    public func encodedBytes() -> [UInt8] {
        var writer = WireWriter()
        encode(to: &writer)
        return writer.bytes
    }

    /// Decodes a whole buffer; bytes left over are an error.
    public init(decoding bytes: some Collection<UInt8>) throws {
        let copy = Array(bytes)
        self = try copy.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            let value = try Self(from: &reader)
            try reader.expectEnd()
            return value
        }
    }
}

/// Appends little-endian fields to a growable byte array. Reuse one writer (`removeAll`) to
/// encode many messages without allocating.
public struct WireWriter: Sendable {
    public var bytes: [UInt8]

    @inlinable public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inlinable public var count: Int { bytes.count }
    @inlinable public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    @inlinable public mutating func write(_ v: UInt8) { bytes.append(v) }
    @inlinable public mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    @inlinable public mutating func write(_ v: UInt16) { appendInteger(v) }
    @inlinable public mutating func write(_ v: UInt32) { appendInteger(v) }
    @inlinable public mutating func write(_ v: UInt64) { appendInteger(v) }
    @inlinable public mutating func write(_ v: Int64) { appendInteger(v) }
    @inlinable public mutating func write(_ v: Double) { appendInteger(v.bitPattern) }

    @inlinable mutating func appendInteger<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Writes a u32 length, then the bytes.
    @inlinable public mutating func writeBytes(_ v: [UInt8]) {
        write(UInt32(v.count))
        // Through a raw buffer: appending `v` itself takes an owned copy (a retain and a release
        // per call, a third of a log record's encoding cost); borrowing its storage costs nothing.
        v.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func write<T: WireCodable>(_ v: T) { v.encode(to: &self) }

    @inlinable public mutating func write<T: WireCodable>(_ v: T?) {
        if let v { write(true); v.encode(to: &self) } else { write(false) }
    }

    @inlinable public mutating func write<T: WireCodable>(_ array: [T]) {
        write(UInt32(array.count))
        for element in array { element.encode(to: &self) }
    }

    /// Overwrites a u32 at `offset` (to patch a length written before the body was known).
    @inlinable public mutating func patch(_ v: UInt32, at offset: Int) {
        precondition(offset >= 0 && offset + 4 <= bytes.count, "patch outside the written bytes")
        withUnsafeBytes(of: v.littleEndian) { src in
            for i in 0..<4 { bytes[offset + i] = src[i] }
        }
    }
}

/// Where wire-encoded bytes go. `WireWriter` (a growable array) is the usual sink; the log
/// encodes its records straight into raw memory through another. The types a log record holds
/// (`EntryPayload` and what it contains) encode through `encode(into:)`, generic over the sink,
/// so one implementation serves both: specialised for `WireWriter` it is the same code as before.
///
/// Why raw memory for the log: while a record's payload is borrowed, an append that may grow an
/// array may also release it, so the compiler retains and releases every payload around the
/// append (a third of the cost of encoding a 128-byte record, measured). A sink whose growth
/// releases nothing (and says so) encodes without that.
public protocol WireSink {
    /// Appends `bytes` unchanged.
    mutating func appendRaw(_ bytes: UnsafeRawBufferPointer)
}

extension WireSink {
    @inlinable public mutating func writeByte(_ v: UInt8) { withUnsafeBytes(of: v) { appendRaw($0) } }
    @inlinable public mutating func writeLittleEndian<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { appendRaw($0) }
    }
    /// A bool byte, then the value's u32 (the form of an optional `NodeID`).
    @inlinable public mutating func writeOptional(_ v: NodeID?) {
        if let v { writeByte(1); writeLittleEndian(v.rawValue) } else { writeByte(0) }
    }
    /// A u32 length, then the bytes (the form of `WireWriter.writeBytes`).
    @inlinable public mutating func writeLengthPrefixed(_ v: [UInt8]) {
        writeLittleEndian(UInt32(v.count))
        v.withUnsafeBytes { appendRaw($0) }
    }
}

extension WireWriter: WireSink {
    @inlinable public mutating func appendRaw(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
}

/// Reads little-endian fields from a borrowed buffer, checking every bound. Lengths are checked
/// against the bytes that remain before anything is allocated, so a hostile length cannot make
/// the reader allocate more than the buffer holds.
public struct WireReader {
    public let buffer: UnsafeRawBufferPointer
    @usableFromInline var _offset: Int
    public var offset: Int { _offset }

    @inlinable public init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        self._offset = 0
    }

    @inlinable public var remaining: Int { buffer.count - offset }

    @inlinable mutating func need(_ n: Int) throws {
        if n > remaining { throw WireError.truncated(needed: n, available: remaining) }
    }

    @inlinable mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        try need(size)
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + size)]))
        }
        _offset += size
        return T(littleEndian: value)
    }

    @inlinable public mutating func readUInt8() throws -> UInt8 { try readInteger(UInt8.self) }
    @inlinable public mutating func readUInt16() throws -> UInt16 { try readInteger(UInt16.self) }
    @inlinable public mutating func readUInt32() throws -> UInt32 { try readInteger(UInt32.self) }
    @inlinable public mutating func readUInt64() throws -> UInt64 { try readInteger(UInt64.self) }
    @inlinable public mutating func readInt64() throws -> Int64 { try readInteger(Int64.self) }
    @inlinable public mutating func readDouble() throws -> Double { Double(bitPattern: try readInteger(UInt64.self)) }

    @inlinable public mutating func readBool() throws -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let tag: throw WireError.invalidTag(tag, type: "Bool")
        }
    }

    /// Reads a u32 length and that many bytes; `limit` caps the length a caller will accept.
    @inlinable public mutating func readBytes(limit: Int = Int(UInt32.max)) throws -> [UInt8] {
        let count = Int(try readUInt32())
        if count > limit { throw WireError.lengthTooLarge(count, limit: limit) }
        try need(count)
        let result = [UInt8](UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + count)]))
        _offset += count
        return result
    }

    /// Skips `count` bytes (after checking they exist).
    @inlinable public mutating func skip(_ count: Int) throws {
        try need(count)
        _offset += count
    }

    @inlinable public mutating func read<T: WireCodable>(_: T.Type) throws -> T { try T(from: &self) }

    @inlinable public mutating func readOptional<T: WireCodable>(_: T.Type) throws -> T? {
        try readBool() ? try T(from: &self) : nil
    }

    /// Reads a u32 count and that many elements. Every element takes at least `minimumSize`
    /// bytes, so a count the buffer cannot hold is refused before the array is reserved.
    @inlinable public mutating func readArray<T: WireCodable>(_: T.Type, minimumSize: Int = 1, limit: Int = 1 << 24) throws -> [T] {
        let count = Int(try readUInt32())
        if count > limit { throw WireError.lengthTooLarge(count, limit: limit) }
        if count * max(minimumSize, 1) > remaining {
            throw WireError.truncated(needed: count * max(minimumSize, 1), available: remaining)
        }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try T(from: &self)) }
        return result
    }

    @inlinable public func expectEnd() throws {
        if remaining != 0 { throw WireError.trailingBytes(remaining) }
    }
}

extension NodeID: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    @inlinable public init(from reader: inout WireReader) throws { self.init(try reader.readUInt32()) }
}

extension ClientID: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    @inlinable public init(from reader: inout WireReader) throws { self.init(try reader.readUInt64()) }
}

extension Term: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    @inlinable public init(from reader: inout WireReader) throws { self.init(try reader.readUInt64()) }
}

extension LogIndex: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    @inlinable public init(from reader: inout WireReader) throws { self.init(try reader.readUInt64()) }
}

extension Instant: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(nanoseconds) }
    @inlinable public init(from reader: inout WireReader) throws { self.init(nanoseconds: try reader.readInt64()) }
}

extension UInt64: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(self) }
    @inlinable public init(from reader: inout WireReader) throws { self = try reader.readUInt64() }
}
