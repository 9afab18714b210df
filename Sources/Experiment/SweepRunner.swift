import BenchCore
import Foundation
import LoadGen

/// Runs a sweep cell by cell, appending each row as it finishes, with a live progress line.
public final class SweepRunner {
    public let spec: SweepSpec
    public let cells: [Cell]
    public let skipped: [SkippedCell]
    public var resultsRoot: URL
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    /// Set by a signal handler: the sweep stops after the current cell and keeps finished rows.
    nonisolated(unsafe) public static var interrupted = false

    public init(spec: SweepSpec, resultsRoot: URL) throws(SweepError) {
        self.spec = spec
        let expanded = try spec.expand()
        self.cells = expanded.cells
        self.skipped = expanded.skipped
        self.resultsRoot = resultsRoot
    }

    public struct Summary {
        public var directory: URL
        public var outcomes: [(cell: Cell, repetition: Int, outcome: CellOutcome)]
        public var wallSeconds: Double
        public var interrupted: Bool
    }

    /// The seed of a repetition: consecutive from the sweep's seed, the same for every cell, so
    /// cells that differ in one parameter see the same randomness.
    public func seed(repetition: Int) -> UInt64 { spec.seed &+ UInt64(repetition - 1) }

    public func run(command: String) throws -> Summary {
        for skip in skipped { log(skip.description) }
        let started = Date()
        let git = Environment.gitSHA()
        let manifest = Manifest(
            command: command, gitSHA: git.sha, gitDirty: git.dirty, machine: Environment.machine(),
            swiftVersion: Environment.swiftVersion(), allocator: spec.mode == .sim ? "none" : "see rows",
            mode: spec.mode.rawValue, parameters: spec.parameterDescription,
            seeds: (1...spec.repetitions).map(seed(repetition:)), cells: cells.count,
            skipped: skipped.map(\.description), started: Manifest.timestamp(started), ended: nil, complete: false)
        let writer = try ResultsWriter(root: resultsRoot, runID: ResultsWriter.makeRunID(mode: spec.mode), manifest: manifest)
        log("results: \(writer.directory.path)")
        if spec.mode == .real, let note = Allocators.fallbackNote(for: spec.allocator) { log(note) }
        // Node data, logs and client results of real cells live here while a cell runs.
        let workRoot = FileManager.default.temporaryDirectory.appendingPathComponent("consensusbench-\(writer.runID)")
        defer { try? FileManager.default.removeItem(at: workRoot) }

        var outcomes: [(Cell, Int, CellOutcome)] = []
        let total = cells.count * spec.repetitions
        var done = 0
        var stopped = false
        outer: for cell in cells {
            let descriptor = ProtocolCatalog.named(cell.protocolName)!
            for repetition in 1...spec.repetitions {
                if Self.interrupted { stopped = true; break outer }
                progress(done: done, total: total, started: started, current: cell.name, last: outcomes.last?.2)
                let seed = seed(repetition: repetition)
                var outcome: CellOutcome
                do {
                    switch cell.mode {
                    case .sim: outcome = try SimulatedCell.run(cell, repetition: repetition, seed: seed, descriptor: descriptor)
                    case .real:
                        outcome = try RealCell.run(cell, repetition: repetition, seed: seed, descriptor: descriptor,
                                                   workRoot: workRoot, interrupted: { Self.interrupted })
                    }
                } catch {
                    var row = ResultRow.describing(cell, repetition: repetition, seed: seed)
                    row["status"] = "failed: \(error)"
                    outcome = CellOutcome(row: row, histogram: LatencyHistogram(), throughput: 0, verdict: "failed", failed: true)
                }
                outcome.row["run_id"] = writer.runID
                try writer.append(outcome.row)
                let histogramName = spec.repetitions > 1 ? "\(cell.name)-rep\(repetition)" : cell.name
                try writer.writeHistogram(outcome.histogram, cell: histogramName)
                if let series = outcome.timeSeries {
                    try writer.writeFile("timeseries/\(histogramName).csv", contents: series)
                }
                if let counterexample = outcome.counterexample {
                    try writer.writeFile("violations/\(histogramName).txt", contents: counterexample + "\n")
                    log("VIOLATION in \(histogramName): see \(writer.directory.path)/violations/\(histogramName).txt")
                }
                outcomes.append((cell, repetition, outcome))
                done += 1
            }
        }
        clearProgress()
        if spec.repetitions > 1 {
            try writer.writeFile("aggregate.csv", contents: Aggregation.csv(outcomes.map { ($0.0, $0.2) }))
        }
        try writer.updateManifest {
            $0.ended = Manifest.timestamp()
            $0.complete = !stopped
        }
        return Summary(directory: writer.directory, outcomes: outcomes.map { (cell: $0.0, repetition: $0.1, outcome: $0.2) },
                       wallSeconds: Date().timeIntervalSince(started), interrupted: stopped)
    }

    // MARK: Progress

    let isTerminal = isatty(STDERR_FILENO) != 0

    func progress(done: Int, total: Int, started: Date, current: String, last: CellOutcome?) {
        let elapsed = Date().timeIntervalSince(started)
        let eta = done == 0 ? "?" : "\(Int((elapsed / Double(done)) * Double(total - done)))s"
        var line = "[\(done + 1)/\(total)] elapsed \(Int(elapsed))s eta \(eta) | \(current)"
        if let last { line += " | last: \(format(last.throughput, digits: 0)) ops/s \(last.verdict)" }
        if isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            log(line)
        }
    }

    func clearProgress() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

extension SweepSpec {
    /// Every parameter as text, for the manifest.
    var parameterDescription: [String: String] {
        [
            "protocols": protocols.joined(separator: ","), "mode": mode.rawValue,
            "nodes": nodes.map(String.init).joined(separator: ","),
            "n": n.map(String.init).joined(separator: ","), "w": w.map(String.init).joined(separator: ","),
            "r": r.map(String.init).joined(separator: ","),
            "clients": clients.map(String.init).joined(separator: ","),
            "rate": rates.map { "\($0)" }.joined(separator: ","), "arrival": poissonArrivals ? "poisson" : "constant",
            "client_processes": clientProcesses.map(String.init) ?? "auto", "allocator": allocator.rawValue,
            "resilience": resilience.map(\.name).joined(separator: ","),
            "read_ratio": readRatios.map { "\($0)" }.joined(separator: ","),
            "value_size": valueSizes.map(String.init).joined(separator: ","),
            "keys": keys.map(String.init).joined(separator: ","),
            "distribution": distributions.map(\.description).joined(separator: ","),
            "drop": drops.map { "\($0)" }.joined(separator: ","),
            "duplicate": duplicates.map { "\($0)" }.joined(separator: ","),
            "faults": faults.description,
            "settings": settings.map { "\($0.key)=\($0.values.joined(separator: ","))" }.joined(separator: ";"),
            "repeat": "\(repetitions)", "duration": duration.description, "warmup": warmup.description,
            "seed": "\(seed)",
        ]
    }
}
