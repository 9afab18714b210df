import BenchCore

extension ThreePhaseCommit.Instance {
    /// What must hold of one node after every step. Safety anomalies it noticed itself are
    /// reported here rather than trapping. (Atomicity across nodes is the audit's job: under a
    /// partition 3PC can decide both ways, and that must be counted, not crash the run.)
    public func invariants() -> String? {
        if let anomaly = anomalies.first { return anomaly }
        if journal.durableIndex > journal.lastIndex { return "\(id): durable \(journal.durableIndex) beyond the log's end" }
        if coordinating.count > settings.inflightMax { return "\(id): coordinates \(coordinating.count) transactions" }
        for (tx, waiting) in inDoubt {
            if decisions[tx] != nil { return "\(id): \(tx) is both decided and in doubt" }
            for delta in waiting.deltas where !shard.holdsExclusive(delta.account, tx) {
                return "\(id): in-doubt \(tx) lost its lock on account \(delta.account)"
            }
        }
        for (tx, round) in terminations {
            guard let waiting = inDoubt[tx] else { return "\(id): terminating \(tx), which is not in doubt here" }
            if !round.isInquiry && waiting.recovered { return "\(id): a recovered participant runs a backup round for \(tx)" }
            if !round.isInquiry && waiting.promised < round.ballot { return "\(id): runs \(round.ballot) but promised only \(waiting.promised)" }
        }
        for (tx, coordination) in coordinating where coordination.phase == .committing && coordinatorDecisions[tx] != true {
            return "\(id): \(tx) commits without a commit decision"
        }
        return nil
    }

    public var metrics: [String: Double] {
        var oldest: Int64 = 0
        for waiting in inDoubt.values { oldest = max(oldest, (lastNow - waiting.since).nanoseconds) }
        return [
            "blocked_max_ms": Double(max(statistics.blockedMaxNanos, oldest)) / 1e6,
            "in_doubt": Double(inDoubt.count),
            "in_doubt_oldest_ms": Double(oldest) / 1e6,
            "tx_committed": Double(statistics.committed),
            "tx_aborted": Double(statistics.aborted),
            "reads_served": Double(statistics.readsServed),
            "reads_aborted": Double(statistics.readsAborted),
            "votes_no": Double(statistics.votesNo),
            "lock_conflicts": Double(statistics.lockConflicts),
            "insufficient_funds": Double(statistics.insufficientFunds),
            "commits_on_ack_timeout": Double(statistics.commitsOnAckTimeout),
            "terminations_started": Double(statistics.terminationsStarted),
            "termination_commits": Double(statistics.terminationCommits),
            "termination_aborts": Double(statistics.terminationAborts),
            "recovered_aborts": Double(statistics.recoveredAborts),
            "superseded_rounds": Double(statistics.supersededRounds),
            "coordinators_superseded": Double(statistics.coordinatorsSuperseded),
            "conflicting_decisions": Double(statistics.conflictingDecisions),
        ]
    }

    public func inspection() -> [UInt8] {
        AtomicCommit.Inspection(node: id, participantDecisions: decisions, coordinatorDecisions: coordinatorDecisions,
                                inDoubt: inDoubt.mapValues(\.deltas), shard: shard).encodedBytes()
    }
}

extension ThreePhaseCommit {
    /// The same audit as 2PC's: atomicity from each node's recorded decisions, the bank total from
    /// each shard's applied deltas. Pure.
    public static func atomicityViolations(_ inspections: [[UInt8]?]) -> AtomicCommit.Audit {
        AtomicCommit.audit(inspections)
    }

    public static func inspection(recovering durable: DurableState, node: NodeID) -> [UInt8] {
        AtomicCommit.inspection(recovering: durable, node: node)
    }
}
