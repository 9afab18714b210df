import BenchCore

/// The on-disk form of one `StorageWrite`. All integers are little-endian.
///
/// ```
/// offset  size  field
///      0     4  length  u32: bytes after the crc field (17 + payload size)
///      4     4  crc     u32: CRC-32C of the `length` bytes that follow
///      8     8  term    u64
///     16     8  index   u64
///     24     1  kind    u8: 1 hardState, 2 entry, 3 truncate
///     25     …  payload
/// ```
/// Per kind:
/// - `hardState`: term = the hard state's term, index = 0, payload = vote (BenchCore's optional
///   NodeID: a bool byte, then u32) then auxiliary (u64).
/// - `entry`: term and index of the entry, payload = the entry's `EntryPayload` in BenchCore's
///   wire form.
/// - `truncate`: term = 0, index = `from`, no payload.
///
/// Decoding is strict (the unused header field must be zero, the payload must be consumed
/// exactly), so a record that passes its CRC but was not written by this encoder is refused
/// rather than misread.
enum RecordFormat {
    /// The length and crc fields that precede the checksummed body.
    static let prefixSize = 8
    /// term + index + kind: the smallest body.
    static let bodySizeMin = 17
    /// The largest body this log writes or accepts: a `.record` payload is capped by BenchCore at
    /// four values' worth, and a command carries at most two values plus a few fields. A length
    /// field above this is corruption, not a record, and recovery stops there instead of
    /// allocating or skipping gigabytes.
    static let bodySizeMax = Value.sizeLimit * 4 + 4096

    enum Kind: UInt8 {
        case hardState = 1
        case entry = 2
        case truncate = 3
    }

    /// Appends one record to `writer` and returns the entry it holds, if it is an `.entry`.
    ///
    /// The hot path of the appender: the fixed header is reserved with one append and filled in
    /// place together with the length and crc, so a record costs one append for the header, the
    /// payload's own appends, and one pass of the checksum.
    @inline(__always)
    @discardableResult
    static func append(_ write: StorageWrite, to writer: inout WireWriter) -> (index: LogIndex, term: Term)? {
        let start = writer.count
        // One bulk append of zeros (a memcpy); `seal` fills the fields in place.
        withUnsafeBytes(of: zeroHeader) { writer.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[..<headerSize])) }
        switch write {
        case let .hardState(state):
            writer.write(state.vote)
            writer.write(state.auxiliary)
            seal(&writer, start: start, term: state.term.rawValue, index: 0, kind: .hardState)
            return nil
        case let .entry(entry):
            entry.payload.encode(to: &writer)
            seal(&writer, start: start, term: entry.term.rawValue, index: entry.index.rawValue, kind: .entry)
            return (entry.index, entry.term)
        case let .truncate(from):
            seal(&writer, start: start, term: 0, index: from.rawValue, kind: .truncate)
            return nil
        }
    }

    /// length + crc + term + index + kind.
    static let headerSize = prefixSize + bodySizeMin
    /// At least `headerSize` zero bytes, on the stack.
    private static let zeroHeader: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// Fills in the header of the record that starts at `start` and ends at the writer's end.
    @inline(__always)
    private static func seal(_ writer: inout WireWriter, start: Int, term: UInt64, index: UInt64, kind: Kind) {
        let bodySize = writer.count - start - prefixSize
        precondition(bodySize >= bodySizeMin, "a record body holds at least term, index and kind")
        precondition(bodySize <= bodySizeMax, "record body of \(bodySize) bytes is over the log's limit \(bodySizeMax)")
        writer.bytes.withUnsafeMutableBytes { raw in
            let record = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
            record.storeBytes(of: term.littleEndian, toByteOffset: 8, as: UInt64.self)
            record.storeBytes(of: index.littleEndian, toByteOffset: 16, as: UInt64.self)
            record.storeBytes(of: kind.rawValue, toByteOffset: 24, as: UInt8.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[prefixSize...]))
            record.storeBytes(of: UInt32(bodySize).littleEndian, toByteOffset: 0, as: UInt32.self)
            record.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

    /// Decodes a body whose CRC has already been verified.
    static func decodeBody(_ body: UnsafeRawBufferPointer) throws -> StorageWrite {
        var reader = WireReader(body)
        let term = try reader.read(Term.self)
        let index = try reader.read(LogIndex.self)
        let kindByte = try reader.readUInt8()
        guard let kind = Kind(rawValue: kindByte) else {
            throw WireError.invalidTag(kindByte, type: "record kind")
        }
        let write: StorageWrite
        switch kind {
        case .hardState:
            guard index == .zero else { throw WireError.invalidValue("hard-state record with index \(index)") }
            let vote = try reader.readOptional(NodeID.self)
            let auxiliary = try reader.readUInt64()
            write = .hardState(HardState(term: term, vote: vote, auxiliary: auxiliary))
        case .entry:
            write = .entry(LogEntry(index: index, term: term, payload: try reader.read(EntryPayload.self)))
        case .truncate:
            guard term == .zero else { throw WireError.invalidValue("truncate record with term \(term)") }
            write = .truncate(from: index)
        }
        try reader.expectEnd()
        return write
    }

    /// Reads the u32 at `offset` (little-endian); the caller has checked the bounds.
    static func loadUInt32(_ buffer: UnsafeRawBufferPointer, at offset: Int) -> UInt32 {
        UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
