import BenchCore
import Checker
import Protocols
import Simulation

// The descriptors of the protocols other than Raft: what each guarantees, and how its runs are
// checked beyond the history (oracles that watch every simulated step, end-of-run audits of the
// replicas' own records, and the same audits over real nodes' inspections).

extension ProtocolDescriptor {
    /// Multi-Paxos, and basic Paxos with `mode=basic`. Linearizable; the log oracle checks that no
    /// two nodes ever learn different commands for one slot.
    static let multiPaxos: ProtocolDescriptor = {
        var descriptor = logReplica(
            MultiPaxos.Instance.self,
            summary: "Multi-Paxos: one phase 1 per leader, phase 2 per slot, gap filling with no-ops, batched and pipelined; mode=basic runs both phases per command")
        descriptor.leaderlessWith = [("mode", "basic")]
        return descriptor
    }()

    /// ZAB. Writes linearizable; with `read-mode=follower` reads come from any follower, so such a
    /// run is judged by its measured staleness.
    static let zab = logReplica(
        ZAB.Instance.self,
        summary: "ZAB: fast leader election by (epoch, zxid, id), discovery, synchronization, broadcast in zxid order; read-mode=leader|follower")
        .relaxingReads([("read-mode", "follower")])

    /// Primary-backup (`mode=pair`), mutual backup (`mode=mutual`, each node primary for half the
    /// keys) and a primary with several backups (`mode=cluster`), with a lease that a backup waits
    /// out before it takes over. The group oracle flags two primaries acting at once.
    static let primaryBackup = make(
        PrimaryBackup.Instance.self,
        summary: "Primary-backup failover with a primary lease: mode=pair|mutual|cluster, lease-duration, lease-margin",
        guarantee: .linearizable, hasLeader: true,
        oracle: { simulator in
            let groups = PrimaryBackup.GroupOracle()
            let log = LogOracle<PrimaryBackup.Instance>()
            let settings = simulator.settings
            let oneLog = PrimaryBackup.Layout(mode: settings.mode, members: simulator.memberIDs).groups.count == 1
            simulator.setOracle({ node, replica, now in
                if let violation = groups.check(node: node, replica: replica, now: now) { return violation }
                return oneLog ? log.check(node: node, replica: replica) : nil
            }, onRestart: { node in
                groups.forget(node)
                log.forget(node)
            })
        })

    /// Two-phase commit over a sharded bank: atomicity audited from every node's own decisions,
    /// the bank's total from every shard's applied deltas; participants' blocked time reported.
    static let twoPhaseCommit = atomicCommit(
        TwoPhaseCommit.Instance.self,
        summary: "Two-phase commit over a sharded bank: prepare with locks and a logged vote, logged decision, commit or abort",
        audit: TwoPhaseCommit.atomicityViolations)

    /// Three-phase commit with the termination protocol. It can violate atomicity under a
    /// partition; the audit counts such transactions and the row reports them.
    static let threePhaseCommit = atomicCommit(
        ThreePhaseCommit.Instance.self,
        summary: "Three-phase commit: CanCommit, PreCommit, DoCommit with timeouts and a termination protocol",
        audit: ThreePhaseCommit.atomicityViolations)

    static func atomicCommit<R: Replica>(_: R.Type, summary: String,
                                          audit: @escaping @Sendable ([[UInt8]?]) -> AtomicCommit.Audit) -> ProtocolDescriptor {
        make(
            R.self, summary: summary, guarantee: .atomic, hasLeader: false,
            workload: .bank(accountsPerTransaction: 2),
            analyzeSimulation: { simulator, _ in
                // A node that is down at the end is audited from its disk.
                let inspections = simulator.memberIDs.map { id in
                    simulator.replica(id)?.inspection() ?? AtomicCommit.inspection(recovering: simulator.durableState(id), node: id)
                }
                return findings(audit(inspections))
            },
            inspectReal: { findings(audit($0)) })
    }

    static func findings(_ audit: AtomicCommit.Audit) -> ProtocolFindings {
        var metrics = ["atomicity_violations": Double(audit.atomicityViolations)]
        if let drift = audit.bankDrift { metrics["bank_drift"] = Double(drift) }
        return ProtocolFindings(metrics: metrics, violations: audit.violations)
    }

    /// Dynamo-style N/W/R replication. Reads may be stale when R + W ≤ N, so the verdict is the
    /// measured stale-read rate; convergence is watched step by step in the simulator and taken from
    /// the replicas' stores in real runs.
    static let quorum = make(
        Quorum.Instance.self,
        summary: "NWR quorum replication: consistent-hash ring, hybrid logical clock versions, read repair, anti-entropy, optional sloppy quorums with hinted handoff",
        guarantee: .eventual, hasLeader: false, usesQuorumParameters: true,
        observeSimulation: { simulator in
            let tracker = Quorum.ConvergenceTracker(nodes: simulator.memberIDs.count)
            simulator.setOracle({ node, replica, now in
                tracker.observe(node: node, replica: replica, at: now)
                return nil
            }, onRestart: { tracker.nodeCrashed($0) })
            return { result in
                let writes = result.history.operations.filter { $0.kind == .write && $0.status == .ok }
                    .map { Quorum.CompletedWrite(key: $0.key, tag: $0.written, complete: $0.complete) }
                let found = Quorum.simulationFindings(tracker: tracker, writes: writes, members: simulator.memberIDs,
                                                      replica: { simulator.replica($0) })
                return ProtocolFindings(metrics: found.metrics, violations: found.violations)
            }
        },
        inspectReal: { inspections in
            let decoded = inspections.map { bytes in bytes.flatMap { try? Quorum.Inspection(decoding: $0) } }
            return ProtocolFindings(metrics: Quorum.convergenceMetrics(decoded, completedAt: { _ in nil }))
        })

    /// Gossip: every node takes writes and spreads them by anti-entropy or rumor mongering. Stale
    /// reads are expected and measured; so are convergence time and messages per update.
    static let gossip = make(
        Gossip.Instance.self,
        summary: "Gossip: push, pull and push-pull anti-entropy with fanout and period, or rumor mongering (stop after k contacts, or with probability 1/k)",
        guarantee: .eventual, hasLeader: false,
        observeSimulation: { simulator in
            let tracker = Gossip.ConvergenceTracker(nodes: simulator.memberIDs.count)
            simulator.setOracle({ node, replica, now in
                tracker.observe(node: node, replica: replica, at: now)
                return nil
            }, onRestart: { tracker.nodeCrashed($0) })
            return { result in
                let writes = result.history.operations.filter { $0.kind == .write && $0.status == .ok }
                    .map { Gossip.CompletedWrite(key: $0.key, tag: $0.written, complete: $0.complete) }
                let live = simulator.memberIDs.compactMap { id in simulator.replica(id).map { (id, $0) } }
                var metrics = ["messages_per_update": Double(result.messages) / Double(max(1, writes.count))]
                let report = tracker.report(writes: writes, live: live)
                metrics["unconverged_writes"] = Double(report.unconverged.count)
                if report.convergedCount > 0 {
                    metrics["convergence_p50_ms"] = report.p50.milliseconds
                    metrics["convergence_max_ms"] = report.max.milliseconds
                }
                return ProtocolFindings(metrics: metrics, violations: report.violations)
            }
        },
        inspectReal: { inspections in
            let summary = Gossip.Inspection.summarize(inspections)
            var metrics = summary.metrics
            metrics["divergent_keys"] = metrics.removeValue(forKey: "diverged_keys")
            return ProtocolFindings(metrics: metrics, violations: summary.problems)
        })

    /// A lock service with leases: the lock table is replicated by Raft (the leader stamps each
    /// acquisition with its clock; a lock is free once the stamp passes the holder's expiry), and
    /// every client session acquires, renews before expiry, and releases. A holder believes it holds
    /// a lock only until its request's send time + lease − margin on its own clock. Judged by
    /// linearizability and by `LockSafety`: no two clients may believe they hold one lock at once.
    static let leaseLocks: ProtocolDescriptor = {
        var descriptor = logReplica(Raft.Instance.self, summary: "")
        descriptor.name = "lease-locks"
        descriptor.summary = "A lock service with leases on Raft: acquire, renew before expiry, release; holders stop a safety margin before expiry (workload knobs: --set is Raft's)"
        descriptor.workload = .locks(LockWorkload())
        return descriptor
    }()
}
