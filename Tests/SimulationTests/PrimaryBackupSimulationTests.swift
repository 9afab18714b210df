import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// Seeded simulation of primary-backup replication in its three modes, checked by oracles that do
/// not trust the protocol: a safety phase (crashes and restarts of one node per pair at a time,
/// partitions, loss, duplication, reordering, drifting clocks), then a liveness phase (everything
/// healed and restarted) in which every group must serve again. Also: the split-brain variant is
/// caught, failover time against the lease, and throughput and latency per mode.
final class PrimaryBackupSimulationTests: XCTestCase {
    typealias Instance = PrimaryBackup.Instance

    /// The shapes the seeds cycle through: (mode, nodes).
    static let shapes: [(mode: PrimaryBackup.Mode, nodes: Int)] = [(.pair, 2), (.mutual, 2), (.cluster, 4), (.cluster, 6)]

    static let faultsUntil = Duration.seconds(2)
    static let healedAt = Instant.zero + faultsUntil
    /// After healing, every group must complete operations again within this virtual time.
    static let livenessBound = Duration.seconds(2)
    /// Clock drift the schedules inject, at most; the default margin (10 ms on a 100 ms lease)
    /// covers drift up to 4.7 %, far above this.
    static let driftPPMMax = 2_000.0

    /// One scenario per seed: shape, loss, drift and faults all derive from the seed.
    static func scenario(seed: UInt64) -> (SimulationOptions, PrimaryBackup.Settings) {
        let shape = shapes[Int(seed % UInt64(shapes.count))]
        var settings = PrimaryBackup.Settings()
        settings.mode = shape.mode
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = shape.nodes
        options.duration = .seconds(4)
        options.warmup = .zero
        options.clients.clients = shape.nodes >= 6 ? 6 : 4
        // Few keys, so operations on one key overlap and the linearizability check has teeth; a
        // multiple of every group count, so each group owns some.
        options.clients.workload = WorkloadSpec(keys: 6, distribution: .uniform, readRatio: 0.5, valueSize: 16)
        // One node of each pair may be down at a time (the schedule never crashes both).
        options.crashedNodesMax = shape.nodes / 2
        var faults = FaultSchedule()
        faults.dropProbability = [0, 0.05, 0.1, 0.2][Int(seed / 4 % 4)]
        faults.duplicateProbability = seed % 2 == 0 ? 0.05 : 0
        faults.reorderProbability = seed % 5 < 2 ? 0.1 : 0
        faults.clockDriftPPM = [0, 100, driftPPMMax][Int(seed / 16 % 3)]
        faults.clockSkewMax = seed % 3 == 0 ? .milliseconds(50) : .zero
        var random = SeededGenerator(seed: seed ^ 0x9b_5eed)
        faults.events = pairFaults(nodes: shape.nodes, until: faultsUntil, random: &random)
        options.faults = faults
        return (options, settings)
    }

    /// Crash-and-restart windows for each pair, never overlapping within a pair (so one node of a
    /// pair is down at a time), and partitions that cut a random node of some pairs off from the
    /// rest, or isolate a primary; then everything heals and restarts at `until`.
    static func pairFaults(nodes: Int, until: Duration, random: inout SeededGenerator) -> [TimedFault] {
        func between(_ low: Int64, _ high: Int64) -> Duration {
            .milliseconds(low + Int64(random.next() % UInt64(high - low)))
        }
        var events: [TimedFault] = []
        for pair in 0..<(nodes / 2) {
            var t = between(0, 400)
            while t < until {
                let end = min(t + between(30, 700), until)
                let victim = NodeID(UInt32(2 * pair + 1) + UInt32(random.next() % 2))
                events.append(TimedFault(at: t, .crash(.node(victim))))
                events.append(TimedFault(at: end, .restart(.node(victim))))
                t = end + between(20, 500)
            }
        }
        var t = between(0, 600)
        while t < until {
            let end = min(t + between(30, 600), until)
            if random.next() % 3 == 0 {
                events.append(TimedFault(at: t, .partition(.isolate(.leader))))
            } else {
                var cut: [NodeID] = []
                for pair in 0..<(nodes / 2) where cut.isEmpty || random.next() % 2 == 0 {
                    cut.append(NodeID(UInt32(2 * pair + 1) + UInt32(random.next() % 2)))
                }
                events.append(TimedFault(at: t, .partition(.sides([cut]))))
            }
            events.append(TimedFault(at: end, .heal))
            t = end + between(50, 500)
        }
        events.append(TimedFault(at: until, .heal))
        events.append(TimedFault(at: until, .restartAll))
        return events.sorted { $0.at < $1.at }
    }

    struct Outcome {
        var result: SimulationResult
        var verdict: LinearizabilityVerdict
        var simulator: Simulator<Instance>
    }

    /// Runs one simulation with the group oracle (every mode) and, where there is one log (one
    /// group), the simulator's own `LogOracle` too. `observe` sees every step (for measurements).
    static func run(_ options: SimulationOptions, settings: PrimaryBackup.Settings,
                    observe: ((NodeID, Instance, Instant) -> Void)? = nil) -> Outcome {
        let simulator = Simulator<Instance>(options: options, settings: settings)
        let groupOracle = PrimaryBackup.GroupOracle()
        let logOracle = LogOracle<Instance>()
        let oneLog = PrimaryBackup.Layout(mode: settings.mode, members: simulator.memberIDs).groups.count == 1
        simulator.setOracle({ node, replica, now in
            observe?(node, replica, now)
            if let violation = groupOracle.check(node: node, replica: replica, now: now) { return violation }
            return oneLog ? logOracle.check(node: node, replica: replica) : nil
        }, onRestart: { node in
            groupOracle.forget(node)
            logOracle.forget(node)
        })
        let result = simulator.run()
        return Outcome(result: result, verdict: Linearizability.check(result.history), simulator: simulator)
    }

    /// The first successful operation on a key of each group after `instant`, per group (nil: none).
    static func firstCompletionPerGroup(_ history: History, groups: Int, after instant: Instant) -> [Instant?] {
        var first: [Instant?] = Array(repeating: nil, count: groups)
        for op in history.operations where op.status == .ok && op.complete >= instant {
            let g = Int(op.key % UInt64(groups))
            if first[g].map({ op.complete < $0 }) ?? true { first[g] = op.complete }
        }
        return first
    }

    /// 240 seeds in the release-mode suite (60 per shape); a debug build, many times slower, runs 24.
    #if DEBUG
    static let seedCount: UInt64 = 24
    #else
    static let seedCount: UInt64 = 240
    #endif

    func testSeedsStaySafeAndLiveInEveryMode() {
        var okPerShape = Array(repeating: 0, count: Self.shapes.count)
        var failovers = 0
        var violations = 0
        for seed in UInt64(1)...Self.seedCount {
            let (options, settings) = Self.scenario(seed: seed)
            let outcome = Self.run(options, settings: settings)
            let result = outcome.result
            okPerShape[Int(seed % UInt64(Self.shapes.count))] += result.opsOK
            // A failure prints its seed and options first, so it can be replayed.
            let replay = "replay with: mode=\(settings.mode) \(options)"
            XCTAssertEqual(result.violations, [], replay)
            if case let .violation(counterexample) = outcome.verdict {
                XCTFail("not linearizable: \(counterexample.explanation)\n\(replay)")
            }
            if case let .undecided(reason) = outcome.verdict { XCTFail("checker undecided (\(reason))\n\(replay)") }
            let groups = PrimaryBackup.Layout(mode: settings.mode, members: outcome.simulator.memberIDs).groups.count
            let recovered = Self.firstCompletionPerGroup(result.history, groups: groups, after: Self.healedAt)
            for (group, first) in recovered.enumerated() {
                guard let first else {
                    XCTFail("group \(group) completed nothing after healing\n\(replay)")
                    continue
                }
                XCTAssertLessThanOrEqual(first - Self.healedAt, Self.livenessBound, "group \(group) slow to recover\n\(replay)")
            }
            for id in outcome.simulator.memberIDs {
                failovers += Int(outcome.simulator.replica(id)?.metrics["failovers"] ?? 0)
            }
            violations += result.violations.count
            if violations > 0 { break }
        }
        // The faults did force failovers, and every shape got work done.
        XCTAssertGreaterThan(failovers, Int(Self.seedCount))
        for (k, ok) in okPerShape.enumerated() {
            XCTAssertGreaterThan(ok, Int(Self.seedCount) / Self.shapes.count * 100, "shape \(Self.shapes[k])")
        }
        print("primary-backup chaos: \(Self.seedCount) seeds, ops ok per shape \(okPerShape), failovers \(failovers)")
    }

    func testSameSeedSameTrace() {
        for seed in UInt64(41)...44 {
            let (options, settings) = Self.scenario(seed: seed)
            let a = Self.run(options, settings: settings).result
            let b = Self.run(options, settings: settings).result
            XCTAssertEqual(a.traceHash, b.traceHash, "mode \(settings.mode)")
            XCTAssertEqual(a.history, b.history, "mode \(settings.mode)")
            XCTAssertEqual(a.events, b.events, "mode \(settings.mode)")
            var other = options
            other.seed = seed + 100
            XCTAssertNotEqual(a.traceHash, Self.run(other, settings: settings).result.traceHash)
        }
    }

    /// Proof that the checks can fail: a backup that takes over as soon as it misses heartbeats,
    /// without waiting out the lease it granted, serves beside an old primary that still holds its
    /// lease (split brain) when a partition cuts the pair. The oracle or the checker must say so.
    func testBackupThatDoesNotWaitForTheLeaseIsCaught() {
        var settings = PrimaryBackup.Settings()
        settings.unsafeNoLeaseWait = true
        var byOracle = 0
        var byChecker = 0
        for seed in UInt64(1)...30 {
            var options = SimulationOptions()
            options.seed = seed
            options.nodes = 2
            options.duration = .seconds(2)
            options.warmup = .zero
            options.clients.clients = 4
            options.clients.workload = WorkloadSpec(keys: 3, distribution: .uniform, readRatio: 0.5, valueSize: 16)
            options.faults.dropProbability = 0.05
            options.faults.events = [
                TimedFault(at: .milliseconds(300), .partition(.isolate(.leader))), TimedFault(at: .milliseconds(700), .heal),
                TimedFault(at: .milliseconds(1_000), .partition(.isolate(.leader))), TimedFault(at: .milliseconds(1_300), .heal),
            ]
            let outcome = Self.run(options, settings: settings)
            if outcome.result.violations.contains(where: { $0.contains("split brain") }) { byOracle += 1 }
            if case .violation = outcome.verdict { byChecker += 1 }
        }
        print("unsafe-no-lease-wait: split brain caught by the oracle in \(byOracle)/30 seeds, by the linearizability checker in \(byChecker)/30")
        XCTAssertGreaterThan(byOracle, 0, "the oracle missed a backup that does not wait for the lease")
        XCTAssertGreaterThan(byChecker, 0, "stale reads of the split brain went unnoticed by the checker")
    }

    /// The same partitions with the safe protocol: no split brain, histories linearizable.
    func testTheSameScheduleIsSafeWithTheLease() {
        for seed in UInt64(1)...10 {
            var options = SimulationOptions()
            options.seed = seed
            options.nodes = 2
            options.duration = .seconds(2)
            options.warmup = .zero
            options.clients.clients = 4
            options.clients.workload = WorkloadSpec(keys: 3, distribution: .uniform, readRatio: 0.5, valueSize: 16)
            options.faults.dropProbability = 0.05
            options.faults.clockDriftPPM = Self.driftPPMMax
            options.faults.events = [
                TimedFault(at: .milliseconds(300), .partition(.isolate(.leader))), TimedFault(at: .milliseconds(700), .heal),
                TimedFault(at: .milliseconds(1_000), .partition(.isolate(.leader))), TimedFault(at: .milliseconds(1_300), .heal),
            ]
            let outcome = Self.run(options, settings: PrimaryBackup.Settings())
            XCTAssertEqual(outcome.result.violations, [], "seed \(seed)")
            XCTAssertTrue(outcome.verdict.isLinearizable, "seed \(seed)")
        }
    }

    // MARK: Scenarios

    static func quietOptions(seed: UInt64 = 7, nodes: Int = 2, duration: Duration = .seconds(2)) -> SimulationOptions {
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = nodes
        options.duration = duration
        options.warmup = .zero
        options.clients.clients = 4
        options.clients.workload = WorkloadSpec(keys: 10, distribution: .uniform, readRatio: 0.5, valueSize: 16)
        options.crashedNodesMax = nodes / 2
        return options
    }

    /// Cut the pair apart: the old primary stops when its lease ends, the backup takes over after
    /// lease + margin and serves alone; after the heal the old primary learns the new epoch,
    /// catches up as backup, is declared in sync, and both hold the same committed log.
    func testPartitionedPairFailsOverAndResyncs() {
        var options = Self.quietOptions()
        options.faults.events = [TimedFault(at: .milliseconds(500), .partition(.sides([[NodeID(1)]]))),
                                 TimedFault(at: .milliseconds(1_000), .heal)]
        let outcome = Self.run(options, settings: PrimaryBackup.Settings())
        XCTAssertEqual(outcome.result.violations, [])
        XCTAssertTrue(outcome.verdict.isLinearizable)
        let old = outcome.simulator.replica(1)!, new = outcome.simulator.replica(2)!
        XCTAssertEqual(new.groupView(0)?.role, .primary)
        XCTAssertEqual(new.groupView(0)?.epoch, Term(2))
        XCTAssertEqual(old.groupView(0)?.role, .backup)
        XCTAssertEqual(old.groupView(0)?.synced, true, "the old primary was declared in sync again")
        XCTAssertEqual(new.metrics["failovers"], 1)
        XCTAssertEqual(old.metrics["lease_lapses"], 1)
        let commit = min(old.groupView(0)!.commitIndex, new.groupView(0)!.commitIndex)
        XCTAssertGreaterThan(commit.rawValue, 100)
        var index = LogIndex(1)
        while index <= commit {
            XCTAssertEqual(old.committedEntry(group: 0, at: index), new.committedEntry(group: 0, at: index))
            index = index.next
        }
        // Nothing was served in the gap between the old lease's end and the takeover.
        let cut = Instant.zero + .milliseconds(500)
        let served = outcome.result.history.operations.filter {
            $0.status == .ok && $0.complete > cut + .milliseconds(102) && $0.complete < cut + .milliseconds(108)
        }
        XCTAssertEqual(served.count, 0)
    }

    /// The backup crashes: the primary cannot renew its lease and stops (a two-node system cannot
    /// tell this from a partition in which the backup takes over), then resumes once the backup is
    /// back. No failover happens.
    func testBackupCrashStallsThePrimaryUntilItReturns() {
        var options = Self.quietOptions()
        options.faults.events = [TimedFault(at: .milliseconds(500), .crash(.node(2))),
                                 TimedFault(at: .milliseconds(900), .restart(.node(2)))]
        let outcome = Self.run(options, settings: PrimaryBackup.Settings())
        XCTAssertEqual(outcome.result.violations, [])
        XCTAssertTrue(outcome.verdict.isLinearizable)
        let primary = outcome.simulator.replica(1)!
        XCTAssertEqual(primary.groupView(0)?.role, .primary)
        XCTAssertEqual(primary.groupView(0)?.epoch, Term(1))
        XCTAssertEqual(primary.metrics["lease_lapses"], 1)
        let ops = outcome.result.history.operations.filter { $0.status == .ok }
        let stalled = ops.filter { $0.complete > Instant.zero + .milliseconds(650) && $0.complete < Instant.zero + .milliseconds(900) }
        XCTAssertEqual(stalled.count, 0, "the primary served without a lease")
        XCTAssertGreaterThan(ops.filter { $0.complete > Instant.zero + .milliseconds(950) }.count, 100)
    }

    /// The primary restarts quickly after declaring its backup in sync: its lease died with it, so
    /// it relinquishes and the backup takes over at once instead of waiting out its promise.
    func testRestartedPrimaryRelinquishes() {
        var options = Self.quietOptions()
        options.faults.events = [TimedFault(at: .milliseconds(500), .crash(.node(1))),
                                 TimedFault(at: .milliseconds(520), .restart(.node(1)))]
        var activatedAt: Instant?
        let outcome = Self.run(options, settings: PrimaryBackup.Settings()) { node, replica, now in
            if node == 2, activatedAt == nil, replica.groupView(0)?.activated == true { activatedAt = now }
        }
        XCTAssertEqual(outcome.result.violations, [])
        XCTAssertTrue(outcome.verdict.isLinearizable)
        let backup = outcome.simulator.replica(2)!
        XCTAssertEqual(backup.metrics["failovers_on_relinquish"], 1)
        XCTAssertEqual(outcome.simulator.replica(1)?.metrics["relinquishes"], 1)
        // Taken over on the notice (≈ 20 ms after the crash), well before lease + margin (110 ms).
        let takeover = try! XCTUnwrap(activatedAt) - (Instant.zero + .milliseconds(500))
        XCTAssertLessThan(takeover, .milliseconds(60))
    }

    /// `mutual` mode: each node leads half the keys; cut them apart and each half fails over to
    /// the other node, so that for a while one node leads both halves.
    func testMutualHalvesFailOverIndependently() {
        var options = Self.quietOptions()
        options.faults.events = [TimedFault(at: .milliseconds(400), .crash(.node(1))),
                                 TimedFault(at: .milliseconds(1_000), .restart(.node(1)))]
        var settings = PrimaryBackup.Settings()
        settings.mode = .mutual
        var bothLedBy2 = false
        let outcome = Self.run(options, settings: settings) { node, replica, _ in
            if node == 2, replica.groupView(0)?.role == .primary, replica.groupView(1)?.role == .primary { bothLedBy2 = true }
        }
        XCTAssertEqual(outcome.result.violations, [])
        XCTAssertTrue(outcome.verdict.isLinearizable)
        XCTAssertTrue(bothLedBy2, "node 2 took over the half node 1 led")
        XCTAssertEqual(outcome.simulator.replica(2)?.metrics["failovers"], 1, "only the half node 1 led failed over")
        let recovered = Self.firstCompletionPerGroup(outcome.result.history, groups: 2, after: Instant.zero + .milliseconds(600))
        XCTAssertNotNil(recovered[0])
        XCTAssertNotNil(recovered[1])
    }

    /// `cluster` mode redirects: a request for a key of another pair is answered `notLeader` with a
    /// hint, and clients spread over all nodes still reach every group.
    func testClusterRedirectsToTheKeysPair() {
        var settings = PrimaryBackup.Settings()
        settings.mode = .cluster
        let outcome = Self.run(Self.quietOptions(nodes: 5, duration: .seconds(1)), settings: settings)
        XCTAssertEqual(outcome.result.violations, [])
        XCTAssertTrue(outcome.verdict.isLinearizable)
        var redirects = 0.0
        for id in outcome.simulator.memberIDs { redirects += outcome.simulator.replica(id)?.metrics["redirects"] ?? 0 }
        XCTAssertGreaterThan(redirects, 0)
        XCTAssertEqual(outcome.simulator.replica(5)?.groups, [], "the odd node out holds no group")
        let first = Self.firstCompletionPerGroup(outcome.result.history, groups: 2, after: .zero)
        XCTAssertNotNil(first[0])
        XCTAssertNotNil(first[1])
    }

    // MARK: Figures

    /// Failover time against the lease: the primary crashes at 1 s; measured in virtual time to
    /// the backup's takeover (promotion), to the new epoch on disk (activation), to the first
    /// client write it commits (server side), and to the first successful write a client sees.
    /// The takeover cannot come before the lease it granted has lapsed; it comes within a tick of it.
    func testFailoverTimeAgainstLease() {
        let crashAt = Instant.zero + .seconds(1)
        var lines = ["lease_ms margin_ms heartbeat_ms  promote_ms activate_ms first_commit_ms client_first_write_ms"]
        for leaseMillis: Int64 in [25, 50, 100, 200, 400] {
            var settings = PrimaryBackup.Settings()
            settings.leaseDuration = .milliseconds(leaseMillis)
            settings.leaseMargin = .milliseconds(leaseMillis / 10)
            settings.heartbeatInterval = .milliseconds(leaseMillis / 5)
            var options = Self.quietOptions(seed: 11, duration: .seconds(2))
            options.clients.session.operationDeadline = .seconds(3)
            options.faults.events = [TimedFault(at: .seconds(1), .crash(.node(1)))]
            var promotedAt: Instant?, activatedAt: Instant?, committedAt: Instant?
            let outcome = Self.run(options, settings: settings) { node, replica, now in
                guard node == 2, let view = replica.groupView(0), view.role == .primary else { return }
                if promotedAt == nil { promotedAt = now }
                if activatedAt == nil && view.activated { activatedAt = now }
                if committedAt == nil && view.stats.writesCommitted > 0 { committedAt = now }
            }
            XCTAssertEqual(outcome.result.violations, [])
            XCTAssertTrue(outcome.verdict.isLinearizable)
            // A write the old primary answered just before the crash may still be in flight: count
            // client writes answered from 1 ms after the crash.
            let clientFirst = outcome.result.history.operations
                .filter { $0.kind == .write && $0.status == .ok && $0.complete > crashAt + .milliseconds(1) }
                .map(\.complete).min()
            guard let promotedAt, let activatedAt, let committedAt, let clientFirst else {
                XCTFail("no failover with lease \(leaseMillis) ms")
                continue
            }
            let lease = settings.leaseDuration, margin = settings.leaseMargin, tick = settings.heartbeatInterval
            // Safety: the backup waited out its promise (its last contact was at most a tick before the crash).
            XCTAssertGreaterThanOrEqual(promotedAt - crashAt, lease + margin - tick)
            // Promptness: the promote timer fires at the deadline, not at the next tick.
            XCTAssertLessThanOrEqual(promotedAt - crashAt, lease + margin + .milliseconds(1))
            XCTAssertLessThanOrEqual(activatedAt - promotedAt, .milliseconds(2), "the new epoch takes one disk sync")
            XCTAssertGreaterThanOrEqual(committedAt, activatedAt)
            func ms(_ d: Duration) -> String { String(format: "%.1f", d.milliseconds) }
            lines.append("\(leaseMillis) \(leaseMillis / 10) \(leaseMillis / 5)  \(ms(promotedAt - crashAt)) \(ms(activatedAt - crashAt)) "
                         + "\(ms(committedAt - crashAt)) \(ms(clientFirst - crashAt))")
        }
        print("primary-backup failover (virtual time from the primary's crash; clients time out after 100 ms):\n"
              + lines.joined(separator: "\n"))
    }

    /// Simulated throughput and latency of each mode, fault-free (16 closed-loop clients, 1,000
    /// keys, half reads, 64-byte values, the simulator's default network, disk and CPU models).
    func testThroughputAndLatencyPerMode() {
        var lines = ["mode nodes  ops/s  p50_us p99_us  messages/op fsyncs/op"]
        for shape in Self.shapes {
            var settings = PrimaryBackup.Settings()
            settings.mode = shape.mode
            var options = SimulationOptions()
            options.seed = 3
            options.nodes = shape.nodes
            options.duration = .seconds(2)
            options.warmup = .milliseconds(500)
            options.clients.clients = 16
            options.clients.workload = WorkloadSpec(keys: 1_000, distribution: .uniform, readRatio: 0.5, valueSize: 64)
            let outcome = Self.run(options, settings: settings)
            let result = outcome.result
            XCTAssertEqual(result.violations, [])
            XCTAssertTrue(outcome.verdict.isLinearizable)
            XCTAssertGreaterThan(result.throughput, 5_000, "\(shape)")
            let sorted = result.latencies.sorted()
            let p50 = sorted.isEmpty ? 0 : sorted[sorted.count / 2] / 1_000
            let p99 = sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, sorted.count * 99 / 100)] / 1_000
            lines.append("\(shape.mode) \(shape.nodes)  \(Int(result.throughput))  \(p50) \(p99)  "
                         + String(format: "%.2f %.2f", Double(result.messages) / Double(max(result.opsOK, 1)),
                                  Double(result.fsyncs) / Double(max(result.opsOK, 1))))
        }
        print("primary-backup sim throughput (virtual):\n" + lines.joined(separator: "\n"))
    }
}
