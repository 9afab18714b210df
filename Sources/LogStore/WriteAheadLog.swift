// LogStore: the durable write-ahead log of a node process.
//
// The protocol thread encodes a replica's `StorageWrite`s itself (length, CRC-32C and all) into a
// byte arena it shares with one appender thread, and describes each submitted chunk in an SPSC
// ring. The appender takes every chunk queued since its last write as one batch, writes the
// batch's bytes to the file straight from the arena with one `writev` (no copy, no per-record
// work on the appender), and gives the arena space back. The sync stage then makes it durable
// with one `fdatasync` and reports it with one callback: on the appender thread when nothing else
// is queued, else on the syncer thread while the appender writes the next batch, and one sync
// covers every batch written before it started (group commit). So the pipeline has three stages
// in flight at once: the protocol thread encoding, the appender writing, the syncer syncing.
// Recovery stops at the first torn or corrupt record, truncates there, and rebuilds exactly the
// `DurableState` that `DurableState.apply` gives for the surviving writes in order.
//
// Log growth: without state-machine snapshots the durable state *is* the log (a replica recovers
// by replaying its entries), so the log grows for the length of a run, at the rate of the
// replicated writes. Each benchmark cell is bounded in time, so it is bounded in size; a node
// started with a fresh directory per cell never accumulates more than one cell's writes.
// Rewriting the log as its own `DurableState` would reclaim only superseded hard states and
// truncated or overwritten entries (a few percent for Raft or Paxos), so the log does not do it;
// real reclamation needs snapshots of the key-value state, which is a protocol-level feature.
//
// Why the protocol thread encodes: the appender's serial work is then only I/O (the first design
// encoded on the appender, between syncs, and reached 0.4-0.6x of a raw write+fdatasync loop);
// and a record's bytes cross threads once, in bulk, instead of as a `StorageWrite` whose arrays
// both threads retain and release. Encoding costs the protocol thread tens of nanoseconds per
// record, which it pays anyway for the same entries' network frames.
//
// Why a separate sync stage: with write and sync in one thread the appender reached 0.82-0.93x of
// a serial write+fdatasync loop at the same batch size, the gap being the encoding thread's load
// on the neighbouring core slowing the appender's own syscalls. Overlapping a batch's `writev`
// with the previous batch's `fdatasync` removes the write from the serial path instead of racing
// it. `AppenderBenchmark` measures the result.

import BenchCore
import Glibc
import RingBuffer
import Synchronization

/// A durable, segmented write-ahead log with a batched, pipelined appender.
///
/// Use: `open` (which recovers), then either `start` and `submit` from the protocol thread, or
/// `appendAndSync` without a thread (tests, tools); `stop` when done.
///
/// Guarantees:
/// - Writes become durable in the order they were submitted; a `DurabilityReport` with
///   `throughSequence` s means every write with a sequence number up to s is on disk (synced, in
///   `.fdatasync` mode) and survives a crash.
/// - Reports arrive in increasing `throughSequence`, one per sync (covering one or more batches),
///   on the appender or the syncer thread, never two at once.
/// - After a crash (of the machine in `.fdatasync` mode, of the process in `.none` mode), `open`
///   returns the state of a prefix of the submitted writes that contains every reported one.
/// - Sequence numbers count writes from 1 over the log's whole life, across restarts.
///
/// Threads: the appender thread ("wal-appender") writes and the syncer thread ("wal-syncer")
/// syncs, when the appender has more to write (see `SyncStage`); after `start` the protocol
/// thread never blocks on the disk (only on a full arena or ring, when it outruns the disk).
/// Encoding and checksumming happen in `submit`, on the submitting thread.
///
/// `@unchecked Sendable`: the shared mutable state is the byte arena and the chunk ring (each
/// SPSC, used by one producer and the appender), the lifecycle and statistics (each behind a
/// `Mutex`), and `stopRequested` (an atomic). `producerLastSequence` and the `encoder` are touched
/// only by the producer (the protocol thread, or the caller of `appendAndSync` under the lifecycle
/// lock before `start`), `carriedOver` and `consumedOffset` only by the appender thread, and the
/// writer only by its current owner (see `SegmentWriter`), except its `sync`, which the sync
/// stage may run on the syncer thread (safe by design; see `SegmentWriter.sync`).
public final class WriteAheadLog: @unchecked Sendable {
    /// What one sync made durable.
    public struct DurabilityReport: Sendable {
        /// Every write with a sequence number up to this one is durable.
        public var throughSequence: UInt64
        /// The last `.entry` among the writes this report is the first to cover, if any: what
        /// `Input.persisted(through:term:)` reports to the replica.
        public var lastEntry: (index: LogIndex, term: Term)?

        public init(throughSequence: UInt64, lastEntry: (index: LogIndex, term: Term)?) {
            self.throughSequence = throughSequence
            self.lastEntry = lastEntry
        }
    }

    public let directory: String
    public let options: LogOptions
    /// What recovery found and discarded; log its `description` at start-up.
    public let recoveryReport: RecoveryReport

    /// Encoded records, in submission order, from the producer to the appender.
    private let arena: ByteRing
    /// One descriptor per submitted chunk, pushed after the chunk's bytes are in the arena.
    private let chunks: SPSCRing<Chunk>
    private let writer: SegmentWriter
    /// Chunks the appender took from the ring but that did not fit the batch's budget; they open
    /// the next batch. Appender thread only. Taking everything with one drain (rather than a few
    /// chunks per drain) matters: each drain frees ring space, and a producer parked on a full
    /// ring is woken by a syscall per drain.
    private var carriedOver: [Chunk] = []
    private var carriedOverStart = 0
    /// Where the next arena chunk's bytes start (appender only).
    private var consumedOffset = 0
    /// The chunk being encoded (producer only).
    private var encoder: ChunkEncoder
    /// The sequence number of the last write submitted (producer only).
    private var producerLastSequence: UInt64

    /// A chunk of submitted records, as the appender learns of it: its bytes follow the previous
    /// chunk's in the arena, unless they were too large for it and travel in `oversized`.
    struct Chunk {
        var byteCount: Int
        var recordCount: Int
        /// The last `.entry` among the chunk's records.
        var lastEntry: (index: LogIndex, term: Term)?
        var oversized: [UInt8]?
    }

    private enum Lifecycle {
        case idle
        case running(appender: PosixThread, syncStage: SyncStage)
        case stopped
    }
    private let lifecycle = Mutex<Lifecycle>(.idle)
    /// Set by `stop()` before it wakes the appender.
    private let stopRequested = Atomic<Bool>(false)
    /// Whether `submit` may be called (between `start` and `stop`).
    private let acceptingSubmissions = Atomic<Bool>(false)

    private init(directory: String, options: LogOptions, report: RecoveryReport, writer: SegmentWriter) {
        self.directory = directory
        self.options = options
        self.recoveryReport = report
        self.writer = writer
        self.producerLastSequence = report.lastSequence
        self.chunks = SPSCRing(capacity: Self.powerOfTwo(atLeast: options.ringCapacity))
        self.arena = ByteRing(capacity: Self.powerOfTwo(atLeast: options.ringBytes))
        self.encoder = ChunkEncoder(bytesMax: options.chunkBytesMax, recordsMax: options.maxBatchRecords)
    }

    private static func powerOfTwo(atLeast wanted: Int) -> Int {
        var capacity = 2
        while capacity < wanted { capacity <<= 1 }
        return capacity
    }

    deinit {
        // A running appender holds a reference to the log, so none runs here.
        writer.close()
    }

    /// Opens (creating if needed) the log in `directory`, recovers its durable state, and repairs
    /// the files so appends can continue: a torn or corrupt record and everything after it are
    /// removed (see `recoveryReport`). The directory is locked (`flock`) until `stop()`, so a
    /// second writer, in this process or another, fails with `.directoryLocked`.
    public static func open(directory: String, options: LogOptions = LogOptions()) throws -> (log: WriteAheadLog, recovered: DurableState) {
        try FileIO.createDirectory(directory)
        let directoryFD = try FileIO.open(directory, flags: O_RDONLY | O_DIRECTORY)
        do {
            if flock(directoryFD, LOCK_EX | LOCK_NB) != 0 {
                if errno == EWOULDBLOCK { throw LogStoreError.directoryLocked(path: directory) }
                throw LogStoreError.system(call: "flock", path: directory, errno: errno)
            }
            let outcome = try Recovery.run(directory: directory, directoryFD: directoryFD)
            let writer = try SegmentWriter(directory: directory, directoryFD: directoryFD, options: options,
                                           activeSegment: outcome.activeSegment, nextSequence: outcome.nextSequence)
            let log = WriteAheadLog(directory: directory, options: options, report: outcome.report, writer: writer)
            return (log, outcome.state)
        } catch {
            _ = Glibc.close(directoryFD)
            throw error
        }
    }

    /// Starts the appender and syncer threads. `onDurable` runs once per sync, in order, on
    /// either thread (never on both at once); keep it short (hand the report to the protocol
    /// thread's inbox), since the next sync waits for it. It must never wait for the protocol
    /// thread: that thread may itself be waiting in `submit` for ring space only the appender can
    /// free. Call once, before `submit`, and call `stop` when done (the running threads keep the
    /// log alive).
    public func start(onDurable: @escaping @Sendable (DurabilityReport) -> Void) {
        lifecycle.withLock { state in
            guard case .idle = state else { preconditionFailure("start() is called once, on an open log") }
            let syncStage = SyncStage(writer: writer, reportedThrough: producerLastSequence, onDurable: onDurable)
            do {
                try syncStage.start()
                let appender = try PosixThread(name: "wal-appender") { [self] in
                    runAppender(syncStage: syncStage)
                }
                state = .running(appender: appender, syncStage: syncStage)
            } catch {
                preconditionFailure("cannot start the log's threads: \(error)")
            }
            // Relaxed: only a precondition in `submit` reads this; the thread that submits is the
            // one that called start() (or was ordered after it by the caller).
            acceptingSubmissions.store(true, ordering: .relaxed)
        }
    }

    /// Encodes `writes` for the appender and returns the sequence number of the last one (the
    /// number of the last write so far when `writes` is empty). Sequence numbers count every
    /// write since the log was created, from 1, across restarts. Call from one thread (the
    /// protocol thread) between `start` and `stop`. Never blocks unless the arena or the chunk
    /// ring is full; then it waits for the appender (spinning briefly, then parked).
    @discardableResult
    public func submit(_ writes: ArraySlice<StorageWrite>) -> UInt64 {
        // Relaxed: see `start`; this only catches use before start or after stop.
        precondition(acceptingSubmissions.load(ordering: .relaxed), "submit() needs a started, not stopped, log")
        // Encoded in a local copy, put back at the end: a class's stored property would cost a
        // dynamic exclusivity check on every record. (The copy shares the record buffer.)
        var encoder = self.encoder
        encoder.add(contentsOf: writes) { send(&$0) }
        send(&encoder)
        self.encoder = encoder
        producerLastSequence += UInt64(writes.count)
        return producerLastSequence
    }

    /// `submit` for a whole array (a replica's `Effects.writes`).
    @discardableResult
    public func submit(_ writes: [StorageWrite]) -> UInt64 {
        submit(writes[...])
    }

    /// `submit` for any other collection, copied into an array slice first. The concrete
    /// overloads exist because a generic `submit` called from another module runs unspecialised,
    /// which costs a heap allocation per write on the hot path.
    @discardableResult
    public func submit(_ writes: some Collection<StorageWrite>) -> UInt64 {
        submit(ArraySlice(writes))
    }

    /// Hands the encoded chunk, if any, to the appender: bytes into the arena first, then the
    /// descriptor, whose publication makes the bytes visible (see `ByteRing`).
    private func send(_ encoder: inout ChunkEncoder) {
        guard encoder.recordCount > 0 else { return }
        var chunk = Chunk(byteCount: encoder.byteCount, recordCount: encoder.recordCount, lastEntry: encoder.lastEntry)
        if chunk.byteCount <= arena.capacity {
            _ = arena.write(encoder.bytes)
        } else {
            chunk.oversized = [UInt8](encoder.bytes)
        }
        chunks.pushWaiting(chunk)
        encoder.removeAll()
    }

    /// Drains every queued write, syncs it, reports it, stops the appender thread and closes the
    /// files (releasing the directory lock). Idempotent; the log accepts no writes afterwards.
    /// Call after the last `submit` has returned (on the producer thread, or ordered after it).
    public func stop() {
        lifecycle.withLock { state in
            switch state {
            case .stopped:
                return
            case .idle:
                break
            case let .running(appender, syncStage):
                // Relaxed: see `start`.
                acceptingSubmissions.store(false, ordering: .relaxed)
                // Releasing: pairs with the appender's acquiring load; the writes submitted before
                // stop() are then visible to its final drain.
                stopRequested.store(true, ordering: .releasing)
                chunks.wake()
                appender.join() // It writes, syncs and reports everything before it returns.
                syncStage.stop()
            }
            state = .stopped
            writer.close()
        }
    }

    /// Writes `writes` as one batch with one sync, without the appender thread, and returns what
    /// became durable (nil for no writes). For tests, tools and recovery; only before `start`.
    /// After an error the log accepts no further writes (its last segment may hold a partial
    /// batch, which the next `open` removes).
    @discardableResult
    public func appendAndSync(_ writes: [StorageWrite]) throws -> DurabilityReport? {
        try lifecycle.withLock { state in
            guard case .idle = state else {
                preconditionFailure("appendAndSync() is for a log whose appender is not started")
            }
            guard !writes.isEmpty else { return nil }
            // The producer's encoder, idle before `start`; one batch whatever its chunk budget.
            defer { encoder.removeAll() }
            for write in writes { _ = encoder.add(write) }
            producerLastSequence += UInt64(writes.count)
            let report = try writer.commit(encoder.bytes, records: encoder.recordCount, lastEntry: encoder.lastEntry)
            assert(report.throughSequence == producerLastSequence)
            return report
        }
    }

    /// Changes the extra delay before every sync completes (a slow disk), effective from the next
    /// sync. Safe from any thread.
    public func setExtraSyncDelay(_ delay: Duration) {
        precondition(delay >= .zero, "a delay is not negative")
        writer.extraSyncDelayNanos.store(delay.nanoseconds, ordering: .relaxed)
    }

    /// Counters since `open`; safe to read from any thread at any time.
    public var statistics: LogStatistics {
        writer.statistics.withLock { $0 }
    }

    /// How long the appender, caught up while a sync is in flight, waits before it looks for
    /// more to write (unless the sync ends first; see `SyncStage.napWhileSyncing`): long enough
    /// that the producer's chunks pile up into one write, short against a sync (hundreds of
    /// microseconds to milliseconds). A nap that finds nothing is not repeated: the appender then
    /// parks on its ring, so a long sync (a slow disk) costs no periodic wake-ups.
    static let napNanos: Int64 = 100_000

    /// The appender thread: take a batch of whatever is queued, write it from where it lies,
    /// publish it to the sync stage (syncing it here if nothing else is queued); park when nothing
    /// is queued; after `stop()`, drain to empty, sync, and return.
    private func runAppender(syncStage: SyncStage) {
        var nappedSinceLastBatch = false
        while true {
            // Acquiring: pairs with the releasing store in `stop()`. Loaded before the drain, so
            // a true value means the drain below sees every write submitted before stop().
            let stopping = stopRequested.load(ordering: .acquiring)
            let collectStart = FileIO.monotonicNanos()
            let batch = takeBatch()
            if batch.recordCount > 0 {
                assert(batch.recordCount <= options.maxBatchRecords, "the record budget holds")
                let collectTime = Duration.nanoseconds(FileIO.monotonicNanos() - collectStart)
                // A segment is closed only once every batch in it is synced: its descriptor is
                // what the sync stage syncs.
                if writer.needsNewSegment { syncStage.drain() }
                let written: (throughSequence: UInt64, target: SegmentWriter.SyncTarget)
                do {
                    written = try write(batch, collectTime: collectTime)
                } catch {
                    // Fail-stop: after a failed write the batch's fate is unknown, so no write
                    // may be reported durable again. A crashed node is a failure every protocol
                    // here tolerates.
                    fatalError("LogStore: \(error); the log can no longer promise durability")
                }
                // With nothing more queued, waking the syncer would only add a thread hop to
                // this batch's report.
                let moreQueued = carriedOverStart < carriedOver.count || !chunks.isEmpty
                syncStage.published(throughSequence: written.throughSequence, lastEntry: batch.lastEntry,
                                    target: written.target, syncHere: !moreQueued)
                nappedSinceLastBatch = false
                continue
            }
            if stopping {
                assert(carriedOver.isEmpty, "carried-over chunks open the next batch, so none are left")
                syncStage.drain()
                return
            }
            if !nappedSinceLastBatch && syncStage.napWhileSyncing(nanoseconds: Self.napNanos) {
                nappedSinceLastBatch = true
                continue
            }
            syncStage.syncPending()
            nappedSinceLastBatch = false
            // Parks until the producer publishes or stop() wakes us (a wake is remembered).
            _ = chunks.waitForItems(deadlineNanos: nil)
        }
    }

    /// What one batch holds: arena bytes from `consumedOffset`, or one oversized chunk.
    private struct Batch {
        var recordCount = 0
        var byteCount = 0
        var lastEntry: (index: LogIndex, term: Term)?
        var oversized: [UInt8]?

        /// Adds `chunk` if it fits `options`' budget and returns whether it did. A batch closes
        /// with the chunk that reaches the byte budget; an oversized chunk is a batch of its own.
        mutating func admit(_ chunk: Chunk, options: LogOptions) -> Bool {
            if oversized != nil { return false }
            if recordCount > 0 {
                if chunk.oversized != nil || byteCount >= options.maxBatchBytes { return false }
                if recordCount + chunk.recordCount > options.maxBatchRecords { return false }
            }
            recordCount += chunk.recordCount
            byteCount += chunk.byteCount
            if let entry = chunk.lastEntry { lastEntry = entry }
            oversized = chunk.oversized
            return true
        }
    }

    /// Takes queued chunks into a batch until the ring is empty or the batch is full: first any
    /// carried over from the last drain, then everything the ring holds, with one drain.
    private func takeBatch() -> Batch {
        var batch = Batch()
        while carriedOverStart < carriedOver.count {
            guard batch.admit(carriedOver[carriedOverStart], options: options) else { return batch }
            carriedOverStart += 1
        }
        carriedOver.removeAll(keepingCapacity: true)
        carriedOverStart = 0
        // Every chunk holds at least one record, so no more than this many can join the batch.
        let room = options.maxBatchRecords - batch.recordCount
        guard room > 0, batch.oversized == nil else { return batch }
        chunks.drain(maxCount: room) { chunk in
            if !(carriedOver.isEmpty && batch.admit(chunk, options: options)) {
                carriedOver.append(chunk)
            }
        }
        return batch
    }

    /// Writes `batch` with one `writev` and releases its arena bytes as soon as the kernel has
    /// them; returns its last sequence number and where to sync it.
    private func write(_ batch: Batch, collectTime: Duration) throws -> (throughSequence: UInt64, target: SegmentWriter.SyncTarget) {
        if let oversized = batch.oversized {
            return try oversized.withUnsafeBytes { bytes in
                try writer.write(bytes, UnsafeRawBufferPointer(start: nil, count: 0), records: batch.recordCount,
                                 collectTime: collectTime)
            }
        }
        let end = consumedOffset + batch.byteCount
        let (first, second) = arena.regions(from: consumedOffset, to: end)
        let written = try writer.write(first, second, records: batch.recordCount, collectTime: collectTime) {
            arena.release(upTo: end)
        }
        consumedOffset = end
        return written
    }
}

/// The producer's chunk under construction: records encoded back to back, cut when they reach a
/// record or byte budget.
struct ChunkEncoder {
    let bytesMax: Int
    let recordsMax: Int
    private var buffer: RecordBuffer
    private(set) var recordCount = 0
    private(set) var lastEntry: (index: LogIndex, term: Term)?

    init(bytesMax: Int, recordsMax: Int) {
        self.bytesMax = bytesMax
        self.recordsMax = recordsMax
        self.buffer = RecordBuffer(capacity: min(bytesMax, 1 << 16) + 4_096)
    }

    /// The encoded records; valid until the next `add` or `removeAll`.
    var bytes: UnsafeRawBufferPointer { buffer.bytes }
    var byteCount: Int { buffer.count }

    /// Encodes `write`; returns true when the chunk is full and should be sent.
    @inline(__always)
    mutating func add(_ write: StorageWrite) -> Bool {
        if let entry = RecordFormat.append(write, to: &buffer) { lastEntry = entry }
        recordCount += 1
        return recordCount >= recordsMax || buffer.count >= bytesMax
    }

    /// Encodes `writes` in order, calling `send` whenever the chunk is full (it must empty it).
    /// Reads the writes through a buffer pointer, whose subscript lends each one, where an array
    /// slice's subscript returns a copy.
    @inline(__always)
    mutating func add(contentsOf writes: ArraySlice<StorageWrite>, send: (inout ChunkEncoder) -> Void) {
        writes.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where add(buffer[index]) {
                send(&self)
            }
        }
    }

    mutating func removeAll() {
        buffer.removeAll()
        recordCount = 0
        lastEntry = nil
    }
}
