import BenchCore

extension PrimaryBackup {
    /// One group's log as a node holds it: entries `(sequence, epoch)` contiguous from sequence 1.
    /// An epoch has one primary, which creates each sequence number once, so two entries with the
    /// same sequence and epoch are the same entry, and logs that agree at a position agree on
    /// everything before it (log matching, as in Raft §5.3). Without snapshots the log is never
    /// compacted; a run is bounded in time, so this is bounded too.
    public struct Log: Sendable {
        public private(set) var entries: [LogEntry]

        init(_ entries: [LogEntry]) {
            precondition(entries.enumerated().allSatisfy { $0.element.index == LogIndex(UInt64($0.offset + 1)) },
                         "a group log is contiguous from 1")
            self.entries = entries
        }

        @inlinable public var lastIndex: LogIndex { LogIndex(UInt64(entries.count)) }
        @inlinable public var lastEpoch: Term { entries.last?.term ?? .zero }

        /// The epoch of the entry at `index`; 0 for index 0 and past the end.
        @inlinable public func epoch(at index: LogIndex) -> Term {
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
            precondition(entry.term >= lastEpoch, "epochs in a log never decrease")
            entries.append(entry)
        }

        /// Removes entries `from` and later.
        mutating func truncate(from index: LogIndex) {
            precondition(index.rawValue >= 1, "index 0 cannot be truncated")
            guard index <= lastIndex else { return }
            entries.removeSubrange(Int(index.rawValue - 1)...)
        }

        /// The first index holding the epoch found at `index`, scanning back (the back-off hint a
        /// backup gives when an append does not match).
        func firstIndex(ofEpochAt index: LogIndex) -> LogIndex {
            let epoch = self.epoch(at: index)
            var i = index
            while i.rawValue > 1 && self.epoch(at: i.previous) == epoch { i = i.previous }
            return i
        }
    }
}
