import BenchCore

extension TwoPhaseCommit {
    /// One 2PC node: a participant owning a shard of the bank, and the coordinator of the
    /// transactions its clients send it. Feed it inputs with `handle`; it never does I/O.
    public struct Instance: Replica {
        public typealias Message = TwoPhaseCommit.Message
        public typealias Settings = TwoPhaseCommit.Settings
        public static let name = "2pc"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        var journal: AtomicCommit.Journal
        public internal(set) var shard: AtomicCommit.Shard

        // MARK: Participant state

        /// A YES vote waiting for its decision: the accounts stay locked meanwhile.
        struct InDoubt {
            var deltas: [AccountDelta]
            /// Since when this life has held the locks waiting (the vote, or the restart).
            var since: Instant
            var nextInquiry: Instant
        }
        var inDoubt: [TxID: InDoubt] = [:]
        /// Every decision this participant recorded (a NO vote records an abort).
        var decisions: [TxID: Bool] = [:]
        /// Shared locks of read-only transactions, released by the coordinator or at `expiry`.
        struct ReadHold {
            var keys: [Key]
            var expiry: Instant
            var nextInquiry: Instant
        }
        var readHolds: [TxID: ReadHold] = [:]
        /// PREPAREs waiting for locks (wait-die), and whether a lock was released since they last tried.
        var waiters: AtomicCommit.WaitQueue
        var locksReleased = false
        /// After a restart the shared locks held before the crash are gone: refuse writes until
        /// every read that could have relied on them is over.
        var writesRefusedUntil: Instant = .zero
        let recoveredFromLog: Bool

        // MARK: Coordinator state

        enum Phase: Equatable {
            case voting
            /// Decided commit; waiting for the decision record to be durable before answering.
            case committing
        }

        struct Coordination {
            var request: ClientRequest
            var participants: [NodeID]
            var operations: [AtomicCommit.Operation]
            var timestamp: Instant
            var votes: [Bool?]
            var balances: [[Int64]]
            var phase: Phase = .voting
            var deadline: Instant
            var nextRetry: Instant
            var isRead: Bool { operations.first?.isRead ?? false }
        }
        var coordinating: [TxID: Coordination] = [:]
        /// Every decision this coordinator made (commit records are durable before anyone hears).
        var coordinatorDecisions: [TxID: Bool] = [:]
        /// Commits some participant has not acknowledged: resent every `retryInterval`.
        struct Unacknowledged {
            var participants: [NodeID]
            var nextRetry: Instant
        }
        var unacknowledged: [TxID: Unacknowledged] = [:]
        /// Commit decisions waiting for their record to be durable, in log order.
        var awaitingDurable: [(index: LogIndex, tx: TxID)] = []
        var awaitingDurableHead = 0
        var nextCounter: UInt64 = 1
        var clients = AtomicCommit.ClientTable()

        var startedAt: Instant?
        var lastNow: Instant = .zero
        /// Safety anomalies this node observed (reported by `invariants()`; never expected).
        public internal(set) var anomalies: [String] = []
        public internal(set) var statistics = Statistics()

        public struct Statistics: Hashable, Sendable {
            public var committed = 0
            public var aborted = 0
            public var readsServed = 0
            public var readsAborted = 0
            public var votesNo = 0
            public var lockConflicts = 0
            public var insufficientFunds = 0
            public var inquiries = 0
            public var unilateralCommits = 0
            /// A decision contradicting one this participant already recorded (never in correct 2PC).
            public var conflictingDecisions = 0
            /// The longest a participant held locks while in doubt, resolved or not (ns).
            public var blockedMaxNanos: Int64 = 0
        }

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            precondition(cluster.members.contains(id), "\(id) is not a member of \(cluster.members)")
            precondition(settings.tickInterval > .zero && settings.voteTimeout > .zero, "timeouts are positive")
            self.id = id
            self.cluster = cluster
            self.settings = settings
            let recovery = AtomicCommit.Recovery(recovered)
            self.journal = AtomicCommit.Journal(recoveredEpoch: recovery.epoch, lastIndex: recovery.lastIndex)
            self.shard = recovery.shard
            self.decisions = recovery.decisions
            self.coordinatorDecisions = recovery.coordinatorDecisions
            self.anomalies = recovery.anomalies
            self.recoveredFromLog = !recovered.entries.isEmpty
            self.waiters = AtomicCommit.WaitQueue(capacity: settings.lockPolicy == .waitDie ? settings.waitersMax : 0)
            // Votes without decisions are in doubt again: re-take their locks (they cannot conflict:
            // a lock is granted only after its previous holder's decision, which precedes in the log).
            for tx in recovery.votes.keys.sorted() {
                let vote = recovery.votes[tx]!
                // Their age is unknown now: count them oldest, so nobody waits for them.
                let priority = AtomicCommit.Priority(timestamp: .zero, tx: tx)
                if shard.lockExclusive(vote.deltas, priority: priority) != .granted { anomalies.append("\(id): recovered \(tx) conflicts on a lock") }
                inDoubt[tx] = InDoubt(deltas: vote.deltas, since: .zero, nextInquiry: .zero)
            }
            for tx in recovery.unacknowledged.keys.sorted() {
                let remote = recovery.unacknowledged[tx]!.filter { $0 != id }
                if !remote.isEmpty { unacknowledged[tx] = Unacknowledged(participants: remote, nextRetry: .zero) }
            }
        }

        public var status: ReplicaStatus {
            ReplicaStatus(role: .participant, term: Term(UInt64(journal.epoch)), leader: nil, commitIndex: journal.durableIndex)
        }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            lastNow = max(lastNow, now)
            switch input {
            case .start:
                onStart(now: now, into: &out)
            case let .message(from, message):
                guard cluster.members.contains(from), from != id else { return }
                onMessage(message, from: from, now: now, into: &out)
            case let .request(request):
                onRequest(request, now: now, into: &out)
            case let .timer(timer):
                if timer == Timers.tick { onTick(now: now, into: &out) }
            case let .persisted(through, term):
                onPersisted(through: through, term: term, now: now, into: &out)
            case .flush:
                break
            }
            retryWaiters(now: now, into: &out)
        }

        mutating func onStart(now: Instant, into out: inout Effects<Message>) {
            precondition(startedAt == nil, "started twice")
            startedAt = now
            journal.beginEpoch(into: &out)
            if recoveredFromLog { writesRefusedUntil = now + settings.readLockTimeout }
            // Recovered votes are blocked from now on; ask their coordinators at the first tick.
            for tx in inDoubt.keys.sorted() {
                inDoubt[tx]!.since = now
                inDoubt[tx]!.nextInquiry = now
            }
            out.setTimer(Timers.tick, at: now + settings.tickInterval)
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            switch message {
            case let .prepare(tx, timestamp, participants, operation):
                onPrepare(tx, timestamp: timestamp, participants: participants, operation: operation, from: from, now: now, into: &out)
            case let .vote(tx, yes, balances): onVote(tx, yes: yes, balances: balances, from: from, now: now, into: &out)
            case let .decision(tx, commit): onDecision(tx, commit: commit, from: from, now: now, into: &out)
            case let .ack(tx): onAck(tx, from: from, into: &out)
            case let .decisionRequest(tx): onDecisionRequest(tx, from: from, into: &out)
            case let .release(tx): onRelease(tx, from: from)
            case let .readInquiry(tx): onReadInquiry(tx, from: from, into: &out)
            }
        }

        mutating func onPersisted(through index: LogIndex, term: Term, now: Instant, into out: inout Effects<Message>) {
            journal.persisted(through: index, term: term)
            // A commit is final once its record is durable: answer the client, apply locally.
            while awaitingDurableHead < awaitingDurable.count, awaitingDurable[awaitingDurableHead].index <= journal.durableIndex {
                let tx = awaitingDurable[awaitingDurableHead].tx
                awaitingDurableHead += 1
                finishCommit(tx, now: now, into: &out)
            }
            if awaitingDurableHead == awaitingDurable.count {
                awaitingDurable.removeAll(keepingCapacity: true)
                awaitingDurableHead = 0
            }
        }
    }
}
