import ArgumentParser
import Experiment
import Foundation

/// `bench gate`: compare a fixed sweep with the committed baseline (exit 0 pass, 1 regression, 2 could not run).
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Run a fixed small sweep and compare it with a committed baseline: exit 0 pass, 1 regression, 2 could not run.",
        discussion: """
        Simulated cells must match the baseline exactly (they are deterministic); real cells are repeated,
        interleaved, normalized by a same-run calibration (loopback round trip + fdatasync) and compared
        by medians within the tolerances in <baseline>/tolerances.json. Any correctness violation fails.
        Improvements are reported, not failures. --update rewrites the baseline deliberately.
        """)

    @Option(help: "The baseline directory.")
    var baseline: String = "results/baseline"

    @Flag(help: "Rewrite the baseline from this run instead of comparing.")
    var update = false

    @Flag(name: .customLong("sim-only"), help: "Only the simulated cells (fast, exact).")
    var simOnly = false

    @Flag(name: .customLong("real-only"), help: "Only the real cells.")
    var realOnly = false

    @Option(help: "Repetitions of the real cells (interleaved).")
    var repetitions: Int = 3

    @Option(help: "Force a protocol setting on every cell, key=value (to check that the gate catches a planted regression).")
    var plant: [String] = []

    @Flag(help: "Show every figure, not only changes.")
    var verbose = false

    func run() throws {
        guard !(simOnly && realOnly) else { throw ValidationError("--sim-only and --real-only exclude each other") }
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        var options = Gate.Options(baseline: URL(fileURLWithPath: baseline))
        options.update = update
        options.sim = !realOnly
        options.real = !simOnly
        options.repetitions = repetitions
        options.plant = try plant.map { item in
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--plant '\(item)': expected key=value") }
            return (parts[0], parts[1])
        }
        options.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        SignalHandling.stopSweepOnInterrupt()
        let report: Gate.Report
        // Anything that stops the gate from running is "could not run" (exit 2), never a pass or a regression.
        do { report = try Gate.run(options) } catch let error as SweepError { throw ValidationError(error.message) } catch { throw ValidationError("\(error)") }
        if update {
            print("baseline written to \(baseline) in \(Int(report.seconds.rounded()))s")
            return
        }
        print(Gate.render(report, verbose: verbose))
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }
}
