import Foundation

/// Per-cell statistics over repetitions: mean, standard deviation and a 95 % confidence interval
/// (Student's t) for throughput and latency percentiles.
public enum Aggregation {
    public struct Stats: Equatable {
        public var mean: Double
        public var stddev: Double
        public var ci95: Double
        public var count: Int
    }

    public static func stats(_ values: [Double]) -> Stats {
        let n = values.count
        guard n > 0 else { return Stats(mean: 0, stddev: 0, ci95: 0, count: 0) }
        let mean = values.reduce(0, +) / Double(n)
        guard n > 1 else { return Stats(mean: mean, stddev: 0, ci95: 0, count: 1) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        let stddev = variance.squareRoot()
        return Stats(mean: mean, stddev: stddev, ci95: tQuantile975(degrees: n - 1) * stddev / Double(n).squareRoot(), count: n)
    }

    /// The 97.5th percentile of Student's t distribution (two-sided 95 %).
    static func tQuantile975(degrees: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        if degrees >= 1 && degrees <= table.count { return table[degrees - 1] }
        return 1.960
    }

    static let metrics = ["throughput_ops_s", "p50_us", "p99_us", "p999_us", "availability"]

    /// `aggregate.csv`: one line per cell, mean/stddev/ci95 for each metric.
    public static func csv(_ rows: [(cell: Cell, outcome: CellOutcome)]) -> String {
        var header = ["cell", "protocol", "mode", "repetitions", "verdicts"]
        for metric in metrics { header += ["\(metric)_mean", "\(metric)_stddev", "\(metric)_ci95"] }
        var lines = [header.joined(separator: ",")]
        var order: [String] = []
        var groups: [String: [(Cell, CellOutcome)]] = [:]
        for (cell, outcome) in rows {
            if groups[cell.name] == nil { order.append(cell.name) }
            groups[cell.name, default: []].append((cell, outcome))
        }
        for name in order {
            let group = groups[name]!
            let ok = group.filter { !$0.1.failed }
            var fields = [name, group[0].0.protocolName, group[0].0.mode.rawValue, "\(ok.count)",
                          Set(group.map(\.1.verdict)).sorted().joined(separator: "|")]
            for metric in metrics {
                let s = stats(ok.compactMap { Double($0.1.row[metric] ?? "") })
                fields += [format(s.mean, digits: 3), format(s.stddev, digits: 3), format(s.ci95, digits: 3)]
            }
            lines.append(fields.map(CSV.escape).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
