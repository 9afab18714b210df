import ArgumentParser
import BenchCore
import Experiment
import Foundation

/// The sweep parameters shared by `bench sim` and `bench sweep`. Every parameter takes a
/// comma-separated list; the cells are the cartesian product.
struct SweepOptions: ParsableArguments {
    @Option(name: [.customLong("protocols"), .customLong("protocol")], help: "Protocols to run (see: bench list).")
    var protocols: String = "raft"

    @Option(help: "Cluster sizes.")
    var nodes: String = "3"

    @Option(help: "Concurrent client sessions (closed loop).")
    var clients: String = "8"

    @Option(name: .customLong("read-ratio"), help: "Share of operations that are reads, 0...1.")
    var readRatio: String = "0.5"

    @Option(name: .customLong("value-size"), help: "Bytes per written value (8 or more).")
    var valueSize: String = "64"

    @Option(help: "Number of distinct keys.")
    var keys: String = "1000"

    @Option(help: "Key distribution: uniform, zipf[:theta], hotspot[:fraction:probability].")
    var distribution: String = "uniform"

    @Option(help: "Probability that a peer message is dropped, 0...1.")
    var drop: String = "0"

    @Option(help: "Probability that a peer message is delivered twice, 0...1.")
    var duplicate: String = "0"

    @Option(name: .customLong("set"), help: "A protocol setting, key=value[,value...] (repeatable; several values are an axis).")
    var settings: [String] = []

    @Option(help: "Repetitions of each cell (different seeds).")
    var `repeat`: Int = 1

    @Option(help: "Measurement time per cell (e.g. 2s, 500ms).")
    var duration: String = "2s"

    @Option(help: "Warm-up time per cell before measuring.")
    var warmup: String = "500ms"

    @Option(help: "Seed of the first repetition.")
    var seed: UInt64 = 1

    @Option(help: "Directory that receives results/<run-id>/.")
    var results: String = "results"

    func spec(mode: RunMode) throws(SweepError) -> SweepSpec {
        var spec = SweepSpec()
        spec.mode = mode
        spec.protocols = try Lists.strings(protocols, "protocols").map { $0.lowercased() }
        spec.nodes = try Lists.ints(nodes, "nodes")
        spec.clients = try Lists.ints(clients, "clients")
        spec.readRatios = try Lists.doubles(readRatio, "read-ratio")
        spec.valueSizes = try Lists.ints(valueSize, "value-size")
        spec.keys = try Lists.ints(keys, "keys")
        spec.distributions = try Lists.strings(distribution, "distribution").map { text throws(SweepError) in
            guard let d = KeyDistribution(parsing: text) else { throw SweepError("--distribution '\(text)': expected uniform, zipf[:theta] or hotspot[:fraction:probability]") }
            return d
        }
        spec.drops = try Lists.doubles(drop, "drop")
        spec.duplicates = try Lists.doubles(duplicate, "duplicate")
        spec.settings = try settings.map { item throws(SweepError) in
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw SweepError("--set '\(item)': expected key=value") }
            return (key: parts[0], values: try Lists.strings(parts[1], "set \(parts[0])"))
        }
        spec.repetitions = self.repeat
        guard let d = Duration(parsing: duration), d > .zero else { throw SweepError("--duration '\(duration)': expected a positive duration like 2s") }
        guard let w = Duration(parsing: warmup) else { throw SweepError("--warmup '\(warmup)': expected a duration like 500ms") }
        spec.duration = d
        spec.warmup = w
        spec.seed = seed
        return spec
    }
}

/// Comma-separated list parsing with one-line errors.
enum Lists {
    static func strings(_ text: String, _ name: String) throws(SweepError) -> [String] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !items.contains(where: \.isEmpty) else { throw SweepError("--\(name) '\(text)': empty list item") }
        return items
    }

    static func ints(_ text: String, _ name: String) throws(SweepError) -> [Int] {
        try strings(text, name).map { item throws(SweepError) in
            guard let v = Int(item) else { throw SweepError("--\(name) '\(item)': not an integer") }
            return v
        }
    }

    static func doubles(_ text: String, _ name: String) throws(SweepError) -> [Double] {
        try strings(text, name).map { item throws(SweepError) in
            guard let v = Double(item), v.isFinite else { throw SweepError("--\(name) '\(item)': not a number") }
            return v
        }
    }
}
