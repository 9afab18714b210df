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

        var isEmpty: Bool { awaitingTermCommit.isEmpty && pending.isEmpty }

        /// Queues a read at `readIndex` in a round that has not been sent yet.
        mutating func add(_ request: ClientRequest, readIndex: LogIndex) {
            if latestRound == sentRound { latestRound += 1 }
            pending.append(PendingRead(request: request, readIndex: readIndex, round: latestRound))
        }

        var hasUnsentRound: Bool { latestRound > sentRound }
        mutating func markRoundSent() { sentRound = latestRound }

        mutating func drainAll() -> [PendingRead] {
            let all = awaitingTermCommit.map { PendingRead(request: $0, readIndex: .zero, round: 0) } + pending
            awaitingTermCommit = []
            pending = []
            return all
        }
    }
}

extension Raft.Instance {
    var hasCommittedInCurrentTerm: Bool { log.term(at: commitIndex) == currentTerm }

    mutating func enqueueRead(_ request: ClientRequest, into out: inout Effects<Message>) {
        precondition(isLeader, "only a leader serves ReadIndex reads")
        if !hasCommittedInCurrentTerm {
            reads.awaitingTermCommit.append(request)
            return
        }
        reads.add(request, readIndex: commitIndex)
        if cluster.size == 1 {
            reads.markRoundSent()
            reads.confirmedRound = reads.latestRound
            serveReadyReads(into: &out)
        }
    }

    /// Sends a heartbeat round for reads that joined since the last one.
    mutating func startReadRoundIfNeeded(into out: inout Effects<Message>) {
        guard reads.hasUnsentRound else { return }
        for pr in progress {
            out.send(.heartbeat(.init(term: currentTerm, leader: id, commit: min(commitIndex, pr.matchIndex),
                                      readRound: reads.latestRound)), to: pr.peer)
        }
        reads.markRoundSent()
    }

    /// A round is confirmed when a majority, counting the leader, has answered it or a later one.
    mutating func confirmReadRounds(into out: inout Effects<Message>) {
        var acked = progress.map(\.readRoundAcked)
        acked.append(reads.latestRound)
        acked.sort(by: >)
        let confirmed = acked[cluster.quorum - 1]
        if confirmed > reads.confirmedRound {
            reads.confirmedRound = confirmed
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
