import BenchCore

extension MultiPaxos {
    /// The messages Paxos nodes exchange.
    public enum Message: Hashable, Sendable {
        /// Phase 1a. Multi mode: a promise asked for every slot; report accepted values from
        /// `fromSlot` on. Basic mode: a promise asked for slot `fromSlot` alone.
        case prepare(Prepare)
        /// Phase 1b, sent once the promise is on disk.
        case promise(Promise)
        /// Phase 2a: values for consecutive slots from `firstSlot`, all under one ballot.
        case accept(Accept)
        /// Phase 2b, sent once the accepted values are on disk.
        case accepted(Accepted)
        /// A phase-1 or phase-2 request refused because the acceptor promised a higher ballot.
        case reject(Reject)
        /// Multi mode: the leader is alive, and every slot up to `commit` is chosen.
        case heartbeat(Heartbeat)
        /// Multi mode: a follower's answer to a heartbeat or a Learn: how far it has learned.
        case heartbeatAck(HeartbeatAck)
        /// Chosen values for consecutive slots from `firstSlot`: what a learner cannot work out alone.
        case learn(Learn)
        /// Basic mode: a learner's periodic report, so peers that know more send what it lacks.
        case status(Status)
    }

    public struct Prepare: Hashable, Sendable {
        public var ballot: Ballot
        public var fromSlot: LogIndex
    }

    public struct Promise: Hashable, Sendable {
        public var ballot: Ballot
        /// The `fromSlot` of the Prepare this answers (a promise may come in several chunks).
        public var fromSlot: LogIndex
        /// Entries at slots up to here carry chosen values (their term is 0); entries after it carry
        /// accepted values with their ballots (`Ballot.term`).
        public var chosenThrough: LogIndex
        public var entries: [LogEntry]
        /// Where the next chunk starts, or 0 when this chunk ends the promise.
        public var nextSlot: LogIndex
    }

    public struct Accept: Hashable, Sendable {
        public var ballot: Ballot
        public var firstSlot: LogIndex
        public var payloads: [EntryPayload]
        /// Multi mode: the leader's commit index (every slot up to it is chosen).
        public var commit: LogIndex
    }

    public struct Accepted: Hashable, Sendable {
        public var ballot: Ballot
        /// The slots accepted: `firstSlot...lastSlot`.
        public var firstSlot: LogIndex
        public var lastSlot: LogIndex
        public var learnedThrough: LogIndex
        /// Multi mode: the highest slot the acceptor knows to be chosen (as in `HeartbeatAck`).
        public var commitSeen: LogIndex
    }

    public struct Reject: Hashable, Sendable {
        /// The ballot refused.
        public var ballot: Ballot
        /// The slot it was refused for (0 when the refusal covers every slot).
        public var slot: LogIndex
        /// The higher ballot the acceptor promised.
        public var promised: Ballot
    }

    public struct Heartbeat: Hashable, Sendable {
        public var ballot: Ballot
        public var commit: LogIndex
        /// Lease mode: the leader's heartbeat round, echoed in the acknowledgement (0: none).
        public var round: UInt64 = 0
    }

    public struct HeartbeatAck: Hashable, Sendable {
        public var ballot: Ballot
        /// Every slot up to here is chosen and known to the follower.
        public var learnedThrough: LogIndex
        /// The highest slot the follower knows to be chosen (from the leader's commit notices):
        /// when it is above `learnedThrough` the follower lacks values it cannot learn by itself.
        public var commitSeen: LogIndex
        /// The heartbeat round this acknowledges (0: it answers a Learn, or a heartbeat without a round).
        public var round: UInt64 = 0
    }

    public struct Learn: Hashable, Sendable {
        /// The sender's ballot (multi mode: the leader's, so the follower acknowledges it), or zero.
        public var ballot: Ballot
        public var firstSlot: LogIndex
        public var payloads: [EntryPayload]
    }

    public struct Status: Hashable, Sendable {
        public var learnedThrough: LogIndex
        /// The highest slot the sender knows to be in use.
        public var highestSlot: LogIndex
    }
}

extension MultiPaxos.Message {
    /// Every ballot the message carries, for the receiver's validity check.
    var ballots: (MultiPaxos.Ballot, MultiPaxos.Ballot) {
        switch self {
        case let .prepare(m): (m.ballot, m.ballot)
        case let .promise(m): (m.ballot, m.ballot)
        case let .accept(m): (m.ballot, m.ballot)
        case let .accepted(m): (m.ballot, m.ballot)
        case let .reject(m): (m.ballot, m.promised)
        case let .heartbeat(m): (m.ballot, m.ballot)
        case let .heartbeatAck(m): (m.ballot, m.ballot)
        case let .learn(m): (m.ballot, m.ballot)
        case .status: (.zero, .zero)
        }
    }
}

extension MultiPaxos.Message: WireCodable {
    /// An entry payload takes at least one byte (its tag); a log entry at least 17.
    static let payloadSizeMin = 1
    static let entrySizeMin = 17

    public func encode(to w: inout WireWriter) {
        switch self {
        case let .prepare(m):
            w.write(UInt8(1)); w.write(m.ballot); w.write(m.fromSlot)
        case let .promise(m):
            w.write(UInt8(2)); w.write(m.ballot); w.write(m.fromSlot); w.write(m.chosenThrough); w.write(m.nextSlot)
            w.write(m.entries)
        case let .accept(m):
            w.write(UInt8(3)); w.write(m.ballot); w.write(m.firstSlot); w.write(m.commit); w.write(m.payloads)
        case let .accepted(m):
            w.write(UInt8(4)); w.write(m.ballot); w.write(m.firstSlot); w.write(m.lastSlot); w.write(m.learnedThrough)
            w.write(m.commitSeen)
        case let .reject(m):
            w.write(UInt8(5)); w.write(m.ballot); w.write(m.slot); w.write(m.promised)
        case let .heartbeat(m):
            w.write(UInt8(6)); w.write(m.ballot); w.write(m.commit); w.write(m.round)
        case let .heartbeatAck(m):
            w.write(UInt8(7)); w.write(m.ballot); w.write(m.learnedThrough); w.write(m.commitSeen); w.write(m.round)
        case let .learn(m):
            w.write(UInt8(8)); w.write(m.ballot); w.write(m.firstSlot); w.write(m.payloads)
        case let .status(m):
            w.write(UInt8(9)); w.write(m.learnedThrough); w.write(m.highestSlot)
        }
    }

    public init(from r: inout WireReader) throws {
        typealias P = MultiPaxos
        switch try r.readUInt8() {
        case 1:
            self = .prepare(P.Prepare(ballot: try r.read(P.Ballot.self), fromSlot: try r.read(LogIndex.self)))
        case 2:
            let ballot = try r.read(P.Ballot.self)
            let fromSlot = try r.read(LogIndex.self)
            let chosenThrough = try r.read(LogIndex.self)
            let nextSlot = try r.read(LogIndex.self)
            let entries = try r.readArray(LogEntry.self, minimumSize: Self.entrySizeMin)
            self = .promise(P.Promise(ballot: ballot, fromSlot: fromSlot, chosenThrough: chosenThrough,
                                      entries: entries, nextSlot: nextSlot))
        case 3:
            let ballot = try r.read(P.Ballot.self)
            let firstSlot = try r.read(LogIndex.self)
            let commit = try r.read(LogIndex.self)
            let payloads = try r.readArray(EntryPayload.self, minimumSize: Self.payloadSizeMin)
            self = .accept(P.Accept(ballot: ballot, firstSlot: firstSlot, payloads: payloads, commit: commit))
        case 4:
            self = .accepted(P.Accepted(ballot: try r.read(P.Ballot.self), firstSlot: try r.read(LogIndex.self),
                                        lastSlot: try r.read(LogIndex.self), learnedThrough: try r.read(LogIndex.self),
                                        commitSeen: try r.read(LogIndex.self)))
        case 5:
            self = .reject(P.Reject(ballot: try r.read(P.Ballot.self), slot: try r.read(LogIndex.self),
                                    promised: try r.read(P.Ballot.self)))
        case 6:
            self = .heartbeat(P.Heartbeat(ballot: try r.read(P.Ballot.self), commit: try r.read(LogIndex.self),
                                          round: try r.readUInt64()))
        case 7:
            self = .heartbeatAck(P.HeartbeatAck(ballot: try r.read(P.Ballot.self), learnedThrough: try r.read(LogIndex.self),
                                                commitSeen: try r.read(LogIndex.self), round: try r.readUInt64()))
        case 8:
            let ballot = try r.read(P.Ballot.self)
            let firstSlot = try r.read(LogIndex.self)
            let payloads = try r.readArray(EntryPayload.self, minimumSize: Self.payloadSizeMin)
            self = .learn(P.Learn(ballot: ballot, firstSlot: firstSlot, payloads: payloads))
        case 9:
            self = .status(P.Status(learnedThrough: try r.read(LogIndex.self), highestSlot: try r.read(LogIndex.self)))
        case let tag:
            throw WireError.invalidTag(tag, type: "MultiPaxos.Message")
        }
    }
}

extension MultiPaxos {
    /// Bytes a value takes on the wire, near enough for batch limits.
    static func wireSize(of payload: EntryPayload) -> Int {
        switch payload {
        case .noop: 1
        case let .command(request): 17 + request.command.approximateSize
        case let .record(bytes): 5 + bytes.count
        }
    }
}
