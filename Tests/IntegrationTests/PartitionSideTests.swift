import Foundation
import XCTest

/// CAP as numbers, in both modes: under the same partition, clients on the minority side get
/// nothing from Raft and everything from gossip, and the majority side keeps working.
final class PartitionSideTests: XCTestCase {
    func testMinoritySideIsUnavailableForRaftAndAvailableForGossipInBothModes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cb-cap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let arguments = ["sweep", "--protocols", "raft,gossip", "--nodes", "3", "--clients", "6",
                         "--partition", "minority@300ms-1300ms", "--duration", "1500ms", "--warmup", "300ms"]
        for mode in [["--sim"], []] {
            let run = try runBench(arguments + mode + ["--results", "out\(mode.isEmpty ? "real" : "sim")"], in: dir)
            XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
            let rows = try summaryRows(in: dir.appendingPathComponent("out\(mode.isEmpty ? "real" : "sim")"))
            let raft = try XCTUnwrap(rows.first { $0["protocol"] == "raft" })
            let gossip = try XCTUnwrap(rows.first { $0["protocol"] == "gossip" })
            let label = mode.isEmpty ? "real" : "sim"
            XCTAssertEqual(Double(raft["availability_minority"] ?? ""), 0, "\(label): \(raft)")
            XCTAssertGreaterThan(Double(raft["availability_majority"] ?? "") ?? 0, 0.9, "\(label): \(raft)")
            XCTAssertGreaterThan(Double(gossip["availability_minority"] ?? "") ?? 0, 0.9, "\(label): \(gossip)")
            XCTAssertGreaterThan(Double(gossip["availability_majority"] ?? "") ?? 0, 0.9, "\(label): \(gossip)")
            XCTAssertEqual(raft["verdict"], "linearizable", "\(label)")
        }
    }

    /// The rows of the one run under `results`, as column → value.
    func summaryRows(in results: URL) throws -> [[String: String]] {
        let runs = try FileManager.default.contentsOfDirectory(atPath: results.path)
        XCTAssertEqual(runs.count, 1)
        let text = try String(contentsOf: results.appendingPathComponent("\(runs[0])/summary.csv"), encoding: .utf8)
        let lines = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = lines.first else { return [] }
        return lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
    }
}
