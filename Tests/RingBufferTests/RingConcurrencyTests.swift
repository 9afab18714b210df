import Glibc
import RingBuffer
import XCTest

/// Two- and three-thread tests: order, checksums, parking and wake-ups. Every wait has a deadline
/// or a bounded join, so a lost wake-up fails the test instead of hanging it.
final class RingConcurrencyTests: XCTestCase {
    // MARK: Stress

    func testSPSCStressKeepsStrictOrderAndChecksum() {
        stress(SPSCRing<UInt64>(capacity: 1024), producers: 1, itemsPerProducer: stressItemCount)
    }

    func testMPSCStressKeepsPerProducerOrderAndChecksum() {
        stress(MPSCRing<UInt64>(capacity: 1024), producers: 2, itemsPerProducer: stressItemCount / 2)
    }

    func testSPSCTinyRingParksBothSides() {
        stress(SPSCRing<UInt64>(capacity: 2), producers: 1, itemsPerProducer: tinyItemCount, tiny: true)
    }

    func testMPSCTinyRingParksBothSides() {
        stress(MPSCRing<UInt64>(capacity: 4), producers: 2, itemsPerProducer: tinyItemCount, tiny: true)
    }

    func testSPSCHandsOverHeapPayloadsIntact() {
        handOffMessages(SPSCRing<Message>(capacity: 64))
    }

    func testMPSCHandsOverHeapPayloadsIntact() {
        handOffMessages(MPSCRing<Message>(capacity: 64))
    }

    // MARK: Waiting and waking

    func testWaitForItemsReturnsFalseAfterTheDeadlineWithNoItems() {
        XCTAssertFalse(SPSCRing<Int>(capacity: 4).waitForItems(deadlineNanos: deadline(afterMilliseconds: 30)))
        XCTAssertFalse(MPSCRing<Int>(capacity: 4).waitForItems(deadlineNanos: deadline(afterMilliseconds: 30)))
    }

    func testParkedConsumerWakesOnPushFromAnotherThread() {
        checkConsumerWakesOnPush(SPSCRing<Int>(capacity: 4))
        checkConsumerWakesOnPush(MPSCRing<Int>(capacity: 4))
    }

    func testWakeUnblocksAParkedConsumer() {
        checkWakeUnblocks(SPSCRing<Int>(capacity: 4))
        checkWakeUnblocks(MPSCRing<Int>(capacity: 4))
    }

    func testWakeBeforeTheWaitIsRemembered() {
        checkWakeIsSticky(SPSCRing<Int>(capacity: 4))
        checkWakeIsSticky(MPSCRing<Int>(capacity: 4))
    }

    func testParkedProducerWakesWhenTheConsumerMakesSpace() {
        checkProducerWakesOnPop(SPSCRing<Int>(capacity: 2))
        checkProducerWakesOnPop(MPSCRing<Int>(capacity: 2))
    }

    // MARK: Bodies

    #if DEBUG
    private let tinyItemCount = 5_000
    private let messageCount = 20_000
    #else
    private let tinyItemCount = 50_000
    private let messageCount = 400_000
    #endif

    /// Producer `p` pushes `p << 40 | seq` for seq 1...itemsPerProducer, mixing single pushes,
    /// batches of varying size and pushWaiting (only pushWaiting when `tiny`); the calling thread
    /// consumes with drains of varying size and tryPop, checking each producer's sequence.
    private func stress<R: TestableRing<UInt64>>(
        _ ring: R, producers: Int, itemsPerProducer: Int, tiny: Bool = false
    ) {
        // Every wait ends by `endNanos`, and every loop stops once it has passed, so a lost wake-up
        // (which turns each wait into a wait for the deadline) fails the test within a minute.
        let endNanos = deadline(afterMilliseconds: 60_000)
        let stalled = Locked(false)
        var threads: [TestThread] = []
        for producer in 0..<producers {
            threads.append(TestThread {
                let base = UInt64(producer) << 40
                let last = UInt64(itemsPerProducer)
                var next: UInt64 = 1
                var round = 0
                while next <= last {
                    round += 1
                    // Fall behind now and then so that the consumer of a tiny ring parks.
                    if tiny && next % 1_000 == 0 { usleep(200) }
                    if tiny || round % 7 == 0 {
                        guard ring.pushWaiting(base | next, deadlineNanos: endNanos),
                              MonotonicClock.nowNanos() < endNanos else {
                            stalled.set(true)
                            return
                        }
                        next += 1
                    } else if round % 3 == 0 {
                        if ring.tryPush(base | next) { next += 1 }
                    } else {
                        let end = Swift.min(next + UInt64(1 + round % 97), last + 1)
                        let pushed = ring.tryPush(contentsOf: (base | next)..<(base | end))
                        next += UInt64(pushed)
                        if pushed == 0 {
                            _ = ring.waitForSpace(deadlineNanos: endNanos)
                            if MonotonicClock.nowNanos() >= endNanos {
                                stalled.set(true)
                                return
                            }
                        }
                    }
                }
            })
        }

        let total = producers * itemsPerProducer
        var expected = [UInt64](repeating: 1, count: producers)
        var checksum: UInt64 = 0
        var received = 0
        var firstError: String?
        var outOfTime = false
        func accept(_ value: UInt64) {
            let producer = Int(value >> 40)
            let sequence = value & ((1 << 40) - 1)
            guard producer < producers, sequence == expected[producer] else {
                if firstError == nil {
                    firstError = "got \(value) (producer \(producer), seq \(sequence)) after \(received) items"
                }
                return
            }
            expected[producer] += 1
            checksum &+= value
            received += 1
        }
        // Bounded: every round takes items or waits, and a wait that ends past `endNanos` ends the loop.
        var round = 0
        while received < total && firstError == nil && !outOfTime {
            round += 1
            var taken = 0
            if tiny || round % 5 == 0 {
                if let value = ring.tryPop() {
                    accept(value)
                    taken = 1
                }
                // Fall behind now and then so that a tiny ring fills and its producers park.
                if tiny && received % 1_000 == 0 { usleep(200) }
            } else {
                taken = ring.drain(maxCount: 1 + round % 64, accept)
            }
            if taken == 0 {
                _ = ring.waitForItems(deadlineNanos: endNanos)
                outOfTime = MonotonicClock.nowNanos() >= endNanos
            }
        }
        for thread in threads {
            XCTAssertTrue(thread.join(timeoutSeconds: 60), "\(R.self): producer did not finish")
        }
        XCTAssertNil(firstError, "\(R.self): order violated")
        XCTAssertFalse(outOfTime, "\(R.self): the consumer ran out of time (lost wake-up?)")
        XCTAssertFalse(stalled.get(), "\(R.self): a producer ran out of time waiting for space")
        XCTAssertEqual(received, total, "\(R.self): items received")
        var expectedChecksum: UInt64 = 0
        for producer in 0..<producers {
            let n = UInt64(itemsPerProducer)
            expectedChecksum &+= (UInt64(producer) << 40) &* n &+ n * (n + 1) / 2
        }
        XCTAssertEqual(checksum, expectedChecksum, "\(R.self): checksum")
        XCTAssertTrue(ring.isEmpty, "\(R.self): nothing left over")
        if tiny {
            // The consumer fell behind for 200 µs dozens of times, far longer than the spin phase.
            XCTAssertGreaterThan(ring._producerParkCount, 0, "\(R.self): no producer ever parked")
            // A lone producer's pauses starve the consumer; with two, the other may cover them.
            if producers == 1 {
                XCTAssertGreaterThan(ring._consumerParkCount, 0, "\(R.self): the consumer never parked")
            }
        }
    }

    private func handOffMessages<R: TestableRing<Message>>(_ ring: R) {
        let count = messageCount
        // As in `stress`: every wait ends by `endNanos`, and loops stop once it has passed.
        let endNanos = deadline(afterMilliseconds: 60_000)
        let producer = TestThread {
            var index = 0
            var batch: [Message] = []
            while index < count {
                if index % 2 == 0 {
                    guard ring.pushWaiting(.make(index), deadlineNanos: endNanos),
                          MonotonicClock.nowNanos() < endNanos else { return }
                    index += 1
                } else {
                    batch.removeAll(keepingCapacity: true)
                    for offset in 0..<Swift.min(16, count - index) { batch.append(.make(index + offset)) }
                    let pushed = ring.tryPush(contentsOf: batch)
                    index += pushed
                    if pushed == 0 {
                        _ = ring.waitForSpace(deadlineNanos: endNanos)
                        if MonotonicClock.nowNanos() >= endNanos { return }
                    }
                }
            }
        }
        var received = 0
        var mismatches = 0
        var outOfTime = false
        while received < count && mismatches == 0 && !outOfTime {
            let taken = ring.drain(maxCount: 32) { message in
                if message != .make(received) { mismatches += 1 }
                received += 1
            }
            if taken == 0 {
                _ = ring.waitForItems(deadlineNanos: endNanos)
                outOfTime = MonotonicClock.nowNanos() >= endNanos
            }
        }
        XCTAssertFalse(outOfTime, "\(R.self): the consumer ran out of time (lost wake-up?)")
        XCTAssertTrue(producer.join(timeoutSeconds: 60), "\(R.self): producer did not finish")
        XCTAssertEqual(mismatches, 0, "\(R.self): a message arrived changed or out of order")
        XCTAssertEqual(received, count, "\(R.self)")
    }

    private func checkConsumerWakesOnPush<R: TestableRing<Int>>(_ ring: R) {
        let result = Locked<Int?>(nil)
        let consumer = TestThread {
            // No deadline: only the producer's wake-up can end this wait.
            if ring.waitForItems(deadlineNanos: nil) { result.set(ring.tryPop()) }
        }
        XCTAssertTrue(eventually { ring._consumerParkCount == 1 }, "\(R.self): the consumer never parked")
        ring.push(42)
        let joined = consumer.join(timeoutSeconds: 10)
        XCTAssertTrue(joined, "\(R.self): the parked consumer missed the push (lost wake-up)")
        if !joined { ring.wake() }
        XCTAssertEqual(result.get(), 42, "\(R.self)")
        XCTAssertEqual(ring._consumerParkCount, 1, "\(R.self): the consumer parked once, then took the item")
    }

    private func checkWakeUnblocks<R: TestableRing<Int>>(_ ring: R) {
        let result = Locked<Bool?>(nil)
        let consumer = TestThread { result.set(ring.waitForItems(deadlineNanos: nil)) }
        XCTAssertTrue(eventually { ring._consumerParkCount == 1 }, "\(R.self): the consumer never parked")
        ring.wake()
        let joined = consumer.join(timeoutSeconds: 10)
        XCTAssertTrue(joined, "\(R.self): wake() did not unblock the parked consumer")
        if !joined { ring.push(0) }
        XCTAssertEqual(result.get(), false, "\(R.self): woken without items")
        XCTAssertEqual(ring._consumerParkCount, 1, "\(R.self): the consumer was parked when woken")
    }

    private func checkWakeIsSticky<R: TestableRing<Int>>(_ ring: R) {
        ring.wake()
        let result = Locked<Bool?>(nil)
        let consumer = TestThread { result.set(ring.waitForItems(deadlineNanos: nil)) }
        let joined = consumer.join(timeoutSeconds: 10)
        XCTAssertTrue(joined, "\(R.self): a wake() before the wait was forgotten")
        if !joined { ring.wake() }
        XCTAssertEqual(result.get(), false, "\(R.self)")
        // The wake was consumed: the next wait runs to its deadline.
        XCTAssertFalse(ring.waitForItems(deadlineNanos: deadline(afterMilliseconds: 20)), "\(R.self)")
    }

    private func checkProducerWakesOnPop<R: TestableRing<Int>>(_ ring: R) {
        ring.push(1)
        ring.push(2)
        let producer = TestThread { ring.pushWaiting(3) }
        XCTAssertTrue(eventually { ring._producerParkCount == 1 }, "\(R.self): the producer never parked")
        XCTAssertEqual(ring.tryPop(), 1, "\(R.self)")
        let joined = producer.join(timeoutSeconds: 10)
        XCTAssertTrue(joined, "\(R.self): the parked producer missed the freed slot (lost wake-up)")
        if !joined { _ = ring.popAll() }
        XCTAssertEqual(ring.popAll(), [2, 3], "\(R.self)")
        XCTAssertEqual(ring._producerParkCount, 1, "\(R.self): the producer was parked on the full ring")
    }
}
