import XCTest
import BenchCore
import Checker
@testable import Protocols
import Simulation

/// Leader-lease reads in Multi-Paxos (`read-mode=lease`, the Raft dissertation's §6.4.1 rule
/// carried over): safe under faults while clocks drift apart by less than the lease margin, faster
/// than reads through the log when nothing fails, and caught by the checker when clocks drift far
/// beyond the margin.
final class MultiPaxosLeaseReadTests: XCTestCase {
    typealias Paxos = MultiPaxos.Instance

    static func leaseSettings() -> MultiPaxos.Settings {
        var settings = MultiPaxos.Settings()
        settings.readMode = .lease
        return settings
    }

    /// The multi-mode fault scenarios of `MultiPaxosSimulationTests`, plus clock offsets and rate drift. 5,000 ppm
    /// each way puts two clocks at most 1% apart in rate: 3 ms over a 300 ms election timeout,
    /// inside the default 10 ms margin.
    static func scenario(seed: UInt64) -> SimulationOptions {
        var options = MultiPaxosSimulationTests.scenario(seed: seed, mode: .multi)
        options.faults.clockDriftPPM = 5_000
        options.faults.clockSkewMax = .milliseconds(20)
        return options
    }

    struct Outcome {
        var result: SimulationResult
        var verdict: LinearizabilityVerdict
        /// Lease reads and reads through the log in lease mode, summed over the nodes up at the end.
        var leaseReads: Int
        var logReads: Int
    }

    func run(_ options: SimulationOptions, settings: MultiPaxos.Settings) -> Outcome {
        let simulator = Simulator<Paxos>(options: options, settings: settings)
        LogOracle<Paxos>().install(on: simulator)
        let result = simulator.run()
        let replicas = simulator.memberIDs.compactMap { simulator.replica($0) }
        return Outcome(result: result, verdict: Linearizability.check(result.history),
                       leaseReads: replicas.reduce(0) { $0 + $1.statistics.leaseReads },
                       logReads: replicas.reduce(0) { $0 + $1.statistics.logReads })
    }

    #if DEBUG
    static let seedCount: UInt64 = 6
    #else
    static let seedCount: UInt64 = 40
    #endif

    /// (1) Partitions (the leader's among them), crashes, loss, duplication, reordering and clock
    /// drift within the margin: every history stays linearizable and the cluster recovers.
    func testLeaseReadsStayLinearizableUnderFaultsAndDrift() {
        var leaseReads = 0
        var totalOK = 0
        for seed in UInt64(1)...Self.seedCount {
            let options = Self.scenario(seed: seed)
            let outcome = run(options, settings: Self.leaseSettings())
            let result = outcome.result
            leaseReads += outcome.leaseReads
            totalOK += result.opsOK
            let replay = "replay with: read-mode=lease \(options)"
            XCTAssertEqual(result.violations, [], replay)
            if case let .violation(counterexample) = outcome.verdict {
                XCTFail("not linearizable: \(counterexample.explanation)\n\(replay)")
            }
            if case let .undecided(reason) = outcome.verdict { XCTFail("checker undecided (\(reason))\n\(replay)") }
            let recovered = result.firstCompletion(after: MultiPaxosSimulationTests.healedAt)
            XCTAssertNotNil(recovered, "no operation completed after healing\n\(replay)")
            if let recovered {
                XCTAssertLessThanOrEqual(recovered - MultiPaxosSimulationTests.healedAt, MultiPaxosSimulationTests.livenessBound,
                                         "slow recovery\n\(replay)")
            }
            if !result.violations.isEmpty || !outcome.verdict.isLinearizable { break }
        }
        XCTAssertGreaterThan(totalOK, Int(Self.seedCount) * 100)
        XCTAssertGreaterThan(leaseReads, Int(Self.seedCount) * 10, "lease reads hardly ever happened")
    }

    /// A fault-free run: 3 nodes, 5 clients, half reads.
    static func quietRun() -> SimulationOptions {
        var options = SimulationOptions()
        options.seed = 7
        options.nodes = 3
        options.duration = .seconds(2)
        options.warmup = .milliseconds(500)
        options.clients.clients = 5
        options.clients.workload = WorkloadSpec(keys: 50, distribution: .uniform, readRatio: 0.5, valueSize: 16)
        return options
    }

    /// The median latency (virtual ns) of the reads that completed ok after the warm-up.
    static func medianReadLatency(_ history: History, after warmup: Duration) -> Int64? {
        let start = Instant.zero + warmup
        let latencies = history.operations
            .filter { $0.kind == .read && $0.status == .ok && $0.invoke >= start }
            .map { ($0.complete - $0.invoke).nanoseconds }
            .sorted()
        return latencies.isEmpty ? nil : latencies[latencies.count / 2]
    }

    /// (2) With no faults, almost every read is a lease read, and reads complete faster than
    /// through the log (virtual time: deterministic). Prints both medians.
    func testLeaseReadsHappenAndBeatLogReadLatency() throws {
        let options = Self.quietRun()
        let lease = run(options, settings: Self.leaseSettings())
        let baseline = run(options, settings: MultiPaxos.Settings())
        for outcome in [lease, baseline] {
            XCTAssertEqual(outcome.result.violations, [])
            XCTAssertTrue(outcome.verdict.isLinearizable)
        }
        XCTAssertGreaterThan(lease.leaseReads, 0)
        XCTAssertGreaterThan(lease.leaseReads, 10 * lease.logReads, "most reads should use the lease")
        XCTAssertEqual(baseline.leaseReads, 0)
        let leaseMedian = try XCTUnwrap(Self.medianReadLatency(lease.result.history, after: options.warmup))
        let logMedian = try XCTUnwrap(Self.medianReadLatency(baseline.result.history, after: options.warmup))
        print("paxos read latency median (virtual): lease \(Duration.nanoseconds(leaseMedian)) "
              + "(\(lease.leaseReads) lease reads, \(lease.logReads) log fallbacks), "
              + "log \(Duration.nanoseconds(logMedian))")
        XCTAssertLessThan(leaseMedian, logMedian)
    }

    /// (3) Proof that the checks can fail: clocks whose rates differ by up to 80% (±40% each)
    /// break the lease's assumption — a slow leader's lease outlives fast followers' promise not
    /// to elect anyone else — and isolating the leader then lets it serve stale reads while a new
    /// leader takes writes. Clients give up on an operation quickly (40 ms), and the isolated leader
    /// refuses writes beyond one, so clients there keep reading while others write through the new one.
    func testDriftFarBeyondTheMarginIsCaught() {
        var caught = 0
        var runs = 0
        for seed in UInt64(1)...150 {
            var options = SimulationOptions()
            options.seed = seed
            options.nodes = 3
            options.duration = .seconds(4)
            options.warmup = .zero
            options.clients.clients = 8
            options.clients.workload = WorkloadSpec(keys: 3, distribution: .uniform, readRatio: 0.5, valueSize: 16)
            options.clients.session.requestTimeout = .milliseconds(10)
            options.clients.session.operationDeadline = .milliseconds(40)
            options.faults.clockDriftPPM = 400_000
            options.faults.events = [0.4, 1.1, 1.8, 2.5, 3.2].flatMap { start in
                [TimedFault(at: Duration(seconds: start), .partition(.isolate(.leader))),
                 TimedFault(at: Duration(seconds: start + 0.6), .heal)]
            }
            // One uncommitted write at a time: an isolated leader refuses further writes at once, so
            // the clients there keep starting new operations (half of them reads) instead of waiting.
            var settings = Self.leaseSettings()
            settings.uncommittedEntriesMax = 1
            let outcome = run(options, settings: settings)
            runs += 1
            if !outcome.result.violations.isEmpty || !outcome.verdict.isLinearizable { caught += 1; break }
        }
        print("\(Self.self): drift beyond the margin caught after \(runs) seeds")
        XCTAssertGreaterThan(caught, 0, "stale lease reads under extreme clock drift went unnoticed in 150 seeds")
    }

    /// The heartbeat round travels in both directions; older encodings lacked it.
    func testHeartbeatRoundsRoundTrip() throws {
        let ballot = MultiPaxos.Ballot(round: 3, node: NodeID(2))
        let messages: [MultiPaxos.Message] = [
            .heartbeat(.init(ballot: ballot, commit: 5, round: 77)),
            .heartbeatAck(.init(ballot: ballot, learnedThrough: 4, commitSeen: 5, round: .max)),
        ]
        for message in messages {
            let bytes = message.encodedBytes()
            XCTAssertEqual(try MultiPaxos.Message(decoding: bytes), message)
            XCTAssertThrowsError(try MultiPaxos.Message(decoding: bytes.dropLast()))
        }
    }

    func testLeaseMarginIsValidated() throws {
        var settings = MultiPaxos.Settings()
        try settings.set("read-mode", to: "lease")
        try settings.set("lease-margin", to: "0ms")
        try settings.set("lease-margin", to: "25ms")
        XCTAssertEqual(settings.leaseMargin, .milliseconds(25))
        XCTAssertThrowsError(try settings.set("lease-margin", to: "300ms"))
        XCTAssertThrowsError(try settings.set("election-timeout", to: "20ms"))
        XCTAssertTrue(settings.parameters.contains { $0.key == "lease-margin" && $0.value == Duration.milliseconds(25).description })
    }
}
