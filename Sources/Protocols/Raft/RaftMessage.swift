import BenchCore

extension Raft {
    /// The messages Raft replicas exchange.
    public enum Message: Hashable, Sendable {
        /// RequestVote (§5.2), or a pre-vote (§9.6) when `preVote`: then `term` is the term the
        /// candidate would campaign in, and the receiver's state does not change.
        case voteRequest(VoteRequest)
        case voteResponse(VoteResponse)
        /// AppendEntries (§5.3).
        case appendEntries(AppendEntries)
        case appendResponse(AppendResponse)
        /// An empty AppendEntries without the consistency check: keeps followers from campaigning,
        /// carries a commit index the follower is known to match, and confirms leadership for
        /// ReadIndex rounds.
        case heartbeat(Heartbeat)
        case heartbeatResponse(HeartbeatResponse)
    }

    public struct VoteRequest: Hashable, Sendable {
        public var term: Term
        public var candidate: NodeID
        public var lastLogIndex: LogIndex
        public var lastLogTerm: Term
        public var preVote: Bool
    }

    public struct VoteResponse: Hashable, Sendable {
        /// The responder's term, or the pre-vote's term when a pre-vote is granted.
        public var term: Term
        public var granted: Bool
        public var preVote: Bool
    }

    public struct AppendEntries: Hashable, Sendable {
        public var term: Term
        public var leader: NodeID
        public var prevLogIndex: LogIndex
        public var prevLogTerm: Term
        public var entries: [LogEntry]
        public var leaderCommit: LogIndex
    }

    public struct AppendResponse: Hashable, Sendable {
        public var term: Term
        public var success: Bool
        /// On success: the last index the follower now holds that matches the leader.
        public var matchIndex: LogIndex
        /// On rejection: the prevLogIndex that failed, so the leader can ignore stale rejections.
        public var rejectedIndex: LogIndex
        /// On rejection, the fast back-off hint (§5.3, "optimization"): the term of the
        /// conflicting entry (nil when the follower's log is too short) and the first index the
        /// follower holds with that term (or its last index + 1).
        public var conflictTerm: Term?
        public var conflictIndex: LogIndex
    }

    public struct Heartbeat: Hashable, Sendable {
        public var term: Term
        public var leader: NodeID
        public var commit: LogIndex
        /// The ReadIndex round this heartbeat confirms (0: none).
        public var readRound: UInt64
    }

    public struct HeartbeatResponse: Hashable, Sendable {
        public var term: Term
        public var readRound: UInt64
    }
}

extension Raft.Message: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .voteRequest(m):
            w.write(UInt8(1)); w.write(m.term); w.write(m.candidate); w.write(m.lastLogIndex); w.write(m.lastLogTerm); w.write(m.preVote)
        case let .voteResponse(m):
            w.write(UInt8(2)); w.write(m.term); w.write(m.granted); w.write(m.preVote)
        case let .appendEntries(m):
            w.write(UInt8(3)); w.write(m.term); w.write(m.leader); w.write(m.prevLogIndex); w.write(m.prevLogTerm)
            w.write(m.leaderCommit); w.write(m.entries)
        case let .appendResponse(m):
            w.write(UInt8(4)); w.write(m.term); w.write(m.success); w.write(m.matchIndex); w.write(m.rejectedIndex)
            w.write(m.conflictTerm); w.write(m.conflictIndex)
        case let .heartbeat(m):
            w.write(UInt8(5)); w.write(m.term); w.write(m.leader); w.write(m.commit); w.write(m.readRound)
        case let .heartbeatResponse(m):
            w.write(UInt8(6)); w.write(m.term); w.write(m.readRound)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            self = .voteRequest(.init(term: try r.read(Term.self), candidate: try r.read(NodeID.self),
                                      lastLogIndex: try r.read(LogIndex.self), lastLogTerm: try r.read(Term.self),
                                      preVote: try r.readBool()))
        case 2:
            self = .voteResponse(.init(term: try r.read(Term.self), granted: try r.readBool(), preVote: try r.readBool()))
        case 3:
            let term = try r.read(Term.self)
            let leader = try r.read(NodeID.self)
            let prevIndex = try r.read(LogIndex.self)
            let prevTerm = try r.read(Term.self)
            let commit = try r.read(LogIndex.self)
            // An entry takes at least 18 bytes on the wire (index, term, payload tag).
            let entries = try r.readArray(LogEntry.self, minimumSize: 17)
            self = .appendEntries(.init(term: term, leader: leader, prevLogIndex: prevIndex, prevLogTerm: prevTerm,
                                        entries: entries, leaderCommit: commit))
        case 4:
            self = .appendResponse(.init(term: try r.read(Term.self), success: try r.readBool(),
                                         matchIndex: try r.read(LogIndex.self), rejectedIndex: try r.read(LogIndex.self),
                                         conflictTerm: try r.readOptional(Term.self), conflictIndex: try r.read(LogIndex.self)))
        case 5:
            self = .heartbeat(.init(term: try r.read(Term.self), leader: try r.read(NodeID.self),
                                    commit: try r.read(LogIndex.self), readRound: try r.readUInt64()))
        case 6:
            self = .heartbeatResponse(.init(term: try r.read(Term.self), readRound: try r.readUInt64()))
        case let tag:
            throw WireError.invalidTag(tag, type: "Raft.Message")
        }
    }
}
