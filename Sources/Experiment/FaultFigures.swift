import BenchCore
import Checker
import LoadGen

/// Availability and recovery figures computed the same way for both modes, from the merged
/// history and the log of injected faults.
enum FaultFigures {
    struct Bucket {
        var ok = 0
        var failed = 0
        var latency = LatencyHistogram()
    }

    /// Successful and failed operations per `width` from `origin` to `end`, by completion time,
    /// with each bucket's latency histogram (completion − invocation).
    static func timeSeries(_ history: History, origin: Instant, end: Instant, width: Duration = .milliseconds(100)) -> [Bucket] {
        let count = max(1, Int((end - origin).nanoseconds / width.nanoseconds) + 1)
        var buckets = Array(repeating: Bucket(), count: count)
        for op in history.operations where op.status != .unknown || op.kind == .write {
            let at = op.status == .unknown ? op.invoke : op.complete
            let index = Int((at - origin).nanoseconds / width.nanoseconds)
            guard at >= origin, index < count else { continue }
            if op.status == .ok {
                buckets[index].ok += 1
                buckets[index].latency.record(op.complete - op.invoke)
            } else {
                buckets[index].failed += 1
            }
        }
        return buckets
    }

    static func csv(_ buckets: [Bucket], width: Duration = .milliseconds(100)) -> String {
        var lines = ["bucket_start_ms,ops_ok,ops_failed,throughput_ops_s,p50_us,p99_us"]
        for (i, b) in buckets.enumerated() {
            let start = Double(i) * width.milliseconds
            lines.append("\(format(start, digits: 0)),\(b.ok),\(b.failed),\(format(Double(b.ok) / width.seconds, digits: 0)),"
                         + "\(b.latency.percentile(50)),\(b.latency.percentile(99))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The longest stretch of [start, end) without a successful operation completing.
    static func longestUnavailable(_ history: History, start: Instant, end: Instant) -> Duration {
        var completions = history.operations.lazy.filter { $0.status == .ok && $0.complete >= start && $0.complete < end }.map(\.complete)
            .sorted()
        completions.insert(start, at: 0)
        completions.append(end)
        var longest = Duration.zero
        for (a, b) in zip(completions, completions.dropFirst()) where b - a > longest { longest = b - a }
        return longest
    }

    /// For each crash of the node that led at the time: from the crash to the first successful
    /// write invoked after it (a reply the old leader sent just before dying does not count as
    /// recovery). Returns the times in order.
    static func recoveries(_ history: History, crashes: [Instant]) -> [Duration] {
        let writes = history.operations.filter { $0.status == .ok && $0.kind != .read }
        return crashes.compactMap { crash in
            writes.lazy.filter { $0.invoke >= crash }.map(\.complete).min().map { $0 - crash }
        }
    }

    /// 1 − (the lowest bucket's throughput after `fault` ÷ the mean throughput before it).
    static func throughputDip(_ buckets: [Bucket], faultBucket: Int) -> Double? {
        guard faultBucket > 0, faultBucket < buckets.count else { return nil }
        let before = buckets[..<faultBucket].map(\.ok)
        let mean = Double(before.reduce(0, +)) / Double(before.count)
        guard mean > 0, let lowest = buckets[faultBucket...].dropLast().map(\.ok).min() else { return nil }
        return max(0, 1 - Double(lowest) / mean)
    }

    /// Fills the fault columns of `row` and returns the time series.
    static func apply(to row: inout ResultRow, history: History, faults: [InjectedFault], leaderCrashes: [Duration],
                      origin: Instant, duration: Duration) -> [Bucket] {
        let end = origin + duration
        let buckets = timeSeries(history, origin: origin, end: end)
        row["unavailable_max_ms"] = format(longestUnavailable(history, start: origin, end: end).milliseconds, digits: 1)
        let recoveries = recoveries(history, crashes: leaderCrashes.map { origin + $0 })
        if !recoveries.isEmpty {
            row["recovery_ms"] = format(recoveries.map(\.milliseconds).max()!, digits: 1)
        }
        if let first = faults.first(where: { $0.action != "heal" }) {
            let index = Int(first.at.nanoseconds / Duration.milliseconds(100).nanoseconds)
            if let dip = throughputDip(buckets, faultBucket: index) { row["throughput_dip"] = format(dip, digits: 3) }
        }
        return buckets
    }
}
