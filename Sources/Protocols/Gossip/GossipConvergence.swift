import BenchCore

extension Gossip {
    /// A client write that completed (its put was answered ok), as the convergence measurement needs it.
    public struct CompletedWrite: Hashable, Sendable {
        public var key: Key
        /// The written value's tag.
        public var tag: UInt64
        public var complete: Instant
        public init(key: Key, tag: UInt64, complete: Instant) {
            self.key = key
            self.tag = tag
            self.complete = complete
        }
    }

    /// How long completed writes took to reach every live node.
    public struct ConvergenceReport: Hashable, Sendable {
        /// Writes measured (completed ok, with a version some node applied).
        public var writes: Int
        /// For each converged write, from its completion until the last live node held it (or a
        /// newer version of its key) for good — 0 when every node had it before the client heard back. Sorted.
        public var durations: [Duration]
        /// Writes some live node never came to hold (nor anything newer) by the end of the run.
        public var unconverged: [CompletedWrite]
        /// Things the measurement found that must never happen: an acknowledged write no node
        /// ever applied, an observed history that disagrees with a node's store.
        public var violations: [String]

        public var convergedCount: Int { durations.count }
        /// The lower median, and the maximum (zero without converged writes).
        public var p50: Duration { durations.isEmpty ? .zero : durations[(durations.count - 1) / 2] }
        public var max: Duration { durations.last ?? .zero }
    }

    /// Measures convergence time in the simulator: for each write, from its completion until every
    /// live node holds it or a newer version of its key.
    ///
    /// Feed it every node after every step (`observe`, from the simulator's oracle), tell it when a
    /// node crashes (`nodeCrashed`: what the node held in that life no longer counts), and at the
    /// end ask for the report with the writes that completed. It keeps, per node and key, the
    /// versions the node came to hold and when; versions only grow within one life of a node, so
    /// "since when does node n hold version ≥ v" is a binary search. Memory is one small record per
    /// update applied per node. Not thread-safe: one tracker belongs to one simulator.
    public final class ConvergenceTracker {
        struct Holding {
            var since: Instant
            var version: Version
        }

        /// timelines[node index][key]: what the node held for the key in its current life, oldest first.
        var timelines: [[Key: [Holding]]]
        /// The first (smallest) version each value tag was written with: a client's retry at
        /// another node writes the same tag again with a later version.
        var versionByTag: [UInt64: (key: Key, version: Version)] = [:]
        /// Observations made; zero means the oracle never ran (checks were off).
        public private(set) var observations = 0

        public init(nodes: Int) {
            precondition(nodes >= 1, "a cluster has a node")
            timelines = Array(repeating: [:], count: nodes)
        }

        /// Records what `replica` applied in the batch it just handled (node `node`, at `now`).
        public func observe(node: NodeID, replica: Instance, at now: Instant) {
            let n = Int(node.rawValue) - 1
            precondition(timelines.indices.contains(n), "node \(node) outside the tracked cluster")
            observations += 1
            for applied in replica.recentlyApplied {
                if let last = timelines[n][applied.key]?.last, last.version >= applied.version { continue }
                timelines[n][applied.key, default: []].append(Holding(since: now, version: applied.version))
                guard applied.tag != 0 else { continue }
                if let known = versionByTag[applied.tag], known.version <= applied.version { continue }
                versionByTag[applied.tag] = (applied.key, applied.version)
            }
        }

        /// Node `node` crashed: it holds nothing until it restarts and reports what it recovered.
        public func nodeCrashed(_ node: NodeID) {
            let n = Int(node.rawValue) - 1
            precondition(timelines.indices.contains(n), "node \(node) outside the tracked cluster")
            timelines[n] = [:]
        }

        /// The report over `writes`, for the nodes up at the end (`live`, with their replicas,
        /// whose stores are checked against what was observed).
        public func report(writes: [CompletedWrite], live: [(NodeID, Instance)]) -> ConvergenceReport {
            var report = ConvergenceReport(writes: 0, durations: [], unconverged: [], violations: [])
            for (node, replica) in live {
                let timeline = timelines[Int(node.rawValue) - 1]
                for key in replica.store.keys where timeline[key]?.last?.version != replica.store[key]!.version {
                    report.violations.append("\(node) holds \(replica.store[key]!.version) for key \(key) but was "
                                             + "observed to apply \(String(describing: timeline[key]?.last?.version))")
                }
            }
            for write in writes {
                guard let (key, version) = versionByTag[write.tag], key == write.key else {
                    report.violations.append("write of v\(write.tag) to key \(write.key) was acknowledged but no node applied it")
                    continue
                }
                report.writes += 1
                var lastArrival: Instant? = write.complete
                for (node, _) in live {
                    guard let since = heldSince(node: node, key: key, version: version) else {
                        lastArrival = nil
                        break
                    }
                    lastArrival = Swift.max(lastArrival!, since)
                }
                if let lastArrival {
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
            guard let timeline = timelines[Int(node.rawValue) - 1][key], let last = timeline.last,
                  last.version >= version else { return nil }
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
