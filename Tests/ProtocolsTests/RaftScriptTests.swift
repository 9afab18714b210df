import Foundation
import XCTest
import BenchCore
@testable import Protocols

/// Runs the golden Raft scripts in `testdata/raft/` (see `RaftScript` for the language) and
/// compares each command's transcript with the expected one. `REWRITE_GOLDEN=1` writes the
/// actual transcripts back into the source tree instead of comparing:
///
///     REWRITE_GOLDEN=1 swift test --filter RaftScriptTests
///
/// Whatever the golden files say, a script fails if a command errors or if a safety violation
/// happens in a cluster that runs no deliberately broken (`unsafe-*`) setting.
final class RaftScriptTests: XCTestCase {
    /// Every script in testdata/raft, each with its own test method below.
    static let scriptNames = ["election", "replication", "partition_leader", "prevote_rejoin", "readindex",
                              "fast_backoff", "durability", "figure8"]

    func testElection() throws { try checkGolden("election") }
    func testReplication() throws { try checkGolden("replication") }
    func testPartitionedLeader() throws { try checkGolden("partition_leader") }
    func testPreVoteRejoin() throws { try checkGolden("prevote_rejoin") }
    func testReadIndex() throws { try checkGolden("readindex") }
    func testFastBackoff() throws { try checkGolden("fast_backoff") }
    func testDurability() throws { try checkGolden("durability") }
    func testFigure8() throws { try checkGolden("figure8") }

    /// A script added to testdata without a test method would never run.
    func testEveryScriptHasATest() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.bundledDirectory, includingPropertiesForKeys: nil)
        let names = Set(files.filter { $0.pathExtension == "txt" }.map { $0.deletingPathExtension().lastPathComponent })
        XCTAssertEqual(names, Set(Self.scriptNames))
    }

    /// The proof, independent of what figure8.txt expects, that the oracle catches the broken
    /// commit rule: the unsafe run overwrites a committed entry, the default run does not.
    func testFigure8UnsafeCommitIsCaughtAndDefaultIsSafe() throws {
        let script = RaftScript()
        for c in try GoldenScript(parsing: try Self.bundledText("figure8")).cases { _ = script.run(c.command) }
        let unsafe = script.violations.filter(\.underUnsafeSettings)
        XCTAssertTrue(unsafe.contains { $0.text.hasPrefix("SAFETY VIOLATION: committed entry overwritten") },
                      "unsafe-commit-previous-terms went unnoticed: \(unsafe.map(\.text))")
        XCTAssertEqual(script.violations.filter { !$0.underUnsafeSettings }.map(\.text), [])
    }

    /// The oracle's one-leader-per-term and log-matching checks fire when a replica may vote
    /// twice in a term.
    func testUnsafeVoteTwiceElectsTwoLeaders() {
        let script = RaftScript()
        let commands = [
            "add-nodes 3 pre-vote=false unsafe-vote-twice=true",
            // 1 and 3 campaign in term 1 at once; 2 grants both.
            "campaign 1", "campaign 3", "persist 1 3",
            "deliver-msgs 2 from=1", "persist 2", "deliver-msgs 1 from=2",
            "deliver-msgs 2 from=3", "persist 2", "deliver-msgs 3 from=2",
            // Each leader appends its own entry 2@1: same index and term, different entries.
            "propose 1 put k=1 v=1", "propose 3 put k=1 v=2",
        ]
        var transcript: [String] = []
        for command in commands { transcript += script.run(command) }
        XCTAssertFalse(transcript.contains { $0.hasPrefix("error:") }, transcript.joined(separator: "\n"))
        XCTAssertTrue(script.violations.contains { $0.text.hasPrefix("SAFETY VIOLATION: two leaders in term 1") },
                      transcript.joined(separator: "\n"))
        XCTAssertTrue(script.violations.contains { $0.text.hasPrefix("SAFETY VIOLATION: log matching: 3 and 1 agree on 2@1") },
                      transcript.joined(separator: "\n"))
        // The same interleaving with the default setting: 2 refuses its second vote.
        let safe = RaftScript()
        for command in commands { _ = safe.run(command.replacingOccurrences(of: " unsafe-vote-twice=true", with: "")) }
        XCTAssertEqual(safe.violations.map(\.text), [])
        XCTAssertEqual(safe.cluster?.nodes.filter { $0.replica?.role == .leader }.count, 1)
    }

    /// Runs a script of your own and prints its transcript (expected outputs in it are ignored):
    /// `RAFT_SCRIPT=/tmp/try.txt swift test --filter testAdHocScript`. A quick way to explore.
    func testAdHocScript() throws {
        guard let path = ProcessInfo.processInfo.environment["RAFT_SCRIPT"], !path.isEmpty else {
            throw XCTSkip("set RAFT_SCRIPT=<file> to run a script of your own")
        }
        let golden = try GoldenScript(parsing: try String(contentsOfFile: path, encoding: .utf8))
        let script = RaftScript()
        print(golden.rendered(outputs: golden.cases.map { script.run($0.command) }))
    }

    /// With unsafe-vote-twice, a candidate can grant its vote to a rival in its own term, stay a
    /// candidate, and then win. That must be reported as a violation (by `invariants()` and the
    /// oracle), not trap the process: RaftSimulationTests runs this broken setting over many seeds.
    func testDoubleVotingCandidateIsReportedNotTrapped() throws {
        let script = RaftScript()
        var transcript: [String] = []
        for command in [
            "add-nodes 3 pre-vote=false unsafe-vote-twice=true",
            "campaign 1", "campaign 3", "persist 1 3",
            // Candidate 1 grants candidate 3's request in term 1: votedFor becomes 3, 1 stays a candidate.
            "deliver-msgs 1 from=3", "persist 1",
            "deliver-msgs 2 from=1", "persist 2",
            // 2's grant gives 1 a majority: it leads a term in which it voted for 3.
            "deliver-msgs 1 from=2",
        ] {
            transcript += script.run(command)
        }
        XCTAssertTrue(script.violations.contains { $0.text.contains("leads t1 without having voted for itself") },
                      transcript.joined(separator: "\n"))
    }

    func testGoldenScriptRoundTrips() throws {
        let text = "# comment\n\nstatus\n----\na\nb\n\n# between\nlog\n----\nc\n\n# end\n"
        let golden = try GoldenScript(parsing: text)
        XCTAssertEqual(golden.cases.map(\.command), ["status", "log"])
        XCTAssertEqual(golden.cases.map(\.line), [3, 9])
        XCTAssertEqual(golden.cases.map(\.expected), [["a", "b"], ["c"]])
        XCTAssertEqual(golden.rendered(outputs: golden.cases.map(\.expected)), text)
        XCTAssertThrowsError(try GoldenScript(parsing: "status\nnot a separator\n"))
    }

    // MARK: Running golden files

    static var isRewriting: Bool { ProcessInfo.processInfo.environment["REWRITE_GOLDEN"] == "1" }

    /// The copy SwiftPM bundles with the tests (`resources: [.copy("testdata")]`).
    static var bundledDirectory: URL {
        Bundle.module.bundleURL.appendingPathComponent("testdata/raft", isDirectory: true)
    }

    /// The file in the source tree, which `REWRITE_GOLDEN=1` rewrites.
    static func sourceURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("testdata/raft/\(name).txt")
    }

    static func bundledText(_ name: String) throws -> String {
        try String(contentsOf: bundledDirectory.appendingPathComponent("\(name).txt"), encoding: .utf8)
    }

    func checkGolden(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        // Rewriting reads the source file, so a rewrite never starts from a stale bundled copy.
        let text = Self.isRewriting ? try String(contentsOf: Self.sourceURL(name), encoding: .utf8) : try Self.bundledText(name)
        let golden = try GoldenScript(parsing: text)
        let script = RaftScript()
        var outputs: [[String]] = []
        for c in golden.cases {
            let output = script.run(c.command)
            outputs.append(output)
            if let error = output.first(where: { $0.hasPrefix("error:") }) {
                XCTFail("\(name).txt:\(c.line): \(c.command): \(error)", file: file, line: line)
            }
        }
        for violation in script.violations where !violation.underUnsafeSettings {
            XCTFail("\(name).txt: \(violation.text) (no unsafe setting was on)", file: file, line: line)
        }
        if Self.isRewriting {
            try golden.rendered(outputs: outputs).write(to: Self.sourceURL(name), atomically: true, encoding: .utf8)
            return
        }
        for (c, actual) in zip(golden.cases, outputs) where actual != c.expected {
            let firstDifference = zip(actual, c.expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(actual.count, c.expected.count)
            let expectedLine = firstDifference < c.expected.count ? c.expected[firstDifference] : "<end of output>"
            let actualLine = firstDifference < actual.count ? actual[firstDifference] : "<end of output>"
            XCTFail("""
                \(name).txt:\(c.line + 2 + firstDifference): output of '\(c.command)' differs
                  expected: \(expectedLine)
                  actual:   \(actualLine)
                full actual output:
                \(actual.joined(separator: "\n"))
                (if the change is intended: REWRITE_GOLDEN=1 swift test --filter RaftScriptTests, then review the diff)
                """, file: file, line: line)
            // Later commands usually differ as a consequence; the first difference is the one to read.
            return
        }
    }
}
