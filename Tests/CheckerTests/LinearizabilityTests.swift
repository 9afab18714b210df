import BenchCore
import XCTest
@testable import Checker

/// Hand-written histories, each small enough to check in one's head. A timeline comment shows
/// the intervals (µs) per client.
final class LinearizabilityTests: XCTestCase {
    func assertLinearizable(_ operations: [ClientOperation], file: StaticString = #filePath, line: UInt = #line) {
        let result = verdict(operations)
        XCTAssertTrue(result.isLinearizable, "expected linearizable, got \(result)", file: file, line: line)
    }

    @discardableResult
    func assertViolation(_ operations: [ClientOperation], file: StaticString = #filePath, line: UInt = #line) -> Counterexample? {
        let result = verdict(operations)
        guard let counterexample = result.counterexample else {
            XCTFail("expected a violation, got \(result)", file: file, line: line)
            return nil
        }
        // The counterexample fails on its own.
        XCTAssertNotNil(verdict(counterexample.operations).counterexample, "counterexample passes on its own",
                        file: file, line: line)
        return counterexample
    }

    // MARK: Sequential and concurrent histories that are fine

    func testEmptyHistoryIsLinearizable() {
        assertLinearizable([])
    }

    func testSequentialHistory() {
        // c1: w1 [0,10]   r→v1 [20,30]   w2 [40,50]   r→v2 [60,70]
        assertLinearizable([
            read(1, 0, -20, -10),
            write(1, 1, 0, 10), read(1, 1, 20, 30), write(1, 2, 40, 50), read(1, 2, 60, 70),
        ])
    }

    func testReadsDuringAWriteMaySeeEitherSideOfIt() {
        // c1: w1 [0 ............ 100]
        // c2:   r→absent [10,20]  r→v1 [30,40]  r→v1 [50,60]
        assertLinearizable([write(1, 1, 0, 100), read(2, 0, 10, 20), read(2, 1, 30, 40), read(2, 1, 50, 60)])
    }

    func testReadThatSeesAWriteBeforeItsReplyIsFine() {
        // The write's effect may be visible to another client before the writer hears back.
        assertLinearizable([write(1, 1, 0, 100), read(2, 1, 10, 20)])
    }

    func testConcurrentWritesLetALaterReadSeeEither() {
        // c1: w1 [0,100]; c2: w2 [0,100]; c3 reads after both completed.
        assertLinearizable([write(1, 1, 0, 100), write(2, 2, 0, 100), read(3, 1, 110, 120), read(3, 1, 130, 140)])
        assertLinearizable([write(1, 1, 0, 100), write(2, 2, 0, 100), read(3, 2, 110, 120), read(3, 2, 130, 140)])
    }

    func testKeysAreIndependent() {
        // The same tags on different keys do not interact.
        assertLinearizable([
            write(1, 1, 0, 10, key: 1), write(2, 2, 0, 10, key: 2),
            read(1, 1, 20, 30, key: 1), read(2, 2, 20, 30, key: 2), read(3, 0, 20, 30, key: 3),
        ])
        assertViolation([write(1, 1, 0, 10, key: 1), read(2, 1, 20, 30, key: 2)])
    }

    // MARK: Violations

    func testStaleRead() throws {
        // c1: w1 [0,10]  w2 [20,30]
        // c2:                         r→v1 [40,50]   (v2 replaced v1 before the read began)
        let counterexample = try XCTUnwrap(assertViolation([write(1, 1, 0, 10), write(1, 2, 20, 30), read(2, 1, 40, 50)]))
        XCTAssertEqual(counterexample.key, 1)
        XCTAssertEqual(counterexample.operations.count, 3)
        XCTAssertTrue(counterexample.isMinimal)
        XCTAssertTrue(counterexample.explanation.contains("read by c2 [40us, 50us] returned v1, but v2 was written by c1"),
                      counterexample.explanation)
    }

    func testLostWrite() throws {
        // c1 writes v1 and reads it back; c2's write of v2 completes; c1 still reads v1: v2 was lost.
        let counterexample = try XCTUnwrap(assertViolation([
            write(1, 1, 0, 10), read(1, 1, 20, 30), write(2, 2, 40, 50), read(1, 1, 60, 70),
        ]))
        XCTAssertEqual(counterexample.operations, [write(1, 1, 0, 10), write(2, 2, 40, 50), read(1, 1, 60, 70)])
    }

    func testReadOfAbsentAfterACompletedWrite() throws {
        let counterexample = try XCTUnwrap(assertViolation([write(1, 1, 0, 10), read(2, 0, 20, 30)]))
        XCTAssertTrue(counterexample.explanation.contains("returned absent, but v1 was written by c1 (completed 10us) before it began"),
                      counterexample.explanation)
    }

    func testReadOfAValueNeverWritten() throws {
        let counterexample = try XCTUnwrap(assertViolation([write(1, 1, 0, 10), read(2, 1, 20, 30), read(2, 7, 40, 50)]))
        XCTAssertEqual(counterexample.operations, [read(2, 7, 40, 50)])
        XCTAssertTrue(counterexample.explanation.contains("no operation wrote v7"), counterexample.explanation)
    }

    func testReadsAfterConcurrentWritesMustAgreeOnTheirOrder() throws {
        // c1: w1 [0,100]; c2: w2 [0,100]; then c3 reads v2 and, after that, v1: v1 would have to
        // be written again after v2, and nothing wrote it twice.
        let counterexample = try XCTUnwrap(assertViolation([
            write(1, 1, 0, 100), write(2, 2, 0, 100), read(3, 2, 110, 120), read(3, 1, 130, 140),
        ]))
        XCTAssertEqual(counterexample.operations.count, 4)
        XCTAssertTrue(counterexample.explanation.contains("an earlier read by c3 (completed 120us) had already seen v2"),
                      counterexample.explanation)
    }

    func testReadsDuringConcurrentWritesThatFlipFlop() {
        // c1: w1 [0,100]; c2: w2 [0,100]; c3 reads v2, then v1, then v2 while they run: each tag
        // is written once, so the register cannot go v2 → v1 → v2.
        assertViolation([
            write(1, 1, 0, 100), write(2, 2, 0, 100), read(3, 2, 10, 20), read(3, 1, 30, 40), read(3, 2, 50, 60),
        ])
        // Two flips' worth of writers makes it fine again.
        assertLinearizable([
            write(1, 1, 0, 100), write(2, 2, 0, 100), write(4, 2, 0, 100),
            read(3, 2, 10, 20), read(3, 1, 30, 40), read(3, 2, 50, 60),
        ])
    }

    func testValueThatComesBackAfterUnknownWrites() throws {
        // Both writes timed out, so when they landed is unknown; but v1 is written once, so after
        // the register showed v2 it cannot show v1 again.
        let counterexample = try XCTUnwrap(assertViolation([
            write(1, 1, 0, 5, status: .unknown), write(2, 2, 0, 5, status: .unknown),
            read(3, 1, 10, 15), read(3, 2, 20, 25), read(3, 1, 30, 35),
        ]))
        XCTAssertEqual(counterexample.operations.count, 5)
        XCTAssertTrue(counterexample.explanation.hasPrefix(
            "read by c3 [30us, 35us] returned v1, but only one operation writes v1 and the key had moved on: "
                + "a read by c3 (completed 15us) saw v1, then a read by c3 [20us, 25us] saw v2"), counterexample.explanation)
    }

    func testReadThatGoesBackToAbsent() {
        assertViolation([write(1, 1, 0, 100), read(2, 1, 10, 20), read(2, 0, 30, 40)])
    }

    // MARK: Real-time ties

    func testTouchingIntervalsCountAsConcurrent() {
        // The write returns at 10 µs and the read is invoked at 10 µs: equal times prove no order.
        assertLinearizable([write(1, 1, 0, 10), read(2, 0, 10, 20)])
        // One nanosecond later they are ordered.
        let later = ClientOperation(client: 2, key: 1, kind: .read, observed: 0, invoke: Instant(nanoseconds: 10_001),
                              complete: at(20), status: .ok)
        assertViolation([write(1, 1, 0, 10), later])
    }

    // MARK: Compare-and-set

    func testCompareAndSetThatSwapped() {
        assertLinearizable([
            write(1, 1, 0, 10), compareAndSet(2, expected: 1, written: 2, swapped: true, 20, 30), read(3, 2, 40, 50),
        ])
        // Expecting absent on a fresh key.
        assertLinearizable([compareAndSet(2, expected: 0, written: 2, swapped: true, 0, 10), read(3, 2, 20, 30)])
    }

    func testCompareAndSetThatSwappedAgainstTheWrongState() {
        // The key holds v1 but the compare-and-set claims to have swapped from absent.
        assertViolation([write(1, 1, 0, 10), compareAndSet(2, expected: 0, written: 2, swapped: true, 20, 30)])
    }

    func testRefusedCompareAndSet() {
        // Refused, and saw the current tag: fine.
        assertLinearizable([
            write(1, 1, 0, 10), compareAndSet(2, expected: 5, written: 2, swapped: false, observed: 1, 20, 30),
            read(3, 1, 40, 50),
        ])
        // Refused although the state was the expected one.
        assertViolation([write(1, 1, 0, 10), compareAndSet(2, expected: 1, written: 2, swapped: false, observed: 1, 20, 30)])
        // Refused, but reported a state the key did not hold.
        assertViolation([
            write(1, 1, 0, 10), write(1, 3, 12, 14), compareAndSet(2, expected: 5, written: 2, swapped: false, observed: 1, 20, 30),
        ])
    }

    func testOnlyOneOfTwoConcurrentCompareAndSetsFromTheSameTagCanSwap() {
        let base = write(1, 1, 0, 10)
        assertViolation([
            base,
            compareAndSet(2, expected: 1, written: 2, swapped: true, 20, 40),
            compareAndSet(3, expected: 1, written: 3, swapped: true, 20, 40),
        ])
        assertLinearizable([
            base,
            compareAndSet(2, expected: 1, written: 2, swapped: true, 20, 40),
            compareAndSet(3, expected: 1, written: 3, swapped: false, observed: 2, 20, 40),
        ])
        // No simple story fits; the explanation falls back to naming the set and its last operation.
        let both = verdict([
            base,
            compareAndSet(2, expected: 1, written: 2, swapped: true, 20, 40),
            compareAndSet(3, expected: 1, written: 3, swapped: true, 20, 41),
        ])
        XCTAssertTrue(both.counterexample?.explanation.hasPrefix(
            "no order of these 3 operations fits real time and what they returned; the last to complete: "
                + "compare-and-set v1→v3 by c3 [20us, 41us] swapped") ?? false, "\(both)")
    }

    // MARK: Failed and unknown outcomes

    func testUnknownWriteThatTookEffect() {
        // c2's write timed out; a later read shows it landed.
        assertLinearizable([write(1, 1, 0, 10), write(2, 2, 20, 30, status: .unknown), read(3, 2, 1_000, 1_010)])
    }

    func testUnknownWriteThatNeverTookEffect() {
        assertLinearizable([
            write(1, 1, 0, 10), write(2, 2, 20, 30, status: .unknown), read(3, 1, 1_000, 1_010), read(3, 1, 2_000, 2_010),
        ])
    }

    func testUnknownWriteCannotTakeEffectTwiceOrBeforeItsInvocation() {
        // Landed (read v2) then undone (read v1): a write takes effect once.
        assertViolation([write(1, 1, 0, 10), write(2, 2, 20, 30, status: .unknown), read(3, 2, 40, 50), read(3, 1, 60, 70)])
        // Seen before it was invoked.
        assertViolation([write(2, 2, 20, 30, status: .unknown), read(3, 2, 0, 10)])
    }

    func testUnknownCompareAndSet() {
        let base = write(1, 1, 0, 10)
        let pending = compareAndSet(2, expected: 1, written: 2, swapped: false, 20, 30, status: .unknown)
        assertLinearizable([base, pending, read(3, 2, 40, 50)])
        assertLinearizable([base, pending, read(3, 1, 40, 50)])
        // It can only swap from v1: once v3 replaced v1 first, v2 cannot appear.
        assertViolation([base, write(1, 3, 12, 15), pending, read(3, 2, 40, 50)])
    }

    func testFailedWriteNeverTookEffect() {
        assertLinearizable([write(1, 1, 0, 10), write(2, 2, 20, 30, status: .failed), read(3, 1, 40, 50)])
        let result = verdict([write(1, 1, 0, 10), write(2, 2, 20, 30, status: .failed), read(3, 2, 40, 50)])
        XCTAssertTrue(result.counterexample?.explanation.contains("no operation wrote v2") ?? false, "\(result)")
    }

    func testUnknownReadIsIgnored() {
        assertLinearizable([write(1, 1, 0, 10), read(2, 99, 20, 30, status: .unknown)])
    }

    func testMalformedHistoryIsUndecided() {
        guard case let .undecided(reason) = verdict([write(1, 1, 0, 10), read(2, 1, 30, 20)]) else {
            return XCTFail("expected undecided")
        }
        XCTAssertTrue(reason.hasPrefix("malformed history: read by c2 [30us, 20us]"), reason)
    }

    // MARK: Step budget

    func testStepBudgetGivesUndecided() {
        let history = (0..<100).map { write(1, UInt64($0 + 1), Int64($0) * 10, Int64($0) * 10 + 5) }
        guard case let .undecided(reason) = verdict(history, stepBudget: 50) else {
            return XCTFail("expected undecided")
        }
        XCTAssertTrue(reason.contains("timeout"), reason)
        XCTAssertTrue(verdict(history, stepBudget: 1_000).isLinearizable)
    }

    /// 24 concurrent writes of two tags (12 each), then reads that alternate between the tags
    /// more often than the writes could: no linearization, but proving it means trying every
    /// subset of the writes. The budget turns that into "undecided" instead of hours of search.
    func testPathologicalHistoryRunsOutOfSteps() {
        var history = (0..<24).map { write(UInt64($0), UInt64($0 % 2 + 1), 0, 100) }
        history += (0..<30).map { read(99, UInt64($0 % 2 + 1), 200 + Int64($0) * 10, 205 + Int64($0) * 10) }
        guard case let .undecided(reason) = verdict(history, stepBudget: 200_000) else {
            return XCTFail("expected undecided")
        }
        XCTAssertTrue(reason.contains("step budget of 200000"), reason)
    }

    func testViolationOnOneKeyIsReportedWhenAnotherRunsOutOfSteps() {
        var history = (0..<100).map { write(1, UInt64($0 + 1), Int64($0) * 10, Int64($0) * 10 + 5, key: 1) }
        history.append(read(2, 12_345, 0, 10, key: 2))
        XCTAssertEqual(verdict(history, stepBudget: 50).counterexample?.key, 2)
    }
}
