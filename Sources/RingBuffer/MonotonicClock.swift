import Glibc

/// Reads CLOCK_MONOTONIC, the clock that `waitForItems(deadlineNanos:)` and
/// `waitForSpace(deadlineNanos:)` deadlines are measured on. It never jumps with wall-clock changes.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point (boot, on Linux).
    public static func nowNanos() -> UInt64 {
        var now = timespec()
        let result = clock_gettime(CLOCK_MONOTONIC, &now)
        precondition(result == 0, "clock_gettime(CLOCK_MONOTONIC) failed")
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}
