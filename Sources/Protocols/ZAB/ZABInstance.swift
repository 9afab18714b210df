import BenchCore

extension ZAB {
    /// One ZAB server. Feed it inputs with `handle`; it never does I/O.
    public struct Instance: Replica {
        public typealias Message = ZAB.Message
        public typealias Settings = ZAB.Settings
        public static let name = "zab"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        var random: SeededGenerator

        // Durable state (Zab §III, "f.p", "f.a", "f.h"): written through `Effects.persist` before
        // anything that relies on it is sent.
        /// The epoch of the last NEWLEADER this server acknowledged (a leader: the epoch it leads).
        public internal(set) var currentEpoch: Term
        /// The last epoch this server acknowledged in NEWEPOCH.
        public internal(set) var acceptedEpoch: Term
        /// The leader `acceptedEpoch` was acknowledged to (itself, for a leader).
        public internal(set) var acceptedLeader: NodeID?
        public internal(set) var history: History

        // Volatile state.
        public internal(set) var state: PeerState = .looking
        var election: Election
        var following: FollowerSession?
        var leading: LeaderSession?
        /// Everything up to here is committed and may be delivered.
        public internal(set) var commitIndex: LogIndex = .zero
        /// Delivered (applied to the store) up to here, strictly in zxid order.
        public internal(set) var lastApplied: LogIndex = .zero
        /// The highest position known to be on this server's own disk (a leader counts itself
        /// toward a quorum only up to here).
        public internal(set) var persistedIndex: LogIndex = .zero
        public internal(set) var store = KeyValueStore()
        /// Safety anomalies this server observed (reported by `invariants()`; never expected).
        public internal(set) var anomalies: [String] = []
        public internal(set) var statistics = Statistics()

        public struct Statistics: Hashable, Sendable {
            public var electionsStarted = 0
            public var epochsLed = 0
            public var syncsDiff = 0
            public var syncsTrunc = 0
            public var syncsSnap = 0
            /// Reads answered from a follower's (or leader's) applied state without a ping round.
            public var localReads = 0
        }

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            precondition(cluster.members.contains(id), "\(id) is not a member of \(cluster.members)")
            precondition(settings.timingIsConsistent,
                         "zab needs 0 < tick-interval < sync-limit <= init-limit")
            self.id = id
            self.cluster = cluster
            self.settings = settings
            self.random = SeededGenerator(from: &random)
            self.currentEpoch = recovered.hardState.term
            self.acceptedEpoch = Term(recovered.hardState.auxiliary)
            self.acceptedLeader = recovered.hardState.vote
            self.history = History(recovered: recovered.entries)
            // What was recovered is on disk.
            self.persistedIndex = history.lastIndex
            self.election = Election(members: cluster.size)
        }

        public var status: ReplicaStatus {
            switch state {
            case .looking:
                return ReplicaStatus(role: .candidate, term: currentEpoch, leader: nil, commitIndex: commitIndex)
            case .following:
                return ReplicaStatus(role: .follower, term: currentEpoch, leader: following?.leader, commitIndex: commitIndex)
            case .leading:
                // A prospective leader is a leader only once a quorum acknowledged its epoch: before
                // that another server may still establish the same epoch number.
                let established = leading.map { $0.phase >= .synchronizing } ?? false
                return ReplicaStatus(role: established ? .leader : .candidate, term: currentEpoch,
                                     leader: established ? id : nil, commitIndex: commitIndex)
            }
        }

        var peers: some Sequence<NodeID> { cluster.members.lazy.filter { $0 != id } }

        /// A member's position in `cluster.members` (tables indexed by it iterate in member order).
        func position(of node: NodeID) -> Int? { cluster.members.firstIndex(of: node) }

        /// The leader this server believes in, for client redirects.
        var leaderHint: NodeID? {
            switch state {
            case .looking: nil
            case .following: following?.leader
            case .leading: id
            }
        }

        var isBroadcastingLeader: Bool { state == .leading && leading?.phase == .broadcasting }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            switch input {
            case .start:
                out.setTimer(ZAB.Timers.tick, at: now + settings.tickInterval)
                lookForLeader(now: now, into: &out)
            case let .message(from, message):
                guard from != id, position(of: from) != nil else { return }
                onMessage(message, from: from, now: now, into: &out)
            case let .request(request):
                onRequest(request, now: now, into: &out)
            case let .timer(timer):
                if timer == ZAB.Timers.tick { onTick(now: now, into: &out) }
                else if timer == ZAB.Timers.finalize { onFinalizeTimer(now: now, into: &out) }
            case let .persisted(through, term):
                onPersisted(through: through, term: term, into: &out)
            case .flush:
                onFlush(now: now, into: &out)
            }
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            switch message {
            case let .notification(m): onNotification(m, from: from, now: now, into: &out)
            // Leader side.
            case let .followerInfo(m): onFollowerInfo(m, from: from, now: now, into: &out)
            case let .ackEpoch(m): onAckEpoch(m, from: from, now: now, into: &out)
            case let .ack(m): onAck(m, from: from, now: now, into: &out)
            case let .ackNewLeader(m): onAckNewLeader(m, from: from, now: now, into: &out)
            case let .pingAck(m): onPingAck(m, from: from, now: now, into: &out)
            // Follower side.
            case let .newEpoch(m): onNewEpoch(m, from: from, now: now, into: &out)
            case let .sync(m): onSync(m, from: from, now: now, into: &out)
            case let .proposal(m): onProposal(m, from: from, now: now, into: &out)
            case let .newLeader(m): onNewLeader(m, from: from, now: now, into: &out)
            case let .upToDate(m): onUpToDate(m, from: from, now: now, into: &out)
            case let .commit(m): onCommit(m, from: from, now: now, into: &out)
            case let .ping(m): onPing(m, from: from, now: now, into: &out)
            }
        }

        /// The roles, switched once: each runs its own periodic work.
        mutating func onTick(now: Instant, into out: inout Effects<Message>) {
            switch state {
            case .looking: onLookingTick(now: now, into: &out)
            case .following: onFollowerTick(now: now, into: &out)
            case .leading: onLeaderTick(now: now, into: &out)
            }
            // A little jitter keeps servers from retransmitting in lockstep.
            let jitter = Int64(random.next() % UInt64(max(1, settings.tickInterval.nanoseconds / 8)))
            out.setTimer(ZAB.Timers.tick, at: now + settings.tickInterval + .nanoseconds(jitter))
        }

        // MARK: Durable state

        var hardState: HardState {
            HardState(term: currentEpoch, vote: acceptedLeader, auxiliary: acceptedEpoch.rawValue)
        }

        mutating func onPersisted(through index: LogIndex, term: Term, into out: inout Effects<Message>) {
            // A report for proposals since truncated names an epoch the history no longer holds there.
            guard history.epoch(at: index) == term, index > persistedIndex else { return }
            persistedIndex = index
            if state == .leading { advanceCommit(into: &out) }
        }

        /// Appends one proposal to the history and queues its write; reports (rather than traps on)
        /// an epoch that goes back, which only a broken variant can cause.
        mutating func appendToHistory(_ entry: LogEntry) {
            if entry.term < history.lastEpoch {
                anomalies.append("\(id): proposal \(entry.index) of epoch \(entry.term) follows epoch \(history.lastEpoch)")
            }
            history.append(entry)
        }

        /// Drops positions `from` and later, on disk too.
        mutating func truncateHistory(from index: LogIndex, into out: inout Effects<Message>) {
            guard index <= history.lastIndex else { return }
            if index <= commitIndex {
                anomalies.append("\(id) truncates committed proposal \(index) (commit \(commitIndex))")
            }
            history.truncate(from: index)
            out.truncate(from: index)
            if persistedIndex >= index { persistedIndex = index.previous }
        }

        // MARK: Delivery

        /// Raises the commit index (never past the history's end) and delivers in zxid order; a
        /// leader answers the clients whose commands it delivers.
        mutating func setCommitIndex(_ index: LogIndex, into out: inout Effects<Message>) {
            let target = min(index, history.lastIndex)
            guard target > commitIndex else { return }
            commitIndex = target
            let answering = state == .leading
            while lastApplied < commitIndex {
                lastApplied = lastApplied.next
                if case let .command(request) = history[lastApplied].payload {
                    let outcome = store.apply(request)
                    if answering { out.reply(ClientReply(to: request, outcome)) }
                }
            }
            if answering { serveReadyReads(into: &out) }
        }

        // MARK: Client requests

        mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
            if request.command.isReadOnly {
                onReadRequest(request, into: &out)
                return
            }
            guard state == .leading, let phase = leading?.phase else {
                out.reply(ClientReply(to: request, .notLeader(hint: leaderHint)))
                return
            }
            // A leader accepts writes only once a quorum holds its initial history (after NEWLEADER).
            guard phase == .broadcasting,
                  Int(history.lastIndex.rawValue - commitIndex.rawValue) < settings.uncommittedEntriesMax else {
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                return
            }
            var stamped = request
            stamped.command = request.command.stamped(now)
            let entry = LogEntry(index: history.lastIndex.next, term: currentEpoch, payload: .command(stamped))
            appendToHistory(entry)
            out.append(entry)
            // Followers get it at the end of this batch (`onFlush`), while this write is in flight.
        }
    }
}
