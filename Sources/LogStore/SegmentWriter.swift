import BenchCore
import Glibc
import Synchronization

/// The writing end of the log: the active segment and the sequence numbers. It writes batches
/// of records encoded elsewhere (by `submit` or `appendAndSync`, with `ChunkEncoder`). It is
/// owned by one thread at a time and never locked: the caller of `appendAndSync` before
/// `start()` (under the log's lifecycle lock), the appender thread between `start()` and `stop()`
/// (handed over by `pthread_create`, handed back by `pthread_join`, both of which order memory),
/// and `stop()`/`deinit` when closing. The one exception is `sync`, which the sync stage may run
/// on its own thread while the owner writes (see `sync`).
final class SegmentWriter {
    let directory: String
    let options: LogOptions
    /// The slow-disk delay added to every sync, in nanoseconds: starts at `options.extraSyncDelay`
    /// and can be changed while the appender runs (fault injection). Relaxed: a delay that takes
    /// effect one batch late is fine.
    let extraSyncDelayNanos = Atomic<Int64>(0)
    /// Open for the directory fsyncs, and flocked: the lock is the log's claim on the directory.
    private var directoryFD: Int32
    private var segmentFD: Int32 = -1
    private var segmentPath = ""
    private var segmentSize = 0
    /// Set when a write or sync failed: the segment may now hold a partial batch, and anything
    /// appended after it would be cut off by recovery, so the writer refuses further batches.
    private var failed = false

    /// The sequence number of the first record of the batch being built.
    private(set) var nextSequence: UInt64

    /// The counters, shared with readers of `WriteAheadLog.statistics`; updated in place once per
    /// write (by the owner) and once per sync (by whichever thread syncs): a lock taken that
    /// rarely costs far less than the I/O it accounts for.
    let statistics: Mutex<LogStatistics>

    init(directory: String, directoryFD: Int32, options: LogOptions,
         activeSegment: (firstSequence: UInt64, name: String)?, nextSequence: UInt64) throws {
        precondition(directoryFD >= 0, "the writer needs the open directory")
        precondition(nextSequence >= 1, "sequence numbers start at 1")
        self.directory = directory
        self.directoryFD = directoryFD
        self.options = options
        extraSyncDelayNanos.store(options.extraSyncDelay.nanoseconds, ordering: .relaxed)
        self.nextSequence = nextSequence
        self.statistics = Mutex(LogStatistics())
        if let activeSegment {
            precondition(activeSegment.firstSequence <= nextSequence, "the active segment starts at or before the next write")
            let path = directory + "/" + activeSegment.name
            segmentFD = try FileIO.open(path, flags: O_WRONLY)
            segmentPath = path
            segmentSize = try FileIO.seekToEnd(segmentFD, path: path)
        }
    }

    deinit { close() }

    /// Where written batches are made durable: the segment they went to. It stays open until the
    /// writer starts the next segment, which its owner does only once every batch written to
    /// this one is synced (see `SyncStage`), so a sync never races the descriptor's close.
    struct SyncTarget {
        let fd: Int32
        let path: String
    }

    /// Whether the next batch starts a new segment (the active one is full, or there is none).
    /// The owner must have synced every written batch before it writes that batch.
    var needsNewSegment: Bool { segmentFD < 0 || segmentSize >= options.segmentSizeBytes }

    /// Writes `records` encoded records, the bytes of `first` followed by those of `second`, with
    /// one `writev`, then calls `afterWrite` (the bytes are now the kernel's: the caller may reuse
    /// its buffers). Starts a new segment first when `needsNewSegment`. Returns the sequence
    /// number of the last record and where to sync it; the batch is not durable until a `sync` of
    /// that target starts after this returns. On error the segment may hold part of the batch and
    /// the writer refuses further batches. `collectTime` is what gathering the batch took, for
    /// the statistics.
    func write(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, records: Int,
               collectTime: Duration = .zero, afterWrite: () -> Void = {}) throws -> (throughSequence: UInt64, target: SyncTarget) {
        precondition(!failed, "the log failed to write earlier; it accepts no more writes")
        precondition(directoryFD >= 0, "the log is closed")
        precondition(records > 0, "a batch holds at least one record")
        let bytes = first.count + second.count
        precondition(bytes >= records * RecordFormat.headerSize, "a record is at least a header")
        failed = true // Cleared below once the whole batch is written.
        if needsNewSegment {
            try startSegment(firstSequence: nextSequence)
        }
        let writeStart = FileIO.monotonicNanos()
        try FileIO.writeAll(segmentFD, first, second, path: segmentPath)
        afterWrite()
        let writeEnd = FileIO.monotonicNanos()
        failed = false

        nextSequence += UInt64(records)
        segmentSize += bytes
        assert(lseek(segmentFD, 0, SEEK_CUR) == off_t(segmentSize), "the segment ends where the writer thinks it does")
        statistics.withLock {
            $0.recordWrite(records: records, bytes: bytes, collectTime: collectTime, writeTime: .nanoseconds(writeEnd - writeStart))
        }
        return (nextSequence - 1, SyncTarget(fd: segmentFD, path: segmentPath))
    }

    /// Makes everything written to `target` before this call durable: one `fdatasync` (in
    /// `.fdatasync` mode) and the slow-disk delay, if any. Safe on another thread while the owner
    /// writes the next batch: it reads only constants, an atomic and the statistics' lock.
    func sync(_ target: SyncTarget) throws {
        let syncStart = FileIO.monotonicNanos()
        if options.syncMode == .fdatasync {
            try FileIO.fdatasync(target.fd, path: target.path)
        }
        FileIO.sleep(nanoseconds: extraSyncDelayNanos.load(ordering: .relaxed))
        let syncEnd = FileIO.monotonicNanos()
        statistics.withLock {
            $0.recordSync(synced: options.syncMode == .fdatasync, syncTime: .nanoseconds(syncEnd - syncStart))
        }
    }

    /// `write` then `sync` on the calling thread: one durable batch, for `appendAndSync`. On error
    /// the batch's durability is unknown and the writer refuses further batches.
    func commit(_ bytes: UnsafeRawBufferPointer, records: Int,
                lastEntry: (index: LogIndex, term: Term)?) throws -> WriteAheadLog.DurabilityReport {
        let (through, target) = try write(bytes, UnsafeRawBufferPointer(start: nil, count: 0), records: records)
        failed = true // Cleared once the batch is durable.
        try sync(target)
        failed = false
        return WriteAheadLog.DurabilityReport(throughSequence: through, lastEntry: lastEntry)
    }

    /// Closes the full segment (already durable: the owner has every batch in it synced before
    /// it writes one that starts a new segment; see `needsNewSegment`) and creates the next one,
    /// named after the first write it will hold. The directory is
    /// fsynced before any record goes in, so a synced record can never sit in a file whose name
    /// a crash forgets.
    private func startSegment(firstSequence: UInt64) throws {
        if segmentFD >= 0 {
            _ = Glibc.close(segmentFD)
            segmentFD = -1
        }
        let name = SegmentName.fileName(firstSequence: firstSequence)
        let path = directory + "/" + name
        // O_EXCL: recovery deleted every segment after the last good record, so a file with this
        // name would mean two writers or a bug, and must not be appended to.
        segmentFD = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_EXCL)
        segmentPath = path
        segmentSize = 0
        if options.syncMode == .fdatasync {
            try FileIO.fsync(directoryFD, path: directory)
        }
        statistics.withLock { $0.segmentsCreated += 1 }
    }

    /// Closes the segment and the directory (which releases the lock). Idempotent. A batch that
    /// was added but not committed is dropped; callers commit first.
    func close() {
        if segmentFD >= 0 {
            _ = Glibc.close(segmentFD)
            segmentFD = -1
        }
        if directoryFD >= 0 {
            _ = Glibc.close(directoryFD)
            directoryFD = -1
        }
    }
}
