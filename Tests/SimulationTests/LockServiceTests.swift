import XCTest
import BenchCore
import Checker
import Protocols
import Simulation

/// The lock service: Raft replicates the lock table, clients acquire, renew and release locks with
/// leases, and `LockSafety` checks that no two clients ever believed they held one lock at once —
/// with every node's and client's clock off by up to `skew` and running fast or slow by `driftPPM`,
/// across leader crashes and partitions.
final class LockServiceTests: XCTestCase {
    static let skew = Duration.milliseconds(5)
    static let driftPPM = 100.0
    static let lease = Duration.milliseconds(200)
    /// What the margin must cover: two grantors' clocks may differ by 2 × skew plus what the drift
    /// adds over the run (2 × 100 ppm × 6 s = 1.2 ms), and a client's clock may run slow by 100 ppm
    /// of a lease (20 µs). 12 ms covers that with room to spare.
    static let safeMargin = Duration.milliseconds(12)

    static func scenario(seed: UInt64, lease: Duration = lease, margin: Duration = safeMargin,
                         skew: Duration = skew, driftPPM: Double = driftPPM) -> SimulationOptions {
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = [3, 5][Int(seed % 2)]
        options.duration = .seconds(4)
        options.warmup = .zero
        options.clients.clients = 6
        let workload = LockWorkload(locks: 3, lease: lease, margin: margin, holdMax: lease + lease / 2,
                                    crashProbability: 0.1, cutOffProbability: 0.15)
        options.clients.workload = WorkloadSpec(keys: 3, valueSize: 8, kind: .locks(workload))
        var faults = FaultSchedule()
        faults.clockSkewMax = skew
        faults.clockDriftPPM = driftPPM
        faults.dropProbability = [0, 0.02, 0.05][Int(seed / 2 % 3)]
        faults.duplicateProbability = seed % 3 == 0 ? 0.05 : 0
        faults.reorderProbability = seed % 5 < 2 ? 0.1 : 0
        var random = SeededGenerator(seed: seed ^ 0x10c5)
        faults.events = FaultSchedule.random(nodes: options.nodes, until: .seconds(2), faultCount: 2 + Int(seed % 3),
                                             random: &random)
        options.faults = faults
        return options
    }

    static let healedAt = Instant.zero + .seconds(2)

    func run(_ options: SimulationOptions) -> (SimulationResult, LockSafety.Report) {
        let simulator = Simulator<Raft.Instance>(options: options, settings: Raft.Settings())
        LogOracle<Raft.Instance>().install(on: simulator)
        let result = simulator.run()
        return (result, LockSafety.check(result.history))
    }

    #if DEBUG
    static let seedCount: UInt64 = 12
    #else
    static let seedCount: UInt64 = 200
    #endif

    func testLeasedLocksNeverOverlapUnderBoundedDrift() {
        var beliefs = 0
        var windows: [Duration] = []
        var lapseWindows: [Duration] = []
        for seed in UInt64(1)...Self.seedCount {
            let options = Self.scenario(seed: seed)
            let (result, report) = run(options)
            let replay = "replay with: \(options) workload=\(options.clients.workload.kind)"
            XCTAssertEqual(result.violations, [], replay)
            XCTAssertEqual(report.overlapCount, 0, "\(report.summary)\n\(replay)")
            // Liveness: once everything is healed, locks are granted again.
            XCTAssertTrue(result.history.lockBeliefs.contains { $0.start > Self.healedAt + .milliseconds(500) },
                          "no lock granted after healing\n\(replay)")
            beliefs += report.beliefCount
            windows += report.unavailableAfterCrash
            lapseWindows += report.unavailableAfterLapse
            if report.overlapCount > 0 || !result.violations.isEmpty { break }
        }
        XCTAssertGreaterThan(beliefs, Int(Self.seedCount) * 20, "locks were hardly ever acquired")
        // A crashed holder's lock comes free when the grantor's lease runs out: between two thirds of
        // a lease and a lease after the crash (it renewed a third of a lease before), plus the next
        // client's retry pause.
        XCTAssertGreaterThan(windows.count, Int(Self.seedCount), "too few holder crashes to measure")
        let meanMs = windows.reduce(0.0) { $0 + $1.milliseconds } / Double(max(1, windows.count))
        let lapseMeanMs = lapseWindows.reduce(0.0) { $0 + $1.milliseconds } / Double(max(1, lapseWindows.count))
        print("lock service: \(Self.seedCount) seeds, \(beliefs) beliefs, \(windows.count) holder crashes, "
              + "unavailable after crash mean \(meanMs) ms (lease \(Self.lease)); \(lapseWindows.count) lapses, "
              + "next grant after a lapse mean \(lapseMeanMs) ms (margin \(Self.safeMargin))")
        // A holder cut off from the service stops a margin before the grantor's lease ends: the next
        // grant follows its belief's end by about the margin plus a retry pause, far below a lease.
        XCTAssertGreaterThan(lapseWindows.count, Int(Self.seedCount))
        XCTAssertLessThan(lapseMeanMs, Self.lease.milliseconds / 2)
        XCTAssertGreaterThan(meanMs, Self.lease.milliseconds / 2)
        XCTAssertLessThan(meanMs, Self.lease.milliseconds * 1.25)
    }

    /// The unavailable window follows the lease: a longer lease keeps a crashed holder's lock longer.
    func testUnavailableWindowScalesWithTheLease() {
        var means: [Double] = []
        for lease in [Duration.milliseconds(100), .milliseconds(400)] {
            var windows: [Duration] = []
            for seed in UInt64(1)...6 {
                let (_, report) = run(Self.scenario(seed: seed, lease: lease, margin: lease / 10))
                XCTAssertEqual(report.overlapCount, 0, report.summary)
                windows += report.unavailableAfterCrash
            }
            XCTAssertFalse(windows.isEmpty)
            let meanMs = windows.reduce(0.0) { $0 + $1.milliseconds } / Double(max(1, windows.count))
            print("lock service: lease \(lease): unavailable after crash mean \(meanMs) ms over \(windows.count) crashes")
            means.append(meanMs)
        }
        XCTAssertGreaterThan(means[1], means[0] * 2)
    }

    func testSameSeedSameLockHistory() {
        let options = Self.scenario(seed: 7)
        let (a, _) = run(options)
        let (b, _) = run(options)
        XCTAssertEqual(a.traceHash, b.traceHash)
        XCTAssertEqual(a.history, b.history)
        XCTAssertFalse(a.history.lockBeliefs.isEmpty)
    }

    /// Counts the seeds (of `seeds`) on which `LockSafety` finds an overlap, stopping at 3.
    func caughtSeeds(_ seeds: ClosedRange<UInt64>, _ make: (UInt64) -> SimulationOptions) -> (Int, String) {
        var caught = 0
        var example = ""
        for seed in seeds {
            let options = make(seed)
            let (_, report) = run(options)
            if report.overlapCount > 0 {
                caught += 1
                if example.isEmpty { example = "seed \(seed): \(report.overlaps[0])" }
                if caught >= 3 { break }
            }
        }
        return (caught, example)
    }

    /// Proof that the check can fail: clients that leave no margin, with clocks drifting beyond
    /// the bound (2 %, 20 ms skew), believe past the moment the grantor's lease ends and another
    /// client is granted the lock.
    func testNoMarginUnderDriftBeyondTheBoundIsCaught() {
        let (caught, example) = caughtSeeds(1...40) {
            Self.scenario(seed: $0, margin: .zero, skew: .milliseconds(20), driftPPM: 20_000)
        }
        print("lock service, margin 0 under 2 % drift: caught on \(caught) seeds; \(example)")
        XCTAssertGreaterThan(caught, 0, "clients without a margin went unnoticed under 2 % drift in 40 seeds")
    }

    /// The same safe margin stops being enough when clocks drift far beyond the bound it was sized
    /// for (10 %: 20 ms over a 200 ms lease, on each side).
    func testSafeMarginUnderDriftFarBeyondTheBoundIsCaught() {
        let (caught, example) = caughtSeeds(1...40) { Self.scenario(seed: $0, driftPPM: 100_000) }
        print("lock service, margin \(Self.safeMargin) under 10 % drift: caught on \(caught) seeds; \(example)")
        XCTAssertGreaterThan(caught, 0, "drift far beyond the margin's bound went unnoticed in 40 seeds")
    }

    /// The margin is what buys safety: with no skew and no drift, even a margin of 0 is safe,
    /// because the grantor stamps the lease later than the client sent its request.
    func testNoMarginWithoutSkewIsSafe() {
        for seed in UInt64(1)...8 {
            var options = Self.scenario(seed: seed, margin: .zero, skew: .zero)
            options.faults.clockDriftPPM = 0
            let (_, report) = run(options)
            XCTAssertEqual(report.overlapCount, 0, "\(report.summary)\nreplay with: \(options)")
        }
    }

    func testLockWorkloadTextForm() {
        XCTAssertEqual(WorkloadKind(parsing: "locks"), .locks(LockWorkload()))
        let custom = WorkloadKind(parsing: "locks:lease=300ms:margin=30ms:count=8:crash=0:cutoff=0.5")
        XCTAssertEqual(custom, .locks(LockWorkload(locks: 8, lease: .milliseconds(300), margin: .milliseconds(30),
                                                    crashProbability: 0, cutOffProbability: 0.5)))
        XCTAssertNil(WorkloadKind(parsing: "locks:crash=0.6:cutoff=0.6"), "the fates' chances add up to at most 1")
        XCTAssertEqual(WorkloadKind(parsing: custom!.description), custom)
        XCTAssertNil(WorkloadKind(parsing: "locks:lease=10ms:margin=20ms"), "a margin must be below the lease")
        XCTAssertNil(WorkloadKind(parsing: "locks:bogus=1"))
    }
}
