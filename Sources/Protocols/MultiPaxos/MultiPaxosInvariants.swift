import BenchCore

extension MultiPaxos.Instance {
    /// Checks what must hold of one node after every step; returns the first violation. Safety
    /// anomalies the node noticed itself (a slot learned with two different values, two nodes with
    /// one ballot) are reported here rather than trapping, so a deliberately broken variant is
    /// caught by the tests instead of crashing them. Constant time: it runs after every step.
    public func invariants() -> String? {
        if let anomaly = anomalies.first { return anomaly }
        if lastApplied > commitIndex { return "\(id): applied \(lastApplied) beyond commit \(commitIndex)" }
        if commitIndex.rawValue > 0 && slots[commitIndex].chosen == nil {
            return "\(id): commit \(commitIndex) without a chosen value there"
        }
        if slots[commitIndex.next].chosen != nil { return "\(id): commit \(commitIndex) stops before a chosen slot" }
        if promiseIssued < promised { return "\(id): promise \(promised) above what was written (\(promiseIssued))" }
        if ownWritesHead > ownWrites.count { return "\(id): write queue head past its end" }
        switch settings.mode {
        case .multi:
            if maxAcceptedBallot > promised { return "\(id): accepted \(maxAcceptedBallot) above its promise \(promised)" }
            switch role {
            case .leader:
                if promised != ballot { return "\(id): leads \(ballot) but promised \(promised)" }
                if leader != id { return "\(id): leads but names \(String(describing: leader)) as leader" }
                if lead.base > commitIndex.next { return "\(id): proposals start at \(lead.base), past commit \(commitIndex)" }
                if lead.sendFrom < lead.base || lead.sendFrom > lead.nextSlot { return "\(id): send point \(lead.sendFrom) outside the proposals" }
                if lead.batchEnds.count > settings.inflightMax { return "\(id): \(lead.batchEnds.count) Accept batches in flight" }
                if lead.peers.count != cluster.size - 1 { return "\(id): leads with \(lead.peers.count) peers tracked" }
            case .candidate:
                if promised != ballot { return "\(id): campaigns with \(ballot) but promised \(promised)" }
                if !lead.proposals.isEmpty || !lead.pending.isEmpty { return "\(id): candidate keeps leader state" }
            default:
                if !lead.proposals.isEmpty || !lead.pending.isEmpty { return "\(id): follower keeps leader state" }
            }
        case .basic:
            if role != .peer { return "\(id): basic mode has no roles but \(role)" }
            if basic.instances.count > settings.inflightMax + 1 { return "\(id): \(basic.instances.count) proposals at once" }
            if basic.queue.count > settings.uncommittedEntriesMax { return "\(id): \(basic.queue.count) commands queued" }
        }
        return nil
    }

    /// Protocol counters for the results.
    public var metrics: [String: Double] {
        ["paxos_phase1_rounds": Double(statistics.phase1Rounds), "paxos_leaderships": Double(statistics.leaderships),
         "paxos_rejections": Double(statistics.rejections), "paxos_noops": Double(statistics.noopsProposed),
         "paxos_resends": Double(statistics.resends), "paxos_lease_reads": Double(statistics.leaseReads),
         "paxos_log_reads": Double(statistics.logReads)]
    }
}
