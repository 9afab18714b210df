import BenchCore
import XCTest
@testable import Checker

final class HistoryWireTests: XCTestCase {
    func testRoundTrip() throws {
        var history = CheckerBenchmarks.generateLinearizableHistory(operations: 500, keys: 7, clients: 4, seed: 11,
                                                                    unknownRate: 0.2)
        history.append(write(3, 77, 5, 9, key: UInt64.max, status: .failed))
        history.append(compareAndSet(4, expected: 1, written: 2, swapped: false, observed: 3, -5, 9))
        let bytes = history.encodedBytes()
        XCTAssertEqual(bytes.first, History.wireVersion)
        XCTAssertEqual(bytes.count, 1 + 4 + history.count * ClientOperation.encodedSize)
        XCTAssertEqual(try History(decoding: bytes), history)
        XCTAssertTrue(history.operations.contains { $0.status == .unknown }, "the generator made unknown writes")
    }

    func testEmptyHistoryRoundTrips() throws {
        XCTAssertEqual(try History(decoding: History().encodedBytes()), History())
    }

    func testTruncatedBufferThrows() {
        let bytes = History([write(1, 1, 0, 10), read(2, 1, 20, 30)]).encodedBytes()
        for length in [0, 1, 4, 5, 5 + ClientOperation.encodedSize, bytes.count - 1] {
            XCTAssertThrowsError(try History(decoding: bytes.prefix(length)), "length \(length)") { error in
                guard case WireError.truncated = error else { return XCTFail("length \(length): \(error)") }
            }
        }
        XCTAssertThrowsError(try History(decoding: bytes + [0])) { error in
            XCTAssertEqual(error as? WireError, .trailingBytes(1))
        }
    }

    func testMalformedFieldsThrow() {
        let bytes = History([write(1, 1, 0, 10)]).encodedBytes()
        var badVersion = bytes
        badVersion[0] = 9
        XCTAssertThrowsError(try History(decoding: badVersion))
        // The kind byte follows the version, the count, the client and the key.
        var badKind = bytes
        badKind[1 + 4 + 16] = 7
        XCTAssertThrowsError(try History(decoding: badKind)) { error in
            XCTAssertEqual(error as? WireError, .invalidTag(7, type: "OperationKind"))
        }
        var badStatus = bytes
        badStatus[bytes.count - 1] = 0
        XCTAssertThrowsError(try History(decoding: badStatus)) { error in
            XCTAssertEqual(error as? WireError, .invalidTag(0, type: "OperationStatus"))
        }
        XCTAssertThrowsError(try History(decoding: History([write(1, 1, 10, 5)]).encodedBytes()), "completed before invoked")
        // A count larger than the bytes that follow is refused before anything is allocated.
        var hugeCount = bytes
        hugeCount.replaceSubrange(1..<5, with: [0xFF, 0xFF, 0xFF, 0x00])
        XCTAssertThrowsError(try History(decoding: hugeCount))
    }
}
