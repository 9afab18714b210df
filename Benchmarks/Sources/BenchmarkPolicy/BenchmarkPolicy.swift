import Benchmark

/// The suite's one policy for what is measured, for how long, and how far a run may drift from
/// the committed thresholds (Benchmarks/Thresholds/) before `benchmark thresholds check` fails.
///
/// Time is judged loosely because this is a shared, noisy 2-core box: wall clock (p90) may be
/// up to `timeSlowdownPercent` worse than recorded, and throughput (p90) may be up to
/// `throughputPercent` better before it is reported as an improvement (exit code 4, "re-record").
/// Allocations are judged strictly: they do not depend on the machine's load, so an
/// allocation-free path must stay at exactly 0 mallocs per iteration, and a path with a known
/// allocation count must keep exactly that count (or stay within a few percent where a
/// background thread makes the count vary a little).
public enum BenchmarkPolicy {
    /// What every benchmark reports: wall clock and throughput per iteration, and mallocs per iteration.
    public static let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal]

    /// How much worse than the recorded p90 the wall clock may be, in percent of the record.
    public static let timeSlowdownPercent: Double = 100
    /// Throughput's tolerance, in percent. For throughput (larger is better) a drop never
    /// exceeds 100 %, so with 100 this only flags a run more than twice as fast as the record
    /// (stale thresholds); regressions are the wall clock's job.
    public static let throughputPercent: Double = 100

    /// How the mallocs per iteration of a benchmark are judged.
    public enum Allocations {
        /// Exactly the recorded count (0 for an allocation-free path): any change fails.
        case exact
        /// Within `percent` of the recorded count, for paths with a background thread or
        /// amortized growth whose count varies a little from run to run.
        case within(percent: Double)
    }

    /// Time thresholds as above, with `slowdownPercent` for wall clock (disk-bound benchmarks
    /// get more), and the allocation rule given.
    public static func thresholds(
        allocations: Allocations, slowdownPercent: Double = timeSlowdownPercent
    ) -> [BenchmarkMetric: BenchmarkThresholds] {
        let mallocs: BenchmarkThresholds
        switch allocations {
        case .exact: mallocs = .init(absolute: [.p90: 0])
        case let .within(percent): mallocs = .init(relative: [.p90: percent])
        }
        return [
            .wallClock: .init(relative: [.p90: slowdownPercent]),
            .throughput: .init(relative: [.p90: max(throughputPercent, slowdownPercent)]),
            .mallocCountTotal: mallocs,
        ]
    }

    /// A configuration for a benchmark whose iteration is one fixed block of work (so mallocs
    /// per iteration are an exact count, never rounded away by a scaling factor), run for at
    /// most `seconds` or `iterations`, whichever comes first.
    public static func configuration(
        allocations: Allocations, slowdownPercent: Double = timeSlowdownPercent,
        seconds: Int64 = 1, iterations: Int = 2_000, warmupIterations: Int = 3
    ) -> Benchmark.Configuration {
        .init(
            metrics: metrics,
            warmupIterations: warmupIterations,
            scalingFactor: .one,
            maxDuration: .seconds(seconds),
            maxIterations: iterations,
            thresholds: thresholds(allocations: allocations, slowdownPercent: slowdownPercent)
        )
    }
}

extension BenchmarkPolicy {
    /// A benchmark's name with its spaces turned into hyphens. `thresholds update` writes
    /// `Thresholds/<target>.<name>.p90.json` with spaces replaced by underscores, but
    /// `thresholds check` (1.38.1) looks for the file under the name as it is: a name with a
    /// space would be written and never found again. Slashes have the same problem; names here have none.
    public static func name(_ words: String) -> String {
        precondition(!words.contains("/"), "a benchmark name with '/' cannot round-trip through Thresholds/")
        return String(words.map { $0 == " " ? "-" : $0 })
    }
}
