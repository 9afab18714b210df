import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// Seeded simulation of Paxos, in both settings, under faults, checked by an oracle that does not
/// trust the protocol: a safety phase (crashes and restarts of a minority, partitions of a minority
/// or of the leader, loss, duplication, reordering), then a liveness phase (everything healed and
/// restarted at 2 s) in which operations must complete again and every node must catch up.
final class MultiPaxosSimulationTests: XCTestCase {
    typealias Paxos = MultiPaxos.Instance

    /// One scenario per seed: cluster size, loss and fault mix all derive from the seed.
    static func scenario(seed: UInt64, mode: MultiPaxos.Mode) -> SimulationOptions {
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
        var events = FaultSchedule.random(nodes: options.nodes, until: .seconds(2), faultCount: 1 + Int(seed % 4),
                                          random: &random)
        if mode == .basic {
            // Basic Paxos has no leader: faults aimed at "the leader" hit a random node instead.
            events = events.map { fault in
                switch fault.action {
                case .crash(.leader): TimedFault(at: fault.at, .crash(.random))
                case .partition(.isolate(.leader)): TimedFault(at: fault.at, .partition(.isolate(.random)))
                default: fault
                }
            }
        }
        faults.events = events
        options.faults = faults
        return options
    }

    static func settings(_ mode: MultiPaxos.Mode) -> MultiPaxos.Settings {
        var settings = MultiPaxos.Settings()
        settings.mode = mode
        return settings
    }

    static let healedAt = Instant.zero + .seconds(2)
    /// After healing, operations must complete again within this virtual time.
    static let livenessBound = Duration.seconds(2)
    /// At the end every node must have learned all but the slots chosen in about the last this
    /// much of the run (the run stops as soon as the clients are done, so learners may trail a little).
    static let catchUpWindow = Duration.milliseconds(200)

    struct Outcome {
        var result: SimulationResult
        var verdict: LinearizabilityVerdict
        /// Each node's commit index at the end (nil: down).
        var commits: [LogIndex?]
    }

    func run(_ options: SimulationOptions, settings: MultiPaxos.Settings) -> Outcome {
        let simulator = Simulator<Paxos>(options: options, settings: settings)
        LogOracle<Paxos>().install(on: simulator)
        let result = simulator.run()
        let commits = simulator.memberIDs.map { simulator.replica($0)?.status.commitIndex }
        return Outcome(result: result, verdict: Linearizability.check(result.history), commits: commits)
    }

    /// Runs `seeds` and fails on any violation, non-linearizable history, slow recovery or node left behind.
    func checkSeeds(_ seeds: ClosedRange<UInt64>, mode: MultiPaxos.Mode, file: StaticString = #filePath, line: UInt = #line) -> Int {
        var totalOK = 0
        for seed in seeds {
            let options = Self.scenario(seed: seed, mode: mode)
            let outcome = run(options, settings: Self.settings(mode))
            let result = outcome.result
            totalOK += result.opsOK
            // A failure prints its seed and options first, so it can be replayed.
            let replay = "replay with: mode=\(mode) \(options)"
            XCTAssertEqual(result.violations, [], replay, file: file, line: line)
            if case let .violation(counterexample) = outcome.verdict {
                XCTFail("not linearizable: \(counterexample.explanation)\n\(replay)", file: file, line: line)
            }
            if case let .undecided(reason) = outcome.verdict {
                XCTFail("checker undecided (\(reason))\n\(replay)", file: file, line: line)
            }
            let recovered = result.firstCompletion(after: Self.healedAt)
            XCTAssertNotNil(recovered, "no operation completed after healing\n\(replay)", file: file, line: line)
            if let recovered {
                XCTAssertLessThanOrEqual(recovered - Self.healedAt, Self.livenessBound, "slow recovery\n\(replay)",
                                         file: file, line: line)
            }
            let highest = outcome.commits.compactMap { $0?.rawValue }.max() ?? 0
            let slotsPerSecond = Double(result.opsOK) / options.duration.seconds
            let slack = UInt64(slotsPerSecond * Self.catchUpWindow.seconds) + 16
            for (i, commit) in outcome.commits.enumerated() {
                XCTAssertNotNil(commit, "node \(i + 1) down at the end\n\(replay)", file: file, line: line)
                if let commit {
                    XCTAssertGreaterThanOrEqual(commit.rawValue + slack, highest,
                                                "node \(i + 1) left behind at \(commit) of \(highest)\n\(replay)",
                                                file: file, line: line)
                }
            }
            if !result.violations.isEmpty || !outcome.verdict.isLinearizable { break }
        }
        return totalOK
    }

    /// 200 seeds of Multi-Paxos in the release-mode suite; a debug build, many times slower, runs 20.
    #if DEBUG
    static let multiSeedCount: UInt64 = 20
    static let basicSeedCount: UInt64 = 6
    #else
    static let multiSeedCount: UInt64 = 200
    static let basicSeedCount: UInt64 = 40
    #endif

    func testMultiPaxosSeedsStaySafeAndLive() {
        let totalOK = checkSeeds(1...Self.multiSeedCount, mode: .multi)
        XCTAssertGreaterThan(totalOK, Int(Self.multiSeedCount) * 100)
    }

    func testBasicPaxosSeedsStaySafeAndLive() {
        // Other seeds than the multi-mode test, so the two cover different schedules.
        let first: UInt64 = 1_001
        let totalOK = checkSeeds(first...(first + Self.basicSeedCount - 1), mode: .basic)
        XCTAssertGreaterThan(totalOK, Int(Self.basicSeedCount) * 50)
    }

    func testSameSeedSameTrace() {
        for mode in MultiPaxos.Mode.allCases {
            let options = Self.scenario(seed: 42, mode: mode)
            let a = run(options, settings: Self.settings(mode)).result
            let b = run(options, settings: Self.settings(mode)).result
            XCTAssertEqual(a.traceHash, b.traceHash, "\(mode)")
            XCTAssertEqual(a.history, b.history, "\(mode)")
            XCTAssertEqual(a.events, b.events, "\(mode)")
            var other = options
            other.seed = 43
            let c = run(other, settings: Self.settings(mode)).result
            XCTAssertNotEqual(a.traceHash, c.traceHash, "\(mode)")
        }
    }

    /// Proof that the checks can fail: a leader that ignores the values its peers report in their
    /// promises overwrites values already chosen, and the oracle, a node's own invariants or the
    /// linearizability checker says so.
    func testLeaderSkippingRecoveryIsCaught() {
        var settings = Self.settings(.multi)
        settings.unsafeSkipRecovery = true
        var caught = 0
        for seed in UInt64(1)...30 {
            var options = Self.scenario(seed: seed, mode: .multi)
            options.faults.dropProbability = 0.2
            let outcome = run(options, settings: settings)
            if !outcome.result.violations.isEmpty || !outcome.verdict.isLinearizable { caught += 1; break }
        }
        XCTAssertGreaterThan(caught, 0, "a Multi-Paxos leader that skips recovery went unnoticed in 30 seeds")
    }

    /// The same broken rule in basic mode: a proposer that ignores accepted values from phase 1.
    func testBasicProposerSkippingRecoveryIsCaught() {
        var settings = Self.settings(.basic)
        settings.unsafeSkipRecovery = true
        var caught = 0
        for seed in UInt64(1)...20 {
            let options = Self.scenario(seed: seed, mode: .basic)
            let outcome = run(options, settings: settings)
            if !outcome.result.violations.isEmpty || !outcome.verdict.isLinearizable { caught += 1; break }
        }
        XCTAssertGreaterThan(caught, 0, "a basic Paxos proposer that skips recovery went unnoticed in 20 seeds")
    }

    /// A scenario in prose: five nodes; the leader is cut off at 1 s; the majority elects a new
    /// leader and keeps serving; at 2 s the partition heals and the old leader follows the new one.
    func testIsolatedLeaderIsReplaced() {
        var options = SimulationOptions()
        options.seed = 7
        options.nodes = 5
        options.duration = .seconds(3)
        options.warmup = .zero
        options.clients.clients = 4
        options.clients.workload = WorkloadSpec(keys: 5, distribution: .uniform, readRatio: 0.5, valueSize: 16)
        options.faults.events = [TimedFault(at: .seconds(1), .partition(.isolate(.leader))), TimedFault(at: .seconds(2), .heal)]
        let outcome = run(options, settings: Self.settings(.multi))
        let result = outcome.result
        XCTAssertEqual(result.violations, [])
        XCTAssertTrue(outcome.verdict.isLinearizable)
        XCTAssertGreaterThanOrEqual(result.leaderElections, 2, "the majority never elected a new leader")
        let leaders = Set(result.leaderTimeline.compactMap(\.leader))
        XCTAssertGreaterThanOrEqual(leaders.count, 2)
        // Operations completed while the old leader was cut off.
        let during = result.history.operations.filter {
            $0.status == .ok && $0.complete > .zero + .milliseconds(1_700) && $0.complete < .zero + .seconds(2)
        }
        XCTAssertFalse(during.isEmpty, "nothing completed while the old leader was isolated")
    }

    /// Virtual-time figures for the paper: Multi-Paxos against basic Paxos, 8 clients, no faults.
    /// A stable leader saves a phase 1 (a round trip and a promise write) per command and the
    /// contention between proposers, so Multi-Paxos must come out ahead at both sizes.
    func testMultiPaxosOutperformsBasicPaxosWithoutFaults() {
        for nodes in [3, 5] {
            var figures: [MultiPaxos.Mode: SimulationResult] = [:]
            for mode in MultiPaxos.Mode.allCases {
                var options = SimulationOptions()
                options.seed = 11
                options.nodes = nodes
                options.clients.clients = 8
                let outcome = run(options, settings: Self.settings(mode))
                XCTAssertEqual(outcome.result.violations, [], "\(mode) n=\(nodes)")
                XCTAssertTrue(outcome.verdict.isLinearizable, "\(mode) n=\(nodes)")
                let latencies = outcome.result.latencies.sorted()
                XCTAssertFalse(latencies.isEmpty, "\(mode) n=\(nodes)")
                guard !latencies.isEmpty else { continue }
                let p50 = Double(latencies[latencies.count / 2]) / 1_000
                let p99 = Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1_000
                print("paxos mode=\(mode) nodes=\(nodes) clients=8 throughput=\(Int(outcome.result.throughput)) ops/s "
                      + "p50=\(Int(p50)) us p99=\(Int(p99)) us (virtual time)")
                figures[mode] = outcome.result
            }
            if let multi = figures[.multi], let basic = figures[.basic] {
                XCTAssertGreaterThan(multi.throughput, basic.throughput, "n=\(nodes)")
            }
        }
    }
}
