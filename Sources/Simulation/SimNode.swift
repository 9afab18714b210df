import BenchCore

/// One simulated machine: the replica (absent while crashed), its disk and its CPU queue.
final class SimNode<R: Replica> {
    let id: NodeID
    var replica: R?
    /// Bumped on every crash: events for an earlier life of the node are ignored.
    var incarnation: UInt32 = 0
    var crashedAt: Instant?

    // Disk: `durable` survives crashes; `pending` are writes issued but not yet synced, of which
    // the first `syncingCount` are in the sync now in flight.
    var durable = DurableState.empty
    var pending: [StorageWrite] = []
    var syncingCount = 0
    /// Sequence numbers: writes issued so far, and writes durable so far.
    var issuedSeq: UInt64 = 0
    var durableSeq: UInt64 = 0
    /// Messages that wait until every write issued before them is durable.
    var deferred: [(seq: UInt64, envelope: Envelope<R.Message>)] = []

    // CPU: inputs wait in the inbox while the node is busy.
    var inbox: [Input<R.Message>] = []
    var inboxHead = 0
    var busyUntil: Instant = .zero
    var processScheduled = false

    var timerGenerations: [TimerID: UInt64] = [:]

    // Clock: local = true + offset + true × drift.
    var clockOffset: Int64 = 0
    var clockDriftPPM: Double = 0

    init(id: NodeID) { self.id = id }

    var isUp: Bool { replica != nil }
    var inboxCount: Int { inbox.count - inboxHead }

    func localTime(_ t: Instant) -> Instant {
        let drift = Int64((Double(t.nanoseconds) * clockDriftPPM / 1e6).rounded(.towardZero))
        return Instant(nanoseconds: t.nanoseconds + clockOffset + drift)
    }

    /// The true time at which this node's clock reads `local`.
    func trueTime(_ local: Instant) -> Instant {
        let t = Double(local.nanoseconds - clockOffset) / (1 + clockDriftPPM / 1e6)
        return Instant(nanoseconds: Int64(t.rounded(.up)))
    }

    func takeInbox(max count: Int) -> ArraySlice<Input<R.Message>> {
        let end = min(inbox.count, inboxHead + count)
        let batch = inbox[inboxHead..<end]
        inboxHead = end
        if inboxHead == inbox.count {
            inbox.removeAll(keepingCapacity: true)
            inboxHead = 0
        }
        return batch
    }

    /// Loses everything that was not on disk.
    func crash(at now: Instant) {
        replica = nil
        incarnation &+= 1
        crashedAt = now
        pending = []
        syncingCount = 0
        issuedSeq = durableSeq
        deferred = []
        inbox = []
        inboxHead = 0
        processScheduled = false
        timerGenerations = [:]
    }
}
