import BenchCore

extension Gossip {
    /// A write's version: a hybrid logical clock reading (nanoseconds of the writer's clock,
    /// advanced past every version the writer had seen, Kulkarni et al. 2014, with the logical
    /// counter folded into the low bits) and the node that wrote it, which breaks ties. Versions
    /// are totally ordered; the larger one wins (last writer wins, Demers §1.1 timestamps).
    public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var time: UInt64
        public var origin: NodeID

        @inlinable public init(time: UInt64, origin: NodeID) {
            self.time = time
            self.origin = origin
        }

        public static let zero = Version(time: 0, origin: NodeID(0))

        @inlinable public static func < (a: Version, b: Version) -> Bool {
            a.time < b.time || (a.time == b.time && a.origin < b.origin)
        }

        public var description: String { "\(time)@\(origin)" }
    }

    /// A key and the version a node holds for it: one line of a digest.
    public struct KeyVersion: Hashable, Sendable {
        public var key: Key
        public var version: Version
        @inlinable public init(key: Key, version: Version) {
            self.key = key
            self.version = version
        }
    }

    /// One key's value at one version: what anti-entropy and rumors carry.
    public struct Update: Hashable, Sendable {
        public var key: Key
        public var version: Version
        public var value: Value
        @inlinable public init(key: Key, version: Version, value: Value) {
            self.key = key
            self.version = version
            self.value = value
        }
    }

    /// An anti-entropy opener: the versions the sender holds for the keys in `low...high`
    /// (sorted by key, at most `digestKeysMax`), and which directions of the exchange it wants.
    /// Successive digests cover successive key ranges, so a store larger than one digest is
    /// compared over several rounds with every message bounded.
    public struct Digest: Hashable, Sendable {
        public var low: Key
        public var high: Key
        /// Push leg: the receiver should ask (`request`) for keys where the sender is newer.
        public var push: Bool
        /// Pull leg: the receiver should send (`updates`) what it holds newer in the range.
        public var pull: Bool
        public var versions: [KeyVersion]

        public init(low: Key, high: Key, push: Bool, pull: Bool, versions: [KeyVersion]) {
            self.low = low
            self.high = high
            self.push = push
            self.pull = pull
            self.versions = versions
        }
    }

    /// The messages gossip nodes exchange.
    public enum Message: Hashable, Sendable {
        /// Opens an anti-entropy exchange.
        case digest(Digest)
        /// The push leg's answer to a digest: send me these keys (the sender was newer there).
        case request(keys: [Key])
        /// Anti-entropy's payload: entries the receiver lacked or held older.
        case updates([Update])
        /// Rumor mongering: hot updates pushed to a random peer.
        case rumor([Update])
        /// The receiver's feedback to a rumor: the updates it already knew (at this version or newer).
        case rumorFeedback([KeyVersion])
    }
}

// MARK: - Wire forms

extension Gossip.Version: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(time); writer.write(origin) }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(time: try reader.readUInt64(), origin: try reader.read(NodeID.self))
    }
}

extension Gossip.KeyVersion: WireCodable {
    /// Bytes on the wire: key, time, origin.
    static let wireSize = 20
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(key); writer.write(version) }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(key: try reader.readUInt64(), version: try reader.read(Gossip.Version.self))
    }
}

extension Gossip.Update: WireCodable {
    /// The fewest bytes an update takes (an empty value).
    static let wireSizeMin = 24
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(key); writer.write(version); writer.write(value) }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(key: try reader.readUInt64(), version: try reader.read(Gossip.Version.self), value: try reader.read(Value.self))
    }
}

extension Gossip.Message: WireCodable {
    /// The most digest lines, keys or updates one message may carry (the largest the settings allow).
    static let elementsMax = 65_536

    public func encode(to w: inout WireWriter) {
        switch self {
        case let .digest(d):
            w.write(UInt8(1)); w.write(d.low); w.write(d.high); w.write(d.push); w.write(d.pull); w.write(d.versions)
        case let .request(keys):
            w.write(UInt8(2)); w.write(keys)
        case let .updates(updates):
            w.write(UInt8(3)); w.write(updates)
        case let .rumor(updates):
            w.write(UInt8(4)); w.write(updates)
        case let .rumorFeedback(known):
            w.write(UInt8(5)); w.write(known)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            let low = try r.readUInt64()
            let high = try r.readUInt64()
            let push = try r.readBool()
            let pull = try r.readBool()
            let versions = try r.readArray(Gossip.KeyVersion.self, minimumSize: Gossip.KeyVersion.wireSize, limit: Self.elementsMax)
            guard low <= high else { throw WireError.invalidValue("digest range \(low)...\(high) is empty") }
            // The receiver merges the digest with its own sorted keys: demand the order it relies on.
            for (a, b) in zip(versions, versions.dropFirst()) where a.key >= b.key {
                throw WireError.invalidValue("digest keys not strictly increasing")
            }
            if let first = versions.first, first.key < low { throw WireError.invalidValue("digest key below its range") }
            if let last = versions.last, last.key > high { throw WireError.invalidValue("digest key above its range") }
            self = .digest(Gossip.Digest(low: low, high: high, push: push, pull: pull, versions: versions))
        case 2:
            self = .request(keys: try r.readArray(UInt64.self, minimumSize: 8, limit: Self.elementsMax))
        case 3:
            self = .updates(try r.readArray(Gossip.Update.self, minimumSize: Gossip.Update.wireSizeMin, limit: Self.elementsMax))
        case 4:
            self = .rumor(try r.readArray(Gossip.Update.self, minimumSize: Gossip.Update.wireSizeMin, limit: Self.elementsMax))
        case 5:
            self = .rumorFeedback(try r.readArray(Gossip.KeyVersion.self, minimumSize: Gossip.KeyVersion.wireSize,
                                                  limit: Self.elementsMax))
        case let tag:
            throw WireError.invalidTag(tag, type: "Gossip.Message")
        }
    }
}
