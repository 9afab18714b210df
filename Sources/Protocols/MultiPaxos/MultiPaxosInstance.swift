import BenchCore

extension MultiPaxos {
    /// One Paxos node: proposer, acceptor and learner. Feed it inputs with `handle`; it never does I/O.
    public struct Instance: Replica {
        public typealias Message = MultiPaxos.Message
        public typealias Settings = MultiPaxos.Settings
        public static let name = "paxos"

        /// How far past the highest slot it knows a node accepts, learns or proposes a slot: a garbled
        /// slot number cannot grow the slot log without bound.
        static let slotsAheadMax: UInt64 = 1 << 16
        /// Anomalies kept (the first is what `invariants()` reports).
        static let anomaliesMax = 16

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        /// This node's index in `cluster.members`: its bit in acknowledgement masks and the residue
        /// of the rounds it owns.
        let position: Int
        var random: SeededGenerator

        // Acceptor state. Durable: every change is written before anything relies on it.
        /// Multi mode: the promise, for every slot. Basic mode: the floor recovered from disk (the
        /// highest ballot promised for any slot before the restart), which stands for every slot.
        public internal(set) var promised: Ballot
        /// The highest promise written to the hard state so far (issued, maybe not yet durable).
        var promiseIssued: Ballot
        var slots = SlotLog()
        var maxAcceptedBallot: Ballot = .zero
        /// Entry writes issued and not yet reported durable, oldest first from `ownWritesHead`.
        var ownWrites: [OwnWrite] = []
        var ownWritesHead = 0

        // Learner state (volatile: relearned after a restart).
        /// Every slot up to here is chosen and known here.
        public internal(set) var commitIndex: LogIndex = .zero
        public internal(set) var lastApplied: LogIndex = .zero
        public internal(set) var store = KeyValueStore()
        var commitNotice = CommitNotice()
        /// The highest slot this node knows to be in use anywhere.
        var highestSlotSeen: LogIndex

        // Proposer state.
        public internal(set) var role: Role
        public internal(set) var leader: NodeID?
        /// The ballot this node leads or campaigns with (multi mode).
        public internal(set) var ballot: Ballot = .zero
        /// The highest round in any ballot this node has seen: its next ballot goes above it.
        var maxRoundSeen: UInt64
        var lastLeaderContact: Instant?
        /// When this node (re)started. Lease mode: it promises no new ballot for an election timeout
        /// after that, because it may have acknowledged a leader's round just before it crashed.
        var startedAt: Instant?
        var candidacy = Candidacy()
        var lead = LeaderState()
        var basic = BasicState()
        var retryArmed = false

        /// Safety anomalies this node observed (reported by `invariants()`; never expected).
        public internal(set) var anomalies: [String] = []
        public internal(set) var statistics = Statistics()

        public struct Statistics: Hashable, Sendable {
            /// Phase-1 rounds started (leader candidacies in multi mode, slot attempts in basic mode).
            public var phase1Rounds = 0
            /// Leaderships won (multi mode).
            public var leaderships = 0
            /// Phase-1 or phase-2 requests refused by a higher promise, as seen by the proposer.
            public var rejections = 0
            /// No-ops proposed to fill gaps.
            public var noopsProposed = 0
            /// Accept messages sent again after a timeout.
            public var resends = 0
            /// Reads a leader answered under its lease, without a round trip (lease mode).
            public var leaseReads = 0
            /// Reads in lease mode that went through the log instead (no lease, or recovery unfinished).
            public var logReads = 0
        }

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            precondition(cluster.members.contains(id), "\(id) is not a member of \(cluster.members)")
            precondition(cluster.size <= 64, "acknowledgement masks hold at most 64 members")
            precondition(cluster.members.allSatisfy { $0.rawValue >= 1 && $0.rawValue <= Ballot.nodeLimit },
                         "node ids must fit the 16 bits a ballot's term encoding gives them")
            precondition(settings.heartbeatInterval < settings.electionTimeout, "heartbeats must come faster than elections")
            precondition(settings.readMode != .lease || (settings.leaseMargin >= .zero && settings.leaseMargin < settings.electionTimeout),
                         "a lease margin lies in [0, election timeout)")
            self.id = id
            self.cluster = cluster
            self.settings = settings
            self.position = cluster.members.firstIndex(of: id)!
            self.random = SeededGenerator(from: &random)
            var slots = SlotLog()
            var maxAccepted = Ballot.zero
            for entry in recovered.entries where entry.index.rawValue >= 1 {
                slots.setAccepted(entry)
                maxAccepted = max(maxAccepted, Ballot(term: entry.term))
            }
            // Accepting a ballot implies promising it, and the entry on disk records that as well as
            // the hard state does (basic mode writes only the entry).
            let floor = max(Ballot(hardState: recovered.hardState), maxAccepted)
            self.slots = slots
            self.maxAcceptedBallot = maxAccepted
            self.promised = floor
            self.promiseIssued = floor
            self.maxRoundSeen = floor.round
            self.highestSlotSeen = slots.lastIndex
            self.role = settings.mode == .multi ? .follower : .peer
        }

        public var status: ReplicaStatus {
            switch settings.mode {
            case .multi:
                ReplicaStatus(role: role, term: Term(role == .follower ? promised.round : ballot.round),
                              leader: leader, commitIndex: commitIndex)
            case .basic:
                ReplicaStatus(role: role, term: Term(maxRoundSeen), leader: nil, commitIndex: commitIndex)
            }
        }

        var quorum: Int { cluster.quorum }
        var peers: some Sequence<NodeID> { cluster.members.lazy.filter { $0 != id } }
        @inline(__always) func bit(_ position: Int) -> UInt64 { UInt64(1) << UInt64(position) }

        /// The highest slot a message may name: past it, a slot number is taken for garbage.
        var slotLimit: LogIndex {
            LogIndex(max(commitIndex.rawValue, slots.lastIndex.rawValue, highestSlotSeen.rawValue) + Self.slotsAheadMax)
        }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            switch input {
            case .start:
                onStart(now: now, into: &out)
            case let .message(from, message):
                guard from != id, let sender = cluster.members.firstIndex(of: from), isWellFormed(message) else { return }
                switch settings.mode {
                case .multi: onMultiMessage(message, from: from, sender: sender, now: now, into: &out)
                case .basic: onBasicMessage(message, from: from, sender: sender, now: now, into: &out)
                }
            case let .request(request):
                switch settings.mode {
                case .multi: onMultiRequest(request, now: now, into: &out)
                case .basic: onBasicRequest(request, into: &out)
                }
            case let .timer(timer):
                if timer == Timers.election { onElectionTimeout(now: now, into: &out) }
                else if timer == Timers.heartbeat { onHeartbeatTimer(now: now, into: &out) }
                else if timer == Timers.retry { onRetryTimer(now: now, into: &out) }
            case let .persisted(through, term):
                onPersisted(through: through, term: term, now: now, into: &out)
            case .flush:
                switch settings.mode {
                case .multi: onMultiFlush(now: now, into: &out)
                case .basic: onBasicFlush(now: now, into: &out)
                }
            }
        }

        /// Ballots must name a member (or be zero) and fit the term encoding.
        func isWellFormed(_ message: Message) -> Bool {
            let (a, b) = message.ballots
            return isValid(a) && isValid(b)
        }

        func isValid(_ ballot: Ballot) -> Bool {
            ballot == .zero || (ballot.isEncodable && cluster.members.contains(ballot.node))
        }

        mutating func onStart(now: Instant, into out: inout Effects<Message>) {
            startedAt = now
            switch settings.mode {
            case .multi: resetElectionTimer(now: now, into: &out)
            case .basic: out.setTimer(Timers.heartbeat, at: now + settings.heartbeatInterval)
            }
        }

        mutating func onElectionTimeout(now: Instant, into out: inout Effects<Message>) {
            guard settings.mode == .multi, role != .leader else { return }
            startCandidacy(now: now, into: &out)
        }

        mutating func onHeartbeatTimer(now: Instant, into out: inout Effects<Message>) {
            switch settings.mode {
            case .multi: onLeaderHeartbeat(now: now, into: &out)
            case .basic: onBasicTick(now: now, into: &out)
            }
        }

        mutating func onRetryTimer(now: Instant, into out: inout Effects<Message>) {
            switch settings.mode {
            case .multi:
                retryArmed = false
                guard role == .leader else { return }
                resendStaleProposals(now: now, into: &out)
                armRetryIfNeeded(now: now, into: &out)
            case .basic:
                basic.retryArmedAt = nil
                onBasicRetry(now: now, into: &out)
            }
        }

        // MARK: Rounds

        /// The smallest round above `round` that this node owns. Rounds are dealt to members in turn
        /// (round r belongs to members[(r - 1) mod n]), so a round names its proposer and no two
        /// leaders ever share one: "one leader per term" holds with term = round.
        func nextOwnRound(after round: UInt64) -> UInt64 {
            let n = UInt64(cluster.size)
            let p = UInt64(position)
            var r = round / n * n + p + 1
            if r <= round { r += n }
            return r
        }

        mutating func noteBallot(_ ballot: Ballot) {
            if ballot.round > maxRoundSeen { maxRoundSeen = ballot.round }
        }

        // MARK: Acceptor

        /// Writes the promise if it went up (the hard state holds the highest promise ever made).
        mutating func persistPromise(_ ballot: Ballot, into out: inout Effects<Message>) {
            guard ballot > promiseIssued else { return }
            promiseIssued = ballot
            out.persist(ballot.hardState)
        }

        /// Accepts `payload` at `slot` under `ballot`: records it and queues the write. Anything that
        /// tells the proposer so must wait for the write (`sendAfterDurable`).
        mutating func acceptLocally(_ slot: LogIndex, ballot: Ballot, payload: EntryPayload, into out: inout Effects<Message>) {
            precondition(slot.rawValue >= 1, "slot 0 holds nothing")
            let entry = LogEntry(index: slot, term: ballot.term, payload: payload)
            slots.setAccepted(entry)
            if ballot > maxAcceptedBallot { maxAcceptedBallot = ballot }
            out.append(entry)
            ownWrites.append(OwnWrite(slot: slot, term: entry.term))
            if slot > highestSlotSeen { highestSlotSeen = slot }
        }

        /// Every write issued up to the entry `(through, term)` is durable: the accepts among them count.
        mutating func onPersisted(through: LogIndex, term: Term, now: Instant, into out: inout Effects<Message>) {
            var k = ownWritesHead
            while k < ownWrites.count && ownWrites[k] != OwnWrite(slot: through, term: term) { k += 1 }
            guard k < ownWrites.count else { return }
            for i in ownWritesHead...k {
                let write = ownWrites[i]
                switch settings.mode {
                case .multi: onOwnAcceptDurable(write, into: &out)
                case .basic: onBasicOwnAcceptDurable(write, now: now, into: &out)
                }
            }
            ownWritesHead = k + 1
            if ownWritesHead == ownWrites.count {
                ownWrites.removeAll(keepingCapacity: true)
                ownWritesHead = 0
            } else if ownWritesHead >= 1_024 {
                ownWrites.removeFirst(ownWritesHead)
                ownWritesHead = 0
            }
            advanceCommit(into: &out)
        }

        // MARK: Learner

        /// Learns that `payload` is chosen at `slot`. Learning a different value for a slot already
        /// known is a safety violation: it is recorded, never acted on.
        mutating func markChosen(_ slot: LogIndex, _ payload: EntryPayload, into out: inout Effects<Message>) {
            guard slot.rawValue >= 1 else { return }
            if let known = slots[slot].chosen {
                if known != payload && anomalies.count < Self.anomaliesMax {
                    anomalies.append("\(id): slot \(slot.rawValue) learned chosen as \(Self.describe(known)) and as \(Self.describe(payload))")
                }
                return
            }
            slots.setChosen(slot, payload)
            if slot > highestSlotSeen { highestSlotSeen = slot }
            if settings.mode == .basic { onBasicSlotChosen(slot, payload) }
        }

        static func describe(_ payload: EntryPayload) -> String {
            switch payload {
            case .noop: "no-op"
            case let .command(request): "\(request.client)#\(request.seq)"
            case let .record(bytes): "record(\(bytes.count) bytes)"
            }
        }

        /// Moves the commit index over every chosen slot that follows it, and applies them.
        mutating func advanceCommit(into out: inout Effects<Message>) {
            let before = commitIndex
            while slots[commitIndex.next].chosen != nil { commitIndex = commitIndex.next }
            guard commitIndex > before else { return }
            applyCommitted(into: &out)
            if role == .leader { lead.trim(through: commitIndex) }
        }

        /// Applies chosen values in slot order. Multi mode: the leader answers every command it applies.
        /// Basic mode: a node answers the commands it proposed itself.
        mutating func applyCommitted(into out: inout Effects<Message>) {
            while lastApplied < commitIndex {
                lastApplied = lastApplied.next
                guard case let .command(request)? = slots[lastApplied].chosen else { continue }
                let outcome = store.apply(request)
                switch settings.mode {
                case .multi:
                    if role == .leader { out.reply(ClientReply(to: request, outcome)) }
                case .basic:
                    if let waiting = basic.awaitingApply.removeValue(forKey: lastApplied) {
                        out.reply(ClientReply(to: waiting, outcome))
                    }
                }
            }
        }

        /// Chosen values from `first` on, up to the commit index and the batch limits.
        func chosenValues(from first: LogIndex) -> [EntryPayload] {
            var payloads: [EntryPayload] = []
            var bytes = 0
            var slot = first
            while slot <= commitIndex && payloads.count < settings.batchEntriesMax {
                let payload = slots[slot].chosen!
                let size = MultiPaxos.wireSize(of: payload)
                if !payloads.isEmpty && bytes + size > settings.batchBytesMax { break }
                payloads.append(payload)
                bytes += size
                slot = slot.next
            }
            return payloads
        }

        /// Marks chosen the values a Learn carries.
        mutating func onLearn(_ m: MultiPaxos.Learn, into out: inout Effects<Message>) -> LogIndex {
            guard m.firstSlot.rawValue >= 1, m.firstSlot <= slotLimit else { return .zero }
            let limit = slotLimit
            var slot = m.firstSlot
            for payload in m.payloads {
                guard slot <= limit else { break }
                markChosen(slot, payload, into: &out)
                slot = slot.next
            }
            advanceCommit(into: &out)
            return slot.previous
        }
    }
}

extension MultiPaxos.Instance: LogReplica {
    /// The chosen value at `index`. A value may be chosen, and learned, under different ballots at
    /// different nodes; the ballot is not part of what was chosen, so the entry's term is 0.
    public func committedEntry(at index: LogIndex) -> LogEntry? {
        guard index.rawValue >= 1, index <= commitIndex, let payload = slots[index].chosen else { return nil }
        return LogEntry(index: index, term: .zero, payload: payload)
    }
}
