import ArgumentParser
import Experiment
import Foundation

/// `bench sim`: the sweep in the deterministic simulator (virtual time, exact replay by seed).
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a sweep in the deterministic simulator (virtual time; same seed, same row).",
        discussion: "Example: bench sim --protocol raft --nodes 3,5,7 --drop 0,0.05 --seed 1")

    @OptionGroup var sweep: SweepOptions

    func run() throws {
        let spec = try sweep.spec(mode: .sim)
        let runner = try SweepRunner(spec: spec, resultsRoot: URL(fileURLWithPath: sweep.results))
        SignalHandling.stopSweepOnInterrupt()
        let summary = try runner.run(command: (["bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        print(SummaryTable.render(summary))
        if summary.interrupted { throw ExitCode(130) }
        if summary.outcomes.contains(where: { $0.outcome.failed || $0.outcome.row["violations"] != "0" }) {
            throw ExitCode(1)
        }
    }
}

/// Ctrl-C stops a sweep after the current cell; rows already written stay.
enum SignalHandling {
    static func stopSweepOnInterrupt() {
        signal(SIGINT) { _ in SweepRunner.interrupted = true }
        signal(SIGTERM) { _ in SweepRunner.interrupted = true }
    }
}
