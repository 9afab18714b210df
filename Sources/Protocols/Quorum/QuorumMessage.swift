import BenchCore

extension Quorum {
    /// One stored version of one key.
    public struct Record: Hashable, Sendable {
        public var key: Key
        public var version: Version
        public var value: Value

        @inlinable public init(key: Key, version: Version, value: Value) {
            self.key = key
            self.version = version
            self.value = value
        }
    }

    /// A key's version without its value: what anti-entropy digests compare.
    public struct VersionStamp: Hashable, Sendable {
        public var key: Key
        public var version: Version

        @inlinable public init(key: Key, version: Version) {
            self.key = key
            self.version = version
        }
    }

    /// The messages NWR replicas exchange. `op` numbers are the sender's own (a coordinator's
    /// operation, a hint holder's handoff): answers carry them back so the sender can match them.
    public enum Message: Hashable, Sendable {
        /// Coordinator → replica: store this version if it is newer than yours, then acknowledge
        /// once it is durable. `hintFor` names the home replica a fallback stands in for (§4.6).
        case write(Write)
        /// Replica → coordinator (or hint holder): the replica durably holds the version written or a newer one.
        case writeAck(WriteAck)
        /// Coordinator → replica: what version of `key` do you hold?
        case read(Read)
        /// Replica → coordinator: the replica's record of the key (nil: absent).
        case readReply(ReadReply)
        /// Read repair and anti-entropy: store these if they are newer; no answer.
        case push([Record])
        /// Anti-entropy: the sender's versions of the keys in [from, through] that both replicate.
        case digest(Digest)
        /// The answer to a digest: records the receiver holds newer (or the sender lacks), and the
        /// keys of which the sender holds newer versions (it pushes them).
        case digestReply(DigestReply)
    }

    public struct Write: Hashable, Sendable {
        public var op: UInt64
        public var record: Record
        public var hintFor: NodeID?
    }

    public struct WriteAck: Hashable, Sendable {
        public var op: UInt64
        public var key: Key
        /// The version acknowledged: an ack matches an operation only with its version too.
        public var version: Version
    }

    public struct Read: Hashable, Sendable {
        public var op: UInt64
        public var key: Key
    }

    public struct ReadReply: Hashable, Sendable {
        public var op: UInt64
        public var key: Key
        public var record: Record?
    }

    public struct Digest: Hashable, Sendable {
        public var from: Key
        public var through: Key
        public var stamps: [VersionStamp]
    }

    public struct DigestReply: Hashable, Sendable {
        public var newer: [Record]
        public var wanted: [Key]
    }
}

extension Quorum {
    /// The most records or stamps one message carries (a garbage count is refused before anything
    /// is reserved for it).
    static let messageItemsMax = 65_536
}

extension Quorum.Record: WireCodable {
    /// A record takes at least 8 (key) + 16 (version) + 4 (value length) bytes.
    static let minimumSize = 28

    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(key); writer.write(version); writer.write(value)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(key: try reader.readUInt64(), version: try reader.read(Quorum.Version.self), value: try reader.read(Value.self))
    }
}

extension Quorum.VersionStamp: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(key); writer.write(version) }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(key: try reader.readUInt64(), version: try reader.read(Quorum.Version.self))
    }
}

extension Quorum.Message: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .write(m):
            w.write(UInt8(1)); w.write(m.op); w.write(m.record); w.write(m.hintFor)
        case let .writeAck(m):
            w.write(UInt8(2)); w.write(m.op); w.write(m.key); w.write(m.version)
        case let .read(m):
            w.write(UInt8(3)); w.write(m.op); w.write(m.key)
        case let .readReply(m):
            w.write(UInt8(4)); w.write(m.op); w.write(m.key); w.write(m.record)
        case let .push(records):
            w.write(UInt8(5)); w.write(records)
        case let .digest(m):
            w.write(UInt8(6)); w.write(m.from); w.write(m.through); w.write(m.stamps)
        case let .digestReply(m):
            w.write(UInt8(7)); w.write(m.newer); w.write(m.wanted)
        }
    }

    public init(from r: inout WireReader) throws {
        let limit = Quorum.messageItemsMax
        switch try r.readUInt8() {
        case 1:
            let op = try r.readUInt64()
            let record = try r.read(Quorum.Record.self)
            self = .write(.init(op: op, record: record, hintFor: try r.readOptional(NodeID.self)))
        case 2:
            self = .writeAck(.init(op: try r.readUInt64(), key: try r.readUInt64(), version: try r.read(Quorum.Version.self)))
        case 3:
            self = .read(.init(op: try r.readUInt64(), key: try r.readUInt64()))
        case 4:
            let op = try r.readUInt64()
            let key = try r.readUInt64()
            let record = try r.readOptional(Quorum.Record.self)
            // A replica answers about the key it was asked: a record for another key is garbage.
            if let record, record.key != key { throw WireError.invalidValue("read reply for key \(key) carries key \(record.key)") }
            self = .readReply(.init(op: op, key: key, record: record))
        case 5:
            self = .push(try r.readArray(Quorum.Record.self, minimumSize: Quorum.Record.minimumSize, limit: limit))
        case 6:
            let from = try r.readUInt64()
            let through = try r.readUInt64()
            guard from <= through else { throw WireError.invalidValue("digest range \(from)...\(through) is empty") }
            self = .digest(.init(from: from, through: through,
                                 stamps: try r.readArray(Quorum.VersionStamp.self, minimumSize: 24, limit: limit)))
        case 7:
            let newer = try r.readArray(Quorum.Record.self, minimumSize: Quorum.Record.minimumSize, limit: limit)
            self = .digestReply(.init(newer: newer, wanted: try r.readArray(UInt64.self, minimumSize: 8, limit: limit)))
        case let tag:
            throw WireError.invalidTag(tag, type: "Quorum.Message")
        }
    }
}
