import BenchCore
import Foundation
import LogStore
import XCTest
@testable import Runtime

/// The mailbox between the log's threads and a node's protocol thread: posting never waits,
/// reports merge as one sync covering them would report, and only a post into an empty mailbox
/// asks for a wake-up.
final class DurableMailboxTests: XCTestCase {
    func testReportsMergeUntilTaken() {
        let mailbox = DurableMailbox()
        XCTAssertNil(mailbox.take())
        XCTAssertTrue(mailbox.post(.init(throughSequence: 3, lastEntry: (index: 2, term: 1))))
        XCTAssertFalse(mailbox.post(.init(throughSequence: 5, lastEntry: nil)))
        var taken = mailbox.take()
        XCTAssertEqual(taken?.throughSequence, 5)
        XCTAssertEqual(taken?.lastEntry?.index, 2, "a report without an entry keeps the earlier one's")
        XCTAssertNil(mailbox.take())

        XCTAssertTrue(mailbox.post(.init(throughSequence: 6, lastEntry: (index: 3, term: 1))))
        XCTAssertFalse(mailbox.post(.init(throughSequence: 9, lastEntry: (index: 5, term: 2))))
        taken = mailbox.take()
        XCTAssertEqual(taken?.throughSequence, 9)
        XCTAssertEqual(taken?.lastEntry?.index, 5)
        XCTAssertEqual(taken?.lastEntry?.term, 2)
    }

    /// Two posting threads (the appender and the syncer never post at once, but the mailbox does
    /// not rely on it for safety) and a taker: the taker ends with the last sequence number, and
    /// never sees one go backwards.
    func testConcurrentPostsAndTakes() {
        let mailbox = DurableMailbox()
        let last: UInt64 = 200_000
        let poster = Thread {
            for sequence in 1...last { _ = mailbox.post(.init(throughSequence: sequence, lastEntry: nil)) }
        }
        poster.start()
        var seen: UInt64 = 0
        let deadline = Date().addingTimeInterval(20)
        while seen < last && Date() < deadline {
            if let report = mailbox.take() {
                XCTAssertGreaterThan(report.throughSequence, seen)
                seen = report.throughSequence
            }
        }
        XCTAssertEqual(seen, last)
    }
}
