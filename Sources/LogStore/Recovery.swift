import BenchCore

/// What `WriteAheadLog.open` found on disk and what it threw away. A node logs its `description`
/// at start-up, so a discarded tail is never silent.
public struct RecoveryReport: Sendable, Hashable, CustomStringConvertible {
    /// Why recovery stopped before the end of the files.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// The file ends inside a record: the write of the last batch was interrupted.
        case tornRecord(needed: Int, available: Int)
        /// A length field outside the sizes a record can have.
        case invalidLength(UInt32)
        /// The record's bytes do not match its checksum.
        case checksumMismatch(stored: UInt32, computed: UInt32)
        /// The checksum matches but the body is not a record this log writes.
        case undecodable(String)
        /// A segment does not start at the sequence number where the previous one ended.
        case sequenceGap(expected: UInt64, found: UInt64)

        public var description: String {
            switch self {
            case let .tornRecord(needed, available): "torn record (needs \(needed) bytes, \(available) left in the file)"
            case let .invalidLength(length): "invalid record length \(length)"
            case let .checksumMismatch(stored, computed):
                "checksum mismatch (stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16)))"
            case let .undecodable(what): "undecodable record: \(what)"
            case let .sequenceGap(expected, found): "segment starts at sequence \(found), expected \(expected)"
            }
        }
    }

    /// Where recovery stopped and what it removed from the disk.
    public struct Discarded: Sendable, Hashable {
        /// The segment in which the first bad record (or the gap) was found.
        public var segment: String
        /// The byte offset of that record in `segment` (0 for a gap: the whole segment went).
        public var offset: Int
        /// Bytes removed in total: the tail of `segment` and every later segment.
        public var bytes: Int
        /// Later segments deleted whole (`segment` itself is listed when a gap removed it).
        public var deletedSegments: [String]
        public var reason: Reason
    }

    public var directory: String
    /// Segment files read (including a truncated one).
    public var segmentsScanned: Int
    /// Records applied to the recovered state.
    public var recordsRecovered: Int
    /// Bytes of good records kept.
    public var bytesRecovered: Int
    /// The sequence number of the last recovered record (one less than the first segment's
    /// first sequence when there is none). New writes continue from the next number.
    public var lastSequence: UInt64
    /// Nil when every byte in the segments was a good record.
    public var discarded: Discarded?

    public var description: String {
        var text = "recovered \(recordsRecovered) records (\(bytesRecovered) bytes, \(segmentsScanned) segments, last sequence \(lastSequence)) from \(directory)"
        if let discarded {
            text += "; discarded \(discarded.bytes) bytes from \(discarded.segment) at offset \(discarded.offset): \(discarded.reason)"
            if !discarded.deletedSegments.isEmpty {
                text += "; deleted segments \(discarded.deletedSegments.joined(separator: ", "))"
            }
        }
        return text
    }
}

/// Rebuilds the durable state from the segment files and repairs the directory so that new
/// writes can follow the last good record.
enum Recovery {
    /// One segment's scan: the good prefix and, when it ended early, why.
    struct SegmentScan {
        var validSize: Int
        var records: Int
        var stop: RecoveryReport.Reason?
    }

    /// Applies every good record in `bytes` to `state`, in order, and stops at the first record
    /// that is torn, has an impossible length, fails its checksum or does not decode.
    static func scanSegment(_ bytes: UnsafeRawBufferPointer, into state: inout DurableState) -> SegmentScan {
        var offset = 0
        var records = 0
        while offset < bytes.count {
            let available = bytes.count - offset
            guard available >= RecordFormat.prefixSize else {
                return SegmentScan(validSize: offset, records: records,
                                   stop: .tornRecord(needed: RecordFormat.prefixSize, available: available))
            }
            let length = RecordFormat.loadUInt32(bytes, at: offset)
            guard length >= RecordFormat.bodySizeMin, length <= RecordFormat.bodySizeMax else {
                return SegmentScan(validSize: offset, records: records, stop: .invalidLength(length))
            }
            let recordSize = RecordFormat.prefixSize + Int(length)
            guard recordSize <= available else {
                return SegmentScan(validSize: offset, records: records,
                                   stop: .tornRecord(needed: recordSize, available: available))
            }
            let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + RecordFormat.prefixSize)..<(offset + recordSize)])
            let stored = RecordFormat.loadUInt32(bytes, at: offset + 4)
            let computed = CRC32C.checksum(body)
            guard stored == computed else {
                return SegmentScan(validSize: offset, records: records,
                                   stop: .checksumMismatch(stored: stored, computed: computed))
            }
            do {
                state.apply(try RecordFormat.decodeBody(body))
            } catch {
                return SegmentScan(validSize: offset, records: records, stop: .undecodable("\(error)"))
            }
            offset += recordSize
            records += 1
        }
        return SegmentScan(validSize: offset, records: records, stop: nil)
    }

    /// The outcome of recovery: the state, the report, and where appends continue.
    struct Outcome {
        var state: DurableState
        var report: RecoveryReport
        /// The last surviving segment (appends go there), or nil when there is none yet.
        var activeSegment: (firstSequence: UInt64, name: String)?
        /// The sequence number the next write gets.
        var nextSequence: UInt64
    }

    /// Reads every segment in `directory` in sequence order. At the first bad record it
    /// truncates that segment there and deletes every later segment, then fsyncs the directory,
    /// all before returning: if a deletion were not durable, a stale later segment could reappear
    /// after the next crash exactly where new appends had brought the sequence, and be replayed.
    static func run(directory: String, directoryFD: Int32) throws -> Outcome {
        let segments = try FileIO.directoryEntries(directory)
            .compactMap { name in SegmentName.firstSequence(of: name).map { (firstSequence: $0, name: name) } }
            .sorted { $0.firstSequence < $1.firstSequence }
        if let first = segments.first, first.firstSequence == 0 {
            throw LogStoreError.inconsistentSegments("\(first.name): sequence numbers start at 1")
        }

        var state = DurableState.empty
        var report = RecoveryReport(directory: directory, segmentsScanned: 0, recordsRecovered: 0,
                                    bytesRecovered: 0, lastSequence: 0, discarded: nil)
        var nextSequence = segments.first?.firstSequence ?? 1
        var active: (firstSequence: UInt64, name: String)?
        var position = 0
        while position < segments.count {
            let segment = segments[position]
            let path = directory + "/" + segment.name
            if segment.firstSequence != nextSequence {
                // This segment and every later one are not a continuation of what we have.
                report.discarded = RecoveryReport.Discarded(
                    segment: segment.name, offset: 0, bytes: 0, deletedSegments: [],
                    reason: .sequenceGap(expected: nextSequence, found: segment.firstSequence))
                break
            }
            let bytes = try FileIO.readAll(path)
            let scan = bytes.withUnsafeBytes { scanSegment($0, into: &state) }
            report.segmentsScanned += 1
            report.recordsRecovered += scan.records
            report.bytesRecovered += scan.validSize
            nextSequence += UInt64(scan.records)
            active = segment
            position += 1
            if let reason = scan.stop {
                try FileIO.truncate(path, toSize: scan.validSize)
                report.discarded = RecoveryReport.Discarded(
                    segment: segment.name, offset: scan.validSize, bytes: bytes.count - scan.validSize,
                    deletedSegments: [], reason: reason)
                break
            }
        }

        if report.discarded != nil {
            // Everything from `position` on is after the stopping point: delete it whole.
            for segment in segments[position...] {
                let path = directory + "/" + segment.name
                report.discarded!.bytes += try FileIO.fileSize(path)
                try FileIO.unlink(path)
                report.discarded!.deletedSegments.append(segment.name)
            }
            try FileIO.fsync(directoryFD, path: directory)
        }
        report.lastSequence = nextSequence - 1
        return Outcome(state: state, report: report, activeSegment: active, nextSequence: nextSequence)
    }
}
