import BenchCore

extension Quorum {
    /// What one durable write holds (the payload of a `.record` log entry). The log is a plain
    /// sequence of these; replaying it in order rebuilds the store and the hints, and a version
    /// older than the one already replayed for a key changes nothing, so the order of two writes
    /// of one key never matters.
    public enum DurableRecord: Hashable, Sendable {
        /// This replica holds `record`; `storedAt` is the local time it arrived (for convergence figures).
        case stored(Record, storedAt: Instant)
        /// This replica holds `record` for `home`, to hand over when `home` is reachable (§4.6).
        case hint(home: NodeID, Record)
        /// The hint for (`home`, `key`) up to `version` reached its home and is gone.
        case hintDelivered(home: NodeID, key: Key, version: Version)
    }

    /// One stored key: the newest version this replica holds, and when it arrived here.
    struct StoredValue: Hashable, Sendable {
        var version: Version
        var value: Value
        var storedAt: Instant
    }

    /// The replica's key-value data: the newest version of each key. Keys are also kept sorted, so
    /// anti-entropy walks them in the same order on every run (dictionary order is per process).
    struct Store: Sendable {
        private(set) var values: [Key: StoredValue] = [:]
        private(set) var sortedKeys: [Key] = []
        /// The newest version stored under any key (for the clock invariant).
        private(set) var newestVersion = Version.zero

        var count: Int { values.count }

        func record(for key: Key) -> Record? {
            values[key].map { Record(key: key, version: $0.version, value: $0.value) }
        }

        func version(of key: Key) -> Version { values[key]?.version ?? .zero }

        func storedAt(_ key: Key) -> Instant? { values[key]?.storedAt }

        /// Stores `record` if it is newer than what the key holds (last writer wins); returns whether it did.
        mutating func apply(_ record: Record, at time: Instant) -> Bool {
            if let current = values[record.key] {
                guard record.version > current.version else { return false }
            } else {
                sortedKeys.insert(record.key, at: firstPosition(atOrAfter: record.key))
            }
            values[record.key] = StoredValue(version: record.version, value: record.value, storedAt: time)
            newestVersion = max(newestVersion, record.version)
            return true
        }

        /// The position in `sortedKeys` of the first key at or after `key` (binary search).
        func firstPosition(atOrAfter key: Key) -> Int {
            var low = 0
            var high = sortedKeys.count
            while low < high {
                let middle = (low + high) / 2
                if sortedKeys[middle] < key { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// Which key a hint is for, and for which home replica.
    struct HintKey: Hashable, Comparable, Sendable {
        var home: NodeID
        var key: Key
        static func < (a: HintKey, b: HintKey) -> Bool { a.home != b.home ? a.home < b.home : a.key < b.key }
    }

    /// Writes this replica holds for other replicas (sloppy quorums, §4.6): the newest per (home, key).
    struct Hints: Sendable {
        struct Hint: Hashable, Sendable {
            var record: Record
            /// A handoff of this hint is in flight until then; no second one starts before.
            var inFlightUntil: Instant = .zero
        }

        private(set) var hints: [HintKey: Hint] = [:]
        private(set) var sortedKeys: [HintKey] = []

        var count: Int { hints.count }
        subscript(key: HintKey) -> Hint? { hints[key] }

        /// Keeps `record` for `home` if it is newer than the hint held; returns whether it did.
        mutating func apply(_ record: Record, home: NodeID) -> Bool {
            let key = HintKey(home: home, key: record.key)
            if let current = hints[key] {
                guard record.version > current.record.version else { return false }
            } else {
                sortedKeys.insert(key, at: firstPosition(atOrAfter: key))
            }
            hints[key] = Hint(record: record)
            return true
        }

        /// Drops the hint if it holds `version` or older (a newer one arrived meanwhile: keep that).
        mutating func remove(_ key: HintKey, through version: Version) -> Bool {
            guard let hint = hints[key], hint.record.version <= version else { return false }
            hints[key] = nil
            sortedKeys.remove(at: firstPosition(atOrAfter: key))
            return true
        }

        mutating func markInFlight(_ key: HintKey, until deadline: Instant) {
            hints[key]?.inFlightUntil = deadline
        }

        func firstPosition(atOrAfter key: HintKey) -> Int {
            var low = 0
            var high = sortedKeys.count
            while low < high {
                let middle = (low + high) / 2
                if sortedKeys[middle] < key { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }
}

extension Quorum.DurableRecord: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .stored(record, storedAt):
            w.write(UInt8(1)); w.write(record); w.write(storedAt)
        case let .hint(home, record):
            w.write(UInt8(2)); w.write(home); w.write(record)
        case let .hintDelivered(home, key, version):
            w.write(UInt8(3)); w.write(home); w.write(key); w.write(version)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            let record = try r.read(Quorum.Record.self)
            self = .stored(record, storedAt: try r.read(Instant.self))
        case 2:
            let home = try r.read(NodeID.self)
            self = .hint(home: home, try r.read(Quorum.Record.self))
        case 3:
            self = .hintDelivered(home: try r.read(NodeID.self), key: try r.readUInt64(), version: try r.read(Quorum.Version.self))
        case let tag:
            throw WireError.invalidTag(tag, type: "Quorum.DurableRecord")
        }
    }
}
