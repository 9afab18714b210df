import BenchCore

extension TwoPhaseCommit.Instance {
    // MARK: Client requests

    mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
        switch clients.admit(request) {
        case let .duplicate(outcome):
            // A retry of a transaction this node runs (answer when it ends) or ended (same answer).
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
        // Ids of this epoch may go out only once the epoch is on disk (else a crash could reuse them).
        guard journal.epochDurable, coordinating.count < settings.inflightMax else {
            clients.forget(request)
            out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
            return
        }
        let tx = TwoPhaseCommit.TxID(coordinator: id, epoch: journal.epoch, counter: nextCounter)
        nextCounter += 1
        let participants = parts.map(\.participant)
        coordinating[tx] = Coordination(
            request: request, participants: participants, operations: parts.map(\.operation), timestamp: now,
            votes: Array(repeating: nil, count: parts.count), balances: Array(repeating: [], count: parts.count),
            deadline: now + settings.voteTimeout, nextRetry: now + settings.retryInterval)
        // Phase 1 (Gray; BHG §7.3): PREPARE to every participant. The local one votes in place; its
        // vote record precedes the decision record in the same log, so it is durable first.
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
                out.send(.prepare(tx, timestamp: now, participants: participants, operation: part.operation), to: part.participant)
            }
        }
        evaluateVotes(tx, now: now, into: &out)
    }

    mutating func onVote(_ tx: TwoPhaseCommit.TxID, yes: Bool, balances: [Int64], from: NodeID, now: Instant,
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

    /// Decides once the votes allow: any NO aborts, all YES commits (a read answers).
    mutating func evaluateVotes(_ tx: TwoPhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating[tx], coordination.phase == .voting else { return }
        let refused = coordination.votes.contains(false)
        let complete = !coordination.votes.contains(nil)
        guard refused || complete else { return }
        if coordination.isRead {
            finishRead(tx, ok: !refused, into: &out)
        } else if refused {
            decideAbort(tx, now: now, into: &out)
        } else {
            decideCommit(tx, now: now, into: &out)
        }
    }

    /// Commit iff every vote is YES; the decision is logged before anyone hears it (BHG §7.3).
    mutating func decideCommit(_ tx: TwoPhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        let coordination = coordinating[tx]!
        precondition(coordination.votes.allSatisfy { $0 == true }, "commit needs every YES")
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

    /// The decision record is durable: the commit is final. Answer the client, apply locally.
    mutating func finishCommit(_ tx: TwoPhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating.removeValue(forKey: tx) else { return }
        precondition(coordination.phase == .committing, "finishing a commit that was not decided")
        if coordination.participants.contains(id) { applyDecision(tx, commit: true, now: now, into: &out) }
        clients.finish(coordination.request, .ok(nil))
        out.reply(ClientReply(to: coordination.request, .ok(nil)))
    }

    /// Presumed abort: an abort needs no acknowledgements and may be sent before its record is
    /// durable — a coordinator that forgets it answers "abort" for an unknown transaction anyway.
    mutating func decideAbort(_ tx: TwoPhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let coordination = coordinating.removeValue(forKey: tx) else { return }
        precondition(coordination.phase == .voting, "an abort is decided while voting")
        let remote = coordination.participants.filter { $0 != id }
        coordinatorDecisions[tx] = false
        journal.append(.coordinatorDecision(tx, commit: false, participants: remote), into: &out)
        for participant in remote { out.send(.decision(tx, commit: false), to: participant) }
        if coordination.participants.contains(id) { applyDecision(tx, commit: false, now: now, into: &out) }
        statistics.aborted += 1
        clients.finish(coordination.request, .aborted)
        out.reply(ClientReply(to: coordination.request, .aborted))
    }

    /// A read-only transaction ends: release the shared locks everywhere, answer the balances
    /// (every participant read under locks held until now, so the snapshot is consistent).
    mutating func finishRead(_ tx: TwoPhaseCommit.TxID, ok: Bool, into out: inout Effects<Message>) {
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

    mutating func onAck(_ tx: TwoPhaseCommit.TxID, from: NodeID, into out: inout Effects<Message>) {
        guard var pending = unacknowledged[tx] else { return }
        pending.participants.removeAll { $0 == from }
        if pending.participants.isEmpty {
            unacknowledged[tx] = nil
            journal.append(.coordinatorEnd(tx), into: &out)
        } else {
            unacknowledged[tx] = pending
        }
    }

    /// What this coordinator answers about `tx`: its decision, nil while it is still deciding, and
    /// abort for a transaction it does not know (presumed abort: it decided nothing durable).
    func decisionAnswer(_ tx: TwoPhaseCommit.TxID) -> Bool? {
        precondition(tx.coordinator == id, "only a transaction's coordinator answers for it")
        if let decision = coordinatorDecisions[tx] { return decision }
        if coordinating[tx] != nil { return nil }
        return false
    }

    mutating func onDecisionRequest(_ tx: TwoPhaseCommit.TxID, from: NodeID, into out: inout Effects<Message>) {
        guard tx.coordinator == id, let commit = decisionAnswer(tx) else { return }
        // A commit decision may still be on its way to disk: the answer waits for it.
        if commit { out.sendAfterDurable(.decision(tx, commit: true), to: from) } else { out.send(.decision(tx, commit: false), to: from) }
    }

    /// A read this node no longer runs is over: its participant may release the locks.
    mutating func onReadInquiry(_ tx: TwoPhaseCommit.TxID, from: NodeID, into out: inout Effects<Message>) {
        guard tx.coordinator == id, coordinating[tx] == nil else { return }
        out.send(.release(tx), to: from)
    }

    // MARK: The tick

    mutating func onTick(now: Instant, into out: inout Effects<Message>) {
        out.setTimer(TwoPhaseCommit.Timers.tick, at: now + settings.tickInterval)
        // Sorted keys: the order of sends must not depend on dictionary hashing (determinism).
        for tx in coordinating.keys.sorted() {
            guard let coordination = coordinating[tx], coordination.phase == .voting else { continue }
            if now >= coordination.deadline {
                if coordination.isRead { finishRead(tx, ok: false, into: &out) } else { decideAbort(tx, now: now, into: &out) }
            } else if now >= coordination.nextRetry {
                for (position, participant) in coordination.participants.enumerated()
                where participant != id && coordination.votes[position] == nil {
                    out.send(.prepare(tx, timestamp: coordination.timestamp, participants: coordination.participants,
                                      operation: coordination.operations[position]), to: participant)
                }
                coordinating[tx]!.nextRetry = now + settings.retryInterval
            }
        }
        for tx in unacknowledged.keys.sorted() where now >= unacknowledged[tx]!.nextRetry {
            for participant in unacknowledged[tx]!.participants { out.sendAfterDurable(.decision(tx, commit: true), to: participant) }
            unacknowledged[tx]!.nextRetry = now + settings.retryInterval
        }
        participantTick(now: now, into: &out)
    }
}
