import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// Scenarios and end-of-run analysis shared by the two- and three-phase commit simulation tests.
enum CommitSimulation {
    static let healedAt = Instant.zero + .seconds(2)
    /// After healing, a transaction must commit again within this virtual time.
    static let livenessBound = Duration.seconds(2)
    /// At the end of a run no participant may still be in doubt for longer than this: everything
    /// blocked before the heal has resolved (a vote cast just before the end is younger).
    static let settledBound = Duration.seconds(1)

    /// One scenario per seed: cluster size, contention, loss and the fault mix derive from the
    /// seed. Faults (crashes of any node — coordinators and participants alike — and, when
    /// `partitions`, partitions) happen during the first two seconds; then everything heals and
    /// restarts, and clients keep going for two more seconds.
    static func scenario(seed: UInt64, partitions: Bool) -> SimulationOptions {
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = [3, 4, 5][Int(seed % 3)]
        options.duration = .seconds(4)
        options.warmup = .zero
        options.clients.clients = 4
        options.clients.workload = WorkloadSpec(keys: [10, 40][Int(seed / 3 % 2)], distribution: .uniform, readRatio: 0.2,
                                                valueSize: 8, kind: .bank(accountsPerTransaction: [2, 3][Int(seed / 6 % 2)]))
        var faults = FaultSchedule()
        faults.dropProbability = [0, 0.02, 0.05, 0.1][Int(seed / 12 % 4)]
        faults.duplicateProbability = seed % 2 == 0 ? 0.05 : 0
        faults.reorderProbability = seed % 5 < 2 ? 0.1 : 0
        var random = SeededGenerator(seed: seed ^ 0xc0_ffee)
        faults.events = events(until: .seconds(2), count: 1 + Int(seed % 4), partitions: partitions, random: &random)
        options.faults = faults
        return options
    }

    /// Random faults within `[0, until)`, then heal and restart everyone at `until`. Crashes pick
    /// any up node (the simulator keeps at most a minority down); partitions cut off a minority or
    /// one random node. (Atomic commit has no leader, so leader-targeted faults would be no-ops.)
    static func events(until: Duration, count: Int, partitions: Bool, random: inout SeededGenerator) -> [TimedFault] {
        var events: [TimedFault] = []
        let span = UInt64(until.nanoseconds)
        for _ in 0..<count {
            let start = Duration(nanoseconds: Int64(random.next() % span))
            let length = Duration(nanoseconds: Int64(random.next() % (span / 4)))
            let end = min(start + length, until)
            switch partitions ? random.next() % 3 : 0 {
            case 0:
                events.append(TimedFault(at: start, .crash(.random)))
                events.append(TimedFault(at: end, .restart(.random)))
            case 1:
                events.append(TimedFault(at: start, .partition(.minority)))
                events.append(TimedFault(at: end, .heal))
            default:
                events.append(TimedFault(at: start, .partition(.isolate(.random))))
                events.append(TimedFault(at: end, .heal))
            }
        }
        events.append(TimedFault(at: until, .heal))
        events.append(TimedFault(at: until, .restartAll))
        return events.sorted { $0.at < $1.at }
    }

    /// Every node's inspection: from the replica if it is up, else rebuilt from its disk.
    static func inspections<R: Replica>(_ simulator: Simulator<R>) -> [[UInt8]?] {
        simulator.memberIDs.map { id in
            simulator.replica(id)?.inspection() ?? AtomicCommit.inspection(recovering: simulator.durableState(id), node: id)
        }
    }

    /// The largest value of a metric over the nodes that are up.
    static func maxMetric<R: Replica>(_ name: String, _ simulator: Simulator<R>) -> Double {
        simulator.memberIDs.compactMap { simulator.replica($0)?.metrics[name] }.max() ?? 0
    }

    static func isCommittedTransfer(_ operation: ClientOperation) -> Bool {
        operation.kind == .transaction && operation.written == 0 && operation.status == .ok
    }

    /// Checks one finished run; returns the problems found (empty: safe, live and settled).
    static func problems<R: Replica>(_ result: SimulationResult, _ simulator: Simulator<R>, audit: AtomicCommit.Audit,
                                     requireLiveness: Bool = true) -> [String] {
        var problems = result.violations
        if !audit.isClean { problems += audit.violations }
        if audit.bankDrift == nil { problems.append("bank total unknown: \(audit.missingNodes) nodes missing") }
        guard requireLiveness else { return problems }
        let recovered = result.history.operations.filter { isCommittedTransfer($0) && $0.complete >= healedAt }.map(\.complete).min()
        if let recovered {
            if recovered - healedAt > livenessBound { problems.append("first commit after healing took \(recovered - healedAt)") }
        } else {
            problems.append("no transaction committed after healing")
        }
        let oldest = maxMetric("in_doubt_oldest_ms", simulator)
        if oldest > settledBound.milliseconds { problems.append("a participant is still in doubt after \(oldest) ms") }
        return problems
    }

    /// Commit throughput, latency and abort rate of a fault-free run, for the record.
    static func figures(_ result: SimulationResult) -> String {
        let sorted = result.latencies.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1e3
        }
        let transfers = result.history.operations.filter { $0.kind == .transaction && $0.written == 0 }
        let committed = transfers.filter { $0.status == .ok }.count
        let aborted = transfers.filter { $0.status == .failed }.count
        let abortRate = transfers.isEmpty ? 0 : Double(aborted) / Double(committed + aborted)
        return "throughput \(Int(result.throughput)) ops/s, commits \(Int(Double(committed) / result.options.duration.seconds))/s, "
            + "p50 \(Int(percentile(0.5))) us, p99 \(Int(percentile(0.99))) us, abort rate \((abortRate * 1000).rounded() / 10)%"
    }
}

/// Seeded simulation of two-phase commit over a sharded bank: crashes of coordinators and
/// participants, loss, duplication, reordering and partitions, then healing. The audit trusts no
/// node's view of another: atomicity from each node's own recorded decisions, the bank total from
/// each shard's own applied deltas.
final class TwoPhaseCommitSimulationTests: XCTestCase {
    // About half a second of release-mode time per seed (four virtual seconds of a busy bank):
    // 200 seeds in the release-mode suite (the README's test command), 8 in a debug build.
    #if DEBUG
    static let seedCount: UInt64 = 8
    #else
    static let seedCount: UInt64 = 200
    #endif

    func run(_ options: SimulationOptions, settings: TwoPhaseCommit.Settings = .init())
        -> (SimulationResult, Simulator<TwoPhaseCommit.Instance>, AtomicCommit.Audit) {
        let simulator = Simulator<TwoPhaseCommit.Instance>(options: options, settings: settings)
        let result = simulator.run()
        return (result, simulator, TwoPhaseCommit.atomicityViolations(CommitSimulation.inspections(simulator)))
    }

    /// 2PC never violates atomicity and never changes the bank's total, whatever crashes and
    /// partitions do; after healing, blocked participants resolve and new transactions commit.
    func testSeededFaultsStayAtomicAndLive() {
        var committed = 0
        var blockedMax = 0.0
        for seed in UInt64(1)...Self.seedCount {
            let options = CommitSimulation.scenario(seed: seed, partitions: true)
            let (result, simulator, audit) = run(options)
            committed += audit.committed
            blockedMax = max(blockedMax, CommitSimulation.maxMetric("blocked_max_ms", simulator))
            let problems = CommitSimulation.problems(result, simulator, audit: audit)
            XCTAssertEqual(problems, [], "\(audit)\nreplay with: \(options)")
            if !problems.isEmpty { break }
        }
        print("2pc: \(Self.seedCount) seeds, \(committed) transactions committed, longest blocked participant \(Int(blockedMax)) ms")
        XCTAssertGreaterThan(committed, Int(Self.seedCount) * 200)
    }

    func testSameSeedSameTrace() {
        let options = CommitSimulation.scenario(seed: 42, partitions: true)
        let (a, _, auditA) = run(options)
        let (b, _, auditB) = run(options)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertEqual(a.history, b.history)
        XCTAssertEqual(auditA, auditB)
        var other = options
        other.seed = 43
        XCTAssertNotEqual(a.traceHash, run(other).0.traceHash)
    }

    /// The known weakness, measured: the coordinator crashes for one second in the middle of a
    /// busy run; participants that voted YES on its transactions hold their locks, blocked, until
    /// it restarts and answers — about the length of the crash.
    func testCoordinatorCrashBlocksParticipantsForTheCrashDuration() {
        for seed in UInt64(1)...3 {
            let options = Self.coordinatorCrash(seed: seed)
            let (result, simulator, audit) = run(options)
            let problems = CommitSimulation.problems(result, simulator, audit: audit, requireLiveness: false)
            XCTAssertEqual(problems, [], "replay with: \(options)")
            // Node 1 was the one down; its peers were blocked on it.
            let blocked = [NodeID(2), NodeID(3)].compactMap { simulator.replica($0)?.metrics["blocked_max_ms"] }.max() ?? 0
            print("2pc coordinator crash of 1 s, seed \(seed): participants blocked up to \(Int(blocked)) ms")
            XCTAssertGreaterThan(blocked, 900, "participants should block until the coordinator restarts\nreplay with: \(options)")
            XCTAssertLessThan(blocked, 1_200, "blocked longer than the crash plus one inquiry\nreplay with: \(options)")
        }
    }

    /// Node 1 crashes at 1 s and restarts at 2 s; a busy 3-node bank with 2-account transfers.
    ///
    /// The claim needs the crash to catch node 1 between collecting YES votes and delivering its
    /// decisions. With few clients and a fast network that window (one log sync and a hop, out
    /// of a millisecond) is empty at the instant of the crash in some seeds, and the participants
    /// then only wait out other coordinators' vote timeouts (about 55 ms): the test measured luck.
    /// So: 24 clients (about 8 send to node 1), 1,000 accounts (few conflicts, so few early
    /// aborts) and half a millisecond of extra one-way delay, which keeps every remote YES voter
    /// waiting for the decision for most of a transaction's life.
    static func coordinatorCrash(seed: UInt64) -> SimulationOptions {
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = 3
        options.duration = .seconds(3)
        options.warmup = .zero
        options.clients.clients = 24
        options.clients.workload = WorkloadSpec(keys: 1_000, distribution: .uniform, readRatio: 0, valueSize: 8,
                                                kind: .bank(accountsPerTransaction: 2))
        options.faults.extraDelay = .microseconds(500)
        options.faults.events = [TimedFault(at: .seconds(1), .crash(.node(1))), TimedFault(at: .seconds(2), .restart(.node(1)))]
        return options
    }

    /// Proof that the audit can fail: participants that commit on their own after a timeout
    /// break atomicity somewhere in these seeds, and the audit says so.
    func testUnilateralCommitIsCaught() {
        var settings = TwoPhaseCommit.Settings()
        settings.unsafeCommitOnTimeout = true
        var caught = 0
        var unilateral = 0.0
        for seed in UInt64(1)...20 {
            var options = CommitSimulation.scenario(seed: seed, partitions: true)
            options.faults.dropProbability = 0.1
            let (result, simulator, audit) = run(options, settings: settings)
            unilateral += simulator.memberIDs.compactMap { simulator.replica($0)?.metrics["unilateral_commits"] }.reduce(0, +)
            if !CommitSimulation.problems(result, simulator, audit: audit, requireLiveness: false).isEmpty { caught += 1 }
        }
        XCTAssertGreaterThan(unilateral, 0, "the broken variant never took its shortcut")
        XCTAssertGreaterThan(caught, 0, "unilateral commits went unnoticed in 20 seeds")
    }

    /// Commit throughput, latency and abort rate without faults (virtual time), with many accounts
    /// and with few (contention: no-wait locking turns conflicts into aborts).
    func testFiguresWithoutFaults() {
        for keys in [1_000, 8] {
            var options = SimulationOptions()
            options.seed = 7
            options.nodes = 3
            options.duration = .seconds(2)
            options.warmup = .milliseconds(200)
            options.clients.clients = 16
            options.clients.workload = WorkloadSpec(keys: keys, distribution: .uniform, readRatio: 0, valueSize: 8,
                                                    kind: .bank(accountsPerTransaction: 2))
            let (result, simulator, audit) = run(options)
            XCTAssertEqual(CommitSimulation.problems(result, simulator, audit: audit, requireLiveness: false), [])
            XCTAssertGreaterThan(result.opsOK, 1_000)
            print("2pc figures, 3 nodes, 16 clients, \(keys) accounts: \(CommitSimulation.figures(result))")
        }
    }
}
