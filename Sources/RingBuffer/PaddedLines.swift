import Atomics

/// A raw, 128-byte-aligned block of control lines for a ring. Each line holds one atomic `Int` in
/// word 0 and, after it, plain `Int`s that exactly one thread reads and writes.
///
/// Lines are 128 bytes rather than 64 because Intel's adjacent-line prefetcher pulls cache lines in
/// pairs: two fields 64 bytes apart that different threads write still ping-pong between cores.
/// The block is never freed by itself: the owning ring calls `deallocate()` in its `deinit`.
@usableFromInline
struct PaddedLines {
    @usableFromInline static let lineSizeBytes = 128
    @usableFromInline static let wordsPerLine = lineSizeBytes / MemoryLayout<Int>.stride

    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let lineCount: Int

    init(lineCount: Int) {
        precondition(lineCount >= 1, "PaddedLines: lineCount must be at least 1")
        precondition(
            MemoryLayout<UnsafeAtomic<Int>.Storage>.size == MemoryLayout<Int>.size,
            "PaddedLines: an atomic Int must occupy exactly one word"
        )
        let sizeBytes = lineCount * Self.lineSizeBytes
        base = .allocate(byteCount: sizeBytes, alignment: Self.lineSizeBytes)
        self.lineCount = lineCount
        for line in 0..<lineCount {
            let start = base + line * Self.lineSizeBytes
            start.initializeMemory(as: UnsafeAtomic<Int>.Storage.self, repeating: .init(0), count: 1)
            (start + MemoryLayout<Int>.stride).initializeMemory(
                as: Int.self, repeating: 0, count: Self.wordsPerLine - 1
            )
        }
    }

    /// The atomic in word 0 of `line`, initially 0.
    @inlinable
    func atomic(line: Int) -> UnsafeAtomic<Int> {
        assert(line >= 0 && line < lineCount)
        let start = base + line * Self.lineSizeBytes
        return UnsafeAtomic(at: start.assumingMemoryBound(to: UnsafeAtomic<Int>.Storage.self))
    }

    /// Plain word `word` (1 ..< wordsPerLine) of `line`, initially 0; owned by one thread.
    @inlinable
    func plain(line: Int, word: Int) -> UnsafeMutablePointer<Int> {
        assert(line >= 0 && line < lineCount)
        assert(word >= 1 && word < Self.wordsPerLine)
        let start = base + line * Self.lineSizeBytes + word * MemoryLayout<Int>.stride
        return start.assumingMemoryBound(to: Int.self)
    }

    /// Frees the block; every field is a trivial type, so nothing needs deinitializing.
    func deallocate() {
        base.deallocate()
    }
}
