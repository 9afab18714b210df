import Glibc

/// Two-thread hand-off benchmarks over the Swift rings, shaped exactly like the C references in
/// the `CReference` target so that `bench micro` can print them side by side from one run.
///
/// Shape: a producer thread pushes the values 1...items in chunks of `batch` with
/// `tryPush(contentsOf:)` (waiting for space when none fits); the calling thread consumes with
/// `drain(maxCount: batch)` (waiting for items when none are there) and sums what it receives.
/// The time covers thread start to join. The checksum is the wrapping sum of received values,
/// `items * (items + 1) / 2` when nothing was lost or duplicated.
public enum RingBenchmark {
    /// The ring capacity every hand-off benchmark uses (and passes to the C references).
    public static let ringCapacity = 1024

    /// SPSC hand-off of `items` values in batches of `batch`. Returns elapsed nanoseconds
    /// (CLOCK_MONOTONIC) and the checksum.
    public static func handOff(items: Int, batch: Int) -> (nanoseconds: UInt64, checksum: UInt64) {
        precondition(items >= 0, "RingBenchmark.handOff: items must not be negative")
        precondition(batch >= 1, "RingBenchmark.handOff: batch must be at least 1")
        precondition(batch <= ringCapacity, "RingBenchmark.handOff: batch must fit in the ring")
        let ring = SPSCRing<UInt64>(capacity: ringCapacity)
        let last = UInt64(items)
        let startNanos = MonotonicClock.nowNanos()
        let producer = BenchmarkThread {
            var next: UInt64 = 1
            while next <= last {
                let end = Swift.min(next + UInt64(batch), last + 1)
                let pushed = ring.tryPush(contentsOf: next..<end)
                if pushed == 0 {
                    _ = ring.waitForSpace(deadlineNanos: nil)
                }
                next += UInt64(pushed)
            }
        }
        var checksum: UInt64 = 0
        var received = 0
        while received < items {
            let count = ring.drain(maxCount: batch) { checksum &+= $0 }
            if count == 0 {
                _ = ring.waitForItems(deadlineNanos: nil)
            }
            received += count
        }
        producer.join()
        return (MonotonicClock.nowNanos() - startNanos, checksum)
    }

    /// MPSC hand-off: `producers` threads each push `itemsPerProducer` values in batches of `batch`
    /// (producer p pushes p * itemsPerProducer + 1 ... (p + 1) * itemsPerProducer), and the calling
    /// thread drains them. The checksum is the wrapping sum of every received value, `n * (n + 1) / 2`
    /// for `n = producers * itemsPerProducer`.
    public static func manyToOne(
        producers: Int, itemsPerProducer: Int, batch: Int
    ) -> (nanoseconds: UInt64, checksum: UInt64) {
        precondition(producers >= 1, "RingBenchmark.manyToOne: producers must be at least 1")
        precondition(itemsPerProducer >= 0, "RingBenchmark.manyToOne: itemsPerProducer must not be negative")
        precondition(batch >= 1, "RingBenchmark.manyToOne: batch must be at least 1")
        precondition(batch <= ringCapacity, "RingBenchmark.manyToOne: batch must fit in the ring")
        let ring = MPSCRing<UInt64>(capacity: ringCapacity)
        let startNanos = MonotonicClock.nowNanos()
        var threads: [BenchmarkThread] = []
        for producer in 0..<producers {
            let first = UInt64(producer * itemsPerProducer + 1)
            let last = UInt64((producer + 1) * itemsPerProducer)
            threads.append(BenchmarkThread {
                var next = first
                while next <= last {
                    let end = Swift.min(next + UInt64(batch), last + 1)
                    let pushed = ring.tryPush(contentsOf: next..<end)
                    if pushed == 0 {
                        _ = ring.waitForSpace(deadlineNanos: nil)
                    }
                    next += UInt64(pushed)
                }
            })
        }
        let items = producers * itemsPerProducer
        var checksum: UInt64 = 0
        var received = 0
        while received < items {
            let count = ring.drain(maxCount: batch) { checksum &+= $0 }
            if count == 0 {
                _ = ring.waitForItems(deadlineNanos: nil)
            }
            received += count
        }
        for thread in threads { thread.join() }
        return (MonotonicClock.nowNanos() - startNanos, checksum)
    }
}

/// A joinable pthread running one closure; for the benchmarks only (the runtime has its own).
final class BenchmarkThread {
    private var thread: pthread_t

    init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(BenchmarkThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { context in
            let body = Unmanaged<BenchmarkThreadBody>.fromOpaque(context!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        precondition(result == 0, "pthread_create failed: \(result)")
        self.thread = thread
    }

    func join() {
        let result = pthread_join(thread, nil)
        precondition(result == 0, "pthread_join failed: \(result)")
    }
}

private final class BenchmarkThreadBody {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
