import ArgumentParser
import Experiment
import Foundation

/// `bench micro`: hot-path microbenchmarks, each beside its same-run reference.
struct MicroCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "micro",
        abstract: "Microbenchmarks of the hot path, each beside a reference measured in the same run.",
        discussion: "Groups: ring, codec, raft, sim, checker, log, transport, cluster. Exit 1 if a ratio misses its bound.")

    @Option(help: "Repetitions (interleaved; medians are reported).")
    var repetitions: Int = 5

    @Option(help: "Comma-separated groups to run (default: all).")
    var only: String?

    @Option(help: "Directory for scratch files (disk benchmarks run there).")
    var scratch: String = FileManager.default.temporaryDirectory.path

    func run() throws {
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        var options = Microbenchmarks.Options()
        options.repetitions = repetitions
        options.scratch = URL(fileURLWithPath: scratch)
        options.only = Set(only?.split(separator: ",").map(String.init) ?? [])
        options.log = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let figures = try Microbenchmarks.run(options)
        print(Microbenchmarks.render(figures))
        if figures.contains(where: { $0.pass == false }) { throw ExitCode(1) }
    }
}
