import BenchCore

extension ZAB {
    /// Reads waiting at a leader (read-mode=leader). A read notes the commit index when it arrives
    /// and joins the next ping round; once a quorum has answered that round the leader knows it
    /// still led after the read arrived (a deposed leader's followers have moved on and do not
    /// answer), and it answers as soon as it has delivered up to the noted index.
    struct ReadQueue: Sendable {
        struct PendingRead: Sendable {
            var request: ClientRequest
            var readIndex: LogIndex
            var round: UInt64
        }

        var pending: [PendingRead] = []
        /// The round new reads join (sent with the next flush or ping).
        private(set) var latestRound: UInt64 = 0
        private(set) var sentRound: UInt64 = 0
        var confirmedRound: UInt64 = 0

        /// Queues a read at `readIndex` in a round that has not been sent yet.
        mutating func add(_ request: ClientRequest, readIndex: LogIndex) {
            if latestRound == sentRound { latestRound += 1 }
            pending.append(PendingRead(request: request, readIndex: readIndex, round: latestRound))
        }

        var hasUnsentRound: Bool { latestRound > sentRound }
        mutating func markRoundSent() { sentRound = latestRound }
    }
}

extension ZAB.Instance {
    /// Whether this server may answer a read from its applied state: a broadcasting leader, or a
    /// follower that received UPTODATE from its current leader.
    var servesLocalReads: Bool {
        switch state {
        case .looking: false
        case .leading: leading?.phase == .broadcasting
        case .following: following?.phase == .broadcasting && following?.upToDate == true
        }
    }

    mutating func onReadRequest(_ request: ClientRequest, into out: inout Effects<Message>) {
        switch settings.readMode {
        case .follower:
            // ZooKeeper's default: any up-to-date server answers from what it has delivered.
            if servesLocalReads {
                statistics.localReads += 1
                out.reply(ClientReply(to: request, readOutcome(request.command)))
            } else if state == .leading {
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
            } else {
                out.reply(ClientReply(to: request, .notLeader(hint: leaderHint)))
            }
        case .leader:
            guard state == .leading, let phase = leading?.phase else {
                out.reply(ClientReply(to: request, .notLeader(hint: leaderHint)))
                return
            }
            guard phase == .broadcasting, leading!.reads.pending.count < settings.uncommittedEntriesMax else {
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                return
            }
            // Broadcasting means the initial history, holding everything ever committed, is
            // committed here: the commit index is current as of now.
            leading!.reads.add(request, readIndex: commitIndex)
            if cluster.size == 1 {
                leading!.reads.markRoundSent()
                leading!.reads.confirmedRound = leading!.reads.latestRound
                serveReadyReads(into: &out)
            }
        }
    }

    /// The answer to a read-only command from the applied state.
    func readOutcome(_ command: Command) -> Outcome {
        switch command {
        case let .get(key): .ok(store.read(key))
        case let .readBalances(keys): .balances(keys.map(store.balance))
        default: .rejected(code: RejectCode.unsupported)
        }
    }

    /// Sends a ping round for reads that joined since the last one.
    mutating func startReadRoundIfNeeded(into out: inout Effects<Message>) {
        guard state == .leading, leading?.reads.hasUnsentRound == true else { return }
        let round = leading!.reads.latestRound
        for learner in leading!.learners {
            guard let learner, learner.phase >= .syncing else { continue }
            out.send(.ping(.init(connection: learner.connection, epoch: leading!.epoch, commit: commitIndex, readRound: round,
                                 upToDate: learner.phase == .broadcasting)), to: learner.peer)
        }
        leading!.reads.markRoundSent()
    }

    /// A round is confirmed when a quorum, counting the leader, has answered it or a later one.
    mutating func confirmReadRounds(into out: inout Effects<Message>) {
        guard state == .leading, leading != nil else { return }
        var acked = [leading!.reads.latestRound]
        for learner in leading!.learners {
            if let learner, learner.phase >= .syncing { acked.append(learner.readRoundAcked) }
        }
        guard acked.count >= cluster.quorum else { return }
        acked.sort(by: >)
        let confirmed = acked[cluster.quorum - 1]
        if confirmed > leading!.reads.confirmedRound {
            leading!.reads.confirmedRound = confirmed
            serveReadyReads(into: &out)
        }
    }

    /// Answers every read whose round is confirmed and whose read index has been delivered.
    mutating func serveReadyReads(into out: inout Effects<Message>) {
        guard isBroadcastingLeader else { return }
        var served = 0
        for read in leading!.reads.pending {
            guard read.round <= leading!.reads.confirmedRound, read.readIndex <= lastApplied else { break }
            out.reply(ClientReply(to: read.request, readOutcome(read.request.command)))
            served += 1
        }
        if served > 0 { leading!.reads.pending.removeFirst(served) }
    }
}
