import ArgumentParser
import Experiment
import Foundation

/// `bench sweep`: a parameter sweep with real node and client processes (`--sim` for the simulator).
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a parameter sweep with real node and client processes on this machine (or --sim).",
        discussion: """
        Example: bench sweep --protocols raft --nodes 3,5 --clients 1,16,64 --drop 0,0.01 --repeat 3
        Every parameter takes a list; the cells are the cartesian product; invalid combinations are
        skipped and said so. Rows are appended to results/<run-id>/summary.csv as cells finish.
        """)

    @OptionGroup var sweep: SweepOptions
    @Flag(help: "Run the identical sweep in the deterministic simulator instead.")
    var sim = false

    func run() throws {
        try SweepExecution.run(try sweep.spec(mode: sim ? .sim : .real), results: sweep.resultsDirectory)
    }
}

/// `bench sim`: the sweep in the deterministic simulator (virtual time, exact replay by seed).
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run a sweep in the deterministic simulator (virtual time; same seed, same row).",
        discussion: "Example: bench sim --protocol raft --nodes 3,5,7 --drop 0,0.05 --seed 1")

    @OptionGroup var sweep: SweepOptions

    func run() throws {
        try SweepExecution.run(try sweep.spec(mode: .sim), results: sweep.resultsDirectory)
    }
}

/// `bench` with no subcommand: the default sweep — every protocol, small clusters, a low and a
/// high load, no faults and one fault rate — in real processes, in a few minutes.
struct DefaultRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "The default sweep: every protocol, 3 and 5 nodes, low and high load, with and without message loss.")

    @Option(help: "Directory that receives results/<run-id>/.")
    var results: String = "results"

    func run() throws {
        try SweepExecution.run(DefaultSweep.spec(), results: results)
    }
}

enum SweepExecution {
    static func run(_ spec: SweepSpec, results: String) throws {
        let runner = try SweepRunner(spec: spec, resultsRoot: URL(fileURLWithPath: results))
        SignalHandling.stopSweepOnInterrupt()
        let summary = try runner.run(command: (["bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        print(SummaryTable.render(summary))
        if summary.interrupted { throw ExitCode(130) }
        if summary.outcomes.contains(where: { $0.outcome.failed || $0.outcome.row["violations"] != "0" }) {
            throw ExitCode(1)
        }
    }
}

/// Ctrl-C stops a sweep: the current cell's processes are killed at once, finished rows stay.
enum SignalHandling {
    static func stopSweepOnInterrupt() {
        signal(SIGINT) { _ in
            SweepRunner.interrupted = true
            ChildProcesses.killAll(SIGKILL)
        }
        signal(SIGTERM) { _ in
            SweepRunner.interrupted = true
            ChildProcesses.killAll(SIGKILL)
        }
    }
}
