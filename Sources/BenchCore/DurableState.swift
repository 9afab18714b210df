/// What a replica finds on its disk after a (re)start: the last hard state and the log the
/// writes described. The simulator keeps one per node and the write-ahead log rebuilds one on
/// recovery, both through `apply`, so the two cannot disagree on what a write means.
public struct DurableState: Hashable, Sendable {
    public var hardState: HardState
    /// Entries in increasing index order. Raft's log is contiguous; a Paxos acceptor's may have gaps.
    public private(set) var entries: [LogEntry]

    public static let empty = DurableState(hardState: .initial, entries: [])

    public init(hardState: HardState, entries: [LogEntry]) {
        precondition(zip(entries, entries.dropFirst()).allSatisfy { $0.index < $1.index }, "entries must be sorted by index")
        self.hardState = hardState
        self.entries = entries
    }

    /// The highest index present, or 0.
    @inlinable public var lastIndex: LogIndex { entries.last?.index ?? .zero }

    public mutating func apply(_ write: StorageWrite) {
        switch write {
        case let .hardState(state):
            hardState = state
        case let .entry(entry):
            if let last = entries.last, entry.index <= last.index {
                let position = firstPosition(atOrAfter: entry.index)
                if entries[position].index == entry.index {
                    entries[position] = entry
                } else {
                    entries.insert(entry, at: position)
                }
            } else {
                entries.append(entry)
            }
        case let .truncate(from):
            let position = firstPosition(atOrAfter: from)
            entries.removeSubrange(position...)
        }
    }

    public mutating func apply(_ writes: some Sequence<StorageWrite>) {
        for write in writes { apply(write) }
    }

    /// The entry at `index`, if present.
    public func entry(at index: LogIndex) -> LogEntry? {
        let position = firstPosition(atOrAfter: index)
        guard position < entries.count, entries[position].index == index else { return nil }
        return entries[position]
    }

    /// The position of the first entry whose index is at least `index` (binary search).
    func firstPosition(atOrAfter index: LogIndex) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].index < index { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// The state a replica is constructed from.
public typealias RecoveredState = DurableState
