import CReference
import RingBuffer
import XCTest

/// The benchmark routines must move every item exactly once, or their figures mean nothing.
/// They wait without deadlines, so each runs on a thread the test gives up on after a minute.
final class ReferenceBenchmarkTests: XCTestCase {
    private static let items = 100_000
    private static let expectedChecksum = UInt64(items) * UInt64(items + 1) / 2

    func testCSPSCReferenceMovesEveryItem() {
        for batch: UInt32 in [1, 7, 64] {
            let result = runBounded { cref_spsc_hand_off(UInt64(Self.items), batch, 1024).checksum }
            XCTAssertEqual(result, Self.expectedChecksum, "batch \(batch)")
        }
    }

    func testCMutexQueueReferenceMovesEveryItem() {
        for batch: UInt32 in [1, 64] {
            let result = runBounded { cref_mutex_queue_hand_off(UInt64(Self.items), batch, 1024).checksum }
            XCTAssertEqual(result, Self.expectedChecksum, "batch \(batch)")
        }
    }

    func testSwiftHandOffMovesEveryItem() {
        for batch in [1, 7, 64] {
            let result = runBounded { RingBenchmark.handOff(items: Self.items, batch: batch).checksum }
            XCTAssertEqual(result, Self.expectedChecksum, "batch \(batch)")
        }
    }

    func testSwiftManyToOneMovesEveryItem() {
        let result = runBounded {
            RingBenchmark.manyToOne(producers: 2, itemsPerProducer: Self.items / 2, batch: 64).checksum
        }
        XCTAssertEqual(result, Self.expectedChecksum)
    }

    /// Runs `body` on its own thread; nil if it did not finish within a minute.
    private func runBounded(_ body: @escaping @Sendable () -> UInt64) -> UInt64? {
        let result = Locked<UInt64?>(nil)
        let thread = TestThread { result.set(body()) }
        XCTAssertTrue(thread.join(timeoutSeconds: 60), "benchmark did not finish (lost wake-up?)")
        return result.get()
    }
}
