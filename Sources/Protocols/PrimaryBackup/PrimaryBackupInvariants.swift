import BenchCore

extension PrimaryBackup.Instance {
    /// Checks what must hold of this node after every step; returns the first violation. Safety
    /// anomalies a member observed itself (two primaries in an epoch, a committed entry truncated)
    /// are reported here rather than trapping, so a deliberately broken variant is caught by the
    /// tests instead of crashing them.
    public func invariants() -> String? {
        for m in members {
            if let anomaly = m.anomalies.first { return anomaly }
            let name = "group \(m.group) on \(id)"
            if m.commitIndex > m.log.lastIndex { return "\(name): commit \(m.commitIndex) beyond last \(m.log.lastIndex)" }
            if m.lastApplied != m.commitIndex { return "\(name): applied \(m.lastApplied) is not commit \(m.commitIndex)" }
            if m.persistedIndex > m.log.lastIndex { return "\(name): persisted \(m.persistedIndex) beyond last \(m.log.lastIndex)" }
            if m.log.lastEpoch > m.epoch { return "\(name): log holds epoch \(m.log.lastEpoch) above current \(m.epoch)" }
            if storage.meta[m.slot] != m.meta { return "\(name): in-memory \(m.meta) differs from what was persisted \(storage.meta[m.slot])" }
            switch m.role {
            case .primary:
                if m.activationIndex == .zero || m.log.epoch(at: m.activationIndex) != m.epoch {
                    return "\(name): primary of \(m.epoch) without its opening entry at \(m.activationIndex)"
                }
                if m.activated && m.persistedIndex < m.activationIndex { return "\(name): active before its epoch is on disk" }
                let p = m.progress
                if p.matched > m.log.lastIndex { return "\(name): backup matched \(p.matched) beyond last \(m.log.lastIndex)" }
                if p.nextIndex <= p.matched || p.nextIndex > m.log.lastIndex.next {
                    return "\(name): nextIndex \(p.nextIndex) outside (\(p.matched), \(m.log.lastIndex.next)]"
                }
                if p.inflight.count > settings.inflightMax { return "\(name): \(p.inflight.count) appends in flight" }
                if m.synced && m.syncPending { return "\(name): in sync and pending sync at once" }
                // Once the backup is in sync nothing commits that it does not hold.
                if m.synced && m.commitIndex > p.matched {
                    return "\(name): committed \(m.commitIndex) beyond what the in-sync backup holds (\(p.matched))"
                }
            case .backup, .relinquished:
                if m.activated { return "\(name): \(m.role) marked active" }
            }
        }
        return nil
    }
}

extension PrimaryBackup {
    /// A cross-replica oracle for every mode, in the manner of the simulator's `LogOracle` but per
    /// group. It trusts only what each node reports of itself, and checks after every step:
    /// - one primary per (group, epoch);
    /// - every node that commits position i of a group's log commits the same entry there, and a
    ///   node's commit index never goes back (until it restarts and forgets it);
    /// - no split brain: no node serves a read in an epoch older than one that some node has
    ///   already activated (opened and made durable) — what the lease exists to prevent.
    /// Pure (BenchCore only); install it with `Simulator.setOracle` (see the descriptor snippet).
    public final class GroupOracle {
        var committed: [[LogEntry]] = []
        var primaries: [[Term: NodeID]] = []
        /// Per group: the highest epoch some node has activated, and the true time it was seen.
        var activated: [(epoch: Term, at: Instant)] = []
        var checkedThrough: [NodeID: [LogIndex]] = [:]
        var readsSeen: [NodeID: [Int]] = [:]

        public init() {}

        /// How many entries some node has committed, per group.
        public var committedCounts: [Int] { committed.map(\.count) }

        /// A node restarted: its volatile commit index starts again from zero.
        public func forget(_ node: NodeID) {
            checkedThrough[node] = nil
            readsSeen[node] = nil
        }

        /// Checks node `node` after a step at true time `now`; returns the first violation.
        public func check(node: NodeID, replica: Instance, now: Instant) -> String? {
            let groupCount = replica.layout.groups.count
            if committed.count < groupCount {
                committed += Array(repeating: [], count: groupCount - committed.count)
                primaries += Array(repeating: [:], count: groupCount - primaries.count)
                activated += Array(repeating: (epoch: Term.zero, at: Instant.zero), count: groupCount - activated.count)
            }
            var checked = checkedThrough[node] ?? Array(repeating: .zero, count: groupCount)
            var reads = readsSeen[node] ?? Array(repeating: 0, count: groupCount)
            defer {
                checkedThrough[node] = checked
                readsSeen[node] = reads
            }
            for group in replica.groups {
                guard let view = replica.groupView(group) else { continue }
                if view.role == .primary {
                    if let other = primaries[group][view.epoch], other != node {
                        return "group \(group): \(other) and \(node) are both primary of epoch \(view.epoch)"
                    }
                    primaries[group][view.epoch] = node
                    if view.activated && view.epoch > activated[group].epoch { activated[group] = (view.epoch, now) }
                }
                if view.stats.readsServed > reads[group] {
                    reads[group] = view.stats.readsServed
                    let newest = activated[group]
                    if view.stats.lastReadEpoch < newest.epoch {
                        return "split brain in group \(group): \(node) served a read in epoch \(view.stats.lastReadEpoch) at \(now), after epoch \(newest.epoch) was activated at \(newest.at)"
                    }
                }
                if view.commitIndex < checked[group] {
                    return "group \(group): \(node)'s commit index went back from \(checked[group]) to \(view.commitIndex)"
                }
                var index = checked[group].next
                while index <= view.commitIndex {
                    guard let entry = replica.committedEntry(group: group, at: index) else {
                        return "group \(group): \(node) reports commit \(view.commitIndex) without an entry at \(index)"
                    }
                    let position = Int(index.rawValue - 1)
                    if position < committed[group].count {
                        if committed[group][position] != entry {
                            return "group \(group): \(node) committed \(entry.term)/\(entry.index) where another node committed \(committed[group][position].term)/\(committed[group][position].index) with a different payload"
                        }
                    } else {
                        precondition(position == committed[group].count, "commits are checked in order")
                        committed[group].append(entry)
                    }
                    index = index.next
                }
                checked[group] = view.commitIndex
            }
            return nil
        }
    }
}
