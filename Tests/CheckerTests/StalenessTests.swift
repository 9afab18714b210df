import BenchCore
import XCTest
@testable import Checker

final class StalenessTests: XCTestCase {
    func measure(_ operations: [ClientOperation]) -> StalenessReport { Staleness.measure(History(operations)) }

    func testFreshReadsAreNotStale() {
        let report = measure([
            read(1, 0, 0, 5), write(1, 1, 10, 20), read(2, 1, 30, 40), write(1, 2, 50, 60), read(2, 2, 70, 80),
        ])
        XCTAssertEqual(report.readCount, 3)
        XCTAssertEqual(report.staleReadCount, 0)
        XCTAssertEqual(report.phantomReadCount, 0)
        XCTAssertEqual(report.staleReadRate, 0)
        XCTAssertEqual(report.staleAgeMaxNanos, 0)
    }

    func testReadOfAReplacedValueIsStale() {
        // w1 [0,10], w2 [20,30]; the read begins 10 µs after w2 completed and returns v1.
        let report = measure([write(1, 1, 0, 10), write(1, 2, 20, 30), read(2, 1, 40, 50), read(2, 2, 40, 50)])
        XCTAssertEqual(report.readCount, 2)
        XCTAssertEqual(report.staleReadCount, 1)
        XCTAssertEqual(report.staleReadRate, 0.5)
        XCTAssertEqual(report.staleAgeP50Nanos, 10_000)
        XCTAssertEqual(report.staleAgeMaxNanos, 10_000)
    }

    func testAgeCountsFromTheLatestWriteThatReplacedTheValue() {
        // v1 was replaced by v2 (completed 30 µs) and v3 (completed 50 µs): age is from v3.
        let report = measure([write(1, 1, 0, 10), write(1, 2, 20, 30), write(1, 3, 40, 50), read(2, 1, 100, 110)])
        XCTAssertEqual(report.staleReadCount, 1)
        XCTAssertEqual(report.staleAgeMaxNanos, 50_000)
    }

    func testValueOfAConcurrentWriteIsNotStale() {
        // w1 [0,100] and w2 [50,150] overlap, so either may have landed last.
        let report = measure([write(1, 1, 0, 100), write(2, 2, 50, 150), read(3, 1, 200, 210), read(3, 2, 200, 210)])
        XCTAssertEqual(report.staleReadCount, 0)
        // A write that touches the end of the other (invoked exactly when it completed) does not follow it either.
        XCTAssertEqual(measure([write(1, 1, 0, 10), write(1, 2, 10, 20), read(2, 1, 30, 40)]).staleReadCount, 0)
    }

    func testAbsentAfterACompletedWriteIsStale() {
        let report = measure([write(1, 1, 0, 10), read(2, 0, 25, 30), read(2, 0, 5, 15)])
        XCTAssertEqual(report.readCount, 2)
        XCTAssertEqual(report.staleReadCount, 1)
        XCTAssertEqual(report.staleAgeMaxNanos, 15_000)
    }

    func testPhantomReadsAreCountedApart() {
        let report = measure([write(1, 1, 0, 10), read(2, 9, 20, 30), write(1, 4, 40, 50, status: .failed), read(2, 4, 60, 70)])
        XCTAssertEqual(report.readCount, 2)
        XCTAssertEqual(report.phantomReadCount, 2, "a failed write stores nothing")
        XCTAssertEqual(report.staleReadCount, 0)
    }

    func testValueOfAnUnknownWriteIsNeverStale() {
        let report = measure([write(1, 1, 0, 10, status: .unknown), write(1, 2, 20, 30), read(2, 1, 40, 50)])
        XCTAssertEqual(report.staleReadCount, 0)
        XCTAssertEqual(report.phantomReadCount, 0)
    }

    func testSwappedCompareAndSetCountsAsAWrite() {
        let report = measure([
            write(1, 1, 0, 10), compareAndSet(1, expected: 1, written: 2, swapped: true, 20, 30), read(2, 1, 40, 50),
        ])
        XCTAssertEqual(report.staleReadCount, 1)
    }

    func testKeysAreMeasuredApartAndAgesSummarised() {
        // Three stale reads on three keys with ages 10, 30 and 50 µs; a write on key 9 stales nothing.
        var operations: [ClientOperation] = [write(1, 100, 0, 5, key: 9)]
        for (key, age) in [(1, 10), (2, 30), (3, 50)] as [(Key, Int64)] {
            operations += [write(1, 1, 0, 10, key: key), write(1, 2, 20, 30, key: key), read(2, 1, 30 + age, 30 + age + 5, key: key)]
        }
        operations.append(read(2, 0, 10, 20, key: 4))
        let report = measure(operations)
        XCTAssertEqual(report.readCount, 4)
        XCTAssertEqual(report.staleReadCount, 3)
        XCTAssertEqual(report.staleReadRate, 0.75)
        XCTAssertEqual(report.staleAgeP50Nanos, 30_000)
        XCTAssertEqual(report.staleAgeMaxNanos, 50_000)
    }

    func testGeneratedLinearizableHistoryHasNoStaleReads() {
        let history = CheckerBenchmarks.generateLinearizableHistory(operations: 3_000, keys: 20, clients: 8, seed: 5)
        let report = Staleness.measure(history)
        XCTAssertGreaterThan(report.readCount, 1_000)
        XCTAssertEqual(report.staleReadCount, 0)
        XCTAssertEqual(report.phantomReadCount, 0)
    }
}
