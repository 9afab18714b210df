import BenchCore
import Foundation
import Testing
@testable import LogStore

@Suite struct RecoveryTests {
    @Test func recordLayoutAndDecoding() throws {
        let writes: [StorageWrite] = [
            .hardState(HardState(term: 7, vote: 2, auxiliary: 99)),
            .hardState(HardState(term: 8, vote: nil)),
            .entry(LogEntry(index: 1, term: 7, payload: .noop)),
            .entry(LogEntry(index: 2, term: 7, payload: .record([1, 2, 3]))),
            .entry(LogEntry(index: 3, term: 8, payload: .command(ClientRequest(client: 4, seq: 5, command: .put(key: 6, value: Value(tag: 9)))))),
            .truncate(from: 3),
        ]
        var writer = WireWriter()
        for write in writes { RecordFormat.append(write, to: &writer) }
        let bytes = writer.bytes
        // The first record: length of the body, crc over the body, then term, index 0, kind 1.
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        #expect(length == 17 + 1 + 4 + 8)
        let crc = UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        #expect(crc == CRC32C.checksum(Array(bytes[8..<(8 + length)])))
        #expect(bytes[8] == 7 && bytes[16] == 0 && bytes[24] == 1)

        var state = DurableState.empty
        let scan = bytes.withUnsafeBytes { Recovery.scanSegment($0, into: &state) }
        #expect(scan.stop == nil)
        #expect(scan.records == writes.count)
        #expect(scan.validSize == bytes.count)
        #expect(state == DurableState.replaying(writes))
    }

    @Test func segmentNames() {
        #expect(SegmentName.fileName(firstSequence: 1) == "wal-0000000000000001.log")
        #expect(SegmentName.fileName(firstSequence: 0xABC) == "wal-0000000000000abc.log")
        #expect(SegmentName.firstSequence(of: "wal-0000000000000abc.log") == 0xABC)
        #expect(SegmentName.firstSequence(of: "wal-0000000000000ABC.log") == nil)
        #expect(SegmentName.firstSequence(of: "wal-00000000000001.log") == nil)
        #expect(SegmentName.firstSequence(of: "wal-0000000000000001.log.tmp") == nil)
        #expect(SegmentName.firstSequence(of: "notes.txt") == nil)
    }

    @Test func emptyDirectoryRecoversEmptyState() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path + "/nested/wal")
        #expect(recovered == .empty)
        #expect(log.recoveryReport.lastSequence == 0)
        #expect(log.recoveryReport.discarded == nil)
        log.stop()
    }

    @Test func synchronousAppendsSurviveReopenAndSequencesContinue() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 11)
        let first = workload.next(30)
        let second = workload.next(25)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            let report = try log.appendAndSync(first)
            #expect(report?.throughSequence == 30)
            #expect(try log.appendAndSync([]) == nil)
            log.stop()
        }
        do {
            let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
            #expect(recovered == DurableState.replaying(first))
            #expect(log.recoveryReport.lastSequence == 30)
            #expect(log.recoveryReport.recordsRecovered == 30)
            let report = try log.appendAndSync(second)
            #expect(report?.throughSequence == 55)
            log.stop()
        }
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(first + second))
        #expect(log.recoveryReport.lastSequence == 55)
        log.stop()
    }

    /// Cutting the segment at every offset inside its last record recovers exactly the records
    /// before it, and truncates the file back to their end.
    @Test func tornLastRecordAtEveryOffset() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 12)
        var writes = workload.next(12)
        writes.append(.entry(LogEntry(index: 100, term: 9, payload: .record(Array(repeating: 0x5A, count: 33)))))
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.appendAndSync(Array(writes[..<6]))
            try log.appendAndSync(Array(writes[6...]))
            log.stop()
        }
        let segment = try #require(directory.segments().first)
        let full = directory.read(segment)
        let offsets = recordOffsets(writes)
        #expect(full.count == offsets.last)
        let lastStart = offsets[writes.count - 1]
        let expected = DurableState.replaying(writes.dropLast())
        for cut in lastStart..<full.count {
            directory.write(segment, Array(full[..<cut]))
            let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
            #expect(recovered == expected, "cut at \(cut)")
            #expect(log.recoveryReport.lastSequence == UInt64(writes.count - 1))
            if cut == lastStart {
                #expect(log.recoveryReport.discarded == nil)
            } else {
                let discarded = try #require(log.recoveryReport.discarded, "cut at \(cut)")
                #expect(discarded.offset == lastStart)
                #expect(discarded.bytes == cut - lastStart)
                guard case .tornRecord = discarded.reason else {
                    Issue.record("cut at \(cut): \(discarded.reason)")
                    continue
                }
            }
            log.stop()
            #expect(directory.read(segment).count == lastStart, "cut at \(cut)")
        }
        // The full file still recovers everything.
        directory.write(segment, full)
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        log.stop()
    }

    /// Flipping any one byte of the middle record stops recovery right before it.
    @Test func corruptMiddleRecordAtEveryByte() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 13)
        let writes = workload.next(21)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.appendAndSync(writes)
            log.stop()
        }
        let segment = try #require(directory.segments().first)
        let full = directory.read(segment)
        let offsets = recordOffsets(writes)
        let middle = writes.count / 2
        let expected = DurableState.replaying(writes[..<middle])
        for position in offsets[middle]..<offsets[middle + 1] {
            var damaged = full
            damaged[position] ^= 0x10
            directory.write(segment, damaged)
            let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
            #expect(recovered == expected, "flip at \(position)")
            let discarded = try #require(log.recoveryReport.discarded)
            #expect(discarded.offset == offsets[middle])
            #expect(discarded.bytes == full.count - offsets[middle])
            if position >= offsets[middle] + RecordFormat.prefixSize {
                guard case .checksumMismatch = discarded.reason else {
                    Issue.record("flip at \(position): \(discarded.reason)")
                    log.stop()
                    continue
                }
            }
            log.stop()
            #expect(directory.read(segment).count == offsets[middle])
        }
    }

    /// A crash after a write extended the file but before its data blocks reached the disk can
    /// leave zeros at the end: a zero length, which recovery cuts off.
    @Test func zeroFilledTail() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 17)
        let writes = workload.next(8)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.appendAndSync(writes)
            log.stop()
        }
        let segment = try #require(directory.segments().first)
        let good = directory.read(segment)
        directory.write(segment, good + [UInt8](repeating: 0, count: 4096))
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        let discarded = try #require(log.recoveryReport.discarded)
        #expect(discarded.reason == .invalidLength(0))
        #expect(discarded.offset == good.count)
        #expect(discarded.bytes == 4096)
        log.stop()
        #expect(directory.read(segment) == good)
    }

    /// A record whose checksum matches but whose body is not one this log writes is refused.
    @Test func undecodableRecordStopsRecovery() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        var writer = WireWriter()
        let good: StorageWrite = .entry(LogEntry(index: 1, term: 1, payload: .noop))
        RecordFormat.append(good, to: &writer)
        let goodSize = writer.count
        // A body with kind 9, correctly checksummed.
        var body = WireWriter()
        body.write(UInt64(1)); body.write(UInt64(2)); body.write(UInt8(9))
        writer.write(UInt32(body.count))
        writer.write(CRC32C.checksum(body.bytes))
        writer.bytes += body.bytes
        directory.write(SegmentName.fileName(firstSequence: 1), writer.bytes)

        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying([good]))
        let discarded = try #require(log.recoveryReport.discarded)
        #expect(discarded.offset == goodSize)
        guard case .undecodable = discarded.reason else {
            Issue.record("\(discarded.reason)")
            return
        }
        log.stop()
    }

    /// A truncation followed by new entries at the truncated indexes recovers to the new entries.
    @Test func truncateThenNewEntries() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var writes: [StorageWrite] = [.hardState(HardState(term: 1, vote: 1))]
        writes += (1...10).map { .entry(LogEntry(index: LogIndex($0), term: 1, payload: .record([UInt8($0)]))) }
        writes.append(.hardState(HardState(term: 2, vote: 3)))
        writes.append(.truncate(from: 6))
        writes += (6...8).map { .entry(LogEntry(index: LogIndex($0), term: 2, payload: .record([UInt8($0), 2]))) }
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            let collector = ReportCollector()
            log.start(onDurable: collector.handler)
            log.submit(writes[..<11])
            log.submit(writes[11...])
            log.stop()
            #expect(collector.all.last?.throughSequence == UInt64(writes.count))
            #expect(collector.all.last?.lastEntry?.index == 8)
            #expect(collector.all.last?.lastEntry?.term == 2)
        }
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        #expect(recovered.entries.count == 8)
        #expect(recovered.lastIndex == 8)
        #expect(recovered.entry(at: 5)?.term == 1)
        #expect(recovered.entry(at: 6)?.term == 2)
        #expect(recovered.entry(at: 9) == nil)
        #expect(recovered.hardState == HardState(term: 2, vote: 3))
        log.stop()
    }

    /// Small segments: many files, each named after its first write, recovering the whole stream.
    @Test func segmentRollover() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 14)
        let writes = workload.next(600)
        let options = LogOptions(segmentSizeBytes: 512, maxBatchRecords: 5)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
            log.start(onDurable: { _ in })
            for chunk in stride(from: 0, to: writes.count, by: 7) {
                log.submit(writes[chunk..<min(chunk + 7, writes.count)])
            }
            log.stop()
            let statistics = log.statistics
            #expect(statistics.records == writes.count)
            #expect(statistics.batchRecordsMax <= 5)
            #expect(statistics.segmentsCreated == directory.segments().count)
        }
        let segments = directory.segments()
        #expect(segments.count > 10)
        // Each segment is named after the sequence number of its first record.
        var expectedFirst: UInt64 = 1
        for name in segments {
            #expect(SegmentName.firstSequence(of: name) == expectedFirst)
            var state = DurableState.empty
            let scan = directory.read(name).withUnsafeBytes { Recovery.scanSegment($0, into: &state) }
            #expect(scan.stop == nil)
            expectedFirst += UInt64(scan.records)
        }
        #expect(expectedFirst == UInt64(writes.count + 1))

        let (log, recovered) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(recovered == DurableState.replaying(writes))
        #expect(log.recoveryReport.segmentsScanned == segments.count)
        log.stop()
    }

    /// Corruption in an early segment: that segment is cut there and every later one is deleted.
    @Test func corruptionInEarlierSegmentDeletesLaterSegments() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 15)
        let writes = workload.next(40)
        let options = LogOptions(segmentSizeBytes: 1)
        do {
            // One record per batch and a 1-byte segment size: one record per segment.
            let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
            for write in writes { try log.appendAndSync([write]) }
            log.stop()
        }
        var segments = directory.segments()
        #expect(segments.count == writes.count)
        var damaged = directory.read(segments[9])
        damaged[damaged.count - 1] ^= 0xFF
        directory.write(segments[9], damaged)

        let (log, recovered) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(recovered == DurableState.replaying(writes[..<9]))
        let discarded = try #require(log.recoveryReport.discarded)
        #expect(discarded.segment == segments[9])
        #expect(discarded.deletedSegments == Array(segments[10...]))
        #expect(log.recoveryReport.lastSequence == 9)
        // New writes continue in the cut segment, at sequence 10.
        let report = try log.appendAndSync([writes[9]])
        #expect(report?.throughSequence == 10)
        log.stop()
        segments = directory.segments()
        #expect(segments.count == 10)
        let (again, recoveredAgain) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(recoveredAgain == DurableState.replaying(writes[..<10]))
        #expect(again.recoveryReport.discarded == nil)
        again.stop()
    }

    /// A missing segment in the middle: recovery keeps the prefix before the gap.
    @Test func sequenceGapStopsRecovery() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 16)
        let writes = workload.next(10)
        let options = LogOptions(segmentSizeBytes: 1)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
            for write in writes { try log.appendAndSync([write]) }
            log.stop()
        }
        let segments = directory.segments()
        try FileManager.default.removeItem(atPath: directory.filePath(segments[4]))
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(recovered == DurableState.replaying(writes[..<4]))
        let discarded = try #require(log.recoveryReport.discarded)
        #expect(discarded.reason == .sequenceGap(expected: 5, found: 6))
        #expect(discarded.deletedSegments == Array(segments[5...]))
        #expect(directory.segments() == Array(segments[..<4]))
        log.stop()
    }

    @Test func emptySegmentAndForeignFiles() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        directory.write("README", Array("not a segment".utf8))
        directory.write(SegmentName.fileName(firstSequence: 1), [])
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == .empty)
        #expect(log.recoveryReport.discarded == nil)
        try log.appendAndSync([.hardState(HardState(term: 3, vote: 1))])
        log.stop()
        #expect(directory.segments() == [SegmentName.fileName(firstSequence: 1)])
        #expect(directory.read("README") == Array("not a segment".utf8))
        let (again, state) = try WriteAheadLog.open(directory: directory.path)
        #expect(state.hardState == HardState(term: 3, vote: 1))
        again.stop()
    }

    @Test func openFailsWhereADirectoryCannotBe() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        directory.write("plain-file", [1])
        let path = directory.filePath("plain-file") + "/wal"
        #expect(throws: LogStoreError.system(call: "mkdir", path: path, errno: ENOTDIR)) {
            _ = try WriteAheadLog.open(directory: path)
        }
    }

    @Test func directoryIsLockedWhileOpen() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (log, _) = try WriteAheadLog.open(directory: directory.path)
        #expect(throws: LogStoreError.directoryLocked(path: directory.path)) {
            _ = try WriteAheadLog.open(directory: directory.path)
        }
        log.stop()
        log.stop() // Idempotent.
        let (again, _) = try WriteAheadLog.open(directory: directory.path)
        again.stop()
    }
}
