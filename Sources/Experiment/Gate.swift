import BenchCore
import CReference
import Foundation

/// `bench gate`: a fixed, small sweep compared with a committed baseline, so CI stops a change
/// that makes a protocol slower or unsafe without crying wolf on a noisy machine.
///
/// - Simulated cells are deterministic: their figures must match the baseline exactly; a change in
///   the good direction is reported as an improvement, in the bad direction as a regression.
/// - Real cells run several times, interleaved; each figure is divided by a calibration measured in
///   the same run (loopback round trip + fdatasync), medians are compared with per-metric tolerances.
/// - Any correctness violation fails the gate outright.
public enum Gate {
    public enum Verdict: String, Sendable { case pass = "ok", improved, regressed = "REGRESSION", failed = "FAILED" }

    public struct Line: Sendable {
        public var metric: String
        public var baseline: String
        public var now: String
        public var change: String
        public var verdict: Verdict
    }

    public struct Options: Sendable {
        public var baseline: URL
        public var update = false
        public var sim = true
        public var real = true
        public var repetitions = 3
        /// Settings forced on every cell (how a test plants a regression: `batch-entries=1`).
        public var plant: [(String, String)] = []
        public var log: @Sendable (String) -> Void = { _ in }
        public init(baseline: URL) { self.baseline = baseline }
    }

    /// Which way is better for a metric.
    enum Direction { case higher, lower }

    static let simMetrics: [(String, Direction)] = [
        ("throughput_ops_s", .higher), ("p50_us", .lower), ("p99_us", .lower), ("p999_us", .lower),
        ("messages_per_op", .lower), ("fsyncs_per_op", .lower), ("availability", .higher),
    ]

    /// The fixed simulated sweep: every protocol, 3 nodes, closed loop, one clean and one lossy cell.
    public static func simulatedSpec() -> SweepSpec {
        var spec = SweepSpec()
        spec.mode = .sim
        spec.protocols = ProtocolCatalog.names
        spec.nodes = [3]
        spec.clients = [8]
        spec.drops = [0, 0.05]
        spec.duration = .seconds(1)
        spec.warmup = .milliseconds(300)
        spec.seed = 1
        return spec
    }

    /// The fixed real sweep: Raft on 3 nodes at 1 and 32 clients.
    public static func realSpec() -> SweepSpec {
        var spec = SweepSpec()
        spec.mode = .real
        spec.protocols = ["raft"]
        spec.nodes = [3]
        spec.clients = [1, 32]
        spec.duration = .seconds(2)
        spec.warmup = .milliseconds(300)
        spec.allocator = .jemalloc
        return spec
    }

    static func apply(_ plant: [(String, String)], to spec: inout SweepSpec) {
        for (key, value) in plant { spec.settings.append((key: key, values: [value])) }
    }

    // MARK: Simulated part

    /// Runs the simulated sweep: one row of metrics per cell, keyed by cell name.
    static func runSimulated(_ options: Options) throws -> [String: [String: String]] {
        var spec = simulatedSpec()
        apply(options.plant, to: &spec)
        var rows: [String: [String: String]] = [:]
        for cell in try spec.expand().cells {
            let descriptor = ProtocolCatalog.named(cell.protocolName)!
            options.log("gate sim: \(cell.name)")
            let outcome = try SimulatedCell.run(cell, repetition: 1, seed: spec.seed, descriptor: descriptor)
            rows[baseName(cell)] = outcome.row.values
        }
        return rows
    }

    /// A cell's name without the planted settings, so a planted run compares with the baseline.
    static func baseName(_ cell: Cell) -> String {
        "\(cell.protocolName)-n\(cell.nodes)-c\(cell.clients)-drop\(cell.faults.dropProbability)" + (cell.rate.map { "-rate\(Int($0))" } ?? "")
    }

    static func compareSimulated(now: [String: [String: String]], baseline: [String: [String: String]]) -> [Line] {
        var lines: [Line] = []
        for cell in baseline.keys.sorted() {
            guard let current = now[cell] else {
                lines.append(Line(metric: "\(cell)", baseline: "present", now: "missing", change: "", verdict: .failed))
                continue
            }
            if current["violations"] != "0" {
                lines.append(Line(metric: "\(cell) violations", baseline: baseline[cell]?["violations"] ?? "", now: current["violations"] ?? "",
                                  change: "", verdict: .failed))
            }
            for (metric, direction) in simMetrics {
                let b = Double(baseline[cell]?[metric] ?? "") ?? .nan
                let n = Double(current[metric] ?? "") ?? .nan
                lines.append(compare("\(cell) \(metric)", baseline: b, now: n, direction: direction, tolerance: 0))
            }
        }
        for cell in now.keys.sorted() where baseline[cell] == nil {
            lines.append(Line(metric: "\(cell)", baseline: "missing", now: "new cell", change: "", verdict: .pass))
        }
        return lines
    }

    /// `tolerance` is the relative change allowed in the bad direction before it is a regression.
    static func compare(_ metric: String, baseline b: Double, now n: Double, direction: Direction, tolerance: Double) -> Line {
        func show(_ x: Double) -> String { x.isNaN ? "-" : format(x, digits: 4) }
        guard !b.isNaN, !n.isNaN else {
            return Line(metric: metric, baseline: show(b), now: show(n), change: "", verdict: b.isNaN && n.isNaN ? .pass : .failed)
        }
        let change = b == 0 ? (n == 0 ? 0 : .infinity) : (n - b) / abs(b)
        let changeText = change == 0 ? "0" : "\(change > 0 ? "+" : "")\(format(change * 100, digits: 2))%"
        let worse = direction == .higher ? -change : change
        let verdict: Verdict = worse > tolerance ? .regressed : (worse < 0 ? .improved : .pass)
        return Line(metric: metric, baseline: show(b), now: show(n), change: changeText, verdict: verdict)
    }

    // MARK: Real part

    struct Calibration {
        var roundTripMicros: Double
        var fsyncMicros: Double
        var floorMicros: Double { roundTripMicros + fsyncMicros }
    }

    static func calibrate(scratch: URL) -> Calibration? {
        var rtt = [UInt64](repeating: 0, count: 5_000)
        var sync = [UInt64](repeating: 0, count: 200)
        guard cref_tcp_ping_pong(5_000, 64, &rtt) == 0,
              cref_append_fdatasync(scratch.appendingPathComponent("cb-gate-fsync-\(getpid())").path, 200, 128, &sync) == 0 else { return nil }
        return Calibration(roundTripMicros: Double(rtt[2_500]) / 1e3, fsyncMicros: Double(sync[100]) / 1e3)
    }

    /// Normalized real figures: latency in floors (÷ RTT + fsync), throughput in operations per floor.
    static func runReal(_ options: Options) throws -> (figures: [String: [String: Double]], violations: [String], calibration: [Double]) {
        var spec = realSpec()
        apply(options.plant, to: &spec)
        let cells = try spec.expand().cells
        var samples: [String: [String: [Double]]] = [:]
        var violations: [String] = []
        var floors: [Double] = []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cb-gate-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        for repetition in 1...options.repetitions {
            // Interleaved: every cell once per repetition, each beside a fresh calibration.
            for cell in cells {
                guard let calibration = calibrate(scratch: FileManager.default.temporaryDirectory) else {
                    throw SweepError("cannot calibrate (loopback socket or fdatasync failed)")
                }
                floors.append(calibration.floorMicros)
                options.log("gate real: \(cell.name) repetition \(repetition) (floor \(format(calibration.floorMicros, digits: 0)) µs)")
                let outcome = try RealCell.run(cell, repetition: repetition, seed: UInt64(repetition), descriptor: ProtocolCatalog.named(cell.protocolName)!,
                                               workRoot: work, interrupted: { SweepRunner.interrupted })
                if outcome.row["violations"] != "0" { violations.append("\(cell.name): \(outcome.verdict)") }
                let name = baseName(cell)
                let p50 = Double(outcome.row["p50_us"] ?? "") ?? .nan
                let p99 = Double(outcome.row["p99_us"] ?? "") ?? .nan
                let throughput = Double(outcome.row["throughput_ops_s"] ?? "") ?? .nan
                samples[name, default: [:]]["p50_floors", default: []].append(p50 / calibration.floorMicros)
                samples[name, default: [:]]["p99_floors", default: []].append(p99 / calibration.floorMicros)
                samples[name, default: [:]]["ops_per_floor", default: []].append(throughput * calibration.floorMicros / 1e6)
            }
        }
        var figures: [String: [String: Double]] = [:]
        for (cell, metrics) in samples {
            for (metric, values) in metrics { figures[cell, default: [:]][metric] = Microbenchmarks.median(values) }
        }
        return (figures, violations, floors)
    }

    static let realMetrics: [(String, Direction)] = [("p50_floors", .lower), ("p99_floors", .lower), ("ops_per_floor", .higher)]

    /// Per-metric tolerances for real cells (relative change allowed in the bad direction).
    public static func tolerances(at url: URL) -> [String: Double] {
        guard let data = try? Data(contentsOf: url),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Double] else {
            return ["p50_floors": 1.0, "p99_floors": 2.0, "ops_per_floor": 0.5]
        }
        return object
    }

    // MARK: Running the gate

    public struct Report: Sendable {
        public var lines: [Line]
        public var exitCode: Int32
        public var seconds: Double
    }

    public static func run(_ options: Options) throws -> Report {
        let started = Date()
        var lines: [Line] = []
        let fm = FileManager.default
        let simFile = options.baseline.appendingPathComponent("sim.json")
        let realFile = options.baseline.appendingPathComponent("real.json")
        if !options.update {
            if options.sim && !fm.fileExists(atPath: simFile.path) { throw SweepError("no baseline at \(simFile.path) (run bench gate --update first)") }
            if options.real && !fm.fileExists(atPath: realFile.path) { throw SweepError("no baseline at \(realFile.path) (run bench gate --update first)") }
        }
        if options.sim {
            let now = try runSimulated(options)
            if options.update {
                try write(now, to: simFile)
            } else {
                let baseline = try JSONDecoder().decode([String: [String: String]].self, from: Data(contentsOf: simFile))
                lines += compareSimulated(now: now, baseline: baseline)
            }
        }
        if options.real {
            let (figures, violations, floors) = try runReal(options)
            for violation in violations { lines.append(Line(metric: "correctness", baseline: "0", now: violation, change: "", verdict: .failed)) }
            if options.update {
                try write(figures, to: realFile)
                let tolerancesFile = options.baseline.appendingPathComponent("tolerances.json")
                if !fm.fileExists(atPath: tolerancesFile.path) { try write(tolerances(at: tolerancesFile), to: tolerancesFile) }
            } else {
                let baseline = try JSONDecoder().decode([String: [String: Double]].self, from: Data(contentsOf: realFile))
                let tolerance = tolerances(at: options.baseline.appendingPathComponent("tolerances.json"))
                for cell in baseline.keys.sorted() {
                    for (metric, direction) in realMetrics {
                        lines.append(compare("\(cell) \(metric)", baseline: baseline[cell]?[metric] ?? .nan,
                                             now: figures[cell]?[metric] ?? .nan, direction: direction,
                                             tolerance: tolerance[metric] ?? 0.5))
                    }
                }
            }
            let sorted = floors.sorted()
            if !sorted.isEmpty {
                lines.append(Line(metric: "calibration floor (RTT + fdatasync), µs", baseline: "", now: format(sorted[sorted.count / 2], digits: 1),
                                  change: "min \(format(sorted.first!, digits: 1)) max \(format(sorted.last!, digits: 1))", verdict: .pass))
            }
        }
        if options.update {
            var manifest: [String: String] = ["updated": Manifest.timestamp(), "gitSHA": Environment.gitSHA().sha,
                                              "swiftVersion": Environment.swiftVersion()]
            let machine = Environment.machine()
            manifest["machine"] = "\(machine.cpuModel), \(machine.cpus) CPUs, \(machine.os)"
            manifest["simulatedSweep"] = simulatedSpec().parameterDescription.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            manifest["realSweep"] = realSpec().parameterDescription.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            manifest["repetitions"] = "\(options.repetitions)"
            try write(manifest, to: options.baseline.appendingPathComponent("manifest.json"))
        }
        let failed = lines.contains { $0.verdict == .failed || $0.verdict == .regressed }
        return Report(lines: lines, exitCode: failed ? 1 : 0, seconds: Date().timeIntervalSince(started))
    }

    static func write<T: Encodable>(_ value: T, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(value).write(to: url, options: .atomic)
    }

    public static func render(_ report: Report, verbose: Bool) -> String {
        let shown = verbose ? report.lines : report.lines.filter { $0.verdict != .pass || $0.metric.hasPrefix("calibration") }
        var out = ["metric | baseline | now | change | verdict", "---|---|---|---|---"]
        out += shown.map { "\($0.metric) | \($0.baseline) | \($0.now) | \($0.change) | \($0.verdict.rawValue)" }
        let counts = Dictionary(grouping: report.lines, by: \.verdict).mapValues(\.count)
        out.append("")
        out.append("\(report.lines.count) figures: \(counts[.pass] ?? 0) ok, \(counts[.improved] ?? 0) improved, "
                   + "\(counts[.regressed] ?? 0) regressed, \(counts[.failed] ?? 0) failed, in \(Int(report.seconds.rounded()))s")
        return out.joined(separator: "\n")
    }
}
