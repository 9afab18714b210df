import Atomics

/// A bounded, lock-free ring for handing elements from exactly one producer thread to exactly one
/// consumer thread (the protocol thread to the log appender on the hot path).
///
/// Guarantees: elements come out in the order they went in, each exactly once; a full ring never
/// blocks `tryPush` (it returns false — backpressure is the caller's); a batch is published with
/// one store and consumed with one load and one store; an awake consumer costs the producer no
/// syscall; a waiting side spins about a microsecond and then parks at no CPU cost, and is never
/// left parked while the condition it waits for holds (no lost wake-ups). Elements still in the
/// ring when it is deinitialized are destroyed.
///
/// The producer-side methods (`tryPush`, `push`, `pushWaiting`, `waitForSpace`) must be called
/// from one thread at a time, and the consumer-side methods (`tryPop`, `drain`, `waitForItems`)
/// likewise; `isEmpty`, `capacity` and `wake()` from any thread. Elements cross threads: use
/// `Sendable` elements or hand over sole ownership.
///
/// `@unchecked Sendable`: all shared state is atomics in `lines`, and a slot is touched by one
/// side at a time — the producer only between `head` (acquired) and `head + capacity`, the
/// consumer only below `tail` (acquired); `let` fields never change after `init`.
public final class SPSCRing<Element>: @unchecked Sendable {
    /// How many elements fit; a power of two.
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    @usableFromInline let lines: PaddedLines

    // Control lines, each written by one side (see PaddedLines for why 128 bytes apart):
    //   line 0, producer: `tail` (next position to fill), `producerCachedHead`
    //   line 1, consumer: `head` (next position to take), `consumerCachedTail`
    //   line 2: consumer sleepers; line 3: producer sleepers; line 4: pending wake() request;
    //   lines 5 and 6: consumer and producer park counts (written only when a thread parks).
    // Positions grow without bound (2^63 pushes would take centuries); slot = position & mask.
    @usableFromInline let tail: UnsafeAtomic<Int>
    /// The producer's last view of `head`; refreshed only when the ring looks full.
    @usableFromInline let producerCachedHead: UnsafeMutablePointer<Int>
    @usableFromInline let head: UnsafeAtomic<Int>
    /// The consumer's last view of `tail`; refreshed only when it shows too few items.
    @usableFromInline let consumerCachedTail: UnsafeMutablePointer<Int>
    @usableFromInline let consumerWaiting: WaitingSide
    @usableFromInline let producerWaiting: WaitingSide
    @usableFromInline let wakeRequest: WakeRequest

    /// Creates an empty ring. `capacity` must be a power of two and at least 2.
    public init(capacity: Int) {
        precondition(capacity >= 2, "SPSCRing: capacity must be at least 2")
        precondition(capacity & (capacity - 1) == 0, "SPSCRing: capacity must be a power of two")
        self.capacity = capacity
        self.mask = capacity - 1
        self.slots = .allocate(capacity: capacity)
        self.lines = PaddedLines(lineCount: 7)
        self.tail = lines.atomic(line: 0)
        self.producerCachedHead = lines.plain(line: 0, word: 1)
        self.head = lines.atomic(line: 1)
        self.consumerCachedTail = lines.plain(line: 1, word: 1)
        self.consumerWaiting = WaitingSide(sleepers: lines.atomic(line: 2), parkCount: lines.atomic(line: 5))
        self.producerWaiting = WaitingSide(sleepers: lines.atomic(line: 3), parkCount: lines.atomic(line: 6))
        self.wakeRequest = WakeRequest(pending: lines.atomic(line: 4))
    }

    deinit {
        // Relaxed: deinit runs after the last reference is released, and Swift's release/dealloc
        // already orders every other thread's earlier accesses before this point.
        let head = self.head.load(ordering: .relaxed)
        let tail = self.tail.load(ordering: .relaxed)
        precondition(tail - head >= 0 && tail - head <= capacity, "SPSCRing: corrupt indices")
        for position in head..<tail {
            (slots + (position & mask)).deinitialize(count: 1)
        }
        slots.deallocate()
        lines.deallocate()
    }

    // MARK: Producer side (one thread)

    /// Appends `element` unless the ring is full. Returns false, leaving the ring unchanged, when full.
    @inlinable
    public func tryPush(_ element: Element) -> Bool {
        // Relaxed: only this (producer) thread stores `tail`.
        let tail = self.tail.load(ordering: .relaxed)
        if tail - producerCachedHead.pointee == capacity {
            // Pairs with the consumer's store of `head`: slots below it were moved out, so reusable.
            producerCachedHead.pointee = head.load(ordering: .acquiring)
            if tail - producerCachedHead.pointee == capacity { return false }
        }
        assert(tail - producerCachedHead.pointee < capacity)
        (slots + (tail & mask)).initialize(to: element)
        publish(tail: tail + 1)
        return true
    }

    /// Appends `element`; traps if the ring is full. For callers that proved there is space.
    @inlinable
    public func push(_ element: Element) {
        let pushed = tryPush(element)
        precondition(pushed, "SPSCRing.push: ring is full; prove space first or use tryPush")
    }

    /// Appends `element`, waiting (spin, then park) while the ring is full.
    public func pushWaiting(_ element: Element) {
        let pushed = pushWaiting(element, deadlineNanos: nil)
        assert(pushed, "pushWaiting without a deadline returns only after pushing")
    }

    /// Appends `element`, waiting while the ring is full until CLOCK_MONOTONIC passes
    /// `deadlineNanos` (nil: no deadline). Returns false, leaving the ring unchanged, on timeout.
    public func pushWaiting(_ element: Element, deadlineNanos: UInt64?) -> Bool {
        // Bounded by the deadline; without one, by the consumer eventually making space. With one
        // producer, space seen by waitForSpace stays free, so the next tryPush succeeds.
        while !tryPush(element) {
            // waitForSpace returns false only once the deadline has passed.
            if !waitForSpace(deadlineNanos: deadlineNanos) { return false }
        }
        return true
    }

    /// Appends a prefix of `elements`: as many as fit, published with one store. Returns how many.
    @inlinable
    public func tryPush<C: Collection>(contentsOf elements: C) -> Int where C.Element == Element {
        let wanted = elements.count
        if wanted == 0 { return 0 }
        // Relaxed: only this (producer) thread stores `tail`.
        let tail = self.tail.load(ordering: .relaxed)
        if capacity - (tail - producerCachedHead.pointee) < wanted {
            // Pairs with the consumer's store of `head`: slots below it were moved out, so reusable.
            producerCachedHead.pointee = head.load(ordering: .acquiring)
        }
        let free = capacity - (tail - producerCachedHead.pointee)
        assert(free >= 0 && free <= capacity)
        let count = Swift.min(free, wanted)
        if count == 0 { return 0 }
        var index = elements.startIndex
        for offset in 0..<count {
            (slots + ((tail + offset) & mask)).initialize(to: elements[index])
            elements.formIndex(after: &index)
        }
        publish(tail: tail + count)
        return count
    }

    /// Waits until the ring has space for at least one element, CLOCK_MONOTONIC passes
    /// `deadlineNanos` (nil: no deadline). Returns whether there is space.
    public func waitForSpace(deadlineNanos: UInt64?) -> Bool {
        // Relaxed: only this (producer) thread stores `tail`.
        let tail = self.tail.load(ordering: .relaxed)
        return producerWaiting.wait(deadlineNanos: deadlineNanos, consumeWake: { false }) {
            // Sequentially consistent: the Dekker re-check after announcing a sleeper; pairs with
            // the consumer's sequentially consistent store of `head`.
            tail - head.load(ordering: .sequentiallyConsistent) < capacity
        }
    }

    @inlinable
    func publish(tail newTail: Int) {
        // Releases the filled slots to the consumer's acquiring load of `tail`; sequentially
        // consistent as the Dekker half that pairs with the consumer's sleeper announcement.
        tail.store(newTail, ordering: .sequentiallyConsistent)
        consumerWaiting.wakeIfParked()
    }

    // MARK: Consumer side (one thread)

    /// Removes and returns the oldest element, or nil when the ring is empty.
    @inlinable
    public func tryPop() -> Element? {
        // Relaxed: only this (consumer) thread stores `head`.
        let head = self.head.load(ordering: .relaxed)
        if consumerCachedTail.pointee == head {
            // Pairs with the producer's store of `tail`: slots below it are initialized.
            consumerCachedTail.pointee = tail.load(ordering: .acquiring)
            if consumerCachedTail.pointee == head { return nil }
        }
        let element = (slots + (head & mask)).move()
        retire(head: head + 1)
        return element
    }

    /// Removes up to `maxCount` of the oldest elements, passing each to `body` in order, with one
    /// load of `tail` and one store of `head`. Returns how many were removed. If `body` throws, the
    /// element it was given and those before it count as removed; the rest stay in the ring.
    @inlinable
    @discardableResult
    public func drain(maxCount: Int, _ body: (Element) throws -> Void) rethrows -> Int {
        precondition(maxCount >= 0, "SPSCRing.drain: maxCount must not be negative")
        // Relaxed: only this (consumer) thread stores `head`.
        let head = self.head.load(ordering: .relaxed)
        if consumerCachedTail.pointee - head < maxCount {
            // Pairs with the producer's store of `tail`: slots below it are initialized.
            consumerCachedTail.pointee = tail.load(ordering: .acquiring)
        }
        let count = Swift.min(consumerCachedTail.pointee - head, maxCount)
        assert(count >= 0 && count <= capacity)
        if count == 0 { return 0 }
        var removed = 0
        defer { retire(head: head + removed) }
        while removed < count {
            let element = (slots + ((head + removed) & mask)).move()
            removed += 1
            try body(element)
        }
        return count
    }

    /// Waits until the ring has an item, CLOCK_MONOTONIC passes `deadlineNanos` (nil: no deadline),
    /// or `wake()` is called (a wake before the wait is remembered; one wake ends one wait).
    /// Returns whether items are available.
    public func waitForItems(deadlineNanos: UInt64?) -> Bool {
        // Relaxed: only this (consumer) thread stores `head`.
        let head = self.head.load(ordering: .relaxed)
        return consumerWaiting.wait(deadlineNanos: deadlineNanos, consumeWake: wakeRequest.consume) {
            // Sequentially consistent: the Dekker re-check after announcing a sleeper; pairs with
            // the producer's sequentially consistent store of `tail`.
            tail.load(ordering: .sequentiallyConsistent) != head
        }
    }

    /// Makes the consumer's current or next `waitForItems` return (for shutdown). Any thread.
    public func wake() {
        wakeRequest.post()
        consumerWaiting.wakeParked()
    }

    @inlinable
    func retire(head newHead: Int) {
        // Releases the emptied slots to the producer's acquiring load of `head`; sequentially
        // consistent as the Dekker half that pairs with the producer's sleeper announcement.
        head.store(newHead, ordering: .sequentiallyConsistent)
        producerWaiting.wakeIfParked()
    }

    // MARK: Either side

    /// Whether the ring held no elements at the moment of the call; stale as soon as it returns.
    public var isEmpty: Bool {
        // Acquiring both: head first, so the later `tail` is never behind it. Pairs with the
        // consumer's store of `head` and the producer's store of `tail`.
        let head = self.head.load(ordering: .acquiring)
        return tail.load(ordering: .acquiring) == head
    }

    // MARK: Diagnostics

    /// How many times the consumer has parked (not merely spun) in `waitForItems`. For tests.
    public var _consumerParkCount: Int {
        // Relaxed: a statistic, ordered with nothing.
        consumerWaiting.parkCount.load(ordering: .relaxed)
    }

    /// How many times a producer has parked (not merely spun) waiting for space. For tests.
    public var _producerParkCount: Int {
        // Relaxed: a statistic, ordered with nothing.
        producerWaiting.parkCount.load(ordering: .relaxed)
    }
}
