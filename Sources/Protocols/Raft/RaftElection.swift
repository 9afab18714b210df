import BenchCore

extension Raft.Instance {
    /// True while this replica has reason to believe a leader is alive (§4.2.3 of the
    /// dissertation): it then refuses to help anyone campaign, so a rejoining node cannot depose
    /// a healthy leader.
    func hasLiveLeader(now: Instant) -> Bool {
        if isLeader { return settings.checkQuorum }
        guard leader != nil, let contact = lastLeaderContact else { return false }
        return now - contact < settings.electionTimeout
    }

    mutating func onElectionTimeout(now: Instant, into out: inout Effects<Message>) {
        guard !isLeader else { return }
        if settings.preVote && cluster.size > 1 {
            becomePreCandidate(now: now, into: &out)
        } else {
            becomeCandidate(now: now, into: &out)
        }
    }

    /// Pre-vote (§9.6): ask for votes for term + 1 without changing any state.
    mutating func becomePreCandidate(now: Instant, into out: inout Effects<Message>) {
        role = .preCandidate
        leader = nil
        votes = [id]
        let request = Raft.VoteRequest(term: currentTerm.next, candidate: id, lastLogIndex: log.lastIndex,
                                       lastLogTerm: log.lastTerm, preVote: true)
        for peer in peers { out.send(.voteRequest(request), to: peer) }
        resetElectionTimer(now: now, into: &out)
    }

    /// §5.2: increment the term, vote for yourself, ask everyone else. The requests wait for the
    /// new term and vote to be durable: a candidate that crashed and forgot its vote could
    /// otherwise vote twice in one term.
    mutating func becomeCandidate(now: Instant, into out: inout Effects<Message>) {
        let wasLeader = isLeader
        precondition(!wasLeader, "a leader does not campaign")
        role = .candidate
        leader = nil
        currentTerm = currentTerm.next
        votedFor = id
        votes = [id]
        statistics.electionsStarted += 1
        out.persist(hardState)
        let request = Raft.VoteRequest(term: currentTerm, candidate: id, lastLogIndex: log.lastIndex,
                                       lastLogTerm: log.lastTerm, preVote: false)
        for peer in peers { out.sendAfterDurable(.voteRequest(request), to: peer) }
        resetElectionTimer(now: now, into: &out)
        if votes.count >= cluster.quorum { becomeLeader(now: now, into: &out) }
    }

    /// §5.4.1: a vote goes only to a candidate whose log is at least as up to date as ours.
    func isUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        lastTerm > log.lastTerm || (lastTerm == log.lastTerm && lastIndex >= log.lastIndex)
    }

    mutating func onVoteRequest(_ m: Raft.VoteRequest, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        precondition(m.candidate == from || m.candidate != id, "a request names its sender")
        let upToDate = isUpToDate(lastIndex: m.lastLogIndex, lastTerm: m.lastLogTerm)
        if m.preVote {
            // Granting a pre-vote changes nothing here; it only says "you could win".
            let granted = m.term > currentTerm && upToDate && !hasLiveLeader(now: now) && !leaseForbidsVoting(now: now)
            out.send(.voteResponse(.init(term: granted ? m.term : currentTerm, granted: granted, preVote: true)), to: from)
            return
        }
        if m.term > currentTerm {
            // §4.2.3: while a leader is known to be alive, a higher-term request is ignored outright.
            if hasLiveLeader(now: now) || leaseForbidsVoting(now: now) { return }
            becomeFollower(term: m.term, leader: nil, now: now, into: &out)
        }
        var granted = false
        if m.term == currentTerm && upToDate {
            if votedFor == m.candidate {
                granted = true  // the same vote again (a lost answer)
            } else if votedFor == nil {
                // Lease mode: a node that reached this term without voting (a higher term in
                // some reply) still keeps its promise to the leader it last heard.
                granted = !leaseForbidsVoting(now: now)
            } else if settings.unsafeVoteTwice {
                granted = true  // deliberately broken: a second vote in the same term
            }
        }
        if granted {
            votedFor = m.candidate
            out.persist(hardState)
            resetElectionTimer(now: now, into: &out)
        }
        // The answer waits for the vote (and any term change) to reach the disk.
        out.sendAfterDurable(.voteResponse(.init(term: currentTerm, granted: granted, preVote: false)), to: from)
    }

    mutating func onVoteResponse(_ m: Raft.VoteResponse, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        if m.term > currentTerm && !(m.preVote && m.granted) {
            becomeFollower(term: m.term, leader: nil, now: now, into: &out)
            return
        }
        guard m.granted else { return }
        switch role {
        case .preCandidate where m.preVote && m.term == currentTerm.next:
            votes.insert(from)
            if votes.count >= cluster.quorum { becomeCandidate(now: now, into: &out) }
        case .candidate where !m.preVote && m.term == currentTerm:
            votes.insert(from)
            if votes.count >= cluster.quorum { becomeLeader(now: now, into: &out) }
        default:
            break
        }
    }

    /// A majority voted: lead. Append a no-op in the new term (§8: a leader commits entries of
    /// earlier terms only by committing one of its own) and send it at once as the first heartbeat.
    mutating func becomeLeader(now: Instant, into out: inout Effects<Message>) {
        precondition(role == .candidate, "only a candidate becomes leader")
        // A candidate has voted for itself; only the deliberately broken double-vote setting can
        // have given that vote away, and `invariants()` reports it rather than trapping here.
        role = .leader
        leader = id
        votes = []
        statistics.termsLed += 1
        out.cancelTimer(Raft.Timers.election)
        let next = log.lastIndex.next
        progress = peers.map { Raft.Progress(peer: $0, nextIndex: next, now: now) }
        reads = Raft.ReadQueue()
        quorumCheckDeadline = now + settings.electionTimeout
        appendAsLeader(.noop, into: &out)
        for i in progress.indices { sendAppend(to: i, now: now, into: &out) }
        out.setTimer(Raft.Timers.heartbeat, at: now + settings.heartbeatInterval)
        if cluster.size == 1 { advanceCommit(into: &out) }
    }
}
