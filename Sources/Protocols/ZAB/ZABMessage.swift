import BenchCore

extension ZAB {
    /// The messages ZAB servers exchange, named as in ZooKeeper (`Leader.java` packet types and
    /// `FastLeaderElection.Notification`).
    ///
    /// Every message between a leader and one follower carries the follower's `connection`: a
    /// number the follower draws each time it starts following, standing for ZooKeeper's TCP
    /// connection (one `LearnerHandler` each). Either side ignores messages of a connection that is
    /// not its current one, so a delayed or duplicated message from an earlier connection can never
    /// truncate or acknowledge anything in a later one.
    public enum Message: Hashable, Sendable {
        /// FLE: a vote and the sender's state.
        case notification(Notification)
        /// Discovery: a follower announces itself with its acceptedEpoch.
        case followerInfo(FollowerInfo)
        /// Discovery: the prospective leader proposes epoch e' (ZooKeeper's LEADERINFO).
        case newEpoch(NewEpoch)
        /// Discovery: the follower accepted e' (durably) and says how far its history goes.
        case ackEpoch(AckEpoch)
        /// Synchronization: DIFF, TRUNC or SNAP — "your history matches mine through `base`".
        case sync(Sync)
        /// Synchronization data and broadcast proposals: consecutive positions of the leader's history.
        case proposal(Proposal)
        /// A follower's durable, cumulative acknowledgement.
        case ack(Ack)
        /// Synchronization is complete: the follower holds the leader's initial history.
        case newLeader(NewLeader)
        /// The follower took e' as its currentEpoch (durably).
        case ackNewLeader(AckNewLeader)
        /// A quorum acknowledged NEWLEADER: the follower may serve clients.
        case upToDate(UpToDate)
        /// Everything up to `commit` is committed.
        case commit(Commit)
        /// The leader's heartbeat; also confirms leadership for reads.
        case ping(Ping)
        case pingAck(PingAck)
    }

    /// A vote in fast leader election: the proposed leader with the (currentEpoch, last zxid)
    /// it is ranked by, and the election round it was cast in.
    public struct Vote: Hashable, Sendable, CustomStringConvertible {
        public var leader: NodeID
        /// The proposed leader's last zxid.
        public var zxid: Zxid
        /// The proposed leader's currentEpoch.
        public var peerEpoch: Term
        /// The round (ZooKeeper's logicalclock) the vote was cast in.
        public var electionEpoch: UInt64

        public init(leader: NodeID, zxid: Zxid, peerEpoch: Term, electionEpoch: UInt64) {
            self.leader = leader
            self.zxid = zxid
            self.peerEpoch = peerEpoch
            self.electionEpoch = electionEpoch
        }

        /// FLE's `totalOrderPredicate`: higher epoch, then higher zxid, then higher id.
        public func isBetter(than other: Vote) -> Bool {
            if peerEpoch != other.peerEpoch { return peerEpoch > other.peerEpoch }
            if zxid != other.zxid { return zxid > other.zxid }
            return leader > other.leader
        }

        public var description: String { "\(leader)@\(peerEpoch)/\(zxid)#\(electionEpoch)" }
    }

    public struct Notification: Hashable, Sendable {
        public var vote: Vote
        public var state: PeerState
    }

    public struct FollowerInfo: Hashable, Sendable {
        public var connection: UInt64
        public var acceptedEpoch: Term
    }

    public struct NewEpoch: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
    }

    public struct AckEpoch: Hashable, Sendable {
        public var connection: UInt64
        /// The epoch accepted.
        public var epoch: Term
        public var currentEpoch: Term
        public var lastZxid: Zxid
    }

    public struct Sync: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        public var mode: SyncMode
        /// The follower drops every proposal after this position (after the last one it knows to
        /// be committed, if that is later); PROPOSALs follow from `base + 1`.
        public var base: LogIndex
        public var commit: LogIndex
    }

    public struct Proposal: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        /// Consecutive positions; empty only in a message that carries nothing else (never sent).
        public var entries: [LogEntry]
        public var commit: LogIndex
    }

    public struct Ack: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        /// The follower's history matches the leader's, on disk, through this position.
        public var lastIndex: LogIndex
        /// Set when the follower saw a gap (a lost PROPOSAL) and needs the leader to go back.
        public var gap: Bool
    }

    public struct NewLeader: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        /// The end of the leader's initial history I(e'); the follower must hold it all.
        public var through: LogIndex
    }

    public struct AckNewLeader: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
    }

    public struct UpToDate: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        public var commit: LogIndex
    }

    public struct Commit: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        public var commit: LogIndex
    }

    public struct Ping: Hashable, Sendable {
        public var connection: UInt64
        /// The leader's epoch (0 while it is still choosing one).
        public var epoch: Term
        public var commit: LogIndex
        /// The read round this ping confirms (0: none).
        public var readRound: UInt64
        /// The leader broadcasts and this follower acknowledged NEWLEADER: it is up to date (a
        /// lost UPTODATE is repaired by the next ping).
        public var upToDate: Bool
    }

    public struct PingAck: Hashable, Sendable {
        public var connection: UInt64
        public var epoch: Term
        public var readRound: UInt64
    }
}

// MARK: - Wire form

extension ZAB.Zxid: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    @inlinable public init(from reader: inout WireReader) throws { self.init(rawValue: try reader.readUInt64()) }
}

extension ZAB.PeerState: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    public init(from reader: inout WireReader) throws {
        let raw = try reader.readUInt8()
        guard let state = ZAB.PeerState(rawValue: raw) else { throw WireError.invalidTag(raw, type: "ZAB.PeerState") }
        self = state
    }
}

extension ZAB.SyncMode: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.write(rawValue) }
    public init(from reader: inout WireReader) throws {
        let raw = try reader.readUInt8()
        guard let mode = ZAB.SyncMode(rawValue: raw) else { throw WireError.invalidTag(raw, type: "ZAB.SyncMode") }
        self = mode
    }
}

extension ZAB.Message: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .notification(m):
            w.write(UInt8(1)); w.write(m.vote.leader); w.write(m.vote.zxid); w.write(m.vote.peerEpoch)
            w.write(m.vote.electionEpoch); w.write(m.state)
        case let .followerInfo(m):
            w.write(UInt8(2)); w.write(m.connection); w.write(m.acceptedEpoch)
        case let .newEpoch(m):
            w.write(UInt8(3)); w.write(m.connection); w.write(m.epoch)
        case let .ackEpoch(m):
            w.write(UInt8(4)); w.write(m.connection); w.write(m.epoch); w.write(m.currentEpoch); w.write(m.lastZxid)
        case let .sync(m):
            w.write(UInt8(5)); w.write(m.connection); w.write(m.epoch); w.write(m.mode); w.write(m.base); w.write(m.commit)
        case let .proposal(m):
            w.write(UInt8(6)); w.write(m.connection); w.write(m.epoch); w.write(m.commit); w.write(m.entries)
        case let .ack(m):
            w.write(UInt8(7)); w.write(m.connection); w.write(m.epoch); w.write(m.lastIndex); w.write(m.gap)
        case let .newLeader(m):
            w.write(UInt8(8)); w.write(m.connection); w.write(m.epoch); w.write(m.through)
        case let .ackNewLeader(m):
            w.write(UInt8(9)); w.write(m.connection); w.write(m.epoch)
        case let .upToDate(m):
            w.write(UInt8(10)); w.write(m.connection); w.write(m.epoch); w.write(m.commit)
        case let .commit(m):
            w.write(UInt8(11)); w.write(m.connection); w.write(m.epoch); w.write(m.commit)
        case let .ping(m):
            w.write(UInt8(12)); w.write(m.connection); w.write(m.epoch); w.write(m.commit); w.write(m.readRound)
            w.write(m.upToDate)
        case let .pingAck(m):
            w.write(UInt8(13)); w.write(m.connection); w.write(m.epoch); w.write(m.readRound)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            let vote = ZAB.Vote(leader: try r.read(NodeID.self), zxid: try r.read(ZAB.Zxid.self),
                                peerEpoch: try r.read(Term.self), electionEpoch: try r.readUInt64())
            self = .notification(.init(vote: vote, state: try r.read(ZAB.PeerState.self)))
        case 2:
            self = .followerInfo(.init(connection: try r.readUInt64(), acceptedEpoch: try r.read(Term.self)))
        case 3:
            self = .newEpoch(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self)))
        case 4:
            self = .ackEpoch(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self),
                                   currentEpoch: try r.read(Term.self), lastZxid: try r.read(ZAB.Zxid.self)))
        case 5:
            self = .sync(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), mode: try r.read(ZAB.SyncMode.self),
                               base: try r.read(LogIndex.self), commit: try r.read(LogIndex.self)))
        case 6:
            let connection = try r.readUInt64()
            let epoch = try r.read(Term.self)
            let commit = try r.read(LogIndex.self)
            // An entry takes at least 17 bytes on the wire (index, epoch, payload tag).
            let entries = try r.readArray(LogEntry.self, minimumSize: 17)
            self = .proposal(.init(connection: connection, epoch: epoch, entries: entries, commit: commit))
        case 7:
            self = .ack(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), lastIndex: try r.read(LogIndex.self),
                              gap: try r.readBool()))
        case 8:
            self = .newLeader(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), through: try r.read(LogIndex.self)))
        case 9:
            self = .ackNewLeader(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self)))
        case 10:
            self = .upToDate(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), commit: try r.read(LogIndex.self)))
        case 11:
            self = .commit(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), commit: try r.read(LogIndex.self)))
        case 12:
            self = .ping(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), commit: try r.read(LogIndex.self),
                               readRound: try r.readUInt64(), upToDate: try r.readBool()))
        case 13:
            self = .pingAck(.init(connection: try r.readUInt64(), epoch: try r.read(Term.self), readRound: try r.readUInt64()))
        case let tag:
            throw WireError.invalidTag(tag, type: "ZAB.Message")
        }
    }
}
