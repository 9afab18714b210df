import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// Seeded simulation of Raft under faults, checked by an oracle that does not trust the protocol:
/// a safety phase (crashes, partitions, loss, duplication, reordering), then a liveness phase
/// (everything healed and restarted) in which operations must complete again.
final class RaftSimulationTests: XCTestCase {
    /// One scenario per seed: cluster size, loss and fault mix all derive from the seed.
    static func scenario(seed: UInt64) -> SimulationOptions {
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = [3, 5, 7][Int(seed % 3)]
        options.duration = .seconds(4)
        options.warmup = .zero
        options.clients.clients = 4
        // Few keys, so operations on one key overlap and the linearizability check has teeth.
        options.clients.workload = WorkloadSpec(keys: 5, distribution: .uniform, readRatio: 0.5, valueSize: 16)
        var faults = FaultSchedule()
        faults.dropProbability = [0, 0.05, 0.1, 0.2][Int(seed / 3 % 4)]
        faults.duplicateProbability = seed % 2 == 0 ? 0.05 : 0
        faults.reorderProbability = seed % 5 < 2 ? 0.1 : 0
        var random = SeededGenerator(seed: seed ^ 0x5eed)
        faults.events = FaultSchedule.random(nodes: options.nodes, until: .seconds(2),
                                             faultCount: 1 + Int(seed % 4), random: &random)
        options.faults = faults
        return options
    }

    static let healedAt = Instant.zero + .seconds(2)
    /// After healing, operations must complete again within this virtual time.
    static let livenessBound = Duration.seconds(2)

    func run(_ options: SimulationOptions, settings: Raft.Settings = .init()) -> (SimulationResult, LinearizabilityVerdict) {
        let simulator = Simulator<Raft.Instance>(options: options, settings: settings)
        LogOracle<Raft.Instance>().install(on: simulator)
        let result = simulator.run()
        return (result, Linearizability.check(result.history))
    }

    /// 300 seeds in the release-mode suite (the README's test command); a debug build, many times
    /// slower, runs the first 30.
    #if DEBUG
    static let seedCount: UInt64 = 30
    #else
    static let seedCount: UInt64 = 300
    #endif

    func testThreeHundredSeedsStaySafeAndLive() {
        var totalOK = 0
        for seed in UInt64(1)...Self.seedCount {
            let options = Self.scenario(seed: seed)
            let (result, verdict) = run(options)
            totalOK += result.opsOK
            // A failure prints its seed and options first, so it can be replayed.
            let replay = "replay with: \(options)"
            XCTAssertEqual(result.violations, [], replay)
            if case let .violation(counterexample) = verdict {
                XCTFail("not linearizable: \(counterexample.explanation)\n\(replay)")
            }
            if case let .undecided(reason) = verdict { XCTFail("checker undecided (\(reason))\n\(replay)") }
            let recovered = result.firstCompletion(after: Self.healedAt)
            XCTAssertNotNil(recovered, "no operation completed after healing\n\(replay)")
            if let recovered {
                XCTAssertLessThanOrEqual(recovered - Self.healedAt, Self.livenessBound, "slow recovery\n\(replay)")
            }
            if !result.violations.isEmpty { break }
        }
        XCTAssertGreaterThan(totalOK, Int(Self.seedCount) * 100)
    }

    func testSameSeedSameTrace() {
        let options = Self.scenario(seed: 42)
        let (a, _) = run(options)
        let (b, _) = run(options)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertEqual(a.history, b.history)
        XCTAssertEqual(a.events, b.events)
        var other = options
        other.seed = 43
        let (c, _) = run(other)
        XCTAssertNotEqual(a.traceHash, c.traceHash)
    }

    /// Proof that the checks can fail: a Raft that lets a node vote twice in a term elects two
    /// leaders somewhere in these seeds, and the oracle or the checker says so.
    func testDoubleVotingRaftIsCaught() {
        var settings = Raft.Settings()
        settings.unsafeVoteTwice = true
        settings.preVote = false
        var caught = 0
        for seed in UInt64(1)...30 {
            var options = Self.scenario(seed: seed)
            options.faults.dropProbability = 0.2
            let (result, verdict) = run(options, settings: settings)
            if !result.violations.isEmpty { caught += 1; continue }
            if case .violation = verdict { caught += 1 }
        }
        XCTAssertGreaterThan(caught, 0, "a double-voting Raft went unnoticed in 30 seeds")
    }
}
