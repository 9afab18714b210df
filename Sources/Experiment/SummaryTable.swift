/// The readable table printed at the end of a sweep.
public enum SummaryTable {
    public static func render(_ summary: SweepRunner.Summary) -> String {
        let headers = ["cell", "rep", "ops/s", "p50 µs", "p99 µs", "p999 µs", "verdict", "status"]
        var rows: [[String]] = []
        for (cell, repetition, outcome) in summary.outcomes {
            rows.append([cell.name, "\(repetition)", outcome.row["throughput_ops_s"] ?? "", outcome.row["p50_us"] ?? "",
                         outcome.row["p99_us"] ?? "", outcome.row["p999_us"] ?? "", outcome.verdict,
                         outcome.row["status"] ?? ""])
        }
        var widths = headers.map(\.count)
        for row in rows { for (i, field) in row.enumerated() { widths[i] = max(widths[i], field.count) } }
        func line(_ fields: [String]) -> String {
            fields.enumerated().map { i, f in i == 0 || i >= 6 ? f.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - f.count) + f }.joined(separator: "  ")
        }
        var out = [line(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        out.append("")
        out.append("\(summary.outcomes.count) rows in \(Int(summary.wallSeconds.rounded()))s -> \(summary.directory.path)/summary.csv"
                   + (summary.interrupted ? " (interrupted: finished rows kept)" : ""))
        return out.joined(separator: "\n")
    }
}

import Foundation
