import RingBuffer
import XCTest

/// Single-thread semantics, run against both rings.
final class RingSemanticsTests: XCTestCase {
    func testFullAndEmpty() {
        checkFullAndEmpty(SPSCRing<Int>.self)
        checkFullAndEmpty(MPSCRing<Int>.self)
    }

    func testWrapAroundManyTimes() {
        checkWrapAround(SPSCRing<Int>.self)
        checkWrapAround(MPSCRing<Int>.self)
    }

    func testBatchedPushFillsOnlyWhatFits() {
        checkBatchedPushPartialFill(SPSCRing<Int>.self)
        checkBatchedPushPartialFill(MPSCRing<Int>.self)
    }

    func testDrainHonoursMaxCount() {
        checkDrainMaxCount(SPSCRing<Int>.self)
        checkDrainMaxCount(MPSCRing<Int>.self)
    }

    func testDrainThatThrowsKeepsTheRest() {
        checkDrainThrows(SPSCRing<Int>.self)
        checkDrainThrows(MPSCRing<Int>.self)
    }

    func testElementsAreDestroyedExactlyOnce() {
        checkDestruction(SPSCRing<Tracked>.self)
        checkDestruction(MPSCRing<Tracked>.self)
    }

    func testNonTrivialEnumElementsRoundTrip() {
        checkMessages(SPSCRing<Message>.self)
        checkMessages(MPSCRing<Message>.self)
    }

    func testWaitForSpaceTimesOutOnAFullRingAndSucceedsWithSpace() {
        checkWaitForSpace(SPSCRing<Int>.self)
        checkWaitForSpace(MPSCRing<Int>.self)
    }

    // MARK: Bodies

    private func checkFullAndEmpty<R: TestableRing<Int>>(_: R.Type) {
        let ring = R(capacity: 4)
        XCTAssertEqual(ring.capacity, 4, "\(R.self)")
        XCTAssertTrue(ring.isEmpty, "\(R.self): a new ring is empty")
        XCTAssertNil(ring.tryPop(), "\(R.self): pop from an empty ring")
        for value in 0..<4 {
            XCTAssertTrue(ring.tryPush(value), "\(R.self): push \(value) into a ring with space")
            XCTAssertFalse(ring.isEmpty, "\(R.self)")
        }
        XCTAssertFalse(ring.tryPush(99), "\(R.self): tryPush must refuse when full")
        XCTAssertEqual(ring.tryPush(contentsOf: [98, 99]), 0, "\(R.self): batched push into a full ring")
        XCTAssertEqual(ring.popAll(), [0, 1, 2, 3], "\(R.self): FIFO order, rejected pushes absent")
        XCTAssertTrue(ring.isEmpty, "\(R.self)")
        XCTAssertNil(ring.tryPop(), "\(R.self)")
        // One pop frees exactly one slot.
        for value in 10..<14 { ring.push(value) }
        XCTAssertEqual(ring.tryPop(), 10, "\(R.self)")
        XCTAssertTrue(ring.tryPush(14), "\(R.self): the freed slot is reusable")
        XCTAssertFalse(ring.tryPush(15), "\(R.self): full again")
        XCTAssertEqual(ring.popAll(), [11, 12, 13, 14], "\(R.self)")
    }

    private func checkWrapAround<R: TestableRing<Int>>(_: R.Type) {
        let ring = R(capacity: 8)
        var next = 0
        var expected = 0
        // Uneven batch sizes walk the indices across the wrap point in every alignment.
        for round in 0..<10_000 {
            let pushCount = 1 + round % 8
            for _ in 0..<pushCount {
                if !ring.tryPush(next) { break }
                next += 1
            }
            let popCount = 1 + (round * 5) % 8
            for _ in 0..<popCount {
                guard let value = ring.tryPop() else { break }
                XCTAssertEqual(value, expected, "\(R.self): order after wrapping, round \(round)")
                if value != expected { return }
                expected += 1
            }
        }
        for value in ring.popAll() {
            XCTAssertEqual(value, expected, "\(R.self)")
            expected += 1
        }
        XCTAssertEqual(expected, next, "\(R.self): every pushed value came out")
        XCTAssertGreaterThan(next, 8 * 1_000, "\(R.self): the indices wrapped many times")
    }

    private func checkBatchedPushPartialFill<R: TestableRing<Int>>(_: R.Type) {
        let ring = R(capacity: 8)
        XCTAssertEqual(ring.tryPush(contentsOf: [Int]()), 0, "\(R.self): empty batch")
        XCTAssertEqual(ring.tryPush(contentsOf: 0..<3), 3, "\(R.self)")
        XCTAssertEqual(ring.tryPush(contentsOf: 3..<13), 5, "\(R.self): only the 5 that fit")
        XCTAssertEqual(ring.tryPush(contentsOf: 8..<13), 0, "\(R.self): nothing fits")
        var drained: [Int] = []
        XCTAssertEqual(ring.drain(maxCount: 100) { drained.append($0) }, 8, "\(R.self)")
        XCTAssertEqual(drained, Array(0..<8), "\(R.self): a prefix of the batch, in order")
        // A batch straddling the wrap point.
        XCTAssertEqual(ring.tryPush(contentsOf: 100..<106), 6, "\(R.self)")
        XCTAssertEqual(ring.popAll(), Array(100..<106), "\(R.self)")
    }

    private func checkDrainMaxCount<R: TestableRing<Int>>(_: R.Type) {
        let ring = R(capacity: 8)
        XCTAssertEqual(ring.drain(maxCount: 4) { _ in XCTFail("empty ring") }, 0, "\(R.self)")
        XCTAssertEqual(ring.tryPush(contentsOf: 0..<6), 6, "\(R.self)")
        var drained: [Int] = []
        XCTAssertEqual(ring.drain(maxCount: 0) { drained.append($0) }, 0, "\(R.self)")
        XCTAssertEqual(ring.drain(maxCount: 4) { drained.append($0) }, 4, "\(R.self)")
        XCTAssertEqual(drained, [0, 1, 2, 3], "\(R.self)")
        XCTAssertEqual(ring.drain(maxCount: 10) { drained.append($0) }, 2, "\(R.self)")
        XCTAssertEqual(drained, Array(0..<6), "\(R.self)")
        XCTAssertTrue(ring.isEmpty, "\(R.self)")
    }

    private struct Stop: Error {}

    private func checkDrainThrows<R: TestableRing<Int>>(_: R.Type) {
        let ring = R(capacity: 8)
        XCTAssertEqual(ring.tryPush(contentsOf: 0..<6), 6, "\(R.self)")
        var seen: [Int] = []
        XCTAssertThrowsError(try ring.drain(maxCount: 6) { value in
            seen.append(value)
            if value == 2 { throw Stop() }
        }, "\(R.self)")
        XCTAssertEqual(seen, [0, 1, 2], "\(R.self)")
        XCTAssertEqual(ring.popAll(), [3, 4, 5], "\(R.self): elements after the throw stay, in order")
        XCTAssertEqual(ring.tryPush(contentsOf: 0..<10), 8, "\(R.self): all slots free again")
    }

    private func checkDestruction<R: TestableRing<Tracked>>(_: R.Type) {
        let deinits = Counter()
        do {
            let ring = R(capacity: 8)
            // Wrap the ring once so the survivors straddle the wrap point.
            for id in 0..<6 { ring.push(Tracked(id, deinits: deinits)) }
            XCTAssertEqual(ring.drain(maxCount: 6) { _ in }, 6, "\(R.self)")
            XCTAssertEqual(deinits.count, 6, "\(R.self): drained elements die when the body drops them")
            XCTAssertEqual(ring.tryPush(contentsOf: (6..<11).map { Tracked($0, deinits: deinits) }), 5, "\(R.self)")
            XCTAssertEqual(ring.tryPop()?.id, 6, "\(R.self)")
            XCTAssertEqual(deinits.count, 7, "\(R.self): a popped element dies when dropped")
            XCTAssertEqual(ring.tryPush(contentsOf: [Tracked(99, deinits: deinits)]), 1, "\(R.self)")
            XCTAssertEqual(deinits.count, 7, "\(R.self): pushed elements stay alive in the ring")
            // A rejected element is not retained by the ring.
            for id in 100..<103 { ring.push(Tracked(id, deinits: deinits)) }
            XCTAssertFalse(ring.tryPush(Tracked(200, deinits: deinits)), "\(R.self)")
            XCTAssertEqual(deinits.count, 8, "\(R.self): the rejected element is already gone")
        }
        // 8 destroyed above plus the 8 still in the ring when it died: 7, 8, 9, 10, 99, 100, 101, 102.
        XCTAssertEqual(deinits.count, 16, "\(R.self): deinit destroys remaining elements exactly once")
    }

    private func checkMessages<R: TestableRing<Message>>(_: R.Type) {
        let ring = R(capacity: 4)
        var received: [Message] = []
        for index in 0..<1_000 {
            ring.push(.make(index))
            if index % 3 == 2 {
                _ = ring.drain(maxCount: 4) { received.append($0) }
            }
        }
        received.append(contentsOf: ring.popAll())
        XCTAssertEqual(received, (0..<1_000).map(Message.make), "\(R.self)")
    }

    private func checkWaitForSpace<R: TestableRing<Int>>(_: R.Type) {
        let ring = R(capacity: 2)
        XCTAssertTrue(ring.waitForSpace(deadlineNanos: deadline(afterMilliseconds: 0)), "\(R.self)")
        ring.push(1)
        ring.push(2)
        XCTAssertFalse(ring.waitForSpace(deadlineNanos: deadline(afterMilliseconds: 20)), "\(R.self)")
        XCTAssertFalse(ring.pushWaiting(3, deadlineNanos: deadline(afterMilliseconds: 20)), "\(R.self)")
        XCTAssertEqual(ring.tryPop(), 1, "\(R.self)")
        XCTAssertTrue(ring.pushWaiting(3, deadlineNanos: deadline(afterMilliseconds: 20)), "\(R.self)")
        XCTAssertEqual(ring.popAll(), [2, 3], "\(R.self): the timed-out push left nothing behind")
    }
}
