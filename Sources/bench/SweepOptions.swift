import ArgumentParser
import BenchCore
import Experiment
import Foundation

/// The sweep parameters shared by `bench sweep`, `bench sim` and the default run. Every parameter
/// takes a comma-separated list; the cells are the cartesian product. A sweep file (--file, YAML
/// with the same keys) supplies values the command line does not give.
struct SweepOptions: ParsableArguments {
    @Option(help: "A sweep file (YAML) whose keys are these options' names, e.g. `nodes: [3, 5]`.")
    var file: String?

    @Option(name: [.customLong("protocols"), .customLong("protocol")], help: "Protocols to run (see: bench list). [default: raft]")
    var protocols: String?

    @Option(help: "Cluster sizes. [default: 3]")
    var nodes: String?

    @Option(help: "NWR: replicas per key (quorum protocols only).")
    var n: String?

    @Option(help: "NWR: write quorums.")
    var w: String?

    @Option(help: "NWR: read quorums.")
    var r: String?

    @Option(help: "Concurrent client sessions (closed loop). [default: 8]")
    var clients: String?

    @Option(help: "Open loop: target operations/s over all clients (omit for closed loop).")
    var rate: String?

    @Option(help: "Open-loop arrivals: constant or poisson. [default: poisson]")
    var arrival: String?

    @Option(name: .customLong("client-processes"), help: "Client processes per real cell. [default: min(clients, 2)]")
    var clientProcesses: Int?

    @Option(name: .customLong("read-ratio"), help: "Share of operations that are reads, 0...1. [default: 0.5]")
    var readRatio: String?

    @Option(name: .customLong("value-size"), help: "Bytes per written value (8 or more). [default: 64]")
    var valueSize: String?

    @Option(help: "Number of distinct keys. [default: 1000]")
    var keys: String?

    @Option(help: "Key distribution: uniform, zipf[:theta], hotspot[:fraction:probability]. [default: uniform]")
    var distribution: String?

    @Option(help: "Probability that a peer message is dropped, 0...1. [default: 0]")
    var drop: String?

    @Option(help: "Probability that a peer message is delivered twice, 0...1. [default: 0]")
    var duplicate: String?

    @Option(help: "Workload kinds (an axis) replacing a protocol's own where they are of its sort: bank[:K] (accounts per transfer, 2PC/3PC), locks[:count=N][:lease=D][:margin=D][:hold=D][:crash=P][:cutoff=P] (lease-locks).")
    var workload: String?

    @Option(help: "Client resilience policies (an axis): default, none, backoff, protected, degrade, optionally +token:RATE / +leaky:RATE.")
    var resilience: String?

    @Option(help: "Extra one-way delay of peer messages, with jitter: 1ms~0.5ms.")
    var delay: String?

    @Option(help: "Crash nodes during the measurement: leader@2s, follower@3s, random@1s or <id>@2s (comma-separated).")
    var crash: String?

    @Option(help: "Restart crashed nodes this long after their crash (4s), or at a time (@6s).")
    var restart: String?

    @Option(help: "Partition during the measurement: minority@3s-8s, leader@2s-5s, leader-minority@.., bridge@.., 1+2|3+4+5@...")
    var partition: String?

    @Option(help: "Clock skew: each node's clock off by up to this much (for leases): 50ms.")
    var skew: String?

    @Option(help: "Clock drift bound in parts per million (simulator only).")
    var drift: String?

    @Option(name: .customLong("slow-disk"), help: "Extra time before every disk sync completes: 2ms.")
    var slowDisk: String?

    @Option(name: .customLong("set"), help: "A protocol setting, key=value[,value...] (repeatable; several values are an axis).")
    var settings: [String] = []

    @Option(help: "Repetitions of each cell (different seeds). [default: 1]")
    var `repeat`: Int?

    @Option(help: "Measurement time per cell (e.g. 2s, 500ms). [default: 2s]")
    var duration: String?

    @Option(help: "Warm-up time per cell before measuring. [default: 500ms]")
    var warmup: String?

    @Option(help: "Seed of the first repetition. [default: 1]")
    var seed: UInt64?

    @Option(help: "Allocator of node and client processes: jemalloc or system. [default: jemalloc]")
    var allocator: String?

    @Option(help: "Directory that receives results/<run-id>/. [default: results]")
    var results: String?

    /// The sweep these options (and the file) describe. Throws one-line errors for bad input.
    func spec(mode: RunMode, defaults: SweepSpec = SweepSpec()) throws(SweepError) -> SweepSpec {
        let fileValues = try file.map { path throws(SweepError) in try SweepFile.load(path) } ?? [:]
        func value(_ cli: String?, _ key: String) -> String? { cli ?? fileValues[key] }

        var spec = defaults
        spec.mode = mode
        if let v = value(protocols, "protocols") { spec.protocols = try Lists.strings(v, "protocols").map { $0.lowercased() } }
        if let v = value(nodes, "nodes") { spec.nodes = try Lists.ints(v, "nodes") }
        if let v = value(n, "n") { spec.n = try Lists.ints(v, "n") }
        if let v = value(w, "w") { spec.w = try Lists.ints(v, "w") }
        if let v = value(r, "r") { spec.r = try Lists.ints(v, "r") }
        if let v = value(clients, "clients") { spec.clients = try Lists.ints(v, "clients") }
        if let v = value(rate, "rate") { spec.rates = try Lists.doubles(v, "rate") }
        if let v = value(arrival, "arrival") {
            guard v == "poisson" || v == "constant" else { throw SweepError("--arrival '\(v)': expected constant or poisson") }
            spec.poissonArrivals = v == "poisson"
        }
        if let v = clientProcesses ?? fileValues["client-processes"].flatMap({ Int($0) }) { spec.clientProcesses = v }
        if let v = value(resilience, "resilience") {
            spec.resilience = try Lists.strings(v, "resilience").map { text throws(SweepError) in
                guard let policy = ResiliencePolicy(parsing: text) else {
                    throw SweepError("--resilience '\(text)': expected default, none, backoff, protected or degrade, optionally +token:RATE or +leaky:RATE")
                }
                return policy
            }
        }
        if let v = value(workload, "workload") {
            spec.workloadKinds = try Lists.strings(v, "workload").map { text throws(SweepError) in
                guard let kind = WorkloadKind(parsing: text) else {
                    throw SweepError("--workload '\(text)': expected kv, bank[:K] or locks[:count=N][:lease=D][:margin=D][:hold=D][:crash=P][:cutoff=P]")
                }
                return kind
            }
        }
        if let v = value(readRatio, "read-ratio") { spec.readRatios = try Lists.doubles(v, "read-ratio") }
        if let v = value(valueSize, "value-size") { spec.valueSizes = try Lists.ints(v, "value-size") }
        if let v = value(keys, "keys") { spec.keys = try Lists.ints(v, "keys") }
        if let v = value(distribution, "distribution") {
            spec.distributions = try Lists.strings(v, "distribution").map { text throws(SweepError) in
                guard let d = KeyDistribution(parsing: text) else {
                    throw SweepError("--distribution '\(text)': expected uniform, zipf[:theta] or hotspot[:fraction:probability]")
                }
                return d
            }
        }
        if let v = value(drop, "drop") { spec.drops = try Lists.doubles(v, "drop") }
        if let v = value(duplicate, "duplicate") { spec.duplicates = try Lists.doubles(v, "duplicate") }
        let settingItems = settings + (fileValues["set"].map { $0.split(separator: ";").map(String.init) } ?? [])
        spec.settings = try settingItems.map { item throws(SweepError) in
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw SweepError("--set '\(item)': expected key=value") }
            return (key: parts[0], values: try Lists.strings(parts[1], "set \(parts[0])"))
        }
        do {
            let faults = try FaultSyntax.schedule(
                delay: value(delay, "delay"), crash: value(crash, "crash"), restart: value(restart, "restart"),
                partition: value(partition, "partition"), skew: value(skew, "skew"), drift: value(drift, "drift"),
                slowDisk: value(slowDisk, "slow-disk"))
            spec.faults.extraDelay = faults.extraDelay
            spec.faults.extraDelayJitter = faults.extraDelayJitter
            spec.faults.events = faults.events
            spec.faults.clockSkewMax = faults.clockSkewMax
            spec.faults.clockDriftPPM = faults.clockDriftPPM
            spec.faults.slowDisk = faults.slowDisk
        } catch {
            throw SweepError(error.message)
        }
        if let v = self.repeat ?? fileValues["repeat"].flatMap({ Int($0) }) { spec.repetitions = v }
        if let v = value(duration, "duration") {
            guard let d = BenchCore.Duration(parsing: v), d > .zero else { throw SweepError("--duration '\(v)': expected a positive duration like 2s") }
            spec.duration = d
        }
        if let v = value(warmup, "warmup") {
            guard let d = BenchCore.Duration(parsing: v) else { throw SweepError("--warmup '\(v)': expected a duration like 500ms") }
            spec.warmup = d
        }
        if let v = seed ?? fileValues["seed"].flatMap({ UInt64($0) }) { spec.seed = v }
        if let v = value(allocator, "allocator") {
            guard let choice = AllocatorChoice(rawValue: v) else { throw SweepError("--allocator '\(v)': expected jemalloc or system") }
            spec.allocator = choice
        }
        return spec
    }

    var resultsDirectory: String { results ?? "results" }
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
