import BenchCore

extension PrimaryBackup {
    /// The messages the two nodes of a group exchange. Each names its group, so one connection
    /// carries both halves in `mutual` mode.
    public enum Message: Hashable, Sendable {
        /// Primary → backup: entries to append (none: a heartbeat), the commit index, and whether
        /// the backup is in sync. Acknowledging it renews the primary's lease.
        case append(Append)
        /// Backup → primary, after the acknowledged entries are durable (or at once for a refusal).
        case ack(Ack)
        /// Any → a node on an older epoch: "the group is at `epoch`" (the sender is its primary).
        case epochNotice(EpochNotice)
        /// A primary that restarted after declaring its backup in sync → that backup: "I will not
        /// serve `epoch` again; take over now" (no need to wait for the lease).
        case relinquish(Relinquish)
    }

    public struct Append: Hashable, Sendable {
        public var group: UInt32
        public var epoch: Term
        /// The primary's clock when it sent this; the acknowledgement echoes it and the lease runs from it.
        public var sentAt: Instant
        public var prevSeq: LogIndex
        public var prevEpoch: Term
        public var commit: LogIndex
        /// The backup holds every committed entry and the primary commits nothing without it.
        public var inSync: Bool
        public var entries: [LogEntry]

        public init(group: UInt32, epoch: Term, sentAt: Instant, prevSeq: LogIndex, prevEpoch: Term, commit: LogIndex,
                    inSync: Bool, entries: [LogEntry]) {
            self.group = group
            self.epoch = epoch
            self.sentAt = sentAt
            self.prevSeq = prevSeq
            self.prevEpoch = prevEpoch
            self.commit = commit
            self.inSync = inSync
            self.entries = entries
        }
    }

    public struct Ack: Hashable, Sendable {
        public var group: UInt32
        public var epoch: Term
        /// The acknowledged append's `sentAt`.
        public var echo: Instant
        public var success: Bool
        /// On success: the last sequence the backup holds, durable and matching the primary's log.
        public var matched: LogIndex
        /// On refusal: the append's `prevSeq`, and the sequence the primary should try next.
        public var rejectedPrev: LogIndex
        public var hint: LogIndex

        public init(group: UInt32, epoch: Term, echo: Instant, success: Bool, matched: LogIndex, rejectedPrev: LogIndex,
                    hint: LogIndex) {
            self.group = group
            self.epoch = epoch
            self.echo = echo
            self.success = success
            self.matched = matched
            self.rejectedPrev = rejectedPrev
            self.hint = hint
        }
    }

    public struct EpochNotice: Hashable, Sendable {
        public var group: UInt32
        public var epoch: Term
        public init(group: UInt32, epoch: Term) {
            self.group = group
            self.epoch = epoch
        }
    }

    public struct Relinquish: Hashable, Sendable {
        public var group: UInt32
        public var epoch: Term
        public init(group: UInt32, epoch: Term) {
            self.group = group
            self.epoch = epoch
        }
    }
}

extension PrimaryBackup.Message: WireCodable {
    /// The most entries one append may carry on the wire (the sender's batch limit is far lower).
    static let entriesLimit = 1 << 16

    public func encode(to w: inout WireWriter) {
        switch self {
        case let .append(m):
            w.write(UInt8(1)); w.write(m.group); w.write(m.epoch); w.write(m.sentAt); w.write(m.prevSeq); w.write(m.prevEpoch)
            w.write(m.commit); w.write(m.inSync); w.write(m.entries)
        case let .ack(m):
            w.write(UInt8(2)); w.write(m.group); w.write(m.epoch); w.write(m.echo); w.write(m.success); w.write(m.matched)
            w.write(m.rejectedPrev); w.write(m.hint)
        case let .epochNotice(m):
            w.write(UInt8(3)); w.write(m.group); w.write(m.epoch)
        case let .relinquish(m):
            w.write(UInt8(4)); w.write(m.group); w.write(m.epoch)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            let group = try r.readUInt32()
            let epoch = try r.read(Term.self)
            let sentAt = try r.read(Instant.self)
            let prevSeq = try r.read(LogIndex.self)
            let prevEpoch = try r.read(Term.self)
            let commit = try r.read(LogIndex.self)
            let inSync = try r.readBool()
            // An entry takes at least 17 bytes on the wire (index, term, payload tag).
            let entries = try r.readArray(LogEntry.self, minimumSize: 17, limit: Self.entriesLimit)
            self = .append(.init(group: group, epoch: epoch, sentAt: sentAt, prevSeq: prevSeq, prevEpoch: prevEpoch,
                                 commit: commit, inSync: inSync, entries: entries))
        case 2:
            self = .ack(.init(group: try r.readUInt32(), epoch: try r.read(Term.self), echo: try r.read(Instant.self),
                              success: try r.readBool(), matched: try r.read(LogIndex.self),
                              rejectedPrev: try r.read(LogIndex.self), hint: try r.read(LogIndex.self)))
        case 3:
            self = .epochNotice(.init(group: try r.readUInt32(), epoch: try r.read(Term.self)))
        case 4:
            self = .relinquish(.init(group: try r.readUInt32(), epoch: try r.read(Term.self)))
        case let tag:
            throw WireError.invalidTag(tag, type: "PrimaryBackup.Message")
        }
    }

    /// The group a message is about.
    var group: UInt32 {
        switch self {
        case let .append(m): m.group
        case let .ack(m): m.group
        case let .epochNotice(m): m.group
        case let .relinquish(m): m.group
        }
    }
}
