import BenchCore

extension ThreePhaseCommit {
    /// One 3PC node: a participant owning a shard of the bank, the coordinator of the transactions
    /// its clients send it, and — when a coordinator fails — possibly a backup coordinator elected
    /// by the termination protocol. Feed it inputs with `handle`; it never does I/O.
    public struct Instance: Replica {
        public typealias Message = ThreePhaseCommit.Message
        public typealias Settings = ThreePhaseCommit.Settings
        public static let name = "3pc"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        var journal: AtomicCommit.Journal
        public internal(set) var shard: AtomicCommit.Shard

        // MARK: Participant state

        /// A YES vote waiting for its decision (Skeen's w, or p once pre-committed).
        struct InDoubt {
            var participants: [NodeID]
            var deltas: [AccountDelta]
            var precommitted: Bool
            /// Crashed since it voted: it neither counts in nor starts a termination, it asks.
            var recovered: Bool
            /// The highest ballot followed (volatile: a recovered participant no longer counts).
            var promised: Ballot
            /// Since when this life has held the locks waiting.
            var since: Instant
            /// When to start the termination protocol (operational) or ask again (recovered).
            var deadline: Instant
            /// When an operational participant next asks the coordinator, before terminating.
            var nextInquiry: Instant
        }
        var inDoubt: [TxID: InDoubt] = [:]
        /// Every decision this participant recorded (a NO vote, or an abort before voting, records an abort).
        var decisions: [TxID: Bool] = [:]
        struct ReadHold {
            var keys: [Key]
            var expiry: Instant
            var nextInquiry: Instant
        }
        var readHolds: [TxID: ReadHold] = [:]
        var waiters: AtomicCommit.WaitQueue
        var locksReleased = false
        var writesRefusedUntil: Instant = .zero
        let recoveredFromLog: Bool

        /// A round of the termination protocol this node runs: as a backup coordinator (ballot
        /// round ≥ 1), or as a recovered participant only asking (round 0).
        struct Termination {
            enum Phase: Equatable { case collecting, precommitting }
            var ballot: Ballot
            var participants: [NodeID]
            var phase: Phase = .collecting
            /// The latest report of each participant (aligned with `participants`) and of the coordinator.
            var reports: [Report?]
            var coordinatorReport: Report?
            /// In the pre-commit round: the participants that still owe an acknowledgement.
            var awaitingAck: [NodeID] = []
            var deadline: Instant
            var nextRetry: Instant
            var isInquiry: Bool { ballot.round == 0 }
        }
        var terminations: [TxID: Termination] = [:]

        // MARK: Coordinator state

        enum Phase: Equatable {
            case voting
            case precommitting
            /// Decided commit; waiting for the decision record to be durable before answering.
            case committing
            /// A backup took over: this coordinator only asks for the outcome, to answer its client.
            case passive
        }

        struct Coordination {
            var request: ClientRequest
            var participants: [NodeID]
            var operations: [AtomicCommit.Operation]
            var timestamp: Instant
            var votes: [Bool?]
            var balances: [[Int64]]
            var acknowledged: [Bool]
            var phase: Phase = .voting
            var deadline: Instant
            var nextRetry: Instant
            var isRead: Bool { operations.first?.isRead ?? false }
        }
        var coordinating: [TxID: Coordination] = [:]
        var coordinatorDecisions: [TxID: Bool] = [:]
        struct Unacknowledged {
            var participants: [NodeID]
            var nextRetry: Instant
        }
        var unacknowledged: [TxID: Unacknowledged] = [:]
        var awaitingDurable: [(index: LogIndex, tx: TxID)] = []
        var awaitingDurableHead = 0
        var nextCounter: UInt64 = 1
        var clients = AtomicCommit.ClientTable()

        var startedAt: Instant?
        var lastNow: Instant = .zero
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
            /// Commits a coordinator made after treating silent participants as crashed.
            public var commitsOnAckTimeout = 0
            public var terminationsStarted = 0
            public var terminationCommits = 0
            public var terminationAborts = 0
            /// Recovered participants that found every node recovered and undecided, and aborted.
            public var recoveredAborts = 0
            public var supersededRounds = 0
            public var coordinatorsSuperseded = 0
            public var conflictingDecisions = 0
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
            for tx in recovery.votes.keys.sorted() {
                let vote = recovery.votes[tx]!
                let priority = AtomicCommit.Priority(timestamp: .zero, tx: tx)
                if shard.lockExclusive(vote.deltas, priority: priority) != .granted { anomalies.append("\(id): recovered \(tx) conflicts on a lock") }
                inDoubt[tx] = InDoubt(participants: vote.participants, deltas: vote.deltas, precommitted: vote.precommitted,
                                      recovered: true, promised: .zero, since: .zero, deadline: .zero, nextInquiry: .distantFuture)
            }
            for tx in recovery.unacknowledged.keys.sorted() {
                let remote = recovery.unacknowledged[tx]!.filter { $0 != id }
                if !remote.isEmpty { unacknowledged[tx] = Unacknowledged(participants: remote, nextRetry: .zero) }
            }
        }

        public var status: ReplicaStatus {
            ReplicaStatus(role: .participant, term: Term(UInt64(journal.epoch)), leader: nil, commitIndex: journal.durableIndex)
        }

        var ownBallot: Ballot { Ballot(round: 0, node: id) }

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
            for tx in inDoubt.keys.sorted() {
                inDoubt[tx]!.since = now
                inDoubt[tx]!.deadline = now
            }
            out.setTimer(Timers.tick, at: now + settings.tickInterval)
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            switch message {
            case let .canCommit(tx, timestamp, participants, operation):
                onCanCommit(tx, timestamp: timestamp, participants: participants, operation: operation, from: from, now: now, into: &out)
            case let .vote(tx, yes, balances): onVote(tx, yes: yes, balances: balances, from: from, now: now, into: &out)
            case let .preCommit(tx, ballot): onPreCommit(tx, ballot: ballot, from: from, now: now, into: &out)
            case let .preCommitAck(tx, ballot): onPreCommitAck(tx, ballot: ballot, from: from, now: now, into: &out)
            case let .decision(tx, commit): onDecision(tx, commit: commit, from: from, now: now, into: &out)
            case let .decisionAck(tx): onDecisionAck(tx, from: from, into: &out)
            case let .stateRequest(tx, ballot, participants):
                onStateRequest(tx, ballot: ballot, participants: participants, from: from, now: now, into: &out)
            case let .stateReport(tx, ballot, report): onStateReport(tx, ballot: ballot, report: report, from: from, now: now, into: &out)
            case let .release(tx): onRelease(tx, from: from)
            case let .readInquiry(tx): onReadInquiry(tx, from: from, into: &out)
            }
        }

        mutating func onPersisted(through index: LogIndex, term: Term, now: Instant, into out: inout Effects<Message>) {
            journal.persisted(through: index, term: term)
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

        mutating func onTick(now: Instant, into out: inout Effects<Message>) {
            out.setTimer(Timers.tick, at: now + settings.tickInterval)
            coordinatorTick(now: now, into: &out)
            participantTick(now: now, into: &out)
            terminationTick(now: now, into: &out)
        }
    }
}
