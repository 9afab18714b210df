import ArgumentParser
import Experiment
import Foundation

/// `bench`: the ConsensusBench command line. Thin: it parses and calls Experiment.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure consensus and replication protocols: throughput, latency, availability and correctness.",
        discussion: """
        With no subcommand, runs the default sweep (every protocol, small clusters, a few faults; a few minutes).
        Results go to results/<run-id>/ (summary.csv, histograms/*.hgrm, manifest.json); see results/README.md.
        Exit status: 0 success, 1 a cell failed or a correctness check failed, 2 bad input.
        """,
        subcommands: [DefaultRun.self, SweepCommand.self, Simulate.self, NodeCommand.self, ClientCommand.self, ControlCommand.self,
                      ListCommand.self, MicroCommand.self, GateCommand.self],
        defaultSubcommand: DefaultRun.self)

    /// Parses, runs, and maps errors to the exit statuses the documentation promises: bad input
    /// is one line on stderr and status 2.
    static func main() {
        ParentWatch.adoptParentIfOrchestrated()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CleanExit {
            exit(withError: error)
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            // --help and --version arrive as errors that mean success: print them in full.
            if exitCode(for: error) == .success { exit(withError: error) }
            if let message = badInputMessage(error) {
                FileHandle.standardError.write(Data("bench: error: \(message)\n".utf8))
                Foundation.exit(2)
            }
            FileHandle.standardError.write(Data("bench: error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }

    static func badInputMessage(_ error: Error) -> String? {
        if let error = error as? SweepError { return error.message }
        if let error = error as? ValidationError { return error.message }
        let message = fullMessage(for: error)
        if message.isEmpty { return nil }
        // Argument-parser errors: keep the first line, which names the problem.
        var first = message.split(separator: "\n").first.map(String.init) ?? message
        if first.hasPrefix("Error: ") { first.removeFirst("Error: ".count) }
        return first
    }
}
