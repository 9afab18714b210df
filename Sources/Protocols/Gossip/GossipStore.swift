import BenchCore

extension Gossip {
    /// One key's current value and the version that wrote it.
    public struct Entry: Hashable, Sendable {
        public var version: Version
        public var value: Value
        @inlinable public init(version: Version, value: Value) {
            self.version = version
            self.value = value
        }
    }

    /// A node's copy of the database: last writer wins per key. Keys are also kept sorted, so a
    /// digest covers a contiguous key range and every walk over the store is deterministic
    /// (never a Dictionary iteration).
    public struct Store: Sendable {
        public private(set) var entries: [Key: Entry] = [:]
        /// Exactly the keys of `entries`, ascending.
        public private(set) var keys: [Key] = []

        public init() {}

        @inlinable public subscript(key: Key) -> Entry? { entries[key] }
        @inlinable public var count: Int { keys.count }

        /// Stores `update` if its version is newer than the key's (or the key is new): the
        /// last-writer-wins merge. Returns whether it was stored.
        mutating func merge(_ update: Update) -> Bool {
            if let held = entries[update.key] {
                guard update.version > held.version else { return false }
            } else {
                keys.insert(update.key, at: position(atOrAfter: update.key))
            }
            entries[update.key] = Entry(version: update.version, value: update.value)
            return true
        }

        /// The position in `keys` of the first key at or above `key` (binary search).
        func position(atOrAfter key: Key) -> Int {
            var low = 0
            var high = keys.count
            while low < high {
                let middle = (low + high) / 2
                if keys[middle] < key { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// The key's entry as an update.
        func update(for key: Key) -> Update? {
            entries[key].map { Update(key: key, version: $0.version, value: $0.value) }
        }
    }
}

extension Gossip {
    /// How an update is kept on disk: one log entry per key, at index key + 1 (so a newer version
    /// replaces the older one in place and the disk holds exactly the store), whose term carries
    /// the node's write sequence number (so `.persisted(through:term:)` says how far writes are
    /// durable, whatever keys they touched).
    enum DurableRecord {
        static func entry(for update: Update, sequence: UInt64) -> LogEntry {
            var writer = WireWriter(capacity: 32 + update.value.size)
            update.encode(to: &writer)
            return LogEntry(index: LogIndex(update.key &+ 1), term: Term(sequence), payload: .record(writer.bytes))
        }

        /// The update an entry holds, or nil for an entry this protocol did not write.
        static func update(in entry: LogEntry) -> Update? {
            guard case let .record(bytes) = entry.payload, let update = try? Update(decoding: bytes),
                  LogIndex(update.key &+ 1) == entry.index else { return nil }
            return update
        }
    }
}
