import BenchCore
@testable import Experiment
import Foundation
import Glibc
import LoadGen
import Runtime
import XCTest

/// One finished `bench` invocation.
struct BenchRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the built `bench` executable in `directory` and waits for it.
func runBench(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> BenchRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: NodeProcessTests.benchExecutable)
    process.arguments = arguments
    process.currentDirectoryURL = directory
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return BenchRun(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                    stderr: String(decoding: errData, as: UTF8.self))
}

/// The `bench` command line, run as a user would: bad input is one line and exit 2, and leaves
/// no results behind; a node that dies fails its cell and the sweep goes on.
final class CommandLineTests: XCTestCase {
    typealias Run = BenchRun

    func bench(_ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws -> Run {
        try runBench(arguments, in: directory, environment: environment)
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cb-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testHelpIsPrintedInFullAndExitsZero() throws {
        let dir = try temporaryDirectory()
        for (arguments, expected) in [(["sweep", "--help"], "--protocols"), (["--help"], "SUBCOMMANDS"),
                                      (["gate", "--help"], "--baseline"), (["client", "--help"], "--kind")] {
            let run = try bench(arguments, in: dir)
            XCTAssertEqual(run.status, 0, "\(arguments): \(run.stderr)")
            XCTAssertTrue(run.stdout.contains(expected), "\(arguments): \(run.stdout)")
            XCTAssertFalse(run.stderr.contains("error"), "\(arguments): \(run.stderr)")
        }
    }

    func testBadInputIsOneLineAndExitTwoAndWritesNothing() throws {
        let dir = try temporaryDirectory()
        try "nodes: [3, 5".write(to: dir.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["sweep", "--protocols", "zab2"], "unknown protocol 'zab2'"),
            (["sim", "--nodes", "0"], "--nodes 0"),
            (["sim", "--drop", "1.5"], "--drop 1.5"),
            (["sweep", "--rate=-100"], "--rate -100"),
            (["sweep", "--file", "missing.yaml"], "cannot read sweep file"),
            (["sweep", "--file", "broken.yaml"], "not valid YAML"),
            (["sim", "--set", "inflight=0"], "inflight"),
            (["sim", "--bogus"], "Unknown option '--bogus'"),
        ]
        for (arguments, expected) in cases {
            let run = try bench(arguments, in: dir)
            XCTAssertEqual(run.status, 2, "\(arguments): \(run.stderr)")
            let lines = run.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(arguments) printed \(lines.count) lines: \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(expected), "\(arguments): \(run.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("results").path),
                       "bad input must not create a results directory")
    }

    func testPortInUseIsExitTwo() throws {
        let dir = try temporaryDirectory()
        let port = try PortAllocator.freePorts(1)[0]
        // Hold the port with a listening socket.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 1)
        let peerPort = try PortAllocator.freePorts(1)[0]
        let run = try bench(["node", "--id", "1", "--peers", "127.0.0.1:\(peerPort)", "--client-port", "\(port)",
                             "--data", dir.appendingPathComponent("n1").path, "--allocator", "system"], in: dir)
        XCTAssertEqual(run.status, 2, run.stderr)
        XCTAssertTrue(run.stderr.contains("cannot listen for clients on 127.0.0.1:\(port)"), run.stderr)
    }

    /// A node process that dies during a cell marks that cell failed with the reason, and the
    /// sweep runs the next cell.
    func testNodeDyingFailsItsCellAndTheSweepGoesOn() throws {
        let dir = try temporaryDirectory()
        let run = try bench(["sweep", "--nodes", "3", "--clients", "2,3", "--duration", "2s", "--warmup", "200ms", "--allocator", "system"],
                            in: dir, environment: ["CONSENSUSBENCH_TEST_EXIT_DATA_MATCH": "001-raft", "CONSENSUSBENCH_TEST_EXIT_AFTER_MS": "1200"])
        XCTAssertEqual(run.status, 1, "a failed cell makes the sweep exit 1: \(run.stderr)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("results").path)
        XCTAssertEqual(runs.count, 1)
        let summary = try String(contentsOf: dir.appendingPathComponent("results/\(runs[0])/summary.csv"), encoding: .utf8)
        let rows = summary.split(separator: "\n").dropFirst().map { CSV.split(String($0)) }
        XCTAssertEqual(rows.count, 2)
        let status = Columns.all.firstIndex { $0.name == "status" }!
        XCTAssertTrue(rows[0][status].hasPrefix("failed: node"), rows[0][status])
        XCTAssertTrue(rows[0][status].contains("exited (status 3)"), rows[0][status])
        XCTAssertEqual(rows[1][status], "ok")
        let manifest = try String(contentsOf: dir.appendingPathComponent("results/\(runs[0])/manifest.json"), encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"complete\" : true"))
    }

    /// Open loop with few sessions against a server that stalls: the corrected latency shows the
    /// stall for every operation that should have started during it; the service time does not.
    func testCoordinatedOmissionIsCorrected() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cb-co-\(UUID().uuidString)")
        var options = LocalCluster.Options(nodes: 1, protocolName: "raft", directory: directory)
        options.executable = NodeProcessTests.benchExecutable
        options.allocator = .system
        let cluster = try LocalCluster(options: options)
        defer { cluster.stop(); cluster.removeData() }
        try cluster.start()
        try cluster.waitUntilReady(needLeader: true)

        var config = ClientRunConfig(nodes: cluster.clientEndpoints)
        config.clusterID = options.clusterID
        config.sessions = 2
        config.plan = .openLoop(rate: 1_000, poisson: false)
        config.duration = .seconds(2)
        config.session.requestTimeout = .seconds(5)
        config.session.operationDeadline = .seconds(10)
        let pid = cluster.processIdentifier(1)
        let stopper = Thread {
            usleep(700_000)
            kill(pid, SIGSTOP)
            usleep(400_000)
            kill(pid, SIGCONT)
        }
        stopper.start()
        let result = try LoadDriver.run(config)
        XCTAssertGreaterThan(result.succeeded, 1_000)
        // ~400 of ~2000 operations were due during the 400 ms stall: the corrected p90 sees it.
        XCTAssertGreaterThan(result.latency.percentile(90), 100_000, "corrected latency hides the stall")
        XCTAssertLessThan(result.serviceTime.percentile(90), 50_000, "service time should not see the queueing")
    }
}

/// Faults mean the same in both modes: one schedule and seed inject the same events.
final class FaultModeTests: XCTestCase {
    func testScheduleInjectsTheSameEventsInSimulationAndRealProcesses() throws {
        var spec = SweepSpec()
        spec.nodes = [3]
        spec.clients = [2]
        spec.duration = .seconds(3)
        spec.warmup = .milliseconds(200)
        spec.allocator = .system
        spec.faults = try FaultSyntax.schedule(delay: nil, crash: "random@500ms", restart: "1s", partition: "minority@1800ms-2500ms",
                                               skew: nil, drift: nil, slowDisk: nil)
        spec.seed = 7
        let descriptor = try XCTUnwrap(ProtocolCatalog.named("raft"))

        spec.mode = .sim
        let simulated = try SimulatedCell.run(try spec.expand().cells[0], repetition: 1, seed: 7, descriptor: descriptor)

        spec.mode = .real
        setenv("CONSENSUSBENCH_EXECUTABLE", NodeProcessTests.benchExecutable, 1)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cb-faultmodes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let real = try RealCell.run(try spec.expand().cells[0], repetition: 1, seed: 7, descriptor: descriptor,
                                    workRoot: work, interrupted: { false })

        func shape(_ faults: [InjectedFault]) -> [String] { faults.map { "\($0.action)(\($0.nodes.map(\.rawValue)))" } }
        XCTAssertEqual(shape(simulated.injectedFaults).count, 4, "\(simulated.injectedFaults)")
        XCTAssertEqual(shape(real.injectedFaults).map { $0.replacingOccurrences(of: "crash-leader", with: "crash") },
                       shape(simulated.injectedFaults).map { $0.replacingOccurrences(of: "crash-leader", with: "crash") })
        for (a, b) in zip(simulated.injectedFaults, real.injectedFaults) {
            XCTAssertLessThan(abs((a.at - b.at).milliseconds), 150, "\(a) vs \(b)")
        }
        XCTAssertEqual(real.row["verdict"], "linearizable")
        XCTAssertEqual(simulated.row["verdict"], "linearizable")
    }
}
