import BenchCore

/// The simulator's cross-replica oracle for log-based protocols. It trusts nothing the replicas
/// say about each other, only what each reports of itself, and checks after every step:
/// - election safety: at most one leader per term;
/// - state machine safety: every replica that commits index i commits the same entry there;
/// - a replica's commit index never decreases (until it crashes and forgets it).
public final class LogOracle<R: LogReplica> {
    var committed: [LogEntry] = []
    var leaders: [Term: NodeID] = [:]
    var checkedThrough: [NodeID: LogIndex] = [:]

    public init() {}

    /// Installs this oracle on a simulator (which keeps it alive; the oracle holds no reference back).
    public func install(on simulator: Simulator<R>) {
        simulator.setOracle({ node, replica, _ in self.check(node: node, replica: replica) },
                            onRestart: { node in self.forget(node) })
    }

    /// A node restarted: its volatile commit index starts again from zero (for callers that combine
    /// this oracle with others in one `setOracle` check).
    public func forget(_ node: NodeID) {
        checkedThrough[node] = nil
    }

    public func check(node: NodeID, replica: R) -> String? {
        let status = replica.status
        if status.role == .leader {
            if let other = leaders[status.term], other != node {
                return "election safety: \(other) and \(node) both lead term \(status.term)"
            }
            leaders[status.term] = node
        }
        let checked = checkedThrough[node] ?? .zero
        if status.commitIndex < checked {
            return "\(node): commit index went back from \(checked) to \(status.commitIndex)"
        }
        var index = checked.next
        while index <= status.commitIndex {
            guard let entry = replica.committedEntry(at: index) else {
                return "\(node): reports commit \(status.commitIndex) but has no entry at \(index)"
            }
            let position = Int(index.rawValue - 1)
            if position < committed.count {
                if committed[position] != entry {
                    return "state machine safety: \(node) committed \(entry.term)/\(entry.index) where another replica committed \(committed[position].term)/\(committed[position].index) with a different payload"
                }
            } else {
                precondition(position == committed.count, "commits are checked in order")
                committed.append(entry)
            }
            index = index.next
        }
        checkedThrough[node] = status.commitIndex
        return nil
    }

    /// How many entries some replica has committed.
    public var committedCount: Int { committed.count }
}
