import BenchCore

extension ZAB.Instance {
    /// Checks what must hold of one server after every step; returns the first violation. Safety
    /// anomalies the server noticed itself (a committed proposal truncated, a conflicting proposal)
    /// are reported here rather than trapping, so a deliberately broken variant is caught by the
    /// tests instead of crashing them.
    public func invariants() -> String? {
        if let anomaly = anomalies.first { return anomaly }
        if commitIndex > history.lastIndex { return "\(id): commit \(commitIndex) beyond the history's end \(history.lastIndex)" }
        if lastApplied > commitIndex { return "\(id): delivered \(lastApplied) beyond commit \(commitIndex)" }
        if persistedIndex > history.lastIndex { return "\(id): persisted \(persistedIndex) beyond the history's end \(history.lastIndex)" }
        if currentEpoch > acceptedEpoch { return "\(id): currentEpoch \(currentEpoch) above acceptedEpoch \(acceptedEpoch)" }
        if history.lastEpoch > acceptedEpoch {
            return "\(id): history holds epoch \(history.lastEpoch) above acceptedEpoch \(acceptedEpoch)"
        }
        switch state {
        case .looking:
            if leading != nil || following != nil { return "\(id): looking with a session open" }
        case .following:
            guard let f = following, leading == nil else { return "\(id): following without exactly one follower session" }
            if f.phase >= .awaitingSync && acceptedEpoch != f.epoch {
                return "\(id): follows epoch \(f.epoch) but accepted \(acceptedEpoch)"
            }
            if f.phase == .broadcasting && currentEpoch != f.epoch {
                return "\(id): acknowledged NEWLEADER of \(f.epoch) but its currentEpoch is \(currentEpoch)"
            }
        case .leading:
            guard let l = leading, following == nil else { return "\(id): leading without exactly one leader session" }
            if l.phase >= .epochProposed && (acceptedEpoch != l.epoch || acceptedLeader != id) {
                return "\(id): proposes \(l.epoch) but accepted \(acceptedEpoch) for \(String(describing: acceptedLeader))"
            }
            if l.phase >= .synchronizing && currentEpoch != l.epoch {
                return "\(id): leads \(l.epoch) with currentEpoch \(currentEpoch)"
            }
            if l.phase == .broadcasting && commitIndex < l.establishedIndex {
                return "\(id): broadcasts with commit \(commitIndex) below its initial history \(l.establishedIndex)"
            }
            for case let learner? in l.learners where learner.phase >= .syncing {
                if learner.ackedIndex >= learner.nextIndex {
                    return "\(id): \(learner.peer) acked \(learner.ackedIndex) not below next \(learner.nextIndex)"
                }
                if learner.inflight.count > settings.inflightMax {
                    return "\(id): \(learner.inflight.count) proposals in flight to \(learner.peer)"
                }
                if learner.ackedIndex > history.lastIndex {
                    return "\(id): \(learner.peer) acked \(learner.ackedIndex) beyond the history's end"
                }
            }
        }
        return nil
    }

    /// The committed proposals of this server (for the simulator's cross-replica oracle).
    public func committedEntry(at index: LogIndex) -> LogEntry? {
        guard index >= 1, index <= commitIndex, history.contains(index) else { return nil }
        return history[index]
    }

    public var metrics: [String: Double] {
        ["zab_elections": Double(statistics.electionsStarted), "zab_epochs_led": Double(statistics.epochsLed),
         "zab_sync_diff": Double(statistics.syncsDiff), "zab_sync_trunc": Double(statistics.syncsTrunc),
         "zab_sync_snap": Double(statistics.syncsSnap), "zab_local_reads": Double(statistics.localReads)]
    }
}

extension ZAB.Instance: LogReplica {}
