import BenchCore

extension Raft {
    /// One Raft replica. Feed it inputs with `handle`; it never does I/O.
    public struct Instance: Replica {
        public typealias Message = Raft.Message
        public typealias Settings = Raft.Settings
        public static let name = "raft"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        var random: SeededGenerator

        // Persistent state (§5, Figure 2): written through `Effects.persist` before it is relied on.
        public internal(set) var currentTerm: Term
        public internal(set) var votedFor: NodeID?
        public internal(set) var log: Log

        // Volatile state.
        public internal(set) var role: Role = .follower
        public internal(set) var leader: NodeID?
        public internal(set) var commitIndex: LogIndex = .zero
        public internal(set) var lastApplied: LogIndex = .zero
        /// The highest index known to be on this replica's own disk (a leader counts itself toward a
        /// majority only up to here).
        public internal(set) var persistedIndex: LogIndex = .zero
        public internal(set) var store = KeyValueStore()

        /// When this replica last heard from a leader of its term (for pre-vote and the §4.2.3 rule).
        var lastLeaderContact: Instant?
        /// When this replica (re)started. Lease mode: it grants no vote for an election timeout after
        /// that, because it may have acknowledged a leader's round just before it crashed and forgot.
        var startedAt: Instant?
        var votes: Set<NodeID> = []

        /// Leader state: one progress record per follower, in member order.
        var progress: [Raft.Progress] = []
        var quorumCheckDeadline: Instant = .zero
        var reads = Raft.ReadQueue()
        /// Safety anomalies this replica observed (reported by `invariants()`; never expected).
        public internal(set) var anomalies: [String] = []

        /// Counts for the simulator's and the runtime's statistics.
        public internal(set) var statistics = Statistics()

        public struct Statistics: Hashable, Sendable {
            public var electionsStarted = 0
            public var termsLed = 0
            /// Reads a leader answered under its lease, without a round trip (lease mode).
            public var leaseReads = 0
            /// Reads that took the ReadIndex path (in lease mode: no lease, or nothing committed in the term yet).
            public var readIndexReads = 0
        }

        public var metrics: [String: Double] {
            ["lease_reads": Double(statistics.leaseReads), "readindex_reads": Double(statistics.readIndexReads)]
        }

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            precondition(cluster.members.contains(id), "\(id) is not a member of \(cluster.members)")
            precondition(settings.heartbeatInterval < settings.electionTimeout, "heartbeats must come faster than elections")
            precondition(settings.readMode != .lease || (settings.leaseMargin >= .zero && settings.leaseMargin < settings.electionTimeout),
                         "a lease margin lies in [0, election timeout)")
            self.id = id
            self.cluster = cluster
            self.settings = settings
            self.random = SeededGenerator(from: &random)
            self.currentTerm = recovered.hardState.term
            self.votedFor = recovered.hardState.vote
            self.log = Log(recovered: recovered.entries)
            // What was recovered is on disk.
            self.persistedIndex = log.lastIndex
        }

        public var status: ReplicaStatus {
            ReplicaStatus(role: role, term: currentTerm, leader: leader, commitIndex: commitIndex)
        }

        var peers: some Sequence<NodeID> { cluster.members.lazy.filter { $0 != id } }
        var isLeader: Bool { role == .leader }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            switch input {
            case .start:
                startedAt = now
                resetElectionTimer(now: now, into: &out)
            case let .message(from, message):
                guard cluster.members.contains(from), from != id else { return }
                onMessage(message, from: from, now: now, into: &out)
            case let .request(request):
                onRequest(request, now: now, into: &out)
            case let .timer(timer):
                if timer == Raft.Timers.election { onElectionTimeout(now: now, into: &out) }
                else if timer == Raft.Timers.heartbeat { onHeartbeatTimer(now: now, into: &out) }
            case let .persisted(through, term):
                onPersisted(through: through, term: term, into: &out)
            case .flush:
                onFlush(now: now, into: &out)
            }
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            switch message {
            case let .voteRequest(m): onVoteRequest(m, from: from, now: now, into: &out)
            case let .voteResponse(m): onVoteResponse(m, from: from, now: now, into: &out)
            case let .appendEntries(m): onAppendEntries(m, from: from, now: now, into: &out)
            case let .appendResponse(m): onAppendResponse(m, from: from, now: now, into: &out)
            case let .heartbeat(m): onHeartbeat(m, from: from, now: now, into: &out)
            case let .heartbeatResponse(m): onHeartbeatResponse(m, from: from, now: now, into: &out)
            }
        }

        // MARK: Terms and roles

        var hardState: HardState { HardState(term: currentTerm, vote: votedFor) }

        /// Moves to `term` as a follower (a higher term seen anywhere, §5.1), persisting the change.
        mutating func becomeFollower(term: Term, leader: NodeID?, now: Instant, into out: inout Effects<Message>) {
            precondition(term >= currentTerm, "terms never go back")
            let wasLeader = isLeader
            if term > currentTerm {
                currentTerm = term
                votedFor = nil
                out.persist(hardState)
            }
            role = .follower
            self.leader = leader
            votes = []
            if wasLeader { stepDownAsLeader(into: &out) }
            resetElectionTimer(now: now, into: &out)
        }

        /// Leadership ended: answer what this leader can no longer vouch for.
        mutating func stepDownAsLeader(into out: inout Effects<Message>) {
            out.cancelTimer(Raft.Timers.heartbeat)
            progress = []
            // Uncommitted entries may still commit under the next leader, or vanish: the client must ask again.
            var index = commitIndex.next
            while index <= log.lastIndex {
                if case let .command(request) = log[index].payload { out.reply(ClientReply(to: request, .unknown)) }
                index = index.next
            }
            for read in reads.drainAll() { out.reply(ClientReply(to: read.request, .notLeader(hint: nil))) }
            reads.leaseExpiry = .zero
        }

        mutating func resetElectionTimer(now: Instant, into out: inout Effects<Message>) {
            let base = settings.electionTimeout.nanoseconds
            let jitter = Int64(random.next() % UInt64(base))
            out.setTimer(Raft.Timers.election, at: now + .nanoseconds(base + jitter))
        }

        // MARK: Client requests

        mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
            if case let .readLocal(key) = request.command {
                // Degraded read: whatever this replica has applied, leader or not.
                out.reply(ClientReply(to: request, .ok(store.read(key))))
                return
            }
            guard isLeader else {
                out.reply(ClientReply(to: request, .notLeader(hint: leader)))
                return
            }
            if request.command.isReadOnly && settings.readMode != .log {
                if settings.readMode == .lease && hasCommittedInCurrentTerm && holdsLease(now: now) {
                    // §6.4.1: no other leader can exist before the lease ends, and this leader's
                    // state machine holds every entry committed before the read arrived.
                    statistics.leaseReads += 1
                    // A read-only command leaves the store as it was (`execute` answers reads of balances too).
                    out.reply(ClientReply(to: request, store.execute(request.command, client: request.client)))
                    return
                }
                statistics.readIndexReads += 1
                enqueueRead(request, into: &out)
                return
            }
            guard Int(log.lastIndex.rawValue - commitIndex.rawValue) < settings.uncommittedEntriesMax else {
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                return
            }
            var stamped = request
            stamped.command = request.command.stamped(now)
            appendAsLeader(.command(stamped), into: &out)
        }

        /// Appends to the leader's own log and starts its disk write; followers get the entry on
        /// the next flush (batching) while this write is in flight (pipelining).
        mutating func appendAsLeader(_ payload: EntryPayload, into out: inout Effects<Message>) {
            let entry = LogEntry(index: log.lastIndex.next, term: currentTerm, payload: payload)
            log.append(entry)
            out.append(entry)
            if cluster.size == 1 { return }
        }

        // MARK: Durability

        mutating func onPersisted(through index: LogIndex, term: Term, into out: inout Effects<Message>) {
            // A report for entries since truncated names a term the log no longer holds there.
            guard log.term(at: index) == term, index > persistedIndex else { return }
            persistedIndex = index
            if isLeader { advanceCommit(into: &out) }
        }

        // MARK: Applying

        /// Applies committed entries in order; a leader answers the clients whose commands they carry.
        mutating func applyCommitted(into out: inout Effects<Message>) {
            while lastApplied < commitIndex {
                lastApplied = lastApplied.next
                let entry = log[lastApplied]
                if case let .command(request) = entry.payload {
                    let outcome = store.apply(request)
                    if isLeader { out.reply(ClientReply(to: request, outcome)) }
                }
            }
            if isLeader { serveReadyReads(into: &out) }
        }

        mutating func setCommitIndex(_ index: LogIndex, into out: inout Effects<Message>) {
            guard index > commitIndex else { return }
            precondition(index <= log.lastIndex, "commit index \(index) beyond the log's end \(log.lastIndex)")
            commitIndex = index
            applyCommitted(into: &out)
        }
    }
}
