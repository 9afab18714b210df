import Glibc

/// How long a waiting ring side spins before it parks. This box has 2 cores shared by many
/// processes, so a spinning thread steals the CPU from the very thread it waits for: spin briefly
/// (about a microsecond), then yield, then park at zero CPU cost — about 10 µs after the ring ran
/// dry, roughly what one park and wake-up costs.
///
/// Yielding matters more than spinning here. Measured on this box (SPSC, batch 64): with 4 yields
/// the two threads often fell into a mode where both sides park thousands of times per run
/// (~25 M items/s instead of ~370 M/s), apparently once the scheduler had put them on the same
/// core; with 32 yields the other thread gets the core and parks became rare. Spinning longer
/// (1,024 or 4,096 re-checks) made it worse.
@usableFromInline
enum SpinPolicy {
    /// Re-checks of the other side's index before yielding (no pause instruction is reachable
    /// from Swift without a C shim, and this module depends on Glibc and swift-atomics only).
    @usableFromInline static let spinCount = 256
    /// `sched_yield` calls, each followed by a re-check, before parking (~0.3 µs each when
    /// nothing else is runnable).
    @usableFromInline static let yieldCount = 32
}

/// A pthread mutex and condition variable at stable heap addresses (pthread objects must never
/// move), the condition clocked by CLOCK_MONOTONIC so deadlines ignore wall-clock jumps.
///
/// Waiters must re-check their condition while holding the mutex, and signallers must change the
/// state before taking the mutex: then a signal can never fall between a waiter's check and its
/// wait, because the signaller cannot take the mutex in that window.
///
/// Public for the log's sync stage, which guards a few fields with the mutex and waits on the
/// condition. `@unchecked Sendable`: it holds only pointers to pthread objects, which are made to
/// be shared between threads.
public final class ParkingSpot: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var mutexResult = pthread_mutex_init(mutex, nil)
        precondition(mutexResult == 0, "pthread_mutex_init failed: \(mutexResult)")
        var attributes = pthread_condattr_t()
        mutexResult = pthread_condattr_init(&attributes)
        precondition(mutexResult == 0, "pthread_condattr_init failed: \(mutexResult)")
        let clockResult = pthread_condattr_setclock(&attributes, clockid_t(CLOCK_MONOTONIC))
        precondition(clockResult == 0, "pthread_condattr_setclock failed: \(clockResult)")
        let conditionResult = pthread_cond_init(condition, &attributes)
        precondition(conditionResult == 0, "pthread_cond_init failed: \(conditionResult)")
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deinitialize(count: 1)
        condition.deallocate()
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    public func lock() {
        let result = pthread_mutex_lock(mutex)
        precondition(result == 0, "pthread_mutex_lock failed: \(result)")
    }

    public func unlock() {
        let result = pthread_mutex_unlock(mutex)
        precondition(result == 0, "pthread_mutex_unlock failed: \(result)")
    }

    /// Waits with the mutex held until signalled, a spurious wake-up, or `deadlineNanos`
    /// (CLOCK_MONOTONIC; nil waits without a deadline). The caller re-checks its condition.
    public func wait(deadlineNanos: UInt64?) {
        guard let deadlineNanos else {
            let result = pthread_cond_wait(condition, mutex)
            precondition(result == 0, "pthread_cond_wait failed: \(result)")
            return
        }
        var deadline = timespec(
            tv_sec: Int(deadlineNanos / 1_000_000_000),
            tv_nsec: Int(deadlineNanos % 1_000_000_000)
        )
        let result = pthread_cond_timedwait(condition, mutex, &deadline)
        precondition(result == 0 || result == ETIMEDOUT, "pthread_cond_timedwait failed: \(result)")
    }

    /// Takes the mutex and wakes every waiter; the caller has already changed the state.
    public func wakeAll() {
        lock()
        let result = pthread_cond_broadcast(condition)
        precondition(result == 0, "pthread_cond_broadcast failed: \(result)")
        unlock()
    }
}

/// True when CLOCK_MONOTONIC has reached `deadlineNanos`; never true for a nil deadline.
@usableFromInline
func deadlinePassed(_ deadlineNanos: UInt64?) -> Bool {
    guard let deadlineNanos else { return false }
    return MonotonicClock.nowNanos() >= deadlineNanos
}
