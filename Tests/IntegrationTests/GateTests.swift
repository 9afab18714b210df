import Foundation
import XCTest

/// `bench gate` against a baseline made in the test: an unchanged build passes, a planted
/// regression fails, and a gate that cannot run says so with exit 2.
final class GateTests: XCTestCase {
    func testGatePassesUnchangedAndCatchesAPlantedRegression() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cb-gate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let update = try runBench(["gate", "--baseline", "baseline", "--update", "--sim-only"], in: dir)
        XCTAssertEqual(update.status, 0, update.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("baseline/sim.json").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("baseline/manifest.json").path))

        let unchanged = try runBench(["gate", "--baseline", "baseline", "--sim-only"], in: dir)
        XCTAssertEqual(unchanged.status, 0, unchanged.stdout + unchanged.stderr)
        XCTAssertTrue(unchanged.stdout.contains("0 regressed, 0 failed"), unchanged.stdout)

        // Batching off: one entry per AppendEntries. The protocol still works; it is slower and
        // sends more messages per operation, and the gate must say so.
        let planted = try runBench(["gate", "--baseline", "baseline", "--sim-only", "--plant", "batch-entries=1"], in: dir)
        XCTAssertEqual(planted.status, 1, planted.stdout + planted.stderr)
        XCTAssertTrue(planted.stdout.contains("messages_per_op"), planted.stdout)
        XCTAssertTrue(planted.stdout.contains("REGRESSION"), planted.stdout)

        let missing = try runBench(["gate", "--baseline", "nowhere", "--sim-only"], in: dir)
        XCTAssertEqual(missing.status, 2, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("no baseline"), missing.stderr)
    }
}
