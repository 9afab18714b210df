import BenchCore
import Glibc

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

    /// Appends one record to `target` and returns the entry it holds, if it is an `.entry`.
    ///
    /// The hot path of the protocol thread's log submissions (into a `RecordBuffer`): the fixed
    /// header is reserved with one append and filled in place together with the length and crc,
    /// so a record costs one append for the header, the payload's own appends, and one pass of
    /// the checksum.
    @inline(__always)
    @discardableResult
    static func append<Target: RecordTarget>(_ write: StorageWrite, to target: inout Target) -> (index: LogIndex, term: Term)? {
        let start = target.count
        // One bulk append of zeros (a memcpy); `seal` fills the fields in place.
        withUnsafeBytes(of: zeroHeader) { target.appendRaw(UnsafeRawBufferPointer(rebasing: $0[..<headerSize])) }
        let header: (term: UInt64, index: UInt64, kind: Kind)
        let entry: (index: LogIndex, term: Term)?
        switch write {
        case let .hardState(state):
            target.writeOptional(state.vote)
            target.writeLittleEndian(state.auxiliary)
            header = (state.term.rawValue, 0, .hardState)
            entry = nil
        case let .entry(logEntry):
            logEntry.payload.encode(into: &target)
            header = (logEntry.term.rawValue, logEntry.index.rawValue, .entry)
            entry = (logEntry.index, logEntry.term)
        case let .truncate(from):
            header = (0, from.rawValue, .truncate)
            entry = nil
        }
        // Sealed after the switch, once nothing of `write` is in use: the checksum's first call
        // may initialise a global, which the optimizer must assume can release objects, and a
        // payload still borrowed across it would be retained and released for every record.
        seal(&target, start: start, term: header.term, index: header.index, kind: header.kind)
        return entry
    }

    /// length + crc + term + index + kind.
    static let headerSize = prefixSize + bodySizeMin
    /// At least `headerSize` zero bytes, on the stack.
    private static let zeroHeader: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// Fills in the header of the record that starts at `start` and ends at the writer's end.
    @inline(__always)
    private static func seal<Target: RecordTarget>(_ target: inout Target, start: Int, term: UInt64, index: UInt64, kind: Kind) {
        let bodySize = target.count - start - prefixSize
        precondition(bodySize >= bodySizeMin, "a record body holds at least term, index and kind")
        precondition(bodySize <= bodySizeMax, "record body of \(bodySize) bytes is over the log's limit \(bodySizeMax)")
        target.withMutableBytes(from: start) { record in
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

/// Where `RecordFormat.append` encodes records: a `RecordBuffer` on the hot path, a `WireWriter`
/// in tests and the raw reference loop. It patches the header in place once the body is written.
protocol RecordTarget: WireSink {
    var count: Int { get }
    /// Calls `body` with the bytes from `start` to the end, writable.
    mutating func withMutableBytes<Result>(from start: Int, _ body: (UnsafeMutableRawBufferPointer) -> Result) -> Result
}

extension WireWriter: RecordTarget {
    mutating func withMutableBytes<Result>(from start: Int, _ body: (UnsafeMutableRawBufferPointer) -> Result) -> Result {
        bytes.withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
    }
}

/// Growable raw memory that encoded records are appended to: the producer's chunk under
/// construction. Unlike an array, growing it releases no Swift object (it reallocates its own
/// malloc'd block), and `grow` says so to the optimizer: the records' payloads, borrowed from
/// the caller's writes while they are encoded, then need no retain and release each (see
/// `WireSink`). With the checksum call and the command encoder likewise free of possible
/// releases, encoding a 128-byte record went from 81-85 ns to 42-43 ns (`bench micro`).
///
/// A class, shared by copies of the struct that holds it (`ChunkEncoder`), which has one owner
/// at a time (the producer). Not thread-safe.
final class RecordBuffer: RecordTarget {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int) {
        precondition(capacity >= 0, "capacity must not be negative")
        self.capacity = capacity
        base = capacity > 0 ? malloc(capacity) : nil
        precondition(capacity == 0 || base != nil, "out of memory for a record buffer of \(capacity) bytes")
    }

    deinit { free(base) }

    /// The bytes appended so far; valid until the next append or `removeAll`.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func removeAll() { count = 0 }

    @inline(__always)
    func appendRaw(_ raw: UnsafeRawBufferPointer) {
        guard let source = raw.baseAddress, raw.count > 0 else { return }
        if capacity - count < raw.count { grow(toAtLeast: count + raw.count) }
        (base.unsafelyUnwrapped + count).copyMemory(from: source, byteCount: raw.count)
        count += raw.count
    }

    @inline(__always)
    func withMutableBytes<Result>(from start: Int, _ body: (UnsafeMutableRawBufferPointer) -> Result) -> Result {
        precondition(start >= 0 && start <= count, "a record starts inside the buffer")
        return body(UnsafeMutableRawBufferPointer(start: base.map { $0 + start }, count: count - start))
    }

    /// Reallocates to at least `wanted` bytes (doubling). `releasenone`: true, it only calls
    /// `realloc`; this is what lets the optimizer keep borrowed payloads unretained.
    @_effects(releasenone) @inline(never)
    private func grow(toAtLeast wanted: Int) {
        let newCapacity = max(wanted, capacity * 2, 64)
        guard let grown = realloc(base, newCapacity) else {
            preconditionFailure("out of memory growing a record buffer to \(newCapacity) bytes")
        }
        base = grown
        capacity = newCapacity
    }
}
