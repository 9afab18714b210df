import BenchCore
import Histogram

/// Latencies in microseconds, recorded into an HdrHistogram (3 significant digits, 1 µs to 1 hour).
/// Histograms from several client processes merge exactly by adding counts — never by averaging
/// percentiles — and travel between processes in a compact binary form.
public struct LatencyHistogram: Sendable {
    public private(set) var histogram: Histogram<UInt64>
    public static let highestMicros: UInt64 = 3_600_000_000

    public init() {
        histogram = Histogram(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestMicros,
                              numberOfSignificantValueDigits: .three)
    }

    /// Records one latency; values outside the range are clamped to it.
    public mutating func record(micros: UInt64) {
        _ = histogram.record(Swift.min(Swift.max(micros, 1), Self.highestMicros))
    }

    public mutating func record(_ duration: Duration) {
        record(micros: UInt64(Swift.max(0, duration.nanoseconds / 1_000)))
    }

    public mutating func record(micros: UInt64, count: UInt64) {
        _ = histogram.record(Swift.min(Swift.max(micros, 1), Self.highestMicros), count: count)
    }

    /// Adds every count of `other` (exact merge).
    public mutating func merge(_ other: LatencyHistogram) { histogram.add(other.histogram) }

    public var count: UInt64 { histogram.totalCount }
    public func percentile(_ p: Double) -> UInt64 { count == 0 ? 0 : histogram.valueAtPercentile(p) }
    /// The largest value recorded (exact, not rounded to its bucket).
    public var max: UInt64 { count == 0 ? 0 : histogram.maxRecorded }
    public var mean: Double { count == 0 ? 0 : histogram.mean }

    /// The HdrHistogram percentile-distribution text (the `.hgrm` format), values in microseconds.
    public var percentileDistribution: String {
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1)
        return text
    }

    /// Every recorded value with its count.
    public var recordedValues: [(value: UInt64, count: UInt64)] {
        histogram.recordedValues().map { ($0.value, UInt64($0.count)) }
    }
}

extension LatencyHistogram: WireCodable {
    /// Each non-empty bucket as (value, count), plus the exact smallest and largest values, so the
    /// decoded histogram has the same buckets, the same minimum and the same maximum.
    public func encode(to writer: inout WireWriter) {
        let values = recordedValues
        writer.write(UInt32(values.count))
        for (value, count) in values {
            writer.write(value)
            writer.write(count)
        }
        writer.write(count == 0 ? 0 : histogram.min)
        writer.write(count == 0 ? 0 : histogram.maxRecorded)
    }

    public init(from reader: inout WireReader) throws {
        self.init()
        let entries = Int(try reader.readUInt32())
        guard entries * 16 + 16 <= reader.remaining else { throw WireError.truncated(needed: entries * 16 + 16, available: reader.remaining) }
        var buckets: [(UInt64, UInt64)] = []
        buckets.reserveCapacity(entries)
        for _ in 0..<entries {
            let value = try reader.readUInt64()
            let count = try reader.readUInt64()
            guard value >= 1, value <= Self.highestMicros, count > 0 else { throw WireError.invalidValue("bucket \(value) µs × \(count)") }
            buckets.append((value, count))
        }
        let minimum = try reader.readUInt64()
        let maximum = try reader.readUInt64()
        for (i, (value, count)) in buckets.enumerated() {
            // The extreme buckets hold the exact extremes; the rest of their counts go at the bucket's value.
            var remaining = count
            if i == 0, histogram.valuesAreEquivalent(minimum, value), remaining > 0 {
                record(micros: minimum)
                remaining -= 1
            }
            if i == buckets.count - 1, histogram.valuesAreEquivalent(maximum, value), remaining > 0 {
                record(micros: maximum)
                remaining -= 1
            }
            if remaining > 0 { record(micros: value, count: remaining) }
        }
    }
}
