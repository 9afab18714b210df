import BenchCore

extension ThreePhaseCommit.Instance {
    // MARK: Client requests

    mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
        switch clients.admit(request) {
        case let .duplicate(outcome):
            if let outcome { out.reply(ClientReply(to: request, outcome)) }
            return
        case .stale:
            return
        case .new:
            break
        }
        guard let parts = AtomicCommit.split(request.command, members: cluster.members) else {
            clients.forget(request)
            out.reply(ClientReply(to: request, .rejected(code: RejectCode.unsupported)))
            return
        }
        guard journal.epochDurable, coordinating.count < settings.inflightMax else {
            clients.forget(request)
            out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
            return
        }
        let tx = ThreePhaseCommit.TxID(coordinator: id, epoch: journal.epoch, counter: nextCounter)
        nextCounter += 1
        let participants = parts.map(\.participant)
        coordinating[tx] = Coordination(
            request: request, participants: participants, operations: parts.map(\.operation), timestamp: now,
            votes: Array(repeating: nil, count: parts.count), balances: Array(repeating: [], count: parts.count),
            acknowledged: Array(repeating: false, count: parts.count),
            deadline: now + settings.voteTimeout, nextRetry: now + settings.retryInterval)
        // Phase 1 (Skeen's CanCommit): every participant votes; the local one in place.
        let priority = AtomicCommit.Priority(timestamp: now, tx: tx)
        for (position, part) in parts.enumerated() {
            if part.participant == id {
                let vote = prepareLocally(priority, participants: participants, operation: part.operation, now: now, into: &out)
                if case let .yes(balances) = vote {
                    coordinating[tx]!.votes[position] = true
                    coordinating[tx]!.balances[position] = balances
                } else if vote == .no {
                    coordinating[tx]!.votes[position] = false
                }
            } else {
                out.send(.canCommit(tx, timestamp: now, participants: participants, operation: part.operation), to: part.participant)
            }
        }
        evaluateVotes(tx, now: now, into: &out)
    }

    mutating func onVote(_ tx: ThreePhaseCommit.TxID, yes: Bool, balances: [Int64], from: NodeID, now: Instant,
                         into out: inout Effects<Message>) {
        guard var coordination = coordinating[tx], coordination.phase == .voting,
              let position = coordination.participants.firstIndex(of: from), coordination.votes[position] == nil else { return }
        if case let .read(keys) = coordination.operations[position], yes, balances.count != keys.count {
            anomalies.append("\(id): \(from) answered \(balances.count) balances for \(keys.count) keys in \(tx)")
            return
        }
        coordination.votes[position] = yes
        coordination.balances[position] = balances
        coordinating[tx] = coordination
        evaluateVotes(tx, now: now, into: &out)
    }

    mutating func evaluateVotes(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating[tx], coordination.phase == .voting else { return }
        let refused = coordination.votes.contains(false)
        let complete = !coordination.votes.contains(nil)
        guard refused || complete else { return }
        if coordination.isRead {
            finishRead(tx, ok: !refused, into: &out)
        } else if refused {
            decideAbort(tx, now: now, into: &out)
        } else {
            startPrecommit(tx, now: now, into: &out)
        }
    }

    /// Phase 2 (Skeen's PreCommit): every participant moves to the committable state and says so.
    mutating func startPrecommit(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        var coordination = coordinating[tx]!
        precondition(coordination.phase == .voting && coordination.votes.allSatisfy { $0 == true }, "pre-commit needs every YES")
        coordination.phase = .precommitting
        coordination.deadline = now + settings.ackTimeout
        coordination.nextRetry = now + settings.retryInterval
        coordinating[tx] = coordination
        if let local = coordination.participants.firstIndex(of: id) {
            // The local pre-commit record precedes the decision record in the same log.
            guard precommitLocally(tx, ballot: ownBallot, now: now, into: &out) else {
                // Refused: this node's participant already follows a backup's higher ballot.
                becomePassive(tx, now: now)
                return
            }
            coordinating[tx]!.acknowledged[local] = true
        }
        // Sent only once this node's own vote is on disk: a backup may commit on the strength of
        // these pre-commits, so this node must not be able to come back without its YES.
        for participant in coordination.participants where participant != id {
            out.sendAfterDurable(.preCommit(tx, ballot: ownBallot), to: participant)
        }
        evaluateAcknowledgements(tx, now: now, into: &out)
    }

    mutating func onPreCommitAck(_ tx: ThreePhaseCommit.TxID, ballot: ThreePhaseCommit.Ballot, from: NodeID, now: Instant,
                                 into out: inout Effects<Message>) {
        if ballot == ownBallot, let coordination = coordinating[tx] {
            guard coordination.phase == .precommitting, let position = coordination.participants.firstIndex(of: from) else { return }
            coordinating[tx]!.acknowledged[position] = true
            evaluateAcknowledgements(tx, now: now, into: &out)
        } else {
            onTerminationAck(tx, ballot: ballot, from: from, now: now, into: &out)
        }
    }

    mutating func evaluateAcknowledgements(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating[tx], coordination.phase == .precommitting,
              coordination.acknowledged.allSatisfy({ $0 }) else { return }
        decideCommit(tx, now: now, into: &out)
    }

    /// Phase 3 (DoCommit): logged before anyone hears it.
    mutating func decideCommit(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        let coordination = coordinating[tx]!
        precondition(coordination.phase == .precommitting, "commit follows the pre-commit round")
        precondition(coordinatorDecisions[tx] == nil, "one decision per transaction")
        let remote = coordination.participants.filter { $0 != id }
        coordinatorDecisions[tx] = true
        let index = journal.append(.coordinatorDecision(tx, commit: true, participants: remote), into: &out)
        for participant in remote { out.sendAfterDurable(.decision(tx, commit: true), to: participant) }
        if !remote.isEmpty { unacknowledged[tx] = Unacknowledged(participants: remote, nextRetry: now + settings.retryInterval) }
        coordinating[tx]!.phase = .committing
        awaitingDurable.append((index, tx))
        statistics.committed += 1
    }

    mutating func finishCommit(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating[tx], coordination.phase == .committing else { return }
        coordinating[tx] = nil
        if coordination.participants.contains(id) { applyDecision(tx, commit: true, now: now, into: &out) }
        clients.finish(coordination.request, .ok(nil))
        out.reply(ClientReply(to: coordination.request, .ok(nil)))
    }

    /// An abort while votes are still being collected: no participant can be pre-committed yet
    /// (pre-commits follow a full set of YES votes), so no termination can commit it.
    mutating func decideAbort(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating.removeValue(forKey: tx) else { return }
        precondition(coordination.phase == .voting, "the coordinator aborts only while voting")
        let remote = coordination.participants.filter { $0 != id }
        coordinatorDecisions[tx] = false
        journal.append(.coordinatorDecision(tx, commit: false, participants: remote), into: &out)
        for participant in remote { out.send(.decision(tx, commit: false), to: participant) }
        if coordination.participants.contains(id) { applyDecision(tx, commit: false, now: now, into: &out) }
        statistics.aborted += 1
        clients.finish(coordination.request, .aborted)
        out.reply(ClientReply(to: coordination.request, .aborted))
    }

    /// A backup coordinator took over: stop driving the transaction (a commit on timeout now
    /// could contradict the backup), and only ask for the outcome to answer the client.
    mutating func becomePassive(_ tx: ThreePhaseCommit.TxID, now: Instant) {
        guard let coordination = coordinating[tx], coordination.phase == .voting || coordination.phase == .precommitting,
              !coordination.isRead else { return }
        coordinating[tx]!.phase = .passive
        coordinating[tx]!.deadline = now + settings.inquiryInterval
        statistics.coordinatorsSuperseded += 1
    }

    /// The outcome, decided elsewhere, reaches this transaction's coordinator.
    mutating func learnDecision(_ tx: ThreePhaseCommit.TxID, commit: Bool, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating[tx], coordination.phase != .committing, !coordination.isRead else { return }
        coordinating[tx] = nil
        if coordinatorDecisions[tx] == nil {
            coordinatorDecisions[tx] = commit
            journal.append(.coordinatorDecision(tx, commit: commit, participants: []), into: &out)
        }
        if coordination.participants.contains(id) { applyDecision(tx, commit: commit, now: now, into: &out) }
        if commit { statistics.committed += 1 } else { statistics.aborted += 1 }
        let outcome: Outcome = commit ? .ok(nil) : .aborted
        clients.finish(coordination.request, outcome)
        // A learned commit may still be on its way to this node's disk; the client hears it from
        // whoever decided, and its record here follows in the same sync.
        out.reply(ClientReply(to: coordination.request, outcome))
    }

    mutating func finishRead(_ tx: ThreePhaseCommit.TxID, ok: Bool, into out: inout Effects<Message>) {
        guard let coordination = coordinating.removeValue(forKey: tx) else { return }
        for participant in coordination.participants {
            if participant == id { releaseRead(tx) } else { out.send(.release(tx), to: participant) }
        }
        let outcome: Outcome
        if ok, case let .readBalances(keys) = coordination.request.command {
            var read: [Key: Int64] = [:]
            for (position, operation) in coordination.operations.enumerated() {
                guard case let .read(partKeys) = operation else { continue }
                for (key, balance) in zip(partKeys, coordination.balances[position]) { read[key] = balance }
            }
            outcome = .balances(keys.map { read[$0] ?? KeyValueStore.initialBalance })
            statistics.readsServed += 1
        } else {
            outcome = .aborted
            statistics.readsAborted += 1
        }
        clients.finish(coordination.request, outcome)
        out.reply(ClientReply(to: coordination.request, outcome))
    }

    /// A read this node no longer runs is over: its participant may release the locks.
    mutating func onReadInquiry(_ tx: ThreePhaseCommit.TxID, from: NodeID, into out: inout Effects<Message>) {
        guard tx.coordinator == id, coordinating[tx] == nil else { return }
        out.send(.release(tx), to: from)
    }

    mutating func onDecisionAck(_ tx: ThreePhaseCommit.TxID, from: NodeID, into out: inout Effects<Message>) {
        guard var pending = unacknowledged[tx] else { return }
        pending.participants.removeAll { $0 == from }
        if pending.participants.isEmpty {
            unacknowledged[tx] = nil
            journal.append(.coordinatorEnd(tx), into: &out)
        } else {
            unacknowledged[tx] = pending
        }
    }

    mutating func coordinatorTick(now: Instant, into out: inout Effects<Message>) {
        for tx in coordinating.keys.sorted() {
            guard let coordination = coordinating[tx] else { continue }
            switch coordination.phase {
            case .voting:
                if now >= coordination.deadline {
                    if coordination.isRead { finishRead(tx, ok: false, into: &out) } else { decideAbort(tx, now: now, into: &out) }
                } else if now >= coordination.nextRetry {
                    for (position, participant) in coordination.participants.enumerated()
                    where participant != id && coordination.votes[position] == nil {
                        out.send(.canCommit(tx, timestamp: coordination.timestamp, participants: coordination.participants,
                                            operation: coordination.operations[position]), to: participant)
                    }
                    coordinating[tx]!.nextRetry = now + settings.retryInterval
                }
            case .precommitting:
                if now >= coordination.deadline {
                    // Skeen: participants that did not acknowledge are taken to have failed; the
                    // rest are pre-committed, so committing is safe — if the timeout is right.
                    statistics.commitsOnAckTimeout += 1
                    decideCommit(tx, now: now, into: &out)
                } else if now >= coordination.nextRetry {
                    for (position, participant) in coordination.participants.enumerated()
                    where participant != id && !coordination.acknowledged[position] {
                        out.send(.preCommit(tx, ballot: ownBallot), to: participant)
                    }
                    coordinating[tx]!.nextRetry = now + settings.retryInterval
                }
            case .passive:
                guard now >= coordination.deadline else { continue }
                for participant in coordination.participants where participant != id {
                    out.send(.stateRequest(tx, ballot: ownBallot, participants: coordination.participants), to: participant)
                }
                coordinating[tx]!.deadline = now + settings.inquiryInterval
            case .committing:
                continue
            }
        }
        for tx in unacknowledged.keys.sorted() where now >= unacknowledged[tx]!.nextRetry {
            for participant in unacknowledged[tx]!.participants { out.sendAfterDurable(.decision(tx, commit: true), to: participant) }
            unacknowledged[tx]!.nextRetry = now + settings.retryInterval
        }
    }
}
