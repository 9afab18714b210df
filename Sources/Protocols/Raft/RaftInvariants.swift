import BenchCore

extension Raft.Instance {
    /// Checks what must hold of one replica after every step; returns the first violation. Run
    /// after every step in tests and in the simulator (STYLE.md: keep an `invariants()` per instance).
    /// Safety anomalies the replica noticed itself (two leaders in a term, a committed entry
    /// truncated) are reported here rather than trapping, so a deliberately broken variant is
    /// caught by the tests instead of crashing them.
    public func invariants() -> String? {
        if let anomaly = anomalies.first { return anomaly }
        if commitIndex > log.lastIndex { return "\(id): commit \(commitIndex) beyond last index \(log.lastIndex)" }
        if lastApplied > commitIndex { return "\(id): applied \(lastApplied) beyond commit \(commitIndex)" }
        if persistedIndex > log.lastIndex { return "\(id): persisted \(persistedIndex) beyond last index \(log.lastIndex)" }
        if log.lastTerm > currentTerm { return "\(id): log holds term \(log.lastTerm) above current term \(currentTerm)" }
        switch role {
        case .leader:
            if votedFor != id { return "\(id): leads \(currentTerm) without having voted for itself" }
            if leader != id { return "\(id): leads but names \(String(describing: leader)) as leader" }
            for pr in progress {
                if pr.matchIndex >= pr.nextIndex { return "\(id): \(pr.peer) match \(pr.matchIndex) not below next \(pr.nextIndex)" }
                if pr.inflight.count > settings.inflightMax { return "\(id): \(pr.inflight.count) in flight to \(pr.peer)" }
            }
        case .candidate:
            if votedFor != id { return "\(id): candidate in \(currentTerm) without its own vote" }
        default:
            if !progress.isEmpty { return "\(id): non-leader keeps leader progress" }
        }
        return nil
    }

    /// The entries this replica has committed (for the simulator's cross-replica oracle).
    public func committedEntry(at index: LogIndex) -> LogEntry? {
        guard index >= 1, index <= commitIndex else { return nil }
        return log[index]
    }
}
extension Raft.Instance: LogReplica {}
