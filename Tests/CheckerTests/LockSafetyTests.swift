import BenchCore
import Checker
import XCTest

/// A belief of `client` about `lock` over [startMs, endMs).
private func belief(_ client: UInt64, lock: Key = 1, _ startMs: Int64, _ endMs: Int64,
                    _ ending: LockBeliefEnding = .released) -> LockBelief {
    LockBelief(client: ClientID(client), lock: lock, start: Instant(nanoseconds: startMs * 1_000_000),
               end: Instant(nanoseconds: endMs * 1_000_000), ending: ending)
}

final class LockSafetyTests: XCTestCase {
    func testHandOffsWithoutOverlapAreSafe() {
        // Back-to-back holders (half-open intervals touch but do not overlap), one client's own
        // successive beliefs overlapping, and two locks held at once by different clients.
        let history = History(lockBeliefs: [
            belief(1, 0, 100), belief(2, 100, 250), belief(2, 240, 300), belief(3, 310, 400),
            belief(1, lock: 2, 50, 350), belief(4, lock: 3, 60, 340),
        ])
        let report = LockSafety.check(history)
        XCTAssertTrue(report.isSafe, report.summary)
        XCTAssertEqual(report.overlapCount, 0)
        XCTAssertEqual(report.beliefCount, 6)
    }

    func testOverlappingHoldersAreCaughtWithACounterexample() {
        let history = History(lockBeliefs: [
            belief(1, 0, 100), belief(2, 90, 200), belief(3, 300, 400), belief(1, lock: 7, 0, 500),
        ])
        let report = LockSafety.check(history)
        XCTAssertFalse(report.isSafe)
        XCTAssertEqual(report.overlapCount, 1)
        let overlap = try! XCTUnwrap(report.overlaps.first)
        XCTAssertEqual(overlap.first.client, ClientID(1))
        XCTAssertEqual(overlap.second.client, ClientID(2))
        XCTAssertEqual(overlap.to - overlap.from, .milliseconds(10))
        XCTAssertTrue(overlap.description.contains("lock 1"), overlap.description)
        XCTAssertTrue(overlap.description.contains("10ms"), overlap.description)
    }

    func testEveryOverlappingPairIsCounted() {
        // Client 1 spans the others: it overlaps both; 2 and 3 do not overlap each other.
        let report = LockSafety.check(History(lockBeliefs: [belief(1, 0, 300), belief(2, 50, 100), belief(3, 150, 200)]))
        XCTAssertEqual(report.overlapCount, 2)
    }

    func testUnavailableWindowAfterACrashRunsToTheNextClientsGrant() {
        let history = History(lockBeliefs: [
            belief(1, 0, 100, .crashed),      // crashed at 100 ms
            belief(1, 150, 160),              // the crashed client's own return is not a hand-over
            belief(2, 290, 400),              // the first other client: 190 ms after the crash
            belief(3, lock: 2, 0, 50, .crashed),  // nobody took lock 2 afterwards
            belief(4, lock: 3, 0, 80, .lapsed), belief(4, lock: 3, 130, 200),
        ])
        let report = LockSafety.check(history)
        XCTAssertTrue(report.isSafe, report.summary)
        XCTAssertEqual(report.unavailableAfterCrash, [.milliseconds(190)])
        XCTAssertEqual(report.crashesUnresolved, 1)
        XCTAssertEqual(report.unavailableAfterCrashMeanMs, 190)
        XCTAssertEqual(report.unavailableAfterLapse, [.milliseconds(50)])
    }

    func testBeliefsRoundTripThroughTheHistoryFile() throws {
        var history = History([ClientOperation.write(ClientID(1), key: 1, value: 5, invoke: .zero, complete: Instant(nanoseconds: 10))])
        XCTAssertEqual(history.encodedBytes().first, History.wireVersion, "no beliefs: the old format")
        history.lockBeliefs = [belief(1, 0, 100, .crashed), belief(2, lock: 9, 5, 7, .runEnded)]
        let bytes = history.encodedBytes()
        XCTAssertEqual(bytes.first, History.wireVersionWithLocks)
        XCTAssertEqual(try History(decoding: bytes), history)
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try History(decoding: bytes.prefix(length)), "length \(length)")
        }
        var badEnding = bytes
        badEnding[badEnding.count - 1] = 99
        XCTAssertThrowsError(try History(decoding: badEnding))
    }
}
