import BenchCore

extension Quorum.Instance {
    /// Checks what must hold of one replica after every step; returns the first violation.
    /// Settings that did not fit the cluster (clamped in `init`) and anomalies the replica noticed
    /// (an unreadable record on recovery, a durability report beyond what it wrote) are reported
    /// here rather than trapping, so the tests see them.
    public func invariants() -> String? {
        if let problem = problems.first { return problem }
        if let anomaly = anomalies.first { return anomaly }
        if persistedIndex > lastIndex { return "\(id): persisted \(persistedIndex) beyond last index \(lastIndex)" }
        if store.sortedKeys.count != store.count { return "\(id): \(store.sortedKeys.count) sorted keys for \(store.count) stored" }
        if hints.sortedKeys.count != hints.count { return "\(id): \(hints.sortedKeys.count) sorted hints for \(hints.count) held" }
        if hints.count > settings.hintsMax { return "\(id): \(hints.count) hints above the limit \(settings.hintsMax)" }
        // HLC: the clock has seen every version stored here, so the next put orders after all of them.
        if clock.latest < store.newestVersion {
            return "\(id): clock \(clock.latest) behind the stored version \(store.newestVersion)"
        }
        if writes.count + reads.count > settings.pendingMax {
            return "\(id): \(writes.count + reads.count) operations pending above the limit \(settings.pendingMax)"
        }
        if handoffs.count > settings.antiEntropyBatch { return "\(id): \(handoffs.count) handoffs in flight" }
        let writeQuorum = settings.unsafeAckEarly ? 1 : w
        for write in writes {
            if write.homes.count != n { return "\(id): put \(write.op) has \(write.homes.count) replicas, not \(n)" }
            if write.acked.contains(where: { !write.homes.contains($0) }) { return "\(id): put \(write.op) counts a non-replica" }
            if write.answered && write.acked.count < writeQuorum {
                return "\(id): put \(write.op) answered with \(write.acked.count) of \(writeQuorum) copies"
            }
            if write.acked.count >= writeQuorum && !write.answered { return "\(id): put \(write.op) has its quorum but no answer" }
        }
        let readQuorum = r
        for read in reads {
            if read.replies.count > read.homes.count { return "\(id): get \(read.op) has more replies than replicas" }
            if read.answered && read.replies.count < readQuorum {
                return "\(id): get \(read.op) answered with \(read.replies.count) of \(readQuorum) replies"
            }
        }
        for (a, b) in zip(localAcks, localAcks.dropFirst()) where a.index > b.index {
            return "\(id): local acknowledgements out of index order"
        }
        return nil
    }

    /// Protocol counters, by column-like name (summed over nodes by the real-mode report).
    public var metrics: [String: Double] {
        [
            "puts_coordinated": Double(statistics.putsCoordinated),
            "gets_coordinated": Double(statistics.getsCoordinated),
            "coordinator_timeouts": Double(statistics.coordinatorTimeouts),
            "resends": Double(statistics.resends),
            "read_repairs": Double(statistics.readRepairs),
            "anti_entropy_rounds": Double(statistics.antiEntropyRounds),
            "anti_entropy_repairs": Double(statistics.antiEntropyRepairs),
            "older_versions_ignored": Double(statistics.olderVersionsIgnored),
            "hints_stored": Double(statistics.hintsStored),
            "hints_delivered": Double(statistics.hintsDelivered),
            "hints_refused": Double(statistics.hintsRefused),
            "hints_pending": Double(hints.count),
            "keys_stored": Double(store.count),
        ]
    }

    /// The stored versions, for convergence checks (`Quorum.Inspection`'s binary form).
    public func inspection() -> [UInt8] { inspected.encodedBytes() }

    /// What this replica stores, as a convergence check reads it.
    public var inspected: Quorum.Inspection {
        Quorum.Inspection(
            node: id, members: cluster.members, n: n, virtualNodes: settings.virtualNodes, hintCount: hints.count,
            records: store.sortedKeys.map { key in
                let record = store.record(for: key)!
                return Quorum.InspectedRecord(key: key, version: record.version, valueTag: record.value.tag,
                                              storedAt: store.storedAt(key)!)
            })
    }

    /// The record this replica holds for `key` (tests).
    public func storedRecord(for key: Key) -> Quorum.Record? { store.record(for: key) }

    /// Client operations this coordinator has in flight or lingering (tests).
    public var pendingOperationCount: Int { writes.count + reads.count }
}
