import Atomics
import Glibc

/// One side of a ring that may wait: the consumer waiting for items, or producers waiting for
/// space. It spins briefly, yields, then parks on a condition variable.
///
/// No lost wake-ups (the Dekker handshake): a waiter increments `sleepers` with a sequentially
/// consistent store and only then re-checks `ready`, whose loads must be sequentially consistent
/// too; the other side stores its index sequentially consistently and only then loads `sleepers`.
/// In the single total order of those four operations, either the waiter sees the new index or the
/// other side sees the sleeper and calls `wakeAll()`. `ParkingSpot` closes the remaining window
/// between the waiter's re-check and its `wait`. An awake side costs the other side one load of
/// `sleepers` per publish and no syscall.
@usableFromInline
struct WaitingSide {
    /// How many threads are parked or about to park on this side (0 or 1 for a single thread).
    @usableFromInline let sleepers: UnsafeAtomic<Int>
    /// How many times a thread of this side has parked; for tests and diagnostics.
    let parkCount: UnsafeAtomic<Int>
    @usableFromInline let spot: ParkingSpot

    init(sleepers: UnsafeAtomic<Int>, parkCount: UnsafeAtomic<Int>) {
        self.sleepers = sleepers
        self.parkCount = parkCount
        self.spot = ParkingSpot()
    }

    /// Called by the other side right after its sequentially consistent index store.
    @inlinable
    func wakeIfParked() {
        // Pairs with the waiter's sequentially consistent increment of `sleepers` (Dekker).
        if sleepers.load(ordering: .sequentiallyConsistent) != 0 {
            wakeParked()
        }
    }

    @usableFromInline
    func wakeParked() {
        spot.wakeAll()
    }

    /// Waits until `ready()` is true, `consumeWake()` reports a pending `wake()`, or CLOCK_MONOTONIC
    /// passes `deadlineNanos` (nil: no deadline). Returns true if `ready()` was seen true; false only
    /// after a wake or the deadline with `ready()` still false.
    ///
    /// `ready` must load the other side's index (or slot sequence) sequentially consistently.
    func wait(
        deadlineNanos: UInt64?,
        consumeWake: () -> Bool,
        ready: () -> Bool
    ) -> Bool {
        for _ in 0..<SpinPolicy.spinCount {
            if ready() { return true }
            if consumeWake() { return ready() }
        }
        // A caller polling with a past deadline gets its answer without the ~10 µs of yields.
        if deadlinePassed(deadlineNanos) { return ready() }
        for _ in 0..<SpinPolicy.yieldCount {
            sched_yield()
            if ready() { return true }
            if consumeWake() { return ready() }
        }
        if deadlinePassed(deadlineNanos) { return ready() }

        // Dekker, first half: announce before re-checking; pairs with the other side's
        // sequentially consistent load of `sleepers` after its index store.
        sleepers.wrappingIncrement(ordering: .sequentiallyConsistent)
        // Relaxed: a statistic, ordered with nothing.
        parkCount.wrappingIncrement(ordering: .relaxed)
        spot.lock()
        // Remember what ended the wait: with several producers, space seen here can be taken by
        // another producer before a second look, and the caller must not read that as a timeout.
        var satisfied = false
        while true {
            if ready() {
                satisfied = true
                break
            }
            if consumeWake() || deadlinePassed(deadlineNanos) { break }
            spot.wait(deadlineNanos: deadlineNanos)
        }
        spot.unlock()
        // Relaxed: a stale nonzero value only costs the other side one needless wakeAll().
        sleepers.wrappingDecrement(ordering: .relaxed)
        return satisfied || ready()
    }
}

/// A sticky wake-up request for a ring's consumer: `wake()` sets it, the next wait consumes it.
@usableFromInline
struct WakeRequest {
    @usableFromInline let pending: UnsafeAtomic<Int>

    /// Records the request; the caller then wakes the parked consumer, if any.
    func post() {
        // Pairs with the acquiring exchange in `consume()`: what the caller wrote before wake()
        // (a shutdown flag, say) is visible to the consumer when its wait returns.
        pending.store(1, ordering: .releasing)
    }

    /// True, once, after each `post()`.
    func consume() -> Bool {
        // Relaxed peek first so that a waiting consumer does not write the line on every spin.
        guard pending.load(ordering: .relaxed) != 0 else { return false }
        // Pairs with the releasing store in `post()`.
        return pending.exchange(0, ordering: .acquiring) != 0
    }
}
