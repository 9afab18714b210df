// LogStore: the durable write-ahead log of a node process.
//
// A replica's `StorageWrite`s go, in order, through an SPSC ring to one appender thread, which
// takes everything queued since its last sync as one batch (group commit), writes it with one
// `write`, makes it durable with one `fdatasync`, and reports the batch with one callback.
// While a sync is in flight the protocol thread keeps pushing; the next batch is whatever
// accumulated meanwhile (pipelining). Records carry a length and a CRC-32C (`RecordFormat`);
// recovery stops at the first torn or corrupt record, truncates there, and rebuilds exactly the
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
// One appender thread, on purpose: a batch is encoded between syncs, not during them. Overlapping
// the two would need a second stage that is awake during every sync, which means waking it on
// every submit, a syscall the protocol thread would pay at exactly the moderate rates clusters
// run at (where encoding is ~1% of a sync anyway). The cost shows only at saturation, with
// thousands of records per batch; `AppenderBenchmark` measures it against a raw write+fdatasync loop.

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
/// - Reports arrive in increasing `throughSequence`, on the appender thread, one per batch.
/// - After a crash (of the machine in `.fdatasync` mode, of the process in `.none` mode), `open`
///   returns the state of a prefix of the submitted writes that contains every reported one.
/// - Sequence numbers count writes from 1 over the log's whole life, across restarts.
///
/// Threads: the appender thread ("wal-appender") does all file I/O after `start`, so the
/// protocol thread never blocks on the disk; a batch's CPU work (taking writes from the ring,
/// encoding, checksumming) happens on the appender between syncs, which at modest rates is
/// microseconds against a sync of hundreds.
///
/// `@unchecked Sendable`: the shared mutable state is the ring (an SPSC ring, used by one producer
/// and the appender), the lifecycle and statistics (each behind a `Mutex`), and `stopRequested`
/// (an atomic). `producerLastSequence` is touched only by the producer (the protocol thread, or
/// the caller of `appendAndSync` under the lifecycle lock before `start`), `carriedOver` only by
/// the appender thread, and the writer only by its current owner (see `SegmentWriter`).
public final class WriteAheadLog: @unchecked Sendable {
    /// What one synced batch made durable.
    public struct DurabilityReport: Sendable {
        /// Every write with a sequence number up to this one is durable.
        public var throughSequence: UInt64
        /// The last `.entry` in the batch, if it held one: what `Input.persisted(through:term:)`
        /// reports to the replica.
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

    private let ring: SPSCRing<StorageWrite>
    private let writer: SegmentWriter
    /// Writes the appender took from the ring but that did not fit the batch's byte budget; they
    /// open the next batch. Appender thread only. Taking everything with one drain (rather than
    /// a few records per drain) matters: each drain frees ring space, and a producer parked on a
    /// full ring is woken by a syscall per drain.
    private var carriedOver: [StorageWrite] = []
    private var carriedOverStart = 0
    /// The sequence number of the last write submitted (producer only).
    private var producerLastSequence: UInt64

    private enum Lifecycle {
        case idle
        case running(PosixThread)
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
        var capacity = 2
        while capacity < options.ringCapacity { capacity <<= 1 }
        self.ring = SPSCRing(capacity: capacity)
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

    /// Starts the appender thread. `onDurable` runs on that thread once per synced batch, in
    /// order; keep it short (hand the report to the protocol thread's inbox), since the next
    /// batch waits for it. It must never wait for the protocol thread: that thread may itself be
    /// waiting in `submit` for ring space only the appender can free. Call once, before
    /// `submit`, and call `stop` when done (the running thread keeps the log alive).
    public func start(onDurable: @escaping @Sendable (DurabilityReport) -> Void) {
        lifecycle.withLock { state in
            guard case .idle = state else { preconditionFailure("start() is called once, on an open log") }
            do {
                let thread = try PosixThread(name: "wal-appender") { [self] in
                    runAppender(onDurable: onDurable)
                }
                state = .running(thread)
            } catch {
                preconditionFailure("cannot start the appender thread: \(error)")
            }
            // Relaxed: only a precondition in `submit` reads this; the thread that submits is the
            // one that called start() (or was ordered after it by the caller).
            acceptingSubmissions.store(true, ordering: .relaxed)
        }
    }

    /// Queues `writes` for the appender and returns the sequence number of the last one (the
    /// number of the last write so far when `writes` is empty). Sequence numbers count every
    /// write since the log was created, from 1, across restarts. Call from one thread (the
    /// protocol thread) between `start` and `stop`. Never blocks unless the ring is full; then it
    /// waits for the appender (spinning briefly, then parked).
    @discardableResult
    public func submit(_ writes: some Collection<StorageWrite>) -> UInt64 {
        // Relaxed: see `start`; this only catches use before start or after stop.
        precondition(acceptingSubmissions.load(ordering: .relaxed), "submit() needs a started, not stopped, log")
        var remaining = writes[...]
        while !remaining.isEmpty {
            let pushed = ring.tryPush(contentsOf: remaining)
            remaining = remaining.dropFirst(pushed)
            if pushed == 0, let next = remaining.first {
                // Full: wait for the appender to take a batch, then continue with bulk pushes.
                ring.pushWaiting(next)
                remaining = remaining.dropFirst()
            }
        }
        producerLastSequence += UInt64(writes.count)
        return producerLastSequence
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
            case let .running(thread):
                // Relaxed: see `start`.
                acceptingSubmissions.store(false, ordering: .relaxed)
                // Releasing: pairs with the appender's acquiring load; the writes submitted before
                // stop() are then visible to its final drain.
                stopRequested.store(true, ordering: .releasing)
                ring.wake()
                thread.join()
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
            writer.withBatch { batch in
                for write in writes { batch.add(write) }
            }
            producerLastSequence += UInt64(writes.count)
            let report = try writer.commit()
            assert(report == nil || report!.throughSequence == producerLastSequence)
            return report
        }
    }

    /// Changes the extra delay before every sync completes (a slow disk), effective from the next
    /// batch. Safe from any thread.
    public func setExtraSyncDelay(_ delay: Duration) {
        precondition(delay >= .zero, "a delay is not negative")
        writer.extraSyncDelayNanos.store(delay.nanoseconds, ordering: .relaxed)
    }

    /// Counters since `open`; safe to read from any thread at any time.
    public var statistics: LogStatistics {
        writer.statistics.withLock { $0 }
    }

    /// The appender thread: build a batch from whatever is queued, commit it, report it; park
    /// when nothing is queued; after `stop()`, drain to empty and return.
    private func runAppender(onDurable: @Sendable (DurabilityReport) -> Void) {
        while true {
            // Acquiring: pairs with the releasing store in `stop()`. Loaded before the drain, so
            // a true value means the drain below sees every write submitted before stop().
            let stopping = stopRequested.load(ordering: .acquiring)
            let encodeStart = FileIO.monotonicNanos()
            fillBatch()
            if writer.batchRecords > 0 {
                assert(writer.batchRecords <= options.maxBatchRecords, "the record budget holds")
                let encodeTime = Duration.nanoseconds(FileIO.monotonicNanos() - encodeStart)
                let report: DurabilityReport?
                do {
                    report = try writer.commit(encodeTime: encodeTime)
                } catch {
                    // Fail-stop: after a failed write or fdatasync the batch's fate is unknown and
                    // retrying a sync can falsely succeed, so no write may be reported durable
                    // again. A crashed node is a failure every protocol here tolerates.
                    fatalError("LogStore: \(error); the log can no longer promise durability")
                }
                onDurable(report!)
                continue
            }
            if stopping {
                assert(carriedOver.isEmpty, "carried-over writes open the next batch, so none are left")
                return
            }
            // Parks until the producer publishes or stop() wakes us (a wake is remembered).
            _ = ring.waitForItems(deadlineNanos: nil)
        }
    }

    /// Moves queued writes into the writer's batch until the ring is empty or the batch reaches
    /// `maxBatchRecords` or `maxBatchBytes`: first any carried over from the last drain, then
    /// everything the ring holds, with one drain.
    private func fillBatch() {
        let recordsMax = options.maxBatchRecords
        let bytesMax = options.maxBatchBytes
        writer.withBatch { batch in
            while carriedOverStart < carriedOver.count && batch.recordCount < recordsMax && batch.byteCount < bytesMax {
                batch.add(carriedOver[carriedOverStart])
                carriedOverStart += 1
            }
            if carriedOverStart < carriedOver.count { return } // Full; the ring waits for the next batch.
            carriedOver.removeAll(keepingCapacity: true)
            carriedOverStart = 0
            guard batch.recordCount < recordsMax && batch.byteCount < bytesMax else { return }
            ring.drain(maxCount: recordsMax - batch.recordCount) { write in
                if batch.byteCount < bytesMax {
                    batch.add(write)
                } else {
                    carriedOver.append(write)
                }
            }
            assert(batch.recordCount + carriedOver.count <= recordsMax, "a drain takes at most a batch")
        }
    }
}
