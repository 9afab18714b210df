import BenchCore
@testable import Experiment
import Foundation
import XCTest

final class SweepTests: XCTestCase {
    /// A stand-in quorum protocol, so the N/W/R skipping rules can be tested before one exists.
    static let quorumStandIn = ProtocolDescriptor(
        name: "nwr-test", summary: "test", guarantee: .eventual, hasLeader: false, usesQuorumParameters: true,
        workload: .keyValue, defaultSettings: [], validateSettings: { _ throws(SettingError) in },
        simulate: { _, _ throws(SettingError) in throw SettingError("not runnable") },
        runNode: { _ in throw SweepError("not runnable") }, inspectReal: { _ in ProtocolFindings() })

    func testCartesianProduct() throws {
        var spec = SweepSpec()
        spec.protocols = ["raft"]
        spec.nodes = [3, 5, 7]
        spec.clients = [1, 16]
        spec.drops = [0, 0.01]
        spec.settings = [(key: "read-mode", values: ["log", "readindex"])]
        let (cells, skipped) = try spec.expand()
        XCTAssertEqual(cells.count, 3 * 2 * 2 * 2)
        XCTAssertTrue(skipped.isEmpty)
        XCTAssertEqual(Set(cells.map(\.name)).count, cells.count, "cell names are unique")
        XCTAssertEqual(Set(cells.map { "\($0.nodes)/\($0.clients)/\($0.faults.dropProbability)/\($0.settings[0].value)" }).count, 24)
    }

    func testInvalidQuorumCombinationsAreSkippedAndSaid() throws {
        var spec = SweepSpec()
        spec.protocols = ["nwr-test"]
        spec.nodes = [3]
        spec.n = [3]
        spec.w = [2, 4]
        spec.r = [1]
        let (cells, skipped) = try spec.expand(catalog: [Self.quorumStandIn])
        XCTAssertEqual(cells.map { "\($0.n!)\($0.w!)\($0.r!)" }, ["321"])
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped[0].description.contains("W > N"), skipped[0].description)

        spec.n = [5]
        spec.w = [1]
        XCTAssertThrowsError(try spec.expand(catalog: [Self.quorumStandIn])) { error in
            XCTAssertTrue("\(error)".contains("no valid combination"), "\(error)")
            XCTAssertTrue("\(error)".contains("N > nodes"), "\(error)")
        }
    }

    func testQuorumAxesDoNotMultiplyOtherProtocols() throws {
        var spec = SweepSpec()
        spec.protocols = ["raft"]
        spec.n = [3, 5]
        spec.w = [1, 2, 3]
        XCTAssertEqual(try spec.expand().cells.count, 1)
    }

    func testBadInputIsOneClearError() {
        func error(_ change: (inout SweepSpec) -> Void) -> String {
            var spec = SweepSpec()
            change(&spec)
            do { _ = try spec.expand(); return "no error" } catch { return error.message }
        }
        XCTAssertEqual(error { $0.protocols = ["paxo"] }, "unknown protocol 'paxo' (known: \(ProtocolCatalog.names.joined(separator: ", ")))")
        XCTAssertTrue(error { $0.rates = [-5] }.contains("--rate -5.0"))
        XCTAssertTrue(error { $0.nodes = [0] }.contains("--nodes 0"))
        XCTAssertTrue(error { $0.drops = [1.5] }.contains("--drop 1.5"))
        XCTAssertTrue(error { $0.settings = [(key: "no-such", values: ["1"])] }.contains("unknown setting 'no-such'"))
        XCTAssertTrue(error { $0.settings = [(key: "inflight", values: ["0"])] }.contains("inflight"))
        XCTAssertEqual(error { _ in }, "no error")
    }

    func testSweepFile() throws {
        let values = try SweepFile.parse("""
        protocols: raft
        nodes: [3, 5]
        drop: [0, 0.01]
        duration: 2s
        set:
          read-mode: [log, readindex]
        """)
        XCTAssertEqual(values["nodes"], "3,5")
        XCTAssertEqual(values["drop"], "0,0.01")
        XCTAssertEqual(values["duration"], "2s")
        XCTAssertEqual(values["set"], "read-mode=log,readindex")
        XCTAssertThrowsError(try SweepFile.parse("nodes: [3, 5")) { XCTAssertTrue("\($0)".contains("not valid YAML"), "\($0)") }
        XCTAssertThrowsError(try SweepFile.parse("nodez: 3")) { XCTAssertTrue("\($0)".contains("unknown key 'nodez'"), "\($0)") }
        XCTAssertThrowsError(try SweepFile.parse("- 3\n- 5")) { XCTAssertTrue("\($0)".contains("expected a mapping"), "\($0)") }
        XCTAssertThrowsError(try SweepFile.load("/nonexistent/sweep.yaml")) { XCTAssertTrue("\($0)".contains("cannot read sweep file"), "\($0)") }
    }

    func testAggregationStatistics() {
        let s = Aggregation.stats([10, 12, 14])
        XCTAssertEqual(s.mean, 12, accuracy: 1e-9)
        XCTAssertEqual(s.stddev, 2, accuracy: 1e-9)
        XCTAssertEqual(s.ci95, 4.303 * 2 / 3.0.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Aggregation.stats([7]).ci95, 0)
    }
}

final class ResultsTests: XCTestCase {
    /// The header of summary.csv is part of the interface: a change must be deliberate, and
    /// documented in results/README.md.
    func testCSVHeaderIsStable() {
        XCTAssertEqual(Columns.header, """
        run_id,cell,protocol,mode,nodes,n,w,r,clients,client_processes,target_rate,arrival,read_ratio,value_size,keys,\
        distribution,workload,drop,duplicate,faults,settings,resilience,seed,repetition,duration_s,ops_ok,ops_failed,ops_unknown,ops_degraded,ops_shed,retries_per_op,\
        throughput_ops_s,p50_us,p90_us,p99_us,p999_us,max_us,uncorrected_p99_us,availability,verdict,violations,\
        leader_changes,messages_per_op,fsyncs_per_op,cpu_s,peak_rss_mb,allocator,read_mode,lease_margin_ms,recovery_ms,\
        unavailable_max_ms,throughput_dip,stale_read_rate,stale_age_p50_us,convergence_p50_ms,convergence_max_ms,unconverged_writes,divergent_keys,messages_per_update,abort_rate,blocked_max_ms,\
        bank_drift,atomicity_violations,availability_minority,availability_majority,lock_overlaps,lock_unavailable_ms,status
        """)
    }

    func testEveryColumnIsDocumented() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("results/README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        for column in Columns.all { XCTAssertTrue(text.contains("`\(column.name)`"), "results/README.md does not document \(column.name)") }
    }

    func testCSVQuoting() {
        XCTAssertEqual(CSV.escape("plain"), "plain")
        XCTAssertEqual(CSV.escape("a,b"), "\"a,b\"")
        XCTAssertEqual(CSV.escape("say \"hi\""), "\"say \"\"hi\"\"\"")
        XCTAssertEqual(CSV.split("a,\"b,c\",\"d\"\"e\",f"), ["a", "b,c", "d\"e", "f"])
    }

    /// A small simulated sweep writes every file, appends rows, and records what a paper needs in
    /// the manifest.
    func testSimulatedSweepWritesCompleteResults() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cb-results-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var spec = SweepSpec()
        spec.mode = .sim
        spec.nodes = [3]
        spec.clients = [2]
        spec.drops = [0, 0.05]
        spec.repetitions = 2
        spec.duration = .milliseconds(300)
        spec.warmup = .milliseconds(200)
        let runner = try SweepRunner(spec: spec, resultsRoot: root)
        runner.log = { _ in }
        let summary = try runner.run(command: "bench sim --test")
        XCTAssertEqual(summary.outcomes.count, 4)

        let lines = try String(contentsOf: summary.directory.appendingPathComponent("summary.csv"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, Columns.header)
        XCTAssertEqual(lines.count, 5)
        for line in lines.dropFirst() {
            let fields = CSV.split(line)
            XCTAssertEqual(fields.count, Columns.all.count)
            let row = Dictionary(uniqueKeysWithValues: zip(Columns.all.map(\.name), fields))
            XCTAssertEqual(row["status"], "ok")
            XCTAssertEqual(row["verdict"], "linearizable")
            XCTAssertEqual(row["mode"], "sim")
            XCTAssertGreaterThan(Int(row["ops_ok"]!)!, 0)
        }
        let histograms = try FileManager.default.contentsOfDirectory(atPath: summary.directory.appendingPathComponent("histograms").path)
        XCTAssertEqual(histograms.count, 4)
        XCTAssertTrue(FileManager.default.fileExists(atPath: summary.directory.appendingPathComponent("aggregate.csv").path))

        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: summary.directory.appendingPathComponent("manifest.json"))) as! [String: Any]
        XCTAssertEqual(manifest["complete"] as? Bool, true)
        XCTAssertEqual(manifest["seeds"] as? [Int], [1, 2])
        XCTAssertEqual(manifest["cells"] as? Int, 2)
        XCTAssertNotNil(manifest["gitSHA"] as? String)
        XCTAssertNotNil(manifest["swiftVersion"] as? String)
        XCTAssertNotNil(manifest["allocator"] as? String)
        XCTAssertNotNil(manifest["ended"] as? String)
        let machine = try XCTUnwrap(manifest["machine"] as? [String: Any])
        XCTAssertGreaterThan(machine["cpus"] as? Int ?? 0, 0)
        XCTAssertNotNil(machine["os"] as? String)
        let parameters = try XCTUnwrap(manifest["parameters"] as? [String: String])
        XCTAssertEqual(parameters["drop"], "0.0,0.05")
        XCTAssertEqual(parameters["repeat"], "2")
    }

    /// The same seed gives the same simulated row, byte for byte (apart from the run id).
    func testSimulatedRowsReplayExactly() throws {
        var spec = SweepSpec()
        spec.mode = .sim
        spec.duration = .milliseconds(300)
        spec.warmup = .milliseconds(200)
        spec.drops = [0.05]
        let cell = try spec.expand().cells[0]
        let a = try SimulatedCell.run(cell, repetition: 1, seed: 9, descriptor: ProtocolCatalog.named("raft")!)
        let b = try SimulatedCell.run(cell, repetition: 1, seed: 9, descriptor: ProtocolCatalog.named("raft")!)
        XCTAssertEqual(a.row.csvLine, b.row.csvLine)
        let c = try SimulatedCell.run(cell, repetition: 1, seed: 10, descriptor: ProtocolCatalog.named("raft")!)
        XCTAssertNotEqual(a.row.csvLine, c.row.csvLine)
    }
}
