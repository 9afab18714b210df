import Atomics

/// A fixed circular arena of bytes written by one producer thread and read in place by one
/// consumer thread: the producer copies variable-length data in, the consumer hands the bytes to
/// the kernel straight from the arena (`pwritev` of one or two regions) and then releases them.
///
/// The arena does not publish data by itself. Offsets grow without bound (a byte's place is
/// `offset & mask`); the producer tells the consumer where its data ends through a companion
/// `SPSCRing` of descriptors, pushed after the bytes are written: the ring's publishing store
/// orders the bytes before the descriptor, and the consumer's acquiring load of the ring orders
/// its reads after them. What the arena synchronises is space: `release(upTo:)` gives bytes back,
/// and a producer short of space spins briefly, then parks until the consumer releases enough.
///
/// The producer-side methods (`write`, `waitForSpace`, `writtenOffset`) must be called from one
/// thread at a time, the consumer-side ones (`regions`, `release`) likewise.
///
/// `@unchecked Sendable`: the bytes between the released and written offsets belong to the
/// consumer (it only reads them), the rest to the producer; the boundary moves only through the
/// atomic `released`, stored by the consumer after its last read and loaded by the producer
/// before its next write. `let` fields never change after `init`.
public final class ByteRing: @unchecked Sendable {
    /// Bytes the arena holds; a power of two.
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let storage: UnsafeMutableRawPointer
    @usableFromInline let lines: PaddedLines

    // Control lines (see PaddedLines): line 0, producer: `written` (plain), `producerCachedReleased`;
    // line 1, consumer: `released` (atomic); line 2: producer sleepers; line 3: producer park count.
    @usableFromInline let written: UnsafeMutablePointer<Int>
    @usableFromInline let producerCachedReleased: UnsafeMutablePointer<Int>
    @usableFromInline let released: UnsafeAtomic<Int>
    @usableFromInline let producerWaiting: WaitingSide

    /// Creates an empty arena. `capacity` must be a power of two and at least 2.
    public init(capacity: Int) {
        precondition(capacity >= 2, "ByteRing: capacity must be at least 2")
        precondition(capacity & (capacity - 1) == 0, "ByteRing: capacity must be a power of two")
        self.capacity = capacity
        self.mask = capacity - 1
        self.storage = .allocate(byteCount: capacity, alignment: 64)
        self.lines = PaddedLines(lineCount: 4)
        self.written = lines.plain(line: 0, word: 1)
        self.producerCachedReleased = lines.plain(line: 0, word: 2)
        self.released = lines.atomic(line: 1)
        self.producerWaiting = WaitingSide(sleepers: lines.atomic(line: 2), parkCount: lines.atomic(line: 3))
    }

    deinit {
        storage.deallocate()
        lines.deallocate()
    }

    // MARK: Producer side (one thread)

    /// Where the next `write` starts: the offset just past everything written so far.
    public var writtenOffset: Int { written.pointee }

    /// Copies `bytes` into the arena after everything written so far, waiting (spin, then park)
    /// while the consumer has not released enough space, and returns the offset just past them.
    /// `bytes.count` must not exceed `capacity`.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        let count = bytes.count
        precondition(count <= capacity, "ByteRing.write: \(count) bytes do not fit an arena of \(capacity)")
        guard count > 0, let source = bytes.baseAddress else { return written.pointee }
        let start = written.pointee
        if capacity - (start - producerCachedReleased.pointee) < count {
            // Pairs with the consumer's store of `released`: its reads of the bytes below that
            // offset are done, so they may be overwritten.
            producerCachedReleased.pointee = released.load(ordering: .acquiring)
            while capacity - (start - producerCachedReleased.pointee) < count {
                waitForSpace(count)
                producerCachedReleased.pointee = released.load(ordering: .acquiring)
            }
        }
        let place = start & mask
        let first = min(count, capacity - place)
        (storage + place).copyMemory(from: source, byteCount: first)
        if first < count {
            storage.copyMemory(from: source + first, byteCount: count - first)
        }
        written.pointee = start + count
        return start + count
    }

    /// Waits until `count` bytes are free.
    func waitForSpace(_ count: Int) {
        let start = written.pointee
        _ = producerWaiting.wait(deadlineNanos: nil, consumeWake: { false }) {
            // Sequentially consistent: the Dekker re-check after announcing a sleeper; pairs with
            // the consumer's sequentially consistent store of `released`.
            capacity - (start - released.load(ordering: .sequentiallyConsistent)) >= count
        }
    }

    // MARK: Consumer side (one thread)

    /// The arena's bytes in `start ..< end`, as one region or, when they wrap around the end of
    /// the arena, two (the second empty otherwise). The producer must have published them (see the
    /// type's comment) and the consumer not yet released them.
    public func regions(from start: Int, to end: Int) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        precondition(start <= end && end - start <= capacity, "ByteRing.regions: \(start)..<\(end) is not a span of the arena")
        let count = end - start
        let place = start & mask
        let first = min(count, capacity - place)
        return (UnsafeRawBufferPointer(start: storage + place, count: first),
                UnsafeRawBufferPointer(start: storage, count: count - first))
    }

    /// Gives the bytes below `offset` back to the producer; the consumer must not read them again.
    public func release(upTo offset: Int) {
        // Releases the consumer's reads of the bytes below `offset` to the producer's acquiring
        // load; sequentially consistent as the Dekker half that pairs with the producer's sleeper
        // announcement.
        released.store(offset, ordering: .sequentiallyConsistent)
        producerWaiting.wakeIfParked()
    }

    // MARK: Diagnostics

    /// How many times the producer has parked (not merely spun) waiting for space. For tests.
    public var _producerParkCount: Int {
        // Relaxed: a statistic, ordered with nothing.
        producerWaiting.parkCount.load(ordering: .relaxed)
    }
}
