import BenchCore

extension ZAB {
    /// A server's history: proposals at positions 1...lastIndex, contiguous, epochs never
    /// decreasing. Two histories holding the same (position, epoch) hold the same prefix up to it:
    /// only the leader of an epoch creates proposals of that epoch, each after the same initial
    /// history, and a server appends only after a prefix it shares with its leader. Without
    /// snapshots the history is never compacted; a run is bounded in time, so this is bounded too.
    public struct History: Sendable {
        public private(set) var entries: [LogEntry] = []

        init(recovered: [LogEntry]) {
            // On disk the history is contiguous from position 1; anything after a gap cannot be trusted.
            for entry in recovered {
                guard entry.index == LogIndex(UInt64(entries.count + 1)),
                      entry.term >= (entries.last?.term ?? .zero) else { break }
                entries.append(entry)
            }
        }

        @inlinable public var lastIndex: LogIndex { LogIndex(UInt64(entries.count)) }
        @inlinable public var lastEpoch: Term { entries.last?.term ?? .zero }
        /// The zxid of the last proposal (zero for an empty history).
        @inlinable public var lastZxid: Zxid { Zxid(epoch: lastEpoch, index: lastIndex) }

        /// The epoch of the proposal at `index`; 0 for index 0 and past the end.
        @inlinable public func epoch(at index: LogIndex) -> Term {
            guard index.rawValue >= 1, index.rawValue <= UInt64(entries.count) else { return .zero }
            return entries[Int(index.rawValue - 1)].term
        }

        @inlinable public func contains(_ index: LogIndex) -> Bool {
            index.rawValue >= 1 && index.rawValue <= UInt64(entries.count)
        }

        @inlinable public subscript(index: LogIndex) -> LogEntry {
            precondition(contains(index), "history position \(index) outside 1...\(lastIndex)")
            return entries[Int(index.rawValue - 1)]
        }

        /// Appends the next proposal. An epoch below the last one is the caller's to report (only a
        /// deliberately broken variant produces one), not a reason to trap.
        mutating func append(_ entry: LogEntry) {
            precondition(entry.index == lastIndex.next, "appended proposal \(entry.index) does not follow \(lastIndex)")
            entries.append(entry)
        }

        /// Removes positions `from` and later.
        mutating func truncate(from index: LogIndex) {
            precondition(index.rawValue >= 1, "position 0 cannot be truncated")
            guard index <= lastIndex else { return }
            entries.removeSubrange(Int(index.rawValue - 1)...)
        }

        /// The last position holding a proposal of `epoch`, or nil when there is none. Epochs never
        /// decrease along a history, so this is a binary search.
        func lastIndex(ofEpoch epoch: Term) -> LogIndex? {
            var low = 0
            var high = entries.count
            // The first position whose epoch is above `epoch`.
            while low < high {
                let middle = (low + high) / 2
                if entries[middle].term <= epoch { low = middle + 1 } else { high = middle }
            }
            guard low > 0, entries[low - 1].term == epoch else { return nil }
            return LogIndex(UInt64(low))
        }
    }
}

extension LogEntry {
    /// Bytes this proposal takes on the wire, near enough for ZAB's batch limits.
    var zabWireSize: Int {
        switch payload {
        case .noop: 24
        case let .command(request): 40 + request.command.approximateSize
        case let .record(bytes): 28 + bytes.count
        }
    }
}
