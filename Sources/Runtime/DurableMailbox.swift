import BenchCore
import LogStore
import Synchronization

/// Where the log's threads leave durability reports for the protocol thread, without ever
/// waiting for it.
///
/// Why not the inbox: a report pushed with a blocking push could wait for room in a full inbox
/// while the protocol thread waits in `submit` for log space that only the log's threads free
/// (a deadlock), and the last reports of a stop would wait for a protocol thread that has exited.
///
/// A report merges into the one not yet taken (the later sequence number, and the later report's
/// last entry if it has one, else the earlier's: what one sync covering both would report). The
/// poster that finds the mailbox empty wakes the protocol thread with a `.durableReady` marker if
/// the inbox has room; the protocol thread also looks here on every pass of its loop, so a marker
/// that found the inbox full is not needed (a full inbox never lets the thread park).
final class DurableMailbox: Sendable {
    private let pending = Mutex<WriteAheadLog.DurabilityReport?>(nil)

    /// Merges `report` (reports arrive in order); returns true if the mailbox was empty, when the
    /// caller should wake the protocol thread.
    func post(_ report: WriteAheadLog.DurabilityReport) -> Bool {
        pending.withLock { pending in
            guard let earlier = pending else {
                pending = report
                return true
            }
            precondition(report.throughSequence > earlier.throughSequence, "durability reports arrive in order")
            pending = WriteAheadLog.DurabilityReport(throughSequence: report.throughSequence,
                                                     lastEntry: report.lastEntry ?? earlier.lastEntry)
            return false
        }
    }

    /// Takes what was posted since the last take, if anything.
    func take() -> WriteAheadLog.DurabilityReport? {
        pending.withLock { pending in
            defer { pending = nil }
            return pending
        }
    }
}
