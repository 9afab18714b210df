import BenchCore

extension Raft {
    /// ReadIndex reads waiting at a leader (dissertation §6.4). A read joins the next heartbeat
    /// round; once a majority has answered that round the leader knows it still led when the read
    /// arrived, and it answers as soon as it has applied up to the commit index it noted then.
    struct ReadQueue: Sendable {
        struct PendingRead: Sendable {
            var request: ClientRequest
            var readIndex: LogIndex
            var round: UInt64
        }

        /// Reads that arrived before this leader committed an entry of its term: until then it
        /// does not know the commit index (§6.4 step 1).
        var awaitingTermCommit: [ClientRequest] = []
        var pending: [PendingRead] = []
        /// The round new reads join (sent with the next heartbeat or flush).
        private(set) var latestRound: UInt64 = 0
        private(set) var sentRound: UInt64 = 0
        var confirmedRound: UInt64 = 0

        /// Lease mode: when each recent round was sent, on this leader's clock, oldest first. Bounded
        /// by `sentRoundsMax`; a round confirmed after it fell out of the record extends nothing.
        struct SentRound: Sendable {
            var round: UInt64
            var at: Instant
        }
        static let sentRoundsMax = 64
        private(set) var sentRounds: [SentRound] = []
        /// Lease mode: reads may be answered locally while the leader's clock reads before this.
        var leaseExpiry: Instant = .zero

        var isEmpty: Bool { awaitingTermCommit.isEmpty && pending.isEmpty }

        /// Queues a read at `readIndex` in a round that has not been sent yet.
        mutating func add(_ request: ClientRequest, readIndex: LogIndex) {
            if latestRound == sentRound { latestRound += 1 }
            pending.append(PendingRead(request: request, readIndex: readIndex, round: latestRound))
        }

        var hasUnsentRound: Bool { latestRound > sentRound }

        /// Opens a fresh round even without reads (lease mode: every heartbeat is a round, so its
        /// acknowledgements can be matched to the time it was sent).
        mutating func openRound() {
            if latestRound == sentRound { latestRound += 1 }
        }

        /// The latest round has gone out at `now`; `recordTime` keeps the send time (lease mode).
        mutating func markRoundSent(at now: Instant, recordTime: Bool) {
            if recordTime && latestRound > sentRound {
                if sentRounds.count == Self.sentRoundsMax { sentRounds.removeFirst() }
                sentRounds.append(SentRound(round: latestRound, at: now))
            }
            sentRound = latestRound
        }

        /// When `round` was sent, if it is still in the record.
        func sentTime(of round: UInt64) -> Instant? {
            sentRounds.last { $0.round == round }?.at
        }

        mutating func drainAll() -> [PendingRead] {
            let all = awaitingTermCommit.map { PendingRead(request: $0, readIndex: .zero, round: 0) } + pending
            awaitingTermCommit = []
            pending = []
            return all
        }
    }
}

extension Raft.Instance {
    /// Lease mode: this leader may answer a read locally at `now` (its own clock). A single-node
    /// cluster has no one else who could lead.
    func holdsLease(now: Instant) -> Bool {
        isLeader && (cluster.size == 1 || now < reads.leaseExpiry)
    }

    /// Lease mode, the followers' half of the lease (dissertation §6.4.1 relies on §4.2.3): a node
    /// that heard from a leader less than an election timeout ago, or (re)started less than one ago,
    /// grants no vote or pre-vote, whatever its role or term, so no new leader can be elected while
    /// a lease it helped confirm may still be held.
    func leaseForbidsVoting(now: Instant) -> Bool {
        guard settings.readMode == .lease else { return false }
        if let startedAt, now - startedAt < settings.electionTimeout { return true }
        if let contact = lastLeaderContact, now - contact < settings.electionTimeout { return true }
        return false
    }

    var hasCommittedInCurrentTerm: Bool { log.term(at: commitIndex) == currentTerm }

    mutating func enqueueRead(_ request: ClientRequest, into out: inout Effects<Message>) {
        precondition(isLeader, "only a leader serves ReadIndex reads")
        if !hasCommittedInCurrentTerm {
            reads.awaitingTermCommit.append(request)
            return
        }
        reads.add(request, readIndex: commitIndex)
        if cluster.size == 1 {
            reads.markRoundSent(at: .zero, recordTime: false)
            reads.confirmedRound = reads.latestRound
            serveReadyReads(into: &out)
        }
    }

    /// Sends a heartbeat round for reads that joined since the last one.
    mutating func startReadRoundIfNeeded(now: Instant, into out: inout Effects<Message>) {
        guard reads.hasUnsentRound else { return }
        for pr in progress {
            out.send(.heartbeat(.init(term: currentTerm, leader: id, commit: min(commitIndex, pr.matchIndex),
                                      readRound: reads.latestRound)), to: pr.peer)
        }
        reads.markRoundSent(at: now, recordTime: settings.readMode == .lease)
    }

    /// A round is confirmed when a majority, counting the leader, has answered it or a later one.
    mutating func confirmReadRounds(into out: inout Effects<Message>) {
        var acked = progress.map(\.readRoundAcked)
        acked.append(reads.latestRound)
        acked.sort(by: >)
        let confirmed = acked[cluster.quorum - 1]
        if confirmed > reads.confirmedRound {
            reads.confirmedRound = confirmed
            // §6.4.1: a majority heard from this leader after it sent `confirmed`; none of them
            // votes for another candidate within an election timeout of hearing, so no other
            // leader can exist before sentAt + electionTimeout (less the margin for clock drift).
            if settings.readMode == .lease, let sentAt = reads.sentTime(of: confirmed) {
                let expiry = sentAt + settings.electionTimeout - settings.leaseMargin
                if expiry > reads.leaseExpiry { reads.leaseExpiry = expiry }
            }
            serveReadyReads(into: &out)
        }
    }

    /// Answers every read whose round is confirmed and whose read index has been applied.
    mutating func serveReadyReads(into out: inout Effects<Message>) {
        guard isLeader else { return }
        if !reads.awaitingTermCommit.isEmpty && hasCommittedInCurrentTerm {
            let waiting = reads.awaitingTermCommit
            reads.awaitingTermCommit = []
            for request in waiting { enqueueRead(request, into: &out) }
        }
        var served = 0
        for read in reads.pending {
            guard read.round <= reads.confirmedRound, read.readIndex <= lastApplied else { break }
            out.reply(ClientReply(to: read.request, .ok(store.read(read.request.command.key))))
            served += 1
        }
        if served > 0 { reads.pending.removeFirst(served) }
    }
}
