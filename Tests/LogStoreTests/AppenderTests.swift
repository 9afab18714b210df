import BenchCore
import CLogSupport
import Foundation
import Synchronization
import Testing
@testable import LogStore

@Suite struct AppenderTests {
    /// Many writes through the ring and the appender thread, in uneven chunks, then reopen.
    @Test func roundTripThroughTheAppender() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 21)
        let writes = workload.next(20_000)
        let options = LogOptions(segmentSizeBytes: 256 << 10, ringCapacity: 1024)
        let collector = ReportCollector()
        var lastSequence: UInt64 = 0
        do {
            let (log, recovered) = try WriteAheadLog.open(directory: directory.path, options: options)
            #expect(recovered == .empty)
            log.start(onDurable: collector.handler)
            var position = 0
            var chunk = 1
            while position < writes.count {
                let end = min(position + chunk, writes.count)
                lastSequence = log.submit(writes[position..<end])
                #expect(lastSequence == UInt64(end))
                position = end
                chunk = chunk % 97 + 1
            }
            log.stop()
            let statistics = log.statistics
            #expect(statistics.records == writes.count)
            #expect(statistics.syncs > 0 && statistics.syncs <= statistics.batches)
            #expect(statistics.batchRecordsHistogram.reduce(0, +) == statistics.batches)
        }
        #expect(collector.all.last?.throughSequence == UInt64(writes.count))
        #expect(directory.segments().count > 1)

        let (log, recovered) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(recovered == DurableState.replaying(writes))
        #expect(log.recoveryReport.lastSequence == lastSequence)
        #expect(log.recoveryReport.discarded == nil)
        log.stop()
    }

    /// Reports are strictly increasing, the last covers every write, and each report's
    /// `lastEntry` is the last `.entry` among the writes it is the first to cover.
    @Test func reportsAreMonotonicAndComplete() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 22)
        let writes = workload.next(5_000)
        let collector = ReportCollector()
        let (log, _) = try WriteAheadLog.open(directory: directory.path)
        log.start(onDurable: collector.handler)
        var submitted: UInt64 = 0
        for chunk in stride(from: 0, to: writes.count, by: 3) {
            submitted = log.submit(writes[chunk..<min(chunk + 3, writes.count)])
        }
        log.stop()
        let reports = collector.all
        #expect(!reports.isEmpty)
        #expect(reports.last?.throughSequence == submitted)
        #expect(submitted == UInt64(writes.count))
        expectInOrderWithTheirLastEntries(reports, writes)
        #expect(log.statistics.syncs == reports.count) // One report per sync.
    }

    @Test func hardStateOnlyBatches() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let states: [HardState] = (1...50).map { (number: Int) -> HardState in
            let vote: NodeID? = number % 3 == 0 ? nil : NodeID(UInt32(number % 5))
            return HardState(term: Term(UInt64(number)), vote: vote, auxiliary: UInt64(number * 7))
        }
        let collector = ReportCollector()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            log.start(onDurable: collector.handler)
            for state in states { log.submit(CollectionOfOne(.hardState(state))) }
            log.stop()
        }
        #expect(collector.all.allSatisfy { $0.lastEntry == nil })
        #expect(collector.all.last?.throughSequence == 50)
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered.hardState == states.last)
        #expect(recovered.entries.isEmpty)
        log.stop()
    }

    /// Single-write submits in a tight loop: the appender coalesces them, so there are fewer
    /// syncs than writes.
    @Test func groupCommitBatchesUnderLoad() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 23)
        let writes = workload.next(2_000)
        let (log, _) = try WriteAheadLog.open(directory: directory.path)
        log.start(onDurable: { _ in })
        for write in writes { log.submit(CollectionOfOne(write)) }
        log.stop()
        let statistics = log.statistics
        #expect(statistics.records == writes.count)
        #expect(statistics.syncs < writes.count)
        #expect(statistics.batchRecordsMax > 1)
    }

    /// Deterministic group commit: the first report holds the sync token until the producer has
    /// queued everything, so the rest must be made durable by one more sync.
    @Test func everythingQueuedDuringASyncIsOneSync() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 24)
        let writes = workload.next(1_500)
        let gate = ProducerGate()
        let options = LogOptions(maxBatchRecords: 4096, ringCapacity: 4096)
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        let count = writes.count
        log.start(onDurable: { _ in gate.holdFirstReport(allWritten: { log.statistics.records == count }) })
        for write in writes { log.submit(CollectionOfOne(write)) }
        gate.producerFinished()
        log.stop()
        let statistics = log.statistics
        #expect(statistics.records == writes.count)
        #expect(statistics.syncs <= 2)
    }

    /// A slow disk (5 ms per sync) under a producer that queues 8-record batches: the appender
    /// writes batches while a sync is in flight, and the next sync covers all of them. The
    /// segments are small, so the appender also starts new segments mid-stream, each only after
    /// the sync stage has synced the last. Every report is in order with the right last entry,
    /// and recovery finds every write.
    @Test func writesOverlapSlowSyncs() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 30)
        let writes = workload.next(2_000)
        let collector = ReportCollector()
        let options = LogOptions(segmentSizeBytes: 16 << 10, extraSyncDelay: .milliseconds(5), maxBatchRecords: 8)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
            log.start(onDurable: collector.handler)
            for start in stride(from: 0, to: writes.count, by: 8) {
                log.submit(writes[start..<min(start + 8, writes.count)])
            }
            log.stop()
            let statistics = log.statistics
            #expect(statistics.records == writes.count)
            #expect(statistics.batches >= writes.count / 8)
            // A serial write+sync loop would make one sync per batch.
            #expect(statistics.syncs * 2 < statistics.batches)
            #expect(statistics.syncs == collector.all.count)
        }
        expectInOrderWithTheirLastEntries(collector.all, writes)
        #expect(collector.all.last?.throughSequence == UInt64(writes.count))
        #expect(directory.segments().count > 2)
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        again.stop()
    }

    /// Which thread reports: with one write in flight at a time (a lone client), the appender
    /// syncs and reports itself, with no hop to the syncer; with a backlog (20,000 one-record
    /// batches, tens of milliseconds of writing) and a slow disk, the syncer takes over the
    /// syncs while the appender writes.
    @Test func aLoneWriteIsSyncedOnTheAppenderThread() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 31)
        let lone = workload.next(20)
        let backlog = (1...20_000).map { StorageWrite.hardState(HardState(term: Term(UInt64($0)), vote: nil, auxiliary: 0)) }
        let threads = ThreadNames()
        let options = LogOptions(extraSyncDelay: .milliseconds(2), maxBatchRecords: 1)
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        log.start(onDurable: threads.handler)
        for write in lone {
            let sequence = log.submit(CollectionOfOne(write))
            #expect(threads.waitForReport(through: sequence))
        }
        #expect(threads.names == Set(["wal-appender"]))
        log.submit(backlog)
        log.stop()
        #expect(threads.names.contains("wal-syncer"))
        #expect(threads.lastReported == UInt64(lone.count + backlog.count))
        #expect(log.statistics.syncs < backlog.count / 10)
    }

    /// A batch stops growing at the byte budget: large records get small batches.
    @Test func batchByteBudget() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let payload = [UInt8](repeating: 7, count: 1000)
        let writes = (1...300).map { StorageWrite.entry(LogEntry(index: LogIndex(UInt64($0)), term: 1, payload: .record(payload))) }
        let options = LogOptions(maxBatchBytes: 4000, ringCapacity: 512)
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        log.start(onDurable: { _ in })
        log.submit(writes)
        log.stop()
        let statistics = log.statistics
        #expect(statistics.records == writes.count)
        // Budget 4000 bytes, records of 1030: a batch closes with the record that reaches 4000.
        #expect(recordOffsets([writes[0]]).last == 1030)
        #expect(statistics.batchRecordsMax <= 4)
        #expect(statistics.batches >= writes.count / 4)
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        again.stop()
    }

    @Test func noSyncModeWritesWithoutSyncing() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 25)
        let writes = workload.next(3_000)
        let options = LogOptions(segmentSizeBytes: 32 << 10, syncMode: .none)
        let collector = ReportCollector()
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
            log.start(onDurable: collector.handler)
            for chunk in stride(from: 0, to: writes.count, by: 10) {
                log.submit(writes[chunk..<min(chunk + 10, writes.count)])
            }
            log.stop()
            #expect(log.statistics.syncs == 0)
            #expect(log.statistics.batches > 0)
            #expect(log.statistics.records == writes.count)
        }
        #expect(collector.all.last?.throughSequence == UInt64(writes.count))
        let (log, recovered) = try WriteAheadLog.open(directory: directory.path, options: options)
        #expect(recovered == DurableState.replaying(writes))
        log.stop()
    }

    /// The slow-disk knob still lets every write through.
    @Test func extraSyncDelay() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 26)
        let writes = workload.next(200)
        let options = LogOptions(extraSyncDelay: .milliseconds(2))
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        log.start(onDurable: { _ in })
        for write in writes { log.submit(CollectionOfOne(write)) }
        log.stop()
        #expect(log.statistics.records == writes.count)
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        again.stop()
    }

    /// The thread continues sequence numbers after recovery and after synchronous appends.
    @Test func sequencesContinueAcrossRestartsAndModes() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 27)
        let first = workload.next(10)
        let second = workload.next(10)
        let third = workload.next(10)
        do {
            let (log, _) = try WriteAheadLog.open(directory: directory.path)
            try log.appendAndSync(first)
            let collector = ReportCollector()
            log.start(onDurable: collector.handler)
            #expect(log.submit(second) == 20)
            #expect(log.submit([StorageWrite]()) == 20)
            log.stop()
            #expect(collector.all.last?.throughSequence == 20)
        }
        let (log, _) = try WriteAheadLog.open(directory: directory.path)
        let collector = ReportCollector()
        log.start(onDurable: collector.handler)
        #expect(log.submit(third) == 30)
        log.stop()
        #expect(collector.all.first.map { $0.throughSequence > 20 } == true)
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(first + second + third))
        again.stop()
    }

    /// A two-slot chunk ring: with one write per submit, the producer waits for space on almost
    /// every write, and a batch is at most the two chunks the ring held.
    @Test func tinyRingStillDeliversEverything() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 28)
        let writes = workload.next(3_000)
        let collector = ReportCollector()
        let options = LogOptions(syncMode: .none, ringCapacity: 2)
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        log.start(onDurable: collector.handler)
        var last: UInt64 = 0
        for write in writes { last = log.submit(CollectionOfOne(write)) }
        #expect(last == UInt64(writes.count))
        log.stop()
        #expect(log.statistics.batchRecordsMax <= 2) // A batch is at most what the ring held.
        #expect(collector.all.last?.throughSequence == UInt64(writes.count))
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        again.stop()
    }

    /// A 1 KiB arena: one big submit is cut into chunks, the producer waits for the appender to
    /// free bytes over and over (the arena wraps hundreds of times), and a batch never holds more
    /// than the arena did.
    @Test func tinyArenaStillDeliversEverything() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var workload = WorkloadGenerator(seed: 29)
        let writes = workload.next(3_000)
        let totalBytes = recordOffsets(writes).last!
        let collector = ReportCollector()
        let options = LogOptions(syncMode: .none, ringBytes: 1_024)
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        log.start(onDurable: collector.handler)
        #expect(log.submit(writes) == UInt64(writes.count))
        log.stop()
        let statistics = log.statistics
        #expect(statistics.bytes == totalBytes)
        #expect(statistics.batches >= totalBytes / 1_024)
        #expect(collector.all.last?.throughSequence == UInt64(writes.count))
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        again.stop()
    }

    /// Records larger than the whole arena travel in their own buffers, each as a batch of its
    /// own, in order with the small records around them.
    @Test func recordsLargerThanTheArena() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var writes: [StorageWrite] = []
        for index in 1...60 {
            let size = index % 3 == 0 ? 5_000 + index : 40 + index
            let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: size)
            writes.append(.entry(LogEntry(index: LogIndex(UInt64(index)), term: 1, payload: .record(payload))))
        }
        let collector = ReportCollector()
        let options = LogOptions(syncMode: .none, ringBytes: 4_096)
        let (log, _) = try WriteAheadLog.open(directory: directory.path, options: options)
        log.start(onDurable: collector.handler)
        for start in stride(from: 0, to: writes.count, by: 7) {
            log.submit(writes[start..<min(start + 7, writes.count)])
        }
        log.stop()
        #expect(log.statistics.records == writes.count)
        #expect(log.statistics.batches >= 20) // Each of the 20 large records is a batch by itself.
        #expect(collector.all.last?.throughSequence == UInt64(writes.count))
        #expect(collector.all.last?.lastEntry?.index == LogIndex(60))
        let (again, recovered) = try WriteAheadLog.open(directory: directory.path)
        #expect(recovered == DurableState.replaying(writes))
        again.stop()
    }

    /// The protocol thread's record buffer (raw memory, grown from nothing hundreds of times)
    /// encodes exactly the bytes a `WireWriter` does, for every kind of write and payload; and
    /// every command the codec knows encodes the same through a non-array sink.
    @Test func recordBufferEncodesLikeAWireWriter() {
        var workload = WorkloadGenerator(seed: 32)
        let lockAndBank: [Command] = [
            .get(key: 1), .readLocal(key: 2), .releaseLock(lock: 3),
            .transaction([AccountDelta(account: 1, amount: -5), AccountDelta(account: 2, amount: 5)]),
            .readBalances([1, 2, 3]), .acquireLock(lock: 4, lease: .milliseconds(30), stamp: Instant(nanoseconds: 77)),
            .compareAndSet(key: 5, expected: Value(tag: 1), new: Value(tag: 2)),
        ]
        let commands = lockAndBank.enumerated().map { position, command in
            StorageWrite.entry(LogEntry(index: LogIndex(UInt64(position + 1)), term: 2,
                                        payload: .command(ClientRequest(client: 9, seq: UInt64(position), command: command))))
        }
        let writes = workload.next(2_000) + commands
        var buffer = RecordBuffer(capacity: 0)
        var writer = WireWriter()
        for write in writes {
            let fromBuffer = RecordFormat.append(write, to: &buffer)
            let fromWriter = RecordFormat.append(write, to: &writer)
            #expect(fromBuffer?.index == fromWriter?.index && fromBuffer?.term == fromWriter?.term)
        }
        #expect(buffer.count == writer.count)
        #expect([UInt8](buffer.bytes) == writer.bytes)
        buffer.removeAll()
        #expect(buffer.count == 0 && buffer.capacity >= writer.count)
    }

    @Test func batchHistogramBuckets() {
        var statistics = LogStatistics()
        for count in [1, 2, 3, 4, 4095, 4096] {
            statistics.recordWrite(records: count, bytes: count * 10, collectTime: .zero, writeTime: .microseconds(1))
        }
        for _ in 0..<3 { statistics.recordSync(synced: true, syncTime: .microseconds(10)) }
        #expect(statistics.batchRecordsHistogram[0] == 1)
        #expect(statistics.batchRecordsHistogram[1] == 2)
        #expect(statistics.batchRecordsHistogram[2] == 1)
        #expect(statistics.batchRecordsHistogram[11] == 1)
        #expect(statistics.batchRecordsHistogram[12] == 1)
        #expect(statistics.batches == 6 && statistics.syncs == 3)
        #expect(statistics.batchRecordsMax == 4096)
        #expect(statistics.records == 8201)
        #expect(statistics.writeTimeTotal == .microseconds(6))
        #expect(statistics.syncTimeTotal == .microseconds(30))
        #expect(statistics.syncRecordsMean * 3 == 8201)
    }

    /// The benchmark routines run, write what they claim, and leave nothing behind.
    @Test func benchmarkSmoke() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let saturated = try AppenderBenchmark.saturate(directory: directory.path, appends: 500, payloadBytes: 64,
                                                       options: LogOptions(maxBatchRecords: 50))
        #expect(saturated.appendsPerSecond > 0)
        #expect(saturated.maxBatch <= 50)
        #expect(saturated.batches >= 10)
        #expect(saturated.syncs >= 1 && saturated.syncs <= saturated.batches)
        #expect(abs(saturated.recordsPerSync * Double(saturated.syncs) - 500) < 1e-6)
        let raw = try AppenderBenchmark.rawWriteSync(directory: directory.path, appends: 500, payloadBytes: 64, batch: 50)
        #expect(raw > 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test func stopWithoutWritesAndTwice() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let (log, _) = try WriteAheadLog.open(directory: directory.path)
        let collector = ReportCollector()
        log.start(onDurable: collector.handler)
        log.stop()
        log.stop()
        #expect(collector.all.isEmpty)
        #expect(log.statistics.batches == 0)
    }
}

/// Reports are strictly increasing, and each one's `lastEntry` is the last `.entry` among the
/// writes it is the first to cover (sequence numbers previous+1 ... throughSequence).
func expectInOrderWithTheirLastEntries(_ reports: [WriteAheadLog.DurabilityReport], _ writes: [StorageWrite]) {
    var previous: UInt64 = 0
    for report in reports {
        #expect(report.throughSequence > previous)
        let covered = writes[Int(previous)..<Int(report.throughSequence)]
        let lastEntry = covered.last { if case .entry = $0 { true } else { false } }
        if case let .entry(entry)? = lastEntry {
            #expect(report.lastEntry?.index == entry.index)
            #expect(report.lastEntry?.term == entry.term)
        } else {
            #expect(report.lastEntry == nil)
        }
        previous = report.throughSequence
    }
}

/// Holds the sync token inside the first report until the producer says it has queued everything.
final class ProducerGate: Sendable {
    private let producerDone = Atomic<Bool>(false)
    private let reports = Atomic<Int>(0)

    func producerFinished() {
        // Releasing: pairs with the acquiring load in holdFirstReport (only a gate; the ring
        // orders the writes themselves).
        producerDone.store(true, ordering: .releasing)
    }

    /// Holds the first report until the producer has queued everything and, when the syncer
    /// holds it (so the appender is free to write meanwhile), until `allWritten()`: then
    /// everything left is published before the token returns. (The appender, holding it itself,
    /// cannot write meanwhile; what is queued then goes out as one batch after it.)
    func holdFirstReport(allWritten: () -> Bool) {
        // Relaxed: a counter; only the sync token's holder increments it.
        guard reports.add(1, ordering: .relaxed).newValue == 1 else { return }
        let onSyncer = currentThreadName() == "wal-syncer"
        // Bounded: 20,000 polls of 0.5 ms is 10 s at most.
        for _ in 0..<20_000 where !producerDone.load(ordering: .acquiring) || (onSyncer && !allWritten()) {
            usleep(500)
        }
    }
}

/// The calling thread's name ("wal-appender", "wal-syncer", ...).
func currentThreadName() -> String {
    var buffer = [CChar](repeating: 0, count: 32)
    _ = clog_current_thread_name(&buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Records which thread delivered each report, and lets a test wait for one.
final class ThreadNames: Sendable {
    private let state = Mutex<(names: Set<String>, last: UInt64)>(([], 0))

    var handler: @Sendable (WriteAheadLog.DurabilityReport) -> Void {
        { report in
            let name = currentThreadName()
            self.state.withLock {
                $0.names.insert(name)
                $0.last = report.throughSequence
            }
        }
    }

    var names: Set<String> { state.withLock { $0.names } }
    var lastReported: UInt64 { state.withLock { $0.last } }

    /// Waits (bounded: 10 s) until a report covers `sequence`.
    func waitForReport(through sequence: UInt64) -> Bool {
        for _ in 0..<20_000 {
            if lastReported >= sequence { return true }
            usleep(500)
        }
        return false
    }
}
