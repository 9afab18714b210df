import BenchCore

extension TwoPhaseCommit.Instance {
    /// What must hold of one node after every step. Safety anomalies it noticed itself are
    /// reported here rather than trapping, so a deliberately broken variant is caught by the tests.
    public func invariants() -> String? {
        if let anomaly = anomalies.first { return anomaly }
        if journal.durableIndex > journal.lastIndex { return "\(id): durable \(journal.durableIndex) beyond the log's end" }
        if coordinating.count > settings.inflightMax { return "\(id): coordinates \(coordinating.count) transactions" }
        // Strict 2PL: an in-doubt vote keeps every one of its accounts locked, exclusively.
        for (tx, waiting) in inDoubt {
            if decisions[tx] != nil { return "\(id): \(tx) is both decided and in doubt" }
            for delta in waiting.deltas where !shard.holdsExclusive(delta.account, tx) {
                return "\(id): in-doubt \(tx) lost its lock on account \(delta.account)"
            }
        }
        for (tx, coordination) in coordinating where coordination.phase == .committing && coordinatorDecisions[tx] != true {
            return "\(id): \(tx) commits without a commit decision"
        }
        return nil
    }

    /// Protocol counters for the results, by column name.
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
            "decision_inquiries": Double(statistics.inquiries),
            "unilateral_commits": Double(statistics.unilateralCommits),
            "conflicting_decisions": Double(statistics.conflictingDecisions),
        ]
    }

    /// Every decision this node recorded, its in-doubt votes and its balances (`AtomicCommit.Inspection`).
    public func inspection() -> [UInt8] {
        AtomicCommit.Inspection(node: id, participantDecisions: decisions, coordinatorDecisions: coordinatorDecisions,
                                inDoubt: inDoubt.mapValues(\.deltas), shard: shard).encodedBytes()
    }

    /// The longest this node held locks in doubt, in this life (resolved or still waiting).
    public var blockedMax: Duration { .nanoseconds(Int64((metrics["blocked_max_ms"] ?? 0) * 1e6)) }
}

extension TwoPhaseCommit {
    /// Transactions some node recorded as committed and another (or the same) as aborted, with the
    /// rest of the audit (bank total, unresolved votes). Pure; `inspections` holds each node's
    /// `inspection()` bytes, nil for a node that did not answer.
    public static func atomicityViolations(_ inspections: [[UInt8]?]) -> AtomicCommit.Audit {
        AtomicCommit.audit(inspections)
    }

    /// The inspection of a node that is down, rebuilt from what is on its disk.
    public static func inspection(recovering durable: DurableState, node: NodeID) -> [UInt8] {
        AtomicCommit.inspection(recovering: durable, node: node)
    }
}

extension AtomicCommit {
    /// A node's inspection rebuilt from its durable log (both protocols log the same records).
    public static func inspection(recovering durable: DurableState, node: NodeID) -> [UInt8] {
        let recovery = Recovery(durable)
        return Inspection(node: node, participantDecisions: recovery.decisions, coordinatorDecisions: recovery.coordinatorDecisions,
                          inDoubt: recovery.votes.mapValues(\.deltas), shard: recovery.shard).encodedBytes()
    }
}
