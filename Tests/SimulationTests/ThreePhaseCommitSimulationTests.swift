import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// Seeded simulation of three-phase commit, showing both sides of its trade-off: without
/// partitions (crashes of coordinators and participants, loss, duplication, reordering) it stays
/// atomic and does not block on a coordinator crash; with partitions its timeouts mistake a cut
/// link for a crash and some transactions commit on one side and abort on the other. Those
/// violations are counted and reported, not hidden. Scenarios and the audit are shared with
/// `TwoPhaseCommitSimulationTests` (`CommitSimulation`).
final class ThreePhaseCommitSimulationTests: XCTestCase {
    // About half a second of release-mode time per seed, as in 2PC's suite.
    #if DEBUG
    static let seedCount: UInt64 = 8
    static let partitionSeedCount: UInt64 = 8
    #else
    static let seedCount: UInt64 = 200
    static let partitionSeedCount: UInt64 = 30
    #endif

    func run(_ options: SimulationOptions, settings: ThreePhaseCommit.Settings = .init())
        -> (SimulationResult, Simulator<ThreePhaseCommit.Instance>, AtomicCommit.Audit) {
        let simulator = Simulator<ThreePhaseCommit.Instance>(options: options, settings: settings)
        let result = simulator.run()
        return (result, simulator, ThreePhaseCommit.atomicityViolations(CommitSimulation.inspections(simulator)))
    }

    /// Crashes and message loss only: 3PC never violates atomicity, never changes the bank's
    /// total, and after healing everything resolves and new transactions commit.
    func testSeedsWithoutPartitionsStayAtomicAndLive() {
        var committed = 0
        var terminations = 0.0
        for seed in UInt64(1)...Self.seedCount {
            let options = CommitSimulation.scenario(seed: seed, partitions: false)
            let (result, simulator, audit) = run(options)
            committed += audit.committed
            terminations += simulator.memberIDs.compactMap { simulator.replica($0)?.metrics["terminations_started"] }.reduce(0, +)
            let problems = CommitSimulation.problems(result, simulator, audit: audit)
            XCTAssertEqual(problems, [], "\(audit)\nreplay with: \(options)")
            if !problems.isEmpty { break }
        }
        print("3pc without partitions: \(Self.seedCount) seeds, \(committed) transactions committed, \(Int(terminations)) termination rounds")
        XCTAssertGreaterThan(committed, Int(Self.seedCount) * 200)
        // The termination protocol must have been exercised, or this test proves little.
        XCTAssertGreaterThan(terminations, 0)
    }

    /// The other side of the trade-off: with partitions, each side can take the other for
    /// crashed and decide on its own. The audit counts the transactions decided both ways; some
    /// seeds must show them (a checker that never sees one would be suspect), and every other
    /// property of the run (invariants, no commit without every YES, liveness after the heal)
    /// still holds.
    func testPartitionsCanSplitDecisionsAndTheAuditCountsThem() {
        var violatingSeeds = 0
        var violations = 0
        var transactions = 0
        for seed in UInt64(1)...Self.partitionSeedCount {
            let options = CommitSimulation.scenario(seed: seed, partitions: true)
            let (result, _, audit) = run(options)
            transactions += audit.transactions
            if audit.atomicityViolations > 0 {
                violatingSeeds += 1
                violations += audit.atomicityViolations
                // A split decision moves money on one side only: the bank's total shows it too.
                XCTAssertNotNil(audit.bankDrift)
            }
            XCTAssertEqual(result.violations, [], "replay with: \(options)")
            XCTAssertEqual(audit.negativeBalances + audit.inconsistentShards, 0, "\(audit)\nreplay with: \(options)")
        }
        print("3pc with partitions: \(violatingSeeds) of \(Self.partitionSeedCount) seeds split a decision; "
              + "\(violations) atomicity violations in \(transactions) transactions")
        XCTAssertGreaterThan(violatingSeeds, 0, "no partition split a 3PC decision: the scenario or the audit is toothless")
    }

    func testSameSeedSameTrace() {
        let options = CommitSimulation.scenario(seed: 42, partitions: true)
        let (a, _, auditA) = run(options)
        let (b, _, auditB) = run(options)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertEqual(a.history, b.history)
        XCTAssertEqual(auditA, auditB)
    }

    /// The same one-second coordinator crash that blocks 2PC's participants for about a second:
    /// 3PC's participants elect a backup among themselves and finish without the coordinator.
    func testCoordinatorCrashDoesNotBlockParticipants() {
        for seed in UInt64(1)...3 {
            let options = TwoPhaseCommitSimulationTests.coordinatorCrash(seed: seed)
            let (result, simulator, audit) = run(options)
            let problems = CommitSimulation.problems(result, simulator, audit: audit, requireLiveness: false)
            XCTAssertEqual(problems, [], "replay with: \(options)")
            let blocked = [NodeID(2), NodeID(3)].compactMap { simulator.replica($0)?.metrics["blocked_max_ms"] }.max() ?? 0
            let terminated = [NodeID(2), NodeID(3)].compactMap { simulator.replica($0)?.metrics["terminations_started"] }.reduce(0, +)

            let twoPhase = Simulator<TwoPhaseCommit.Instance>(options: options, settings: .init())
            _ = twoPhase.run()
            let blocked2PC = [NodeID(2), NodeID(3)].compactMap { twoPhase.replica($0)?.metrics["blocked_max_ms"] }.max() ?? 0
            print("coordinator crash of 1 s, seed \(seed): 3pc participants blocked up to \(Int(blocked)) ms "
                  + "(\(Int(terminated)) termination rounds), 2pc participants up to \(Int(blocked2PC)) ms")
            XCTAssertGreaterThan(terminated, 0, "nobody ran the termination protocol\nreplay with: \(options)")
            XCTAssertLessThan(blocked, 500, "3pc participants waited for the coordinator\nreplay with: \(options)")
            XCTAssertGreaterThan(blocked2PC, 2 * blocked, "the comparison shows nothing\nreplay with: \(options)")
        }
    }

    /// Proof that the audit can fail without partitions: a termination protocol that aborts
    /// although some participant is pre-committed contradicts coordinators that committed.
    ///
    /// That needs a coordinator that logged COMMIT and went down before every participant heard
    /// it; random crashes of a lightly loaded cluster almost never land there. The busy
    /// coordinator-crash scenario with 10% loss does: among node 1's many transactions at the
    /// moment it crashes, some had their decision dropped and not yet resent. Their participants
    /// are pre-committed (every pre-commit was acknowledged before node 1 decided), terminate
    /// without it, and — broken — abort. The correct protocol commits them (TR4), and stays
    /// clean in the same runs.
    func testAbortingPrecommittedTransactionsIsCaught() {
        var broken = ThreePhaseCommit.Settings()
        broken.unsafeAbortPrecommitted = true
        var caught = 0
        for seed in UInt64(1)...3 {
            var options = TwoPhaseCommitSimulationTests.coordinatorCrash(seed: seed)
            options.faults.dropProbability = 0.1
            let (result, simulator, audit) = run(options, settings: broken)
            if !CommitSimulation.problems(result, simulator, audit: audit, requireLiveness: false).isEmpty { caught += 1 }
            let (safeResult, safeSimulator, safeAudit) = run(options)
            XCTAssertEqual(CommitSimulation.problems(safeResult, safeSimulator, audit: safeAudit, requireLiveness: false), [],
                           "the correct protocol fails the same scenario\nreplay with: \(options)")
        }
        XCTAssertGreaterThan(caught, 0, "a termination that ignores pre-commits went unnoticed in 3 seeds")
    }

    /// Commit throughput, latency and abort rate without faults (virtual time): one more round
    /// and one more log write than 2PC per transaction.
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
            print("3pc figures, 3 nodes, 16 clients, \(keys) accounts: \(CommitSimulation.figures(result))")
        }
    }
}
