import Foundation
import Glibc
import RingBuffer

/// A joinable pthread for tests. `join(timeoutSeconds:)` bounds how long a test waits for it.
final class TestThread: @unchecked Sendable {
    // @unchecked Sendable: `thread` is written once in init; `finished` is a DispatchSemaphore.
    private var thread = pthread_t()
    private let finished = DispatchSemaphore(value: 0)

    init(_ body: @escaping @Sendable () -> Void) {
        let finished = self.finished
        let box = Unmanaged.passRetained(ThreadBody {
            body()
            finished.signal()
        }).toOpaque()
        let result = pthread_create(&thread, nil, { context in
            Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    /// Waits up to `timeoutSeconds` for the body to finish, then joins. Returns false (and leaves
    /// the thread running, detached) if it did not finish in time.
    func join(timeoutSeconds: Int = 120) -> Bool {
        guard finished.wait(timeout: .now() + .seconds(timeoutSeconds)) == .success else {
            pthread_detach(thread)
            return false
        }
        pthread_join(thread, nil)
        return true
    }
}

private final class ThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// A thread-safe counter, for results that test threads hand back and for counting deinits.
final class Counter: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value = 0

    func add(_ amount: Int = 1) {
        lock.lock()
        value += amount
        lock.unlock()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// An element whose deinit is counted, to prove the rings destroy exactly what they hold.
final class Tracked: @unchecked Sendable {
    // @unchecked Sendable: immutable after init; Counter is thread-safe.
    let id: Int
    private let deinits: Counter

    init(_ id: Int, deinits: Counter) {
        self.id = id
        self.deinits = deinits
    }

    deinit { deinits.add() }
}

/// A non-trivial element like the hot path's messages: an enum with heap-allocated payloads.
enum Message: Equatable, Sendable {
    case entries(term: Int, values: [Int])
    case tick(Int)
    case label(String)

    static func make(_ index: Int) -> Message {
        switch index % 3 {
        case 0: return .entries(term: index, values: [index, index &* 7, index &+ 1])
        case 1: return .tick(index)
        default: return .label("m\(index)")
        }
    }
}

/// CLOCK_MONOTONIC deadline `milliseconds` from now, for the rings' waits.
func deadline(afterMilliseconds milliseconds: UInt64) -> UInt64 {
    MonotonicClock.nowNanos() + milliseconds * 1_000_000
}

/// Items for stress tests: large in release builds, smaller in debug where everything is ~30x slower.
#if DEBUG
let stressItemCount = 200_000
#else
let stressItemCount = 4_000_000
#endif

/// A value shared between a test and its threads, guarded by a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func set(_ newValue: Value) {
        lock.lock()
        value = newValue
        lock.unlock()
    }

    func get() -> Value {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}

/// Polls `condition` every millisecond, at most `maxPolls` times; returns whether it became true.
func eventually(maxPolls: Int = 10_000, _ condition: () -> Bool) -> Bool {
    for _ in 0..<maxPolls {
        if condition() { return true }
        usleep(1_000)
    }
    return condition()
}
