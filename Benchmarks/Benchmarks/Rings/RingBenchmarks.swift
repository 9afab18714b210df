import Atomics
import Benchmark
import BenchmarkPolicy
import Glibc
import RingBuffer

// The rings between the network threads and the protocol thread (MPSC) and between the protocol
// thread and the log appender (SPSC). Pushing and popping must never allocate: every benchmark
// here has an exact allocation threshold of 0 mallocs per iteration.
//
// Two shapes:
// - one thread: push a batch, pop it, repeat. The cost of the operations themselves, with no
//   cache-line traffic between cores; deterministic.
// - hand-off: producer threads, started once before measurement, push continuously (parking
//   when the ring is full) while the measured thread pops `itemsPerIteration` items. Each
//   producer's values arrive in order, which the consumer checks as it pops.

let ringCapacity = 1_024
let itemsPerIteration = 65_536
let batch = 64

// MARK: One thread

@inline(never)
func spscSameThread(_ ring: SPSCRing<UInt64>, _ expected: inout UInt64) {
    var next = expected
    for _ in 0..<(itemsPerIteration / batch) {
        let pushed = ring.tryPush(contentsOf: next..<(next + UInt64(batch)))
        precondition(pushed == batch, "an empty ring takes a whole batch")
        next += UInt64(batch)
        let popped = ring.drain(maxCount: batch) { value in
            precondition(value == expected, "SPSC ring delivered \(value), expected \(expected)")
            expected += 1
        }
        precondition(popped == batch, "the batch just pushed is there to pop")
    }
}

@inline(never)
func mpscSameThread(_ ring: MPSCRing<UInt64>, _ expected: inout UInt64) {
    var next = expected
    for _ in 0..<(itemsPerIteration / batch) {
        let pushed = ring.tryPush(contentsOf: next..<(next + UInt64(batch)))
        precondition(pushed == batch, "an empty ring takes a whole batch")
        next += UInt64(batch)
        let popped = ring.drain(maxCount: batch) { value in
            precondition(value == expected, "MPSC ring delivered \(value), expected \(expected)")
            expected += 1
        }
        precondition(popped == batch, "the batch just pushed is there to pop")
    }
}

// MARK: Hand-off between threads

/// Either ring, seen from the benchmark's two sides.
protocol HandOffRing: AnyObject, Sendable {
    func tryPush(contentsOf elements: Range<UInt64>) -> Int
    func waitForSpace(deadlineNanos: UInt64?) -> Bool
    func drain(maxCount: Int, _ body: (UInt64) throws -> Void) rethrows -> Int
    func waitForItems(deadlineNanos: UInt64?) -> Bool
}

// The rings' own generic methods are the witnesses.
extension SPSCRing<UInt64>: HandOffRing {}
extension MPSCRing<UInt64>: HandOffRing {}

/// Producer `p` pushes `p << 48 | 1, 2, 3, ...`; the consumer checks each producer's sequence.
let producerShift: UInt64 = 48

/// Producer threads that push into `ring` until `stop()`. Started before measurement, so thread
/// creation is not in the measured allocations.
final class Producers<Ring: HandOffRing>: @unchecked Sendable {
    // @unchecked Sendable: `ring` is thread-safe by design; `stopping` and `exited` are atomics;
    // `threads` is touched only by the thread that created the producers (init and stop).
    let ring: Ring
    let stopping = ManagedAtomic<Bool>(false)
    let exited = ManagedAtomic<Int>(0)
    private var threads: [pthread_t] = []
    /// The next value the consumer expects from each producer (consumer thread only).
    var expected: [UInt64]

    init(ring: Ring, count: Int) {
        self.ring = ring
        expected = (0..<count).map { UInt64($0) << producerShift | 1 }
        for p in 0..<count {
            let first = UInt64(p) << producerShift | 1
            let body: @Sendable () -> Void = { [self] in produce(from: first) }
            let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
            var thread = pthread_t()
            let result = pthread_create(&thread, nil, { raw in
                Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, box)
            precondition(result == 0, "pthread_create failed: \(result)")
            threads.append(thread)
        }
    }

    /// Pushes batches until asked to stop. Waits for space with a deadline, so a producer parked
    /// on a full ring sees `stopping` within a millisecond even if nobody pops again.
    private func produce(from first: UInt64) {
        var next = first
        // Relaxed: only ends the loop; nothing else is published through this flag.
        while !stopping.load(ordering: .relaxed) {
            let pushed = ring.tryPush(contentsOf: next..<(next + UInt64(batch)))
            if pushed == 0 {
                _ = ring.waitForSpace(deadlineNanos: MonotonicClock.nowNanos() + 1_000_000)
            }
            next += UInt64(pushed)
        }
        // Releasing: pairs with the acquiring load in `stop`; nothing is pushed after this.
        exited.wrappingIncrement(ordering: .releasing)
    }

    /// Pops exactly `items` values, checking each producer's order.
    @inline(never)
    func consume(_ items: Int) {
        var received = 0
        while received < items {
            let popped = ring.drain(maxCount: min(batch, items - received)) { value in
                let producer = Int(value >> producerShift)
                precondition(value == expected[producer], "producer \(producer) sent \(value), expected \(expected[producer])")
                expected[producer] += 1
            }
            if popped == 0 {
                _ = ring.waitForItems(deadlineNanos: MonotonicClock.nowNanos() + 1_000_000_000)
            }
            received += popped
        }
    }

    /// Stops the producers, popping until they have all exited (one may be waiting for space),
    /// then joins them. Bounded: each producer exits within its next 1 ms wait.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        // Acquiring: pairs with each producer's releasing increment.
        while exited.load(ordering: .acquiring) < threads.count {
            _ = ring.drain(maxCount: ringCapacity) { _ in }
            usleep(100)
        }
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }
}

/// Carries a closure into a pthread.
final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Holds the running producers between a benchmark's setup, iterations and teardown (all on
/// the benchmark runner's thread).
final class ProducersHolder<Ring: HandOffRing>: @unchecked Sendable {
    // @unchecked Sendable: set in setup, read in the iterations, cleared in teardown, which the
    // runner calls one after another on one thread.
    var producers: Producers<Ring>?
}

func registerHandOff<Ring: HandOffRing>(_ name: String, producerCount: Int, makeRing: @escaping @Sendable () -> Ring) {
    let holder = ProducersHolder<Ring>()
    var configuration = BenchmarkPolicy.configuration(allocations: .exact, iterations: 1_000)
    configuration.setup = { holder.producers = Producers(ring: makeRing(), count: producerCount) }
    configuration.teardown = {
        holder.producers?.stop()
        holder.producers = nil
    }
    Benchmark(BenchmarkPolicy.name(name), configuration: configuration) { _ in
        guard let producers = holder.producers else { preconditionFailure("setup starts the producers") }
        producers.consume(itemsPerIteration)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark(BenchmarkPolicy.name("SPSC one thread push-pop \(itemsPerIteration) in batches of \(batch)"),
              configuration: BenchmarkPolicy.configuration(allocations: .exact)) { benchmark in
        let ring = SPSCRing<UInt64>(capacity: ringCapacity)
        var expected: UInt64 = 1
        benchmark.startMeasurement()
        spscSameThread(ring, &expected)
        benchmark.stopMeasurement()
        precondition(expected == UInt64(itemsPerIteration) + 1, "every item came back")
    }
    Benchmark(BenchmarkPolicy.name("MPSC one thread push-pop \(itemsPerIteration) in batches of \(batch)"),
              configuration: BenchmarkPolicy.configuration(allocations: .exact)) { benchmark in
        let ring = MPSCRing<UInt64>(capacity: ringCapacity)
        var expected: UInt64 = 1
        benchmark.startMeasurement()
        mpscSameThread(ring, &expected)
        benchmark.stopMeasurement()
        precondition(expected == UInt64(itemsPerIteration) + 1, "every item came back")
    }
    registerHandOff("SPSC hand-off 1 producer pop \(itemsPerIteration)", producerCount: 1) {
        SPSCRing<UInt64>(capacity: ringCapacity)
    }
    registerHandOff("MPSC hand-off 2 producers pop \(itemsPerIteration)", producerCount: 2) {
        MPSCRing<UInt64>(capacity: ringCapacity)
    }
}
