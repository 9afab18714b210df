import BenchCore

/// The set of operations linearized so far, as a bitset with an incrementally kept hash (the XOR
/// of a random word per member: Zobrist hashing) and the bounds of its interesting part. The
/// search numbers operations by invocation, so the set is nearly always "every operation up to
/// some point, and a few after it": everything before `fullWordCount` words is set, everything
/// from `usedWordCount` words on is clear, and only the words between need storing.
struct LinearizedSet {
    private(set) var words: [UInt64]
    private(set) var hash: UInt64 = 0
    /// Words [0, fullWordCount) are all ones.
    private(set) var fullWordCount = 0
    /// Words [usedWordCount, words.count) are all zeros.
    private(set) var usedWordCount = 0

    init(capacity count: Int) {
        precondition(count > 0, "an empty set of operations needs no search")
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    @inline(__always) mutating func insert(_ member: Int) {
        let word = member >> 6
        assert(words[word] & (1 << UInt64(member & 63)) == 0, "inserting a member twice")
        words[word] |= 1 << UInt64(member & 63)
        hash ^= LinearizedSet.zobrist(member)
        usedWordCount = max(usedWordCount, word + 1)
        while fullWordCount < usedWordCount && words[fullWordCount] == ~0 { fullWordCount += 1 }
    }

    @inline(__always) mutating func remove(_ member: Int) {
        let word = member >> 6
        assert(words[word] & (1 << UInt64(member & 63)) != 0, "removing a non-member")
        words[word] &= ~(1 << UInt64(member & 63))
        hash ^= LinearizedSet.zobrist(member)
        fullWordCount = min(fullWordCount, word)
        while usedWordCount > 0 && words[usedWordCount - 1] == 0 { usedWordCount -= 1 }
    }

    /// A per-member random word (SplitMix64's finaliser, a bijection, of the member number).
    @inline(__always) static func zobrist(_ member: Int) -> UInt64 {
        mix(UInt64(member) &+ 0x9E37_79B9_7F4A_7C15)
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The memo of Lowe's optimisation: every (set of linearized operations, state) the search has
/// reached. Reaching one again cannot lead anywhere new, because what remains to linearize and
/// from which state is the same. Sets are stored exactly (their interesting words) and compared
/// on a hash match, so a hash collision can never prune a branch wrongly.
///
/// At most `entryCountMax` pairs are kept (about 100 MiB); past that, new pairs are reported as
/// new without being kept. The search stays exact, it only loses pruning: the step budget, not
/// memory, is what bounds a pathological search.
struct LinearizedStateCache {
    static let entryCountMax = 2_000_000

    /// Hash of (set, state) → most recent entry with that hash; entries chain through `chain`.
    private var heads: [UInt64: Int32] = [:]
    private var states: [UInt64] = []
    private var chain: [Int32] = []
    private var fullWordCounts: [Int32] = []
    /// Where each entry's words start in `words`; entry i's words end where entry i + 1's start.
    private var wordStarts: [Int32] = [0]
    private var words: [UInt64] = []

    var count: Int { states.count }

    /// Records (set, state); false if it was already recorded.
    mutating func insert(_ set: LinearizedSet, state: UInt64) -> Bool {
        let key = set.hash ^ LinearizedSet.mix(state ^ 0x5851_F42D_4C95_7F2D)
        let head = heads[key] ?? -1
        var entry = head
        while entry >= 0 {
            if states[Int(entry)] == state && matches(entry: Int(entry), set) { return false }
            entry = chain[Int(entry)]
        }
        if count >= LinearizedStateCache.entryCountMax { return true }
        heads[key] = Int32(count)
        states.append(state)
        chain.append(head)
        fullWordCounts.append(Int32(set.fullWordCount))
        words.append(contentsOf: set.words[set.fullWordCount..<max(set.fullWordCount, set.usedWordCount)])
        wordStarts.append(Int32(words.count))
        return true
    }

    private func matches(entry: Int, _ set: LinearizedSet) -> Bool {
        guard Int(fullWordCounts[entry]) == set.fullWordCount else { return false }
        let start = Int(wordStarts[entry])
        let length = Int(wordStarts[entry + 1]) - start
        guard length == max(0, set.usedWordCount - set.fullWordCount) else { return false }
        for offset in 0..<length where words[start + offset] != set.words[set.fullWordCount + offset] { return false }
        return true
    }
}
