import BenchCore

extension Raft {
    /// The in-memory log: entries 1...lastIndex, contiguous. Without snapshots the log is never
    /// compacted; a run is bounded in time, so this is bounded too (see README, "Limits").
    public struct Log: Sendable {
        public private(set) var entries: [LogEntry] = []

        init(recovered: [LogEntry]) {
            // A Raft log on disk is contiguous from index 1; anything after a gap cannot be trusted.
            for entry in recovered {
                guard entry.index == LogIndex(UInt64(entries.count + 1)) else { break }
                entries.append(entry)
            }
        }

        @inlinable public var lastIndex: LogIndex { LogIndex(UInt64(entries.count)) }
        @inlinable public var lastTerm: Term { entries.last?.term ?? .zero }

        /// The term of the entry at `index`; term 0 for index 0 and for an index past the end.
        @inlinable public func term(at index: LogIndex) -> Term {
            guard index.rawValue >= 1, index.rawValue <= UInt64(entries.count) else { return .zero }
            return entries[Int(index.rawValue - 1)].term
        }

        @inlinable public func contains(_ index: LogIndex) -> Bool {
            index.rawValue >= 1 && index.rawValue <= UInt64(entries.count)
        }

        @inlinable public subscript(index: LogIndex) -> LogEntry {
            precondition(contains(index), "log index \(index) outside 1...\(lastIndex)")
            return entries[Int(index.rawValue - 1)]
        }

        mutating func append(_ entry: LogEntry) {
            precondition(entry.index == lastIndex.next, "appended entry \(entry.index) does not follow \(lastIndex)")
            precondition(entry.term >= lastTerm, "terms in a log never decrease")
            entries.append(entry)
        }

        /// Removes entries `from` and later.
        mutating func truncate(from index: LogIndex) {
            precondition(index.rawValue >= 1, "index 0 cannot be truncated")
            guard index <= lastIndex else { return }
            entries.removeSubrange(Int(index.rawValue - 1)...)
        }

        /// The first index holding `term`, scanning back from `index` (fast back-off hint).
        func firstIndex(ofTermAt index: LogIndex) -> LogIndex {
            let term = self.term(at: index)
            var i = index
            while i.rawValue > 1 && self.term(at: i.previous) == term { i = i.previous }
            return i
        }

        /// The last index holding `term`, or nil when the log has no entry of that term.
        func lastIndex(ofTerm term: Term) -> LogIndex? {
            var i = lastIndex
            while i.rawValue >= 1 {
                let t = self.term(at: i)
                if t == term { return i }
                if t < term { return nil }
                i = i.previous
            }
            return nil
        }
    }
}
