import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// Seeded simulation of ZAB under faults, checked by an oracle that does not trust the protocol:
/// a safety phase (crashes and restarts of a minority, partitions of a minority or of the leader,
/// loss, duplication, reordering), then a liveness phase (everything healed and restarted) in which
/// operations must complete again. Leader reads must be linearizable; follower reads (ZooKeeper's
/// default) may be stale, and the stale-read rate is measured and reported instead.
final class ZABSimulationTests: XCTestCase {
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
        var random = SeededGenerator(seed: seed ^ 0x2ab_5eed)
        faults.events = FaultSchedule.random(nodes: options.nodes, until: .seconds(2),
                                             faultCount: 1 + Int(seed % 4), random: &random)
        options.faults = faults
        return options
    }

    static let healedAt = Instant.zero + .seconds(2)
    /// After healing, operations must complete again within this virtual time.
    static let livenessBound = Duration.seconds(2)

    static func settings(readMode: ZAB.ReadMode = .leader) -> ZAB.Settings {
        var settings = ZAB.Settings()
        settings.readMode = readMode
        return settings
    }

    func run(_ options: SimulationOptions, settings: ZAB.Settings = settings()) -> SimulationResult {
        let simulator = Simulator<ZAB.Instance>(options: options, settings: settings)
        LogOracle<ZAB.Instance>().install(on: simulator)
        return simulator.run()
    }

    /// Safety and liveness of one run; returns the failure messages (empty when it passed).
    func problems(of result: SimulationResult, replay: String) -> [String] {
        var problems = result.violations.map { "violation: \($0)" }
        let recovered = result.firstCompletion(after: Self.healedAt)
        if let recovered {
            if recovered - Self.healedAt > Self.livenessBound { problems.append("slow recovery: \(recovered - Self.healedAt)") }
        } else {
            problems.append("no operation completed after healing")
        }
        return problems.map { "\($0)\n\(replay)" }
    }

    /// 200 seeds in the release-mode suite; a debug build, many times slower, runs the first 12.
    #if DEBUG
    static let seedCount: UInt64 = 12
    static let followerSeedCount: UInt64 = 4
    #else
    static let seedCount: UInt64 = 200
    static let followerSeedCount: UInt64 = 20
    #endif

    /// Leader reads (the default): zero oracle violations, every history linearizable, progress
    /// within the bound after healing.
    func testSeededFaultScenariosStaySafeLinearizableAndLive() {
        var totalOK = 0
        var failedSeeds = 0
        for seed in UInt64(1)...Self.seedCount {
            let options = Self.scenario(seed: seed)
            let result = run(options)
            totalOK += result.opsOK
            // A failure prints its seed and options first, so it can be replayed.
            let replay = "replay with: \(options)"
            var failures = problems(of: result, replay: replay)
            switch Linearizability.check(result.history) {
            case .linearizable: break
            case let .violation(counterexample): failures.append("not linearizable: \(counterexample.explanation)\n\(replay)")
            case let .undecided(reason): failures.append("checker undecided (\(reason))\n\(replay)")
            }
            for failure in failures { XCTFail(failure) }
            if !failures.isEmpty { failedSeeds += 1 }
            if failedSeeds >= 3 { break }
        }
        XCTAssertGreaterThan(totalOK, Int(Self.seedCount) * 100)
    }

    /// Follower reads (ZooKeeper's default): the history stays safe and the system live; reads
    /// may be stale, so instead of a linearizability verdict the stale-read rate is measured and
    /// reported. No read may return a value nobody wrote.
    func testFollowerReadsKeepTheHistorySafeAndReportStaleness() {
        var reads = 0
        var stale = 0
        var notLinearizable = 0
        for seed in UInt64(1)...Self.followerSeedCount {
            let options = Self.scenario(seed: seed)
            let result = run(options, settings: Self.settings(readMode: .follower))
            let replay = "replay with (read-mode=follower): \(options)"
            for failure in problems(of: result, replay: replay) { XCTFail(failure) }
            let report = Staleness.measure(result.history)
            XCTAssertEqual(report.phantomReadCount, 0, "a read returned a value nobody wrote\n\(replay)")
            reads += report.readCount
            stale += report.staleReadCount
            if !Linearizability.check(result.history).isLinearizable { notLinearizable += 1 }
        }
        let rate = reads == 0 ? 0 : Double(stale) / Double(reads)
        print("ZAB follower reads over \(Self.followerSeedCount) faulty seeds: \(reads) reads, \(stale) stale "
              + "(rate \(rate)), \(notLinearizable) runs not linearizable")
        XCTAssertGreaterThan(reads, Int(Self.followerSeedCount) * 50)
    }

    func testSameSeedSameTrace() {
        let options = Self.scenario(seed: 42)
        let a = run(options)
        let b = run(options)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertEqual(a.history, b.history)
        XCTAssertEqual(a.events, b.events)
        var other = options
        other.seed = 43
        XCTAssertNotEqual(a.traceHash, run(other).traceHash)
    }

    /// The first of `seeds` whose run with `settings` the oracle, the invariants or the checker
    /// flag (nil: none). Stops there: checking a broken history is the slow part.
    func firstCaught(_ settings: ZAB.Settings, seeds: ClosedRange<UInt64>, drop: Double) -> UInt64? {
        for seed in seeds {
            var options = Self.scenario(seed: seed)
            options.faults.dropProbability = drop
            let result = run(options, settings: settings)
            if !result.violations.isEmpty || !Linearizability.check(result.history).isLinearizable { return seed }
        }
        return nil
    }

    /// Proof that the checks can fail: a leader that broadcasts without synchronizing its
    /// followers (no TRUNC, no wait for a quorum to hold its initial history) lets followers keep
    /// proposals the new leader never had and commit them.
    func testSkipSyncIsCaught() {
        var settings = ZAB.Settings()
        settings.unsafeSkipSync = true
        let seed = firstCaught(settings, seeds: 1...30, drop: 0.2)
        print("ZAB unsafe-skip-sync first caught at seed \(seed.map(String.init) ?? "none")")
        XCTAssertNotNil(seed, "a ZAB that skips synchronization went unnoticed in 30 seeds")
    }

    /// Proof that the checks can fail: a leader that commits on its own disk alone loses writes
    /// when it is cut off and a new leader takes over.
    func testCommitWithoutQuorumIsCaught() {
        var settings = ZAB.Settings()
        settings.unsafeCommitWithoutQuorum = true
        let seed = firstCaught(settings, seeds: 1...30, drop: 0.1)
        print("ZAB unsafe-commit-without-quorum first caught at seed \(seed.map(String.init) ?? "none")")
        XCTAssertNotNil(seed, "a ZAB that commits without a quorum went unnoticed in 30 seeds")
    }

    /// Simulated throughput and latency (virtual time) without faults, at 3 and 5 nodes with 8
    /// clients, in both read modes; printed for the report, with a floor that catches a
    /// protocol that stalls.
    func testReportThroughputAndLatency() {
        for nodes in [3, 5] {
            for mode in ZAB.ReadMode.allCases {
                var options = SimulationOptions()
                options.seed = 7
                options.nodes = nodes
                options.clients.clients = 8
                options.duration = .seconds(2)
                options.warmup = .milliseconds(500)
                let result = run(options, settings: Self.settings(readMode: mode))
                XCTAssertEqual(result.violations, [], "\(options)")
                let latencies = result.latencies.sorted()
                let p50 = latencies.isEmpty ? 0 : Double(latencies[(latencies.count - 1) / 2]) / 1e3
                let p99 = latencies.isEmpty ? 0 : Double(latencies[(latencies.count - 1) * 99 / 100]) / 1e3
                let staleness = Staleness.measure(result.history)
                print("ZAB sim nodes=\(nodes) clients=8 read-mode=\(mode.rawValue): \(Int(result.throughput)) ops/s, "
                      + "p50 \(Int(p50)) us, p99 \(Int(p99)) us, stale reads \(staleness.staleReadCount)/\(staleness.readCount)")
                XCTAssertGreaterThan(result.throughput, 1_000, "\(options)")
                if mode == .leader { XCTAssertTrue(Linearizability.check(result.history).isLinearizable, "\(options)") }
            }
        }
    }
}
