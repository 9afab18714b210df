import BenchCore

extension TwoPhaseCommit.Instance {
    enum LocalVote: Equatable {
        /// YES; a read's YES carries the balances read.
        case yes([Int64])
        case no
        /// Waiting for locks (wait-die); the vote follows when they free up or the wait ends.
        case waiting
    }

    /// Phase 1 at a participant (BHG §7.3): lock (a conflict votes NO, or waits under wait-die),
    /// check the balances, log the vote. The caller sends a YES only once its record is durable.
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
            // A repeated PREPARE gets the same vote again.
            if let decided = decisions[tx] { return decided ? .yes([]) : .no }
            if inDoubt[tx] != nil { return .yes([]) }
            // Before this life's epoch record is durable a crash could hide that this life
            // served reads; after a restart, its old shared locks are gone: refuse writes meanwhile.
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
            inDoubt[tx] = InDoubt(deltas: deltas, since: now, nextInquiry: now + settings.inquiryInterval)
            journal.append(.vote(tx, participants: participants, deltas: deltas), into: &out)
            return .yes([])
        }
    }

    /// Wait-die: an older transaction waits (bounded in time and number), a younger one dies.
    mutating func wait(_ priority: AtomicCommit.Priority, _ participants: [NodeID], _ operation: AtomicCommit.Operation,
                       _ result: AtomicCommit.LockResult, now: Instant, deadline: Instant?) -> Bool {
        guard result == .olderThanHolders, settings.lockPolicy == .waitDie else { return false }
        let until = deadline ?? now + settings.lockWaitMax
        guard now < until else { return false }
        return waiters.add(AtomicCommit.Waiter(priority: priority, participants: participants, operation: operation, deadline: until))
    }

    /// A NO vote aborts the transaction here at once (a participant may abort unilaterally
    /// before it votes YES); the abort is logged so a repeated PREPARE gets NO again.
    mutating func voteNo(_ tx: TwoPhaseCommit.TxID, into out: inout Effects<Message>) -> LocalVote {
        statistics.votesNo += 1
        decisions[tx] = false
        journal.append(.decision(tx, commit: false), into: &out)
        return .no
    }

    mutating func releaseLocks(_ keys: some Sequence<Key>, for tx: TwoPhaseCommit.TxID) {
        shard.release(keys, for: tx)
        locksReleased = true
    }

    /// Sends a vote to the transaction's coordinator, or hands it over when that is this node.
    mutating func deliverVote(_ vote: LocalVote, for tx: TwoPhaseCommit.TxID, operation: AtomicCommit.Operation, now: Instant,
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
            // A YES to a write promises the vote is on disk (the rule every recovery relies on).
            out.sendAfterDurable(.vote(tx, yes: true, balances: []), to: tx.coordinator)
        } else {
            out.send(.vote(tx, yes: yes, balances: balances), to: tx.coordinator)
        }
    }

    mutating func onPrepare(_ tx: TwoPhaseCommit.TxID, timestamp: Instant, participants: [NodeID], operation: AtomicCommit.Operation,
                            from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard from == tx.coordinator, participants.contains(id) else { return }
        let vote = prepareLocally(AtomicCommit.Priority(timestamp: timestamp, tx: tx), participants: participants,
                                  operation: operation, now: now, into: &out)
        deliverVote(vote, for: tx, operation: operation, now: now, into: &out)
    }

    /// Retries the waiting PREPAREs, oldest first, after locks were released (run at the end of
    /// every input, so a release deep inside a handler never re-enters one).
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

    /// Phase 2 at a participant: apply (commit) or drop (abort), log it, release the locks.
    mutating func applyDecision(_ tx: TwoPhaseCommit.TxID, commit: Bool, now: Instant, into out: inout Effects<Message>) {
        if let waiting = inDoubt.removeValue(forKey: tx) {
            if commit { shard.apply(waiting.deltas) }
            releaseLocks(waiting.deltas.map(\.account), for: tx)
            decisions[tx] = commit
            journal.append(.decision(tx, commit: commit), into: &out)
            statistics.blockedMaxNanos = max(statistics.blockedMaxNanos, (now - waiting.since).nanoseconds)
        } else if let decided = decisions[tx] {
            if decided != commit { statistics.conflictingDecisions += 1 }
        } else if commit {
            anomalies.append("\(id): told to commit \(tx), which it never voted YES on")
        } else {
            // An abort for a PREPARE that is waiting, has not arrived (or never will): remember
            // it, so a late PREPARE votes NO instead of locking accounts for a dead transaction.
            waiters.remove(tx)
            decisions[tx] = false
            journal.append(.decision(tx, commit: false), into: &out)
        }
    }

    mutating func onDecision(_ tx: TwoPhaseCommit.TxID, commit: Bool, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard from == tx.coordinator else { return }
        applyDecision(tx, commit: commit, now: now, into: &out)
        // The acknowledgement promises the commit is logged here, so it waits for the disk.
        if commit && decisions[tx] == true { out.sendAfterDurable(.ack(tx), to: from) }
    }

    mutating func releaseRead(_ tx: TwoPhaseCommit.TxID) {
        waiters.remove(tx)
        guard let hold = readHolds.removeValue(forKey: tx) else { return }
        releaseLocks(hold.keys, for: tx)
    }

    mutating func onRelease(_ tx: TwoPhaseCommit.TxID, from: NodeID) {
        guard from == tx.coordinator else { return }
        releaseRead(tx)
    }

    /// In doubt: ask the coordinator until it answers (BHG §7.3's termination for 2PC is only
    /// this — a participant that voted YES cannot decide alone, so it blocks).
    mutating func participantTick(now: Instant, into out: inout Effects<Message>) {
        for tx in inDoubt.keys.sorted() {
            let waiting = inDoubt[tx]!
            if tx.coordinator == id {
                // This node coordinated it in an earlier life (or is still deciding it now).
                if coordinating[tx] == nil, let commit = decisionAnswer(tx) { applyDecision(tx, commit: commit, now: now, into: &out) }
                continue
            }
            if settings.unsafeCommitOnTimeout && now - waiting.since >= settings.inquiryInterval {
                // Deliberately broken: guess commit instead of blocking.
                statistics.unilateralCommits += 1
                applyDecision(tx, commit: true, now: now, into: &out)
                continue
            }
            if now >= waiting.nextInquiry {
                statistics.inquiries += 1
                out.send(.decisionRequest(tx), to: tx.coordinator)
                inDoubt[tx]!.nextInquiry = now + settings.inquiryInterval
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
        // A wait that ran out dies: the participant votes NO.
        for waiter in waiters.takeExpired(now: now) {
            statistics.lockConflicts += 1
            let vote: LocalVote = waiter.operation.isRead ? .no : voteNo(waiter.tx, into: &out)
            deliverVote(vote, for: waiter.tx, operation: waiter.operation, now: now, into: &out)
        }
    }
}
