import BenchCore

extension Quorum {
    /// A version a replica stored, as observers of its batches see it (`Instance.recentlyStored`).
    public struct StoredUpdate: Hashable, Sendable {
        public var key: Key
        public var version: Version
        /// The stored value's tag (`Value.tag`).
        public var tag: UInt64
    }

    /// A client put that completed ok, as the convergence measurement needs it.
    public struct CompletedWrite: Hashable, Sendable {
        public var key: Key
        public var tag: UInt64
        public var complete: Instant
        public init(key: Key, tag: UInt64, complete: Instant) {
            self.key = key
            self.tag = tag
            self.complete = complete
        }
    }

    /// How long completed puts took to reach all of their key's replicas.
    public struct WriteConvergence: Hashable, Sendable {
        /// Puts measured.
        public var writes = 0
        /// For each converged put, from its completion until the last of its key's live replicas
        /// held it (or a newer version) for good; 0 when all did before the client heard back. Sorted.
        public var durations: [Duration] = []
        /// Puts some live replica of the key never came to hold (nor anything newer).
        public var unconverged: [CompletedWrite] = []
        /// What must never happen: an acknowledged put no coordinator issued, a replica whose
        /// store disagrees with what it was observed to store.
        public var violations: [String] = []

        /// The lower median and the maximum (zero without converged puts).
        public var p50: Duration { durations.isEmpty ? .zero : durations[(durations.count - 1) / 2] }
        public var max: Duration { durations.last ?? .zero }
    }

    /// Measures convergence time in the simulator: for each completed put, from its completion
    /// until every live replica of its key (its N home replicas) holds it or a newer version.
    ///
    /// Install it as the simulator's oracle: `observe` every node after every batch, `nodeCrashed`
    /// when a node loses its volatile state (what it held in that life no longer counts; on restart
    /// it reports what it recovered), then `report` with the puts that completed. Per node and key
    /// it keeps the versions the node came to hold and when; within one life of a node a key's
    /// version only grows, so "since when does the node hold ≥ v" is a binary search. Memory is one
    /// small record per version stored per node. Not thread-safe: one tracker per simulator.
    public final class ConvergenceTracker {
        struct Holding {
            var since: Instant
            var version: Version
        }

        /// The replicas' ring and N, taken from the first replica observed (all replicas share them).
        var ring: Ring?
        var n = 0
        /// timelines[node index][key]: what the node held in its current life, oldest first.
        var timelines: [[Key: [Holding]]]
        /// The smallest version each tag was issued with (a retried put gets a later one).
        var versionByTag: [UInt64: (key: Key, version: Version)] = [:]
        /// Observations made; zero means the oracle never ran (checks were off).
        public private(set) var observations = 0

        /// A tracker for a cluster of `nodes` nodes (ids 1...nodes, as the simulator numbers them).
        public init(nodes: Int) {
            precondition(nodes >= 1, "a cluster has a node")
            timelines = Array(repeating: [:], count: nodes)
        }

        func slot(_ node: NodeID) -> Int {
            let index = Int(node.rawValue) - 1
            precondition(timelines.indices.contains(index), "node \(node) outside the tracked cluster")
            return index
        }

        /// Records what `replica` stored in the batch it just handled.
        public func observe(node: NodeID, replica: Instance, at now: Instant) {
            let index = slot(node)
            observations += 1
            if ring == nil {
                ring = replica.ring
                n = replica.n
            }
            for update in replica.recentlyStored {
                if let last = timelines[index][update.key]?.last, last.version >= update.version { continue }
                timelines[index][update.key, default: []].append(Holding(since: now, version: update.version))
            }
            for issued in replica.recentlyIssued where issued.tag != 0 {
                if let known = versionByTag[issued.tag], known.version <= issued.version { continue }
                versionByTag[issued.tag] = (issued.key, issued.version)
            }
        }

        /// Node `node` crashed: it holds nothing until it restarts and reports what it recovered.
        public func nodeCrashed(_ node: NodeID) {
            timelines[slot(node)] = [:]
        }

        /// The convergence of `writes`, over the replicas up at the end (`live`), whose stores are
        /// also checked against what they were observed to store.
        public func report(writes: [CompletedWrite], live: [(NodeID, Instance)]) -> WriteConvergence {
            var report = WriteConvergence()
            for (node, replica) in live {
                let timeline = timelines[slot(node)]
                for key in replica.store.sortedKeys where timeline[key]?.last?.version != replica.store.version(of: key) {
                    report.violations.append("\(node) holds \(replica.store.version(of: key)) for key \(key) but was observed "
                                             + "to store \(String(describing: timeline[key]?.last?.version))")
                }
            }
            let liveNodes = live.map(\.0)
            guard let ring else { return report }
            for write in writes {
                guard let (key, version) = versionByTag[write.tag], key == write.key else {
                    report.violations.append("put of v\(write.tag) to key \(write.key) was acknowledged but never issued")
                    continue
                }
                report.writes += 1
                var lastArrival = write.complete
                var converged = true
                for home in ring.preferenceList(for: key, n: n) where liveNodes.contains(home) {
                    guard let since = heldSince(node: home, key: key, version: version) else {
                        converged = false
                        break
                    }
                    lastArrival = Swift.max(lastArrival, since)
                }
                if converged {
                    report.durations.append(lastArrival - write.complete)
                } else {
                    report.unconverged.append(write)
                }
            }
            report.durations.sort()
            return report
        }

        /// Since when `node` (in its current life) holds `version` or a newer version of `key`.
        func heldSince(node: NodeID, key: Key, version: Version) -> Instant? {
            guard let timeline = timelines[slot(node)][key], let last = timeline.last, last.version >= version else { return nil }
            var low = 0
            var high = timeline.count - 1
            while low < high {
                let middle = (low + high) / 2
                if timeline[middle].version >= version { high = middle } else { low = middle + 1 }
            }
            return timeline[low].since
        }
    }
}

extension Quorum {
    /// The end-of-run convergence findings of a simulated run, for the results: per-put convergence
    /// time from the tracker (`convergence_p50_ms`, `convergence_max_ms`, `unconverged_writes`;
    /// without observations, from the final stores as `convergenceMetrics` measures it), whether
    /// each key's replicas agree at the end (`divergent_keys`, `unchecked_keys`), and violations
    /// (an acknowledged put no coordinator issued). Replicas that are down (`replica` returns nil) are
    /// left out. Unconverged puts are not violations: a run without a quiet period ends mid-repair.
    public static func simulationFindings(tracker: ConvergenceTracker?, writes: [CompletedWrite], members: [NodeID],
                                          replica: (NodeID) -> Instance?) -> (metrics: [String: Double], violations: [String]) {
        let completions = Dictionary(writes.map { ($0.tag, $0.complete) }, uniquingKeysWith: { a, _ in a })
        var metrics = convergenceMetrics(members.map { replica($0)?.inspected }, completedAt: { completions[$0] })
        guard let tracker, tracker.observations > 0 else { return (metrics, []) }
        let live = members.compactMap { id in replica(id).map { (id, $0) } }
        let report = tracker.report(writes: writes, live: live)
        metrics["unconverged_writes"] = Double(report.unconverged.count)
        if report.durations.isEmpty {
            metrics["convergence_p50_ms"] = nil
            metrics["convergence_max_ms"] = nil
        } else {
            metrics["convergence_p50_ms"] = report.p50.milliseconds
            metrics["convergence_max_ms"] = report.max.milliseconds
        }
        return (metrics, report.violations)
    }
}
