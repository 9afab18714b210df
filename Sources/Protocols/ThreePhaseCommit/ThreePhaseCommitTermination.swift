import BenchCore

/// The termination protocol (Skeen 1981; BHG §7.5): when the coordinator fails, an operational
/// participant becomes a backup coordinator under a fresh ballot, collects the states of the
/// others and decides:
///   TR1 some participant aborted            → abort
///   TR2 some participant committed          → commit
///   TR3 every operational one is uncertain  → abort
///   TR4 some operational one pre-committed  → pre-commit the uncertain ones, then commit
/// Participants that crashed since voting ("recovered") do not count: one of them may have been
/// taken for failed while a decision was made without it. They only ask; if every participant
/// turns out to be recovered and undecided and the coordinator no longer acts, nobody can have
/// committed (a commit is logged by whoever makes it), so they abort.
extension ThreePhaseCommit.Instance {
    mutating func startTermination(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard var waiting = inDoubt[tx], !waiting.recovered else { return }
        let ballot = ThreePhaseCommit.Ballot(round: waiting.promised.round + 1, node: id)
        waiting.promised = ballot
        inDoubt[tx] = waiting
        var round = Termination(ballot: ballot, participants: waiting.participants,
                                reports: Array(repeating: nil, count: waiting.participants.count),
                                deadline: now + settings.terminationTimeout, nextRetry: now + settings.retryInterval)
        if let own = waiting.participants.firstIndex(of: id) { round.reports[own] = report(tx) }
        terminations[tx] = round
        statistics.terminationsStarted += 1
        sendStateRequests(tx, round, into: &out)
    }

    mutating func startInquiry(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let waiting = inDoubt[tx] else { return }
        var round = Termination(ballot: ThreePhaseCommit.Ballot(round: 0, node: id), participants: waiting.participants,
                                reports: Array(repeating: nil, count: waiting.participants.count),
                                deadline: now + settings.inquiryInterval, nextRetry: now + settings.inquiryInterval)
        if let own = waiting.participants.firstIndex(of: id) { round.reports[own] = report(tx) }
        terminations[tx] = round
        sendStateRequests(tx, round, into: &out)
        // With nobody to ask (this node is the only participant and coordinated the transaction
        // itself) no report will ever arrive to trigger the evaluation: evaluate now.
        evaluateTermination(tx, now: now, into: &out)
    }

    /// Asks every participant that has not answered, and the coordinator (it may know the outcome,
    /// and learns that a backup took over).
    func sendStateRequests(_ tx: ThreePhaseCommit.TxID, _ round: Termination, into out: inout Effects<Message>) {
        for (position, participant) in round.participants.enumerated() where participant != id && round.reports[position] == nil {
            out.send(.stateRequest(tx, ballot: round.ballot, participants: round.participants), to: participant)
        }
        if tx.coordinator != id, !round.participants.contains(tx.coordinator), round.coordinatorReport == nil {
            out.send(.stateRequest(tx, ballot: round.ballot, participants: round.participants), to: tx.coordinator)
        }
    }

    mutating func onStateRequest(_ tx: ThreePhaseCommit.TxID, ballot: ThreePhaseCommit.Ballot, participants: [NodeID], from: NodeID,
                                 now: Instant, into out: inout Effects<Message>) {
        if participants.contains(id), inDoubt[tx] == nil, decisions[tx] == nil, coordinating[tx] == nil, !readHolds.keys.contains(tx) {
            // Never voted (Skeen's state q): abort unilaterally — without this node's YES the
            // transaction cannot commit — and say so.
            statistics.votesNo += 1
            waiters.remove(tx)
            decisions[tx] = false
            journal.append(.decision(tx, commit: false), into: &out)
        }
        if ballot.round >= 1 {
            if var waiting = inDoubt[tx], ballot > waiting.promised {
                // Follow the backup, and give it time before competing with it.
                waiting.promised = ballot
                waiting.deadline = terminationDeadline(waiting.participants, now: now)
                inDoubt[tx] = waiting
                if let round = terminations[tx], !round.isInquiry, round.ballot < ballot {
                    terminations[tx] = nil
                    statistics.supersededRounds += 1
                }
            }
            becomePassive(tx, now: now)
        }
        out.sendAfterDurable(.stateReport(tx, ballot: ballot, report: report(tx)), to: from)
    }

    mutating func onStateReport(_ tx: ThreePhaseCommit.TxID, ballot: ThreePhaseCommit.Ballot, report: ThreePhaseCommit.Report,
                                from: NodeID, now: Instant, into out: inout Effects<Message>) {
        if report.state.isDecided {
            // A decision is final wherever it was made: adopt it (a backup spreads it too).
            let commit = report.state == .committed
            if let round = terminations[tx], !round.isInquiry {
                decideAsBackup(tx, commit: commit, now: now, into: &out)
            } else {
                if inDoubt[tx] != nil { applyDecision(tx, commit: commit, now: now, into: &out) }
                if coordinating[tx] != nil { learnDecision(tx, commit: commit, now: now, into: &out) }
            }
            return
        }
        if ballot == ownBallot, coordinating[tx] != nil, report.promised > ownBallot {
            becomePassive(tx, now: now)
        }
        guard var round = terminations[tx], round.ballot == ballot else { return }
        if !round.isInquiry && report.promised > round.ballot {
            // A higher ballot runs: this round is over; defer to it.
            terminations[tx] = nil
            statistics.supersededRounds += 1
            if inDoubt[tx] != nil { inDoubt[tx]!.deadline = terminationDeadline(round.participants, now: now) }
            return
        }
        if let position = round.participants.firstIndex(of: from) {
            round.reports[position] = report
        } else if from == tx.coordinator {
            round.coordinatorReport = report
        }
        terminations[tx] = round
        // A backup decides once everyone answered; an inquiry checks each answer (the
        // coordinator's may complete it).
        if round.phase == .collecting && (round.isInquiry || !round.reports.contains(nil)) {
            evaluateTermination(tx, now: now, into: &out)
        }
    }

    /// Decides a round from the reports it has (all of them, or those that came before the
    /// timeout: the silent ones are taken to have failed).
    mutating func evaluateTermination(_ tx: ThreePhaseCommit.TxID, now: Instant, into out: inout Effects<Message>) {
        guard let round = terminations[tx], round.phase == .collecting, let waiting = inDoubt[tx] else { return }
        let others = round.participants.indices.filter { round.participants[$0] != id }
        if round.isInquiry {
            // Only when every node has answered, none can still decide, and none has decided.
            let everyoneRecovered = others.allSatisfy { position in
                guard let report = round.reports[position] else { return false }
                return !report.operational && !report.coordinatorActive && !report.state.isDecided && report.state != .none
            }
            let coordinatorDone = round.participants.contains(tx.coordinator) || tx.coordinator == id
                || round.coordinatorReport.map { !$0.coordinatorActive && !$0.state.isDecided } == true
            guard everyoneRecovered && coordinatorDone else { return }
            statistics.recoveredAborts += 1
            decideAsBackup(tx, commit: false, now: now, into: &out)
            return
        }
        precondition(!waiting.recovered, "only an operational participant runs a backup round")
        var anyPrecommitted = waiting.precommitted
        var uncertain: [NodeID] = []
        for position in others {
            guard let report = round.reports[position], report.operational else { continue }
            if report.state == .precommitted { anyPrecommitted = true }
            if report.state == .uncertain { uncertain.append(round.participants[position]) }
        }
        guard anyPrecommitted && !settings.unsafeAbortPrecommitted else {
            // TR3: every operational participant is uncertain, so nobody can have committed.
            decideAsBackup(tx, commit: false, now: now, into: &out)
            return
        }
        // TR4: pre-commit this node and the uncertain ones under this round's ballot, then commit.
        guard precommitLocally(tx, ballot: round.ballot, now: now, into: &out) else { return }
        guard !uncertain.isEmpty else {
            decideAsBackup(tx, commit: true, now: now, into: &out)
            return
        }
        terminations[tx]!.phase = .precommitting
        terminations[tx]!.awaitingAck = uncertain
        terminations[tx]!.deadline = now + settings.ackTimeout
        terminations[tx]!.nextRetry = now + settings.retryInterval
        for participant in uncertain { out.send(.preCommit(tx, ballot: round.ballot), to: participant) }
    }

    mutating func onTerminationAck(_ tx: ThreePhaseCommit.TxID, ballot: ThreePhaseCommit.Ballot, from: NodeID, now: Instant,
                                   into out: inout Effects<Message>) {
        guard var round = terminations[tx], round.ballot == ballot, round.phase == .precommitting else { return }
        round.awaitingAck.removeAll { $0 == from }
        terminations[tx] = round
        if round.awaitingAck.isEmpty { decideAsBackup(tx, commit: true, now: now, into: &out) }
    }

    /// The backup's decision: logged (as this participant's own decision) before anyone hears it.
    mutating func decideAsBackup(_ tx: ThreePhaseCommit.TxID, commit: Bool, now: Instant, into out: inout Effects<Message>) {
        guard let round = terminations[tx] else { return }
        if commit { statistics.terminationCommits += 1 } else { statistics.terminationAborts += 1 }
        applyDecision(tx, commit: commit, now: now, into: &out)
        for participant in round.participants where participant != id {
            out.sendAfterDurable(.decision(tx, commit: commit), to: participant)
        }
        if tx.coordinator != id && !round.participants.contains(tx.coordinator) {
            out.sendAfterDurable(.decision(tx, commit: commit), to: tx.coordinator)
        }
        if coordinating[tx] != nil { learnDecision(tx, commit: commit, now: now, into: &out) }
    }

    mutating func terminationTick(now: Instant, into out: inout Effects<Message>) {
        for tx in terminations.keys.sorted() {
            guard let round = terminations[tx] else { continue }
            if now >= round.deadline {
                if round.isInquiry {
                    // Ask again, everyone: answers may have changed.
                    var fresh = round
                    fresh.reports = round.participants.map { $0 == id ? report(tx) : nil }
                    fresh.coordinatorReport = nil
                    fresh.deadline = now + settings.inquiryInterval
                    terminations[tx] = fresh
                    sendStateRequests(tx, fresh, into: &out)
                    evaluateTermination(tx, now: now, into: &out)
                } else if round.phase == .collecting {
                    evaluateTermination(tx, now: now, into: &out)
                } else {
                    // Skeen's rule again: the silent ones are taken to have failed.
                    decideAsBackup(tx, commit: true, now: now, into: &out)
                }
            } else if now >= round.nextRetry && !round.isInquiry {
                if round.phase == .collecting {
                    sendStateRequests(tx, round, into: &out)
                } else {
                    for participant in round.participants where round.awaitingAck.contains(participant) {
                        out.send(.preCommit(tx, ballot: round.ballot), to: participant)
                    }
                }
                terminations[tx]!.nextRetry = now + settings.retryInterval
            }
        }
    }
}
