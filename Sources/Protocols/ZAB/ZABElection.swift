import BenchCore

extension ZAB {
    /// A vote as received, with the state of the server that sent it.
    struct Ballot: Hashable, Sendable {
        var vote: Vote
        var state: PeerState

        /// ZooKeeper's `Vote.equals`: while either side is still looking the whole vote must match;
        /// between servers that already follow or lead, the leader and its epoch identify it.
        func matches(_ other: Ballot) -> Bool {
            if state == .looking || other.state == .looking { return vote == other.vote }
            return vote.leader == other.vote.leader && vote.peerEpoch == other.vote.peerEpoch
        }
    }

    /// Fast leader election state (ZooKeeper's `FastLeaderElection.lookForLeader`). Tables are
    /// indexed by member position, so nothing here depends on hash order.
    struct Election: Sendable {
        /// The election round (ZooKeeper's logicalclock).
        var logicalClock: UInt64 = 0
        /// This server's current vote.
        var proposal = Vote(leader: NodeID(0), zxid: .zero, peerEpoch: .zero, electionEpoch: 0)
        /// Votes of this round (recvset).
        var received: [Ballot?]
        /// Votes of servers that already follow or lead (outofelection).
        var outOfElection: [Ballot?]
        /// A quorum agrees with `proposal`: the finalize wait is running.
        var finalizing = false
        /// The vote this server decided on, kept while it follows or leads and told to servers
        /// that are still looking.
        var decided: Vote?

        init(members: Int) {
            received = Array(repeating: nil, count: members)
            outOfElection = Array(repeating: nil, count: members)
        }
    }
}

extension ZAB.Instance {
    /// This server's own candidacy: its currentEpoch and last zxid.
    var ownVote: ZAB.Vote {
        ZAB.Vote(leader: id, zxid: history.lastZxid, peerEpoch: currentEpoch, electionEpoch: election.logicalClock)
    }

    /// What this server tells others in FLE.
    var currentNotification: ZAB.Notification {
        if state != .looking, let decided = election.decided { return ZAB.Notification(vote: decided, state: state) }
        return ZAB.Notification(vote: election.proposal, state: .looking)
    }

    func quorumAgrees(_ table: [ZAB.Ballot?], with target: ZAB.Ballot) -> Bool {
        table.count { $0?.matches(target) ?? false } >= cluster.quorum
    }

    /// ZooKeeper's `checkLeader`: follow another server only once it says itself that it leads;
    /// lead only on a vote of this very round.
    func checkLeader(_ table: [ZAB.Ballot?], leader: NodeID, electionEpoch: UInt64) -> Bool {
        if leader != id {
            guard let k = position(of: leader), let ballot = table[k] else { return false }
            return ballot.state == .leading
        }
        return election.logicalClock == electionEpoch
    }

    /// Enters LOOKING (at start, or after losing the leader or the quorum): a new round with a
    /// vote for itself, sent to everyone.
    mutating func lookForLeader(now: Instant, into out: inout Effects<Message>) {
        if state == .leading { stepDownAsLeader(into: &out) }
        state = .looking
        following = nil
        leading = nil
        statistics.electionsStarted += 1
        election.logicalClock += 1
        election.decided = nil
        for k in election.received.indices {
            election.received[k] = nil
            election.outOfElection[k] = nil
        }
        updateProposal(ownVote)
        sendNotifications(into: &out)
        finalizeIfQuorumAgrees(now: now, into: &out)  // a one-server cluster agrees with itself
    }

    /// Starts the finalize wait once a quorum of this round agrees with this server's proposal.
    mutating func finalizeIfQuorumAgrees(now: Instant, into out: inout Effects<Message>) {
        guard !election.finalizing else { return }
        let mine = ZAB.Ballot(vote: election.proposal, state: .looking)
        guard quorumAgrees(election.received, with: mine) else { return }
        // Wait a little for a better vote before deciding (finalizeWait).
        election.finalizing = true
        out.setTimer(ZAB.Timers.finalize, at: now + settings.finalizeWait)
    }

    /// Takes `vote` (re-cast in this round) as this server's proposal and counts it for itself.
    mutating func updateProposal(_ vote: ZAB.Vote) {
        var vote = vote
        vote.electionEpoch = election.logicalClock
        election.proposal = vote
        election.finalizing = false
        if let me = position(of: id) { election.received[me] = ZAB.Ballot(vote: vote, state: .looking) }
    }

    mutating func sendNotifications(into out: inout Effects<Message>) {
        let notification = currentNotification
        for peer in peers { out.send(.notification(notification), to: peer) }
    }

    /// Looking servers resend their vote every tick: notifications get lost.
    mutating func onLookingTick(now: Instant, into out: inout Effects<Message>) {
        sendNotifications(into: &out)
    }

    mutating func onNotification(_ n: ZAB.Notification, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let k = position(of: from) else { return }
        guard state == .looking else {
            // WorkerReceiver: a server still looking is told whom this one follows or leads.
            if n.state == .looking { out.send(.notification(currentNotification), to: from) }
            return
        }
        let ballot = ZAB.Ballot(vote: n.vote, state: n.state)
        switch n.state {
        case .looking:
            if n.vote.electionEpoch > election.logicalClock {
                // A later round: join it, forgetting this round's votes, and vote for the better of
                // the sender's vote and our own.
                election.logicalClock = n.vote.electionEpoch
                for i in election.received.indices { election.received[i] = nil }
                updateProposal(n.vote.isBetter(than: ownVote) ? n.vote : ownVote)
                sendNotifications(into: &out)
            } else if n.vote.electionEpoch < election.logicalClock {
                // An earlier round: tell the sender about this one.
                out.send(.notification(currentNotification), to: from)
                return
            } else if n.vote.isBetter(than: election.proposal) {
                updateProposal(n.vote)
                sendNotifications(into: &out)
            }
            election.received[k] = ballot
            finalizeIfQuorumAgrees(now: now, into: &out)
        case .following, .leading:
            // The sender already follows or leads: join if a quorum of them agree and the leader
            // itself says it leads.
            if n.vote.electionEpoch == election.logicalClock {
                election.received[k] = ballot
                if quorumAgrees(election.received, with: ballot),
                   checkLeader(election.received, leader: n.vote.leader, electionEpoch: n.vote.electionEpoch) {
                    decide(n.vote, now: now, into: &out)
                    return
                }
            }
            election.outOfElection[k] = ballot
            if quorumAgrees(election.outOfElection, with: ballot),
               checkLeader(election.outOfElection, leader: n.vote.leader, electionEpoch: n.vote.electionEpoch) {
                election.logicalClock = n.vote.electionEpoch
                decide(n.vote, now: now, into: &out)
            }
        }
    }

    /// The finalize wait ended with no better vote: decide if a quorum still agrees.
    mutating func onFinalizeTimer(now: Instant, into out: inout Effects<Message>) {
        guard state == .looking, election.finalizing else { return }
        election.finalizing = false
        let mine = ZAB.Ballot(vote: election.proposal, state: .looking)
        if quorumAgrees(election.received, with: mine) { decide(election.proposal, now: now, into: &out) }
    }

    /// The election ended: lead (prospectively: discovery comes next) or follow.
    mutating func decide(_ vote: ZAB.Vote, now: Instant, into out: inout Effects<Message>) {
        precondition(state == .looking, "only a looking server decides")
        election.decided = vote
        election.finalizing = false
        out.cancelTimer(ZAB.Timers.finalize)
        if vote.leader == id {
            becomeProspectiveLeader(now: now, into: &out)
        } else {
            startFollowing(vote.leader, now: now, into: &out)
        }
    }
}
