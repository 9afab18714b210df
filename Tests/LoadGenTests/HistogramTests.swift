import BenchCore
import Checker
@testable import LoadGen
import XCTest

final class HistogramTests: XCTestCase {
    /// Two processes' histograms merged equal one histogram of all the values: exact, because
    /// merging adds counts bucket by bucket (never averages percentiles).
    func testMergeIsExact() throws {
        var random = SeededGenerator(seed: 3)
        var a = LatencyHistogram(), b = LatencyHistogram(), all = LatencyHistogram()
        for i in 0..<200_000 {
            // A long-tailed mix: mostly hundreds of µs, some tens of ms.
            let value = random.chance(0.01) ? 10_000 + random.next() % 90_000 : 50 + random.next() % 900
            if i % 3 == 0 { a.record(micros: value) } else { b.record(micros: value) }
            all.record(micros: value)
        }
        // Through the wire form, as client processes send them.
        var merged = try LatencyHistogram(decoding: a.encodedBytes())
        merged.merge(try LatencyHistogram(decoding: b.encodedBytes()))
        XCTAssertEqual(merged.count, all.count)
        for p in [0.0, 10, 50, 90, 99, 99.9, 99.99, 100] {
            XCTAssertEqual(merged.percentile(p), all.percentile(p), "p\(p)")
        }
        XCTAssertEqual(merged.max, all.max)
        XCTAssertEqual(merged.recordedValues.map(\.count), all.recordedValues.map(\.count))
        // Averaging percentiles instead would be wrong here (the halves differ in size).
        XCTAssertNotEqual((a.percentile(99) + b.percentile(99)) / 2, all.percentile(99))
    }

    func testHgrmOutput() {
        var h = LatencyHistogram()
        for v in 1...1_000 { h.record(micros: UInt64(v)) }
        let text = h.percentileDistribution
        XCTAssertTrue(text.contains("Value"))
        XCTAssertTrue(text.contains("#[Mean"))
        XCTAssertTrue(text.contains("Total count    =         1000"))
    }

    func testClientResultRoundTripAndMerge() throws {
        var one = ClientResult()
        one.latency.record(micros: 100)
        one.succeeded = 1
        one.attempted = 1
        one.history.append(.write(ClientID(1), key: 1, value: 7, invoke: Instant(nanoseconds: 1), complete: Instant(nanoseconds: 2)))
        one.windowStart = Instant(nanoseconds: 10)
        one.windowEnd = Instant(nanoseconds: 1_000_000_010)
        var two = one
        two.succeeded = 3
        let decoded = try ClientResult(decoding: two.encodedBytes())
        XCTAssertEqual(decoded.succeeded, 3)
        XCTAssertEqual(decoded.history, two.history)
        one.merge(decoded)
        XCTAssertEqual(one.succeeded, 4)
        XCTAssertEqual(one.latency.count, 2)
        XCTAssertEqual(one.history.count, 2)
        XCTAssertThrowsError(try ClientResult(decoding: [1, 2, 3]))
    }
}
