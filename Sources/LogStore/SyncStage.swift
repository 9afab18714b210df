import BenchCore
import RingBuffer

/// The appender's second stage: makes written batches durable and reports them, so that the
/// appender's next `writev` can overlap the current `fdatasync`.
///
/// The appender publishes each batch here once its `writev` returned. One sync token exists; its
/// holder syncs everything published so far with one `fdatasync` (a sync that starts after a
/// write returned covers it), reports it, and gives the token back. Who takes the token:
/// - the appender itself, when it has nothing else to write: no thread hop, so a lone client's
///   write is reported the moment its sync returns, exactly as a serial write+sync loop would;
/// - otherwise the syncer thread, woken by the appender, which meanwhile writes the next batch.
///   While the syncer syncs, the appender keeps writing, and the syncer's next sync covers every
///   batch written meanwhile: at saturation one sync covers several batches, and the appender's
///   only serial work is its `writev`s.
///
/// Guarantees: reports arrive in increasing `throughSequence` (only the token's holder reports,
/// and it reports everything published before it took the token), each after a sync that began
/// after every write it covers was written; a report's `lastEntry` is the last entry written
/// since the previous report. `drain` returns only when every published batch is reported.
///
/// `@unchecked Sendable`: every mutable field is guarded by `spot`'s mutex; the writer's `sync`
/// is safe on the syncer thread (see `SegmentWriter.sync`).
final class SyncStage: @unchecked Sendable {
    private let writer: SegmentWriter
    private let onDurable: @Sendable (WriteAheadLog.DurabilityReport) -> Void
    /// Guards the fields below; its condition wakes the syncer (work published, or exit) and the
    /// appender waiting in `drain` (the token returned).
    private let spot = ParkingSpot()
    private var writtenThrough: UInt64
    /// The last `.entry` written since the token was last taken.
    private var writtenLastEntry: (index: LogIndex, term: Term)?
    private var target: SegmentWriter.SyncTarget?
    private var reportedThrough: UInt64
    private var syncing = false
    /// The appender is in `napWhileSyncing`: the syncer leaves the next sync to it (see there).
    private var appenderNapping = false
    private var exiting = false
    private var thread: PosixThread?

    /// One turn of the token: what its holder syncs and reports.
    private struct Round {
        let throughSequence: UInt64
        let lastEntry: (index: LogIndex, term: Term)?
        let target: SegmentWriter.SyncTarget
    }

    /// `reportedThrough`: the last write already durable when the stage starts.
    init(writer: SegmentWriter, reportedThrough: UInt64, onDurable: @escaping @Sendable (WriteAheadLog.DurabilityReport) -> Void) {
        self.writer = writer
        self.onDurable = onDurable
        self.writtenThrough = reportedThrough
        self.reportedThrough = reportedThrough
    }

    /// Starts the syncer thread. Call once, before the first `published`.
    func start() throws {
        precondition(thread == nil, "the sync stage starts once")
        thread = try PosixThread(name: "wal-syncer") { [self] in runSyncer() }
    }

    /// Stops the syncer thread after `drain`; call once, from the thread that called `start`.
    func stop() {
        spot.lock()
        precondition(!syncing && writtenThrough == reportedThrough, "the appender drains the stage before it stops")
        exiting = true
        spot.unlock()
        spot.wakeAll()
        thread?.join()
        thread = nil
    }

    /// The appender wrote every write through `throughSequence` to `target`. `syncHere`: it has
    /// nothing else to write, so it takes the token itself, if free, and syncs on this thread;
    /// otherwise the syncer is woken (or, if it holds the token, covers this batch with its next
    /// sync).
    func published(throughSequence: UInt64, lastEntry: (index: LogIndex, term: Term)?,
                   target: SegmentWriter.SyncTarget, syncHere: Bool) {
        spot.lock()
        precondition(throughSequence > writtenThrough, "batches are published in order")
        writtenThrough = throughSequence
        if let lastEntry { writtenLastEntry = lastEntry }
        self.target = target
        if syncing {
            // The holder checks for more work when it returns the token.
            spot.unlock()
        } else if syncHere {
            syncEverythingPublished()
            // No one to wake: everything published is reported, so the syncer has no work, and
            // the appender (this thread) is not waiting.
            spot.unlock()
        } else {
            spot.unlock()
            spot.wakeAll()
        }
    }

    /// Returns once every published batch is reported: waits for a sync in flight, then syncs
    /// the rest on this thread. The appender calls it before it starts a new segment (a segment
    /// is closed only once synced) and before it exits.
    func drain() {
        spot.lock()
        while syncing { spot.wait(deadlineNanos: nil) }
        if writtenThrough > reportedThrough { syncEverythingPublished() }
        spot.unlock()
    }

    /// The appender, with nothing queued: if a sync is in flight, waits until it ends or
    /// `nanoseconds` pass and returns true; otherwise returns false at once. Nothing written now
    /// could join the sync in flight anyway, so there is no hurry; parked on its ring instead,
    /// the appender would be woken by every chunk the producer pushes (a syscall on the protocol
    /// thread each time) and would write each chunk on its own.
    ///
    /// A sync that ends during the nap wakes the appender, and the syncer does not start the
    /// next sync meanwhile: the appender first writes what arrived during the nap and publishes
    /// it (or, finding nothing, calls `syncPending`), so that arrival joins the next sync rather
    /// than waiting for the one after.
    func napWhileSyncing(nanoseconds: Int64) -> Bool {
        spot.lock()
        defer { spot.unlock() }
        guard syncing else { return false }
        appenderNapping = true
        spot.wait(deadlineNanos: UInt64(FileIO.monotonicNanos() + nanoseconds))
        appenderNapping = false
        return true
    }

    /// The appender, with nothing queued and about to park: syncs on this thread whatever is
    /// published but not reported, unless a sync is in flight (which the syncer follows up).
    /// After a nap the syncer may have left that to the appender.
    func syncPending() {
        spot.lock()
        if !syncing && writtenThrough > reportedThrough { syncEverythingPublished() }
        spot.unlock()
    }

    private func runSyncer() {
        spot.lock()
        while true {
            if !syncing && !appenderNapping && writtenThrough > reportedThrough {
                syncEverythingPublished()
                // The appender may be waiting in `drain` for the token.
                spot.unlock()
                spot.wakeAll()
                spot.lock()
                continue
            }
            if exiting { break }
            spot.wait(deadlineNanos: nil)
        }
        spot.unlock()
    }

    /// Called and returns with the lock held and the token free: takes the token and everything
    /// published so far, syncs and reports it without the lock, and gives the token back.
    private func syncEverythingPublished() {
        precondition(!syncing, "one holder at a time")
        guard let target else { preconditionFailure("a batch was published, so a target exists") }
        syncing = true
        let round = Round(throughSequence: writtenThrough, lastEntry: writtenLastEntry, target: target)
        writtenLastEntry = nil
        spot.unlock()
        run(round)
        spot.lock()
        reportedThrough = round.throughSequence
        syncing = false
    }

    /// Without the lock: syncs and reports `round`. Reporting before the token is returned keeps
    /// reports in order.
    private func run(_ round: Round) {
        do {
            try writer.sync(round.target)
        } catch {
            // Fail-stop: after a failed fdatasync the batches' fate is unknown and retrying a
            // sync can falsely succeed, so no write may be reported durable again. A crashed
            // node is a failure every protocol here tolerates.
            fatalError("LogStore: \(error); the log can no longer promise durability")
        }
        onDurable(WriteAheadLog.DurabilityReport(throughSequence: round.throughSequence, lastEntry: round.lastEntry))
    }
}
