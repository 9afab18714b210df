import BenchCore

extension ThreePhaseCommit.Instance {
    enum LocalVote: Equatable {
        case yes([Int64])
        case no
        case waiting
    }

    /// When an operational participant in doubt starts the termination protocol: after
    /// `uncertainTimeout`, plus one stagger per participant with a lower id, so the lowest live id
    /// normally becomes the backup and the others defer to it.
    func terminationDeadline(_ participants: [NodeID], now: Instant) -> Instant {
        let rank = Int64(participants.firstIndex(of: id) ?? 0)
        return now + settings.uncertainTimeout + settings.terminationStagger * rank
    }

    /// Phase 1 at a participant: lock (no-wait, or wait-die), check, log the vote with the
    /// participant list (so the termination protocol can find the others after a restart). The
    /// caller sends a YES only once its record is durable.
    mutating func prepareLocally(_ priority: AtomicCommit.Priority, participants: [NodeID], operation: AtomicCommit.Operation,
                                 now: Instant, waitDeadline: Instant? = nil, into out: inout Effects<Message>) -> LocalVote {
        let tx = priority.tx
        if waiters.contains(tx) { return .waiting }
        switch operation {
        case let .read(keys):
            if let hold = readHolds[tx] { return .yes(shard.read(hold.keys)) }
            guard journal.epochDurable else { return .no }
            let result = shard.lockShared(keys, priority: priority, sharedHoldersMax: settings.sharedHoldersMax)
            guard result == .granted else {
                return wait(priority, participants, operation, result, now: now, deadline: waitDeadline) ? .waiting : .no
            }
            readHolds[tx] = ReadHold(keys: keys, expiry: now + settings.readLockTimeout, nextInquiry: now + settings.retryInterval)
            return .yes(shard.read(keys))
        case let .transfer(deltas):
            if let decided = decisions[tx] { return decided ? .yes([]) : .no }
            if inDoubt[tx] != nil { return .yes([]) }
            guard journal.epochDurable, now >= writesRefusedUntil else { return voteNo(tx, into: &out) }
            let result = shard.lockExclusive(deltas, priority: priority)
            guard result == .granted else {
                if wait(priority, participants, operation, result, now: now, deadline: waitDeadline) { return .waiting }
                statistics.lockConflicts += 1
                return voteNo(tx, into: &out)
            }
            guard shard.canApply(deltas) else {
                releaseLocks(deltas.map(\.account), for: tx)
                statistics.insufficientFunds += 1
                return voteNo(tx, into: &out)
            }
            inDoubt[tx] = InDoubt(participants: participants, deltas: deltas, precommitted: false, recovered: false,
                                  promised: .zero, since: now, deadline: terminationDeadline(participants, now: now),
                                  nextInquiry: now + settings.inquiryInterval)
            journal.append(.vote(tx, participants: participants, deltas: deltas), into: &out)
            return .yes([])
        }
    }

    mutating func wait(_ priority: AtomicCommit.Priority, _ participants: [NodeID], _ operation: AtomicCommit.Operation,
                       _ result: AtomicCommit.LockResult, now: Instant, deadline: Instant?) -> Bool {
        guard result == .olderThanHolders, settings.lockPolicy == .waitDie else { return false }
        let until = deadline ?? now + settings.lockWaitMax
        guard now < until else { return false }
        return waiters.add(AtomicCommit.Waiter(priority: priority, participants: participants, operation: operation, deadline: until))
    }

    mutating func voteNo(_ tx: ThreePhaseCommit.TxID, into out: inout Effects<Message>) -> LocalVote {
        statistics.votesNo += 1
        decisions[tx] = false
        journal.append(.decision(tx, commit: false), into: &out)
        return .no
    }

    mutating func releaseLocks(_ keys: some Sequence<Key>, for tx: ThreePhaseCommit.TxID) {
        shard.release(keys, for: tx)
        locksReleased = true
    }

    mutating func deliverVote(_ vote: LocalVote, for tx: ThreePhaseCommit.TxID, operation: AtomicCommit.Operation, now: Instant,
                              into out: inout Effects<Message>) {
        let balances: [Int64]
        switch vote {
        case .waiting: return
        case .no: balances = []
        case let .yes(read): balances = read
        }
        let yes = vote != .no
        if tx.coordinator == id {
            onVote(tx, yes: yes, balances: balances, from: id, now: now, into: &out)
        } else if yes && !operation.isRead {
            out.sendAfterDurable(.vote(tx, yes: true, balances: []), to: tx.coordinator)
        } else {
            out.send(.vote(tx, yes: yes, balances: balances), to: tx.coordinator)
        }
    }

    mutating func onCanCommit(_ tx: ThreePhaseCommit.TxID, timestamp: Instant, participants: [NodeID], operation: AtomicCommit.Operation,
                              from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard from == tx.coordinator, participants.contains(id) else { return }
        let vote = prepareLocally(AtomicCommit.Priority(timestamp: timestamp, tx: tx), participants: participants,
                                  operation: operation, now: now, into: &out)
        deliverVote(vote, for: tx, operation: operation, now: now, into: &out)
    }

    mutating func retryWaiters(now: Instant, into out: inout Effects<Message>) {
        var rounds = 0
        while locksReleased && !waiters.isEmpty && rounds <= settings.waitersMax {
            locksReleased = false
            rounds += 1
            for waiter in waiters.takeAll() {
                let vote = prepareLocally(waiter.priority, participants: waiter.participants, operation: waiter.operation,
                                          now: now, waitDeadline: waiter.deadline, into: &out)
                deliverVote(vote, for: waiter.tx, operation: waiter.operation, now: now, into: &out)
            }
        }
        locksReleased = false
    }

    /// Enters the pre-committed state under `ballot`, unless a higher ballot was promised.
    /// Returns whether the participant now follows `ballot` as pre-committed.
    mutating func precommitLocally(_ tx: ThreePhaseCommit.TxID, ballot: ThreePhaseCommit.Ballot, now: Instant,
                                   into out: inout Effects<Message>) -> Bool {
        guard var waiting = inDoubt[tx], ballot >= waiting.promised else { return false }
        waiting.promised = ballot
        if !waiting.precommitted {
            waiting.precommitted = true
            journal.append(.precommit(tx), into: &out)
        }
        waiting.deadline = terminationDeadline(waiting.participants, now: now)
        inDoubt[tx] = waiting
        // A lower round of this node's own is over: someone with a higher ballot drives now.
        if let round = terminations[tx], round.ballot < ballot, !round.isInquiry {
            terminations[tx] = nil
            statistics.supersededRounds += 1
        }
        return true
    }

    mutating func onPreCommit(_ tx: ThreePhaseCommit.TxID, ballot: ThreePhaseCommit.Ballot, from: NodeID, now: Instant,
                              into out: inout Effects<Message>) {
        if inDoubt[tx] != nil, precommitLocally(tx, ballot: ballot, now: now, into: &out) {
            // The acknowledgement promises the pre-commit is logged.
            out.sendAfterDurable(.preCommitAck(tx, ballot: ballot), to: from)
        } else if inDoubt[tx] != nil || decisions[tx] != nil {
            // Refused (a higher ballot is followed) or already decided: say why.
            out.sendAfterDurable(.stateReport(tx, ballot: ballot, report: report(tx)), to: from)
        }
    }

    /// Phase 3 at a participant: apply (commit) or drop (abort), log it, release the locks.
    mutating func applyDecision(_ tx: ThreePhaseCommit.TxID, commit: Bool, now: Instant, into out: inout Effects<Message>) {
        terminations[tx] = nil
        if let waiting = inDoubt.removeValue(forKey: tx) {
            if commit { shard.apply(waiting.deltas) }
            releaseLocks(waiting.deltas.map(\.account), for: tx)
            decisions[tx] = commit
            journal.append(.decision(tx, commit: commit), into: &out)
            statistics.blockedMaxNanos = max(statistics.blockedMaxNanos, (now - waiting.since).nanoseconds)
        } else if let decided = decisions[tx] {
            if decided != commit { statistics.conflictingDecisions += 1 }
        } else if commit {
            // A commit needs this node's YES, and a YES is logged before it is sent.
            if coordinating[tx] == nil && coordinatorDecisions[tx] == nil {
                anomalies.append("\(id): told to commit \(tx), which it never voted YES on")
            }
        } else {
            waiters.remove(tx)
            decisions[tx] = false
            journal.append(.decision(tx, commit: false), into: &out)
        }
    }

    mutating func onDecision(_ tx: ThreePhaseCommit.TxID, commit: Bool, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        let participates = inDoubt[tx] != nil || decisions[tx] != nil
        let coordinates = coordinating[tx] != nil || coordinatorDecisions[tx] != nil
        // An abort for a transaction never seen here is remembered, so a late CanCommit votes NO.
        if participates || (!commit && !coordinates) { applyDecision(tx, commit: commit, now: now, into: &out) }
        if coordinating[tx] != nil { learnDecision(tx, commit: commit, now: now, into: &out) }
        if commit && from == tx.coordinator && decisions[tx] == true { out.sendAfterDurable(.decisionAck(tx), to: from) }
    }

    mutating func releaseRead(_ tx: ThreePhaseCommit.TxID) {
        waiters.remove(tx)
        guard let hold = readHolds.removeValue(forKey: tx) else { return }
        releaseLocks(hold.keys, for: tx)
    }

    mutating func onRelease(_ tx: ThreePhaseCommit.TxID, from: NodeID) {
        guard from == tx.coordinator else { return }
        releaseRead(tx)
    }

    /// What this node knows of `tx`, for a state report (sent only after it is durable).
    func report(_ tx: ThreePhaseCommit.TxID) -> ThreePhaseCommit.Report {
        var state = ThreePhaseCommit.State.none
        if let decided = decisions[tx] ?? coordinatorDecisions[tx] {
            state = decided ? .committed : .aborted
        } else if let waiting = inDoubt[tx] {
            state = waiting.precommitted ? .precommitted : .uncertain
        }
        let active = coordinating[tx].map { $0.phase != .passive } ?? false
        return ThreePhaseCommit.Report(state: state, operational: inDoubt[tx].map { !$0.recovered } ?? false,
                                       coordinatorActive: active, promised: inDoubt[tx]?.promised ?? .zero)
    }

    /// In doubt past the deadline: an operational participant starts the termination protocol as
    /// a backup; a recovered one starts asking.
    mutating func participantTick(now: Instant, into out: inout Effects<Message>) {
        for tx in inDoubt.keys.sorted() {
            let waiting = inDoubt[tx]!
            guard terminations[tx] == nil else { continue }
            // While this node still drives the transaction as its coordinator, it is not in doubt.
            if let coordination = coordinating[tx], coordination.phase != .passive { continue }
            // This node coordinated it in an earlier life and logged (or since learned) the
            // outcome: that decision is final, whatever the others say (a recovered coordinator
            // whose own participant is in doubt must not ask, let alone abort, a commit it made).
            if coordinating[tx] == nil, let decided = coordinatorDecisions[tx] {
                applyDecision(tx, commit: decided, now: now, into: &out)
                continue
            }
            if now < waiting.deadline {
                // Until the termination protocol is due, ask the coordinator (it may have aborted
                // and the abort got lost). Its answer is adopted only if it is a decision.
                if !waiting.recovered && now >= waiting.nextInquiry && tx.coordinator != id {
                    out.send(.stateRequest(tx, ballot: ThreePhaseCommit.Ballot(round: 0, node: id), participants: waiting.participants),
                             to: tx.coordinator)
                    inDoubt[tx]!.nextInquiry = now + settings.inquiryInterval
                }
                continue
            }
            if waiting.recovered {
                startInquiry(tx, now: now, into: &out)
            } else {
                startTermination(tx, now: now, into: &out)
            }
        }
        for tx in readHolds.keys.sorted() {
            let hold = readHolds[tx]!
            if now >= hold.expiry {
                releaseRead(tx)
            } else if now >= hold.nextInquiry && tx.coordinator != id {
                out.send(.readInquiry(tx), to: tx.coordinator)
                readHolds[tx]!.nextInquiry = now + settings.retryInterval
            }
        }
        for waiter in waiters.takeExpired(now: now) {
            statistics.lockConflicts += 1
            let vote: LocalVote = waiter.operation.isRead ? .no : voteNo(waiter.tx, into: &out)
            deliverVote(vote, for: waiter.tx, operation: waiter.operation, now: now, into: &out)
        }
    }
}
