import RingBuffer
import XCTest

/// The byte arena with its companion descriptor ring, as the log's appender uses them: variable-
/// length chunks written by one thread, read in place (one or two regions) and released by another.
final class ByteRingTests: XCTestCase {
    func testRegionsSplitWhereTheArenaWraps() {
        let arena = ByteRing(capacity: 16)
        let first: [UInt8] = Array(1...12)
        first.withUnsafeBytes { _ = arena.write($0) }
        arena.release(upTo: 12)
        let second: [UInt8] = Array(13...22)
        let end = second.withUnsafeBytes { arena.write($0) }
        XCTAssertEqual(end, 22)
        let (head, tail) = arena.regions(from: 12, to: 22)
        XCTAssertEqual(Array(head), Array(13...16))
        XCTAssertEqual(Array(tail), Array(17...22))
        let (whole, empty) = arena.regions(from: 12, to: 16)
        XCTAssertEqual(Array(whole), Array(13...16))
        XCTAssertEqual(empty.count, 0)
    }

    /// Two threads, a small arena that wraps thousands of times: every chunk arrives whole, in
    /// order, with its bytes intact, and the producer parks when the consumer falls behind.
    func testChunksCrossThreadsIntactAndInOrder() {
        let chunkCount = 200_000
        let arena = ByteRing(capacity: 256)
        let lengths = SPSCRing<Int>(capacity: 64)
        let producer = TestThread {
            var random = UInt64(0x9E37_79B9_7F4A_7C15)
            var chunk = [UInt8](repeating: 0, count: 200)
            for sequence in 0..<chunkCount {
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let length = Int(random >> 33) % 199 + 1
                for position in 0..<length { chunk[position] = Self.byte(chunk: sequence, at: position) }
                chunk.withUnsafeBytes { _ = arena.write(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
                lengths.pushWaiting(length)
            }
        }
        var mismatches = 0
        var received = 0
        var offset = 0
        let endNanos = deadline(afterMilliseconds: 60_000)
        while received < chunkCount {
            var drained: [Int] = []
            lengths.drain(maxCount: 64) { drained.append($0) }
            if drained.isEmpty {
                guard lengths.waitForItems(deadlineNanos: endNanos) else { break }
                continue
            }
            for length in drained {
                let (head, tail) = arena.regions(from: offset, to: offset + length)
                for position in 0..<length {
                    let byte = position < head.count ? head[position] : tail[position - head.count]
                    if byte != Self.byte(chunk: received, at: position) { mismatches += 1 }
                }
                offset += length
                received += 1
            }
            arena.release(upTo: offset) // One release per drained group, as the appender does.
        }
        XCTAssertTrue(producer.join(timeoutSeconds: 60), "producer did not finish (lost wake-up?)")
        XCTAssertEqual(received, chunkCount)
        XCTAssertEqual(mismatches, 0)
    }

    func testAParkedProducerWakesWhenBytesAreReleased() {
        let arena = ByteRing(capacity: 8)
        [UInt8](repeating: 1, count: 8).withUnsafeBytes { _ = arena.write($0) }
        let wrote = Counter()
        let producer = TestThread {
            [UInt8](repeating: 2, count: 4).withUnsafeBytes { _ = arena.write($0) }
            wrote.add()
        }
        // Give the producer time to spin, yield and park on the full arena.
        let parkDeadline = deadline(afterMilliseconds: 10_000)
        while arena._producerParkCount == 0 && MonotonicClock.nowNanos() < parkDeadline { usleep(1_000) }
        XCTAssertEqual(wrote.count, 0, "the write must wait for space")
        arena.release(upTo: 4)
        XCTAssertTrue(producer.join(timeoutSeconds: 30), "the parked producer was not woken")
        XCTAssertEqual(wrote.count, 1)
        let (head, tail) = arena.regions(from: 8, to: 12)
        XCTAssertEqual(Array(head) + Array(tail), [2, 2, 2, 2])
    }

    private static func byte(chunk: Int, at position: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: chunk &* 31 &+ position &* 7)
    }
}
