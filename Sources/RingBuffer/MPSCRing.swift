import Atomics

/// A bounded, lock-free ring for handing elements from any number of producer threads to one
/// consumer thread (the NIO event loops to the protocol thread on the hot path).
///
/// Design (after Vyukov's bounded queue): producers claim a run of positions by one
/// compare-exchange of `tail` after checking free space against `head`; each producer then fills
/// its slots and publishes each with a releasing store of that slot's sequence number
/// (`position + 1`). The consumer takes positions in order, acquiring each slot's sequence, stops at
/// the first unpublished slot, and retires the whole run with one store of `head`.
///
/// Guarantees: each element comes out exactly once; elements pushed by one producer come out in
/// the order that producer pushed them; a full ring never blocks `tryPush` (it returns false);
/// an awake consumer costs producers no syscall; waiting sides spin briefly, then park at no CPU
/// cost, with no lost wake-ups. Not lock-free for the consumer: a producer descheduled between
/// claiming and publishing a slot holds back everything after that slot until it runs again.
/// Elements still in the ring when it is deinitialized are destroyed.
///
/// Producer-side methods may be called from any number of threads; consumer-side methods
/// (`tryPop`, `drain`, `waitForItems`) from one thread at a time; `isEmpty`, `capacity`, `wake()`
/// from any thread. Elements cross threads: use `Sendable` elements or hand over sole ownership.
///
/// `@unchecked Sendable`: all shared state is atomics; a slot is written only by the producer that
/// claimed its position (claims are exclusive by compare-exchange, and reuse waits for `head`) and
/// read only by the consumer after acquiring its sequence; `let` fields never change after `init`.
public final class MPSCRing<Element>: @unchecked Sendable {
    /// How many elements fit; a power of two.
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    /// Per-slot sequence: `position + 1` once the element for `position` is published. Initially 0,
    /// which is `position + 1` for no position, so no slot starts published.
    @usableFromInline let sequences: UnsafeMutablePointer<UnsafeAtomic<Int>.Storage>
    @usableFromInline let lines: PaddedLines

    // Control lines (128 bytes apart, see PaddedLines):
    //   line 0: `tail`, next position to claim (producers, compare-exchange)
    //   line 1: `head`, next position to take (consumer only stores it)
    //   line 2: consumer sleepers; line 3: producer sleepers; line 4: pending wake() request;
    //   lines 5 and 6: consumer and producer park counts (written only when a thread parks).
    @usableFromInline let tail: UnsafeAtomic<Int>
    @usableFromInline let head: UnsafeAtomic<Int>
    @usableFromInline let consumerWaiting: WaitingSide
    @usableFromInline let producerWaiting: WaitingSide
    @usableFromInline let wakeRequest: WakeRequest

    /// Creates an empty ring. `capacity` must be a power of two and at least 2.
    public init(capacity: Int) {
        precondition(capacity >= 2, "MPSCRing: capacity must be at least 2")
        precondition(capacity & (capacity - 1) == 0, "MPSCRing: capacity must be a power of two")
        self.capacity = capacity
        self.mask = capacity - 1
        self.slots = .allocate(capacity: capacity)
        let sequencesRaw = UnsafeMutableRawPointer.allocate(
            byteCount: capacity * MemoryLayout<UnsafeAtomic<Int>.Storage>.stride,
            alignment: PaddedLines.lineSizeBytes
        )
        self.sequences = sequencesRaw.initializeMemory(
            as: UnsafeAtomic<Int>.Storage.self, repeating: .init(0), count: capacity
        )
        self.lines = PaddedLines(lineCount: 7)
        self.tail = lines.atomic(line: 0)
        self.head = lines.atomic(line: 1)
        self.consumerWaiting = WaitingSide(sleepers: lines.atomic(line: 2), parkCount: lines.atomic(line: 5))
        self.producerWaiting = WaitingSide(sleepers: lines.atomic(line: 3), parkCount: lines.atomic(line: 6))
        self.wakeRequest = WakeRequest(pending: lines.atomic(line: 4))
    }

    deinit {
        // Relaxed: deinit runs after the last reference is released, and Swift's release/dealloc
        // already orders every other thread's earlier accesses before this point. A producer
        // mid-push holds a reference, so every claimed position is published by now.
        let head = self.head.load(ordering: .relaxed)
        let tail = self.tail.load(ordering: .relaxed)
        precondition(tail - head >= 0 && tail - head <= capacity, "MPSCRing: corrupt indices")
        for position in head..<tail {
            assert(sequence(position & mask).load(ordering: .relaxed) == position + 1)
            (slots + (position & mask)).deinitialize(count: 1)
        }
        slots.deallocate()
        UnsafeMutableRawPointer(sequences).deallocate()
        lines.deallocate()
    }

    @inlinable
    func sequence(_ slot: Int) -> UnsafeAtomic<Int> {
        UnsafeAtomic(at: sequences + slot)
    }

    // MARK: Producer side (any thread)

    /// Appends `element` unless the ring is full. Returns false, leaving the ring unchanged, when full.
    @inlinable
    public func tryPush(_ element: Element) -> Bool {
        let claimed = claim(upTo: 1)
        if claimed.count == 0 { return false }
        assert(claimed.count == 1)
        let slot = claimed.start & mask
        (slots + slot).initialize(to: element)
        // Pairs with the consumer's acquiring load of this slot's sequence: the element is written.
        sequence(slot).store(claimed.start + 1, ordering: .releasing)
        wakeConsumerIfParked()
        return true
    }

    /// Appends `element`; traps if the ring is full. For callers that proved there is space.
    @inlinable
    public func push(_ element: Element) {
        let pushed = tryPush(element)
        precondition(pushed, "MPSCRing.push: ring is full; prove space first or use tryPush")
    }

    /// Appends `element`, waiting (spin, then park) while the ring is full.
    public func pushWaiting(_ element: Element) {
        let pushed = pushWaiting(element, deadlineNanos: nil)
        assert(pushed, "pushWaiting without a deadline returns only after pushing")
    }

    /// Appends `element`, waiting while the ring is full until CLOCK_MONOTONIC passes
    /// `deadlineNanos` (nil: no deadline). Returns false, leaving the ring unchanged, on timeout.
    public func pushWaiting(_ element: Element, deadlineNanos: UInt64?) -> Bool {
        // Bounded by the deadline; without one, by the consumer eventually making space (another
        // producer may take the space first, hence the loop).
        while !tryPush(element) {
            // waitForSpace returns false only once the deadline has passed.
            if !waitForSpace(deadlineNanos: deadlineNanos) { return false }
        }
        return true
    }

    /// Appends a prefix of `elements`: as many as fit, claimed with one compare-exchange and
    /// kept contiguous and in order. Returns how many.
    @inlinable
    public func tryPush<C: Collection>(contentsOf elements: C) -> Int where C.Element == Element {
        let wanted = elements.count
        if wanted == 0 { return 0 }
        let claimed = claim(upTo: wanted)
        var index = elements.startIndex
        for offset in 0..<claimed.count {
            let position = claimed.start + offset
            (slots + (position & mask)).initialize(to: elements[index])
            elements.formIndex(after: &index)
            // Pairs with the consumer's acquiring load of this slot's sequence: the element is written.
            sequence(position & mask).store(position + 1, ordering: .releasing)
        }
        if claimed.count > 0 { wakeConsumerIfParked() }
        return claimed.count
    }

    /// Claims up to `wanted` consecutive positions with one successful compare-exchange of `tail`.
    @inlinable
    func claim(upTo wanted: Int) -> (start: Int, count: Int) {
        assert(wanted >= 1)
        // Relaxed: a guess at `tail`; the compare-exchange below validates it.
        var position = tail.load(ordering: .relaxed)
        // Lock-free: each failed compare-exchange means another producer claimed and made progress.
        while true {
            // Pairs with the consumer's store of `head`: slots below `head + capacity` were moved out.
            let head = self.head.load(ordering: .acquiring)
            let free = capacity - (position - head)
            if free <= 0 { return (position, 0) }
            // When `position` is stale, `free` can exceed the truth (even `capacity`); the
            // compare-exchange then fails, because `tail` has moved past `position`.
            let count = Swift.min(free, wanted)
            // Relaxed: the claim publishes nothing. Slot reuse is ordered by the acquiring load
            // of `head` above, and element visibility by each slot's releasing sequence store.
            let (exchanged, original) = tail.weakCompareExchange(
                expected: position, desired: position + count,
                successOrdering: .relaxed, failureOrdering: .relaxed
            )
            if exchanged { return (position, count) }
            position = original
        }
    }

    @inlinable
    func wakeConsumerIfParked() {
        // Dekker half: orders this producer's sequence stores before its load of the consumer's
        // sleepers count; pairs with the consumer's sequentially consistent sleeper announcement.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        consumerWaiting.wakeIfParked()
    }

    /// Waits until the ring has space for at least one element, or CLOCK_MONOTONIC passes
    /// `deadlineNanos` (nil: no deadline). Returns whether there was space (another producer may
    /// take it first).
    public func waitForSpace(deadlineNanos: UInt64?) -> Bool {
        producerWaiting.wait(deadlineNanos: deadlineNanos, consumeWake: { false }) {
            // Relaxed `tail`: a stale value only reports space early, and the caller retries.
            let tail = self.tail.load(ordering: .relaxed)
            // Sequentially consistent: the Dekker re-check after announcing a sleeper; pairs with
            // the consumer's sequentially consistent store of `head`.
            return tail - head.load(ordering: .sequentiallyConsistent) < capacity
        }
    }

    // MARK: Consumer side (one thread)

    /// Removes and returns the oldest published element, or nil when there is none.
    @inlinable
    public func tryPop() -> Element? {
        // Relaxed: only this (consumer) thread stores `head`.
        let head = self.head.load(ordering: .relaxed)
        let slot = head & mask
        // Pairs with the producer's releasing store of this slot's sequence: the element is written.
        guard sequence(slot).load(ordering: .acquiring) == head + 1 else { return nil }
        let element = (slots + slot).move()
        retire(head: head + 1)
        return element
    }

    /// Removes up to `maxCount` of the oldest published elements, passing each to `body` in order,
    /// and retires them with one store of `head`. Returns how many were removed. If `body` throws,
    /// the element it was given and those before it count as removed; the rest stay in the ring.
    @inlinable
    @discardableResult
    public func drain(maxCount: Int, _ body: (Element) throws -> Void) rethrows -> Int {
        precondition(maxCount >= 0, "MPSCRing.drain: maxCount must not be negative")
        // Relaxed: only this (consumer) thread stores `head`.
        let head = self.head.load(ordering: .relaxed)
        var removed = 0
        defer { if removed > 0 { retire(head: head + removed) } }
        while removed < maxCount {
            let position = head + removed
            // Pairs with the producer's releasing store of this slot's sequence: the element is
            // written. Stops at the first unpublished slot to keep each producer's order.
            guard sequence(position & mask).load(ordering: .acquiring) == position + 1 else { break }
            let element = (slots + (position & mask)).move()
            removed += 1
            try body(element)
        }
        assert(removed <= capacity)
        return removed
    }

    /// Waits until the oldest slot is published, CLOCK_MONOTONIC passes `deadlineNanos` (nil: no
    /// deadline), or `wake()` is called (a wake before the wait is remembered; one wake ends one
    /// wait). Returns whether an item is available.
    public func waitForItems(deadlineNanos: UInt64?) -> Bool {
        // Relaxed: only this (consumer) thread stores `head`.
        let head = self.head.load(ordering: .relaxed)
        return consumerWaiting.wait(deadlineNanos: deadlineNanos, consumeWake: wakeRequest.consume) {
            // Sequentially consistent: the Dekker re-check after announcing a sleeper; pairs with
            // the producer's releasing sequence store followed by its sequentially consistent fence.
            sequence(head & mask).load(ordering: .sequentiallyConsistent) == head + 1
        }
    }

    /// Makes the consumer's current or next `waitForItems` return (for shutdown). Any thread.
    public func wake() {
        wakeRequest.post()
        consumerWaiting.wakeParked()
    }

    @inlinable
    func retire(head newHead: Int) {
        // Releases the emptied slots to producers' acquiring loads of `head`; sequentially
        // consistent as the Dekker half that pairs with a producer's sleeper announcement.
        head.store(newHead, ordering: .sequentiallyConsistent)
        producerWaiting.wakeIfParked()
    }

    // MARK: Either side

    /// Whether no element was claimed and not yet taken at the moment of the call (a claimed slot
    /// still being written counts as an element); stale as soon as it returns.
    public var isEmpty: Bool {
        // Acquiring `head`, first, so the later `tail` is never behind it; pairs with the
        // consumer's store of `head`. Relaxed `tail`: producers claim it with relaxed exchanges.
        let head = self.head.load(ordering: .acquiring)
        return tail.load(ordering: .relaxed) == head
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
