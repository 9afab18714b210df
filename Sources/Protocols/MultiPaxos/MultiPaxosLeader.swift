import BenchCore

extension MultiPaxos {
    /// A phase 1 in progress (multi mode): the promises gathered for `ballot`.
    struct Candidacy: Sendable {
        var ballot: Ballot = .zero
        /// The first slot the candidate does not know to be chosen; promises report from here.
        var fromSlot = LogIndex(1)
        /// Members whose whole promise has arrived (bit per member position; ours included).
        var complete: UInt64 = 0
        /// Per member position: the slot the next promise chunk from it must start at.
        var nextChunk: [LogIndex] = []
        /// For each open slot, the accepted entry with the highest ballot any promise reported.
        var adopted: [LogIndex: LogEntry] = [:]
        /// The highest slot any promise reported.
        var topSlot = LogIndex.zero

        /// "Paxos Made Simple" §2.2, P2c: the value to propose is the one accepted with the highest ballot.
        mutating func merge(_ entry: LogEntry) {
            if let current = adopted[entry.index], current.term >= entry.term {
                // keep the higher ballot's value
            } else {
                adopted[entry.index] = entry
            }
            if entry.index > topSlot { topSlot = entry.index }
        }
    }

    /// The leader's record of one slot it proposes.
    struct Proposal: Sendable {
        var payload: EntryPayload
        /// Peers that accepted it under the leader's ballot (bit per member position).
        var acks: UInt64 = 0
        /// The leader's own acceptance is on its disk.
        var selfDurable = false
        var chosen = false
        /// When it was last sent (nil: not yet).
        var sentAt: Instant?
    }

    /// What the leader tracks about one follower.
    struct PeerProgress: Sendable {
        let peer: NodeID
        let position: Int
        var lastHeard: Instant
        /// The follower's learned prefix, as it last reported.
        var learnedThrough: LogIndex = .zero
        /// The last slot of the latest Learn sent, and when.
        var learnSentThrough: LogIndex = .zero
        var learnSentAt: Instant = .zero
        /// Lease mode: the highest heartbeat round this follower acknowledged.
        var roundAcked: UInt64 = 0
    }

    /// Lease mode: the leader's heartbeat rounds and the lease they earned.
    struct LeaseState: Sendable {
        struct SentRound: Sendable {
            var round: UInt64
            var at: Instant
        }
        static let sentRoundsMax = 64
        /// The latest round sent (0: none yet).
        private(set) var round: UInt64 = 0
        /// When each recent round was sent, on this leader's clock, oldest first (bounded): a round
        /// confirmed after it fell out of the record extends nothing.
        private(set) var sentRounds: [SentRound] = []
        /// Reads may be answered locally while the leader's clock reads before this.
        var expiry: Instant = .zero

        /// Starts the next round, sent at `now`.
        mutating func nextRound(at now: Instant) -> UInt64 {
            round += 1
            if sentRounds.count == Self.sentRoundsMax { sentRounds.removeFirst() }
            sentRounds.append(SentRound(round: round, at: now))
            return round
        }

        func sentTime(of round: UInt64) -> Instant? {
            sentRounds.last { $0.round == round }?.at
        }
    }

    /// Leader-only state (multi mode); reset when leadership ends.
    struct LeaderState: Sendable {
        /// Proposals for slots `base ..< base + proposals.count`.
        var proposals: [Proposal] = []
        var base = LogIndex(1)
        /// Proposals below this slot have been sent.
        var sendFrom = LogIndex(1)
        /// Client requests waiting for a slot (the next flush assigns them, window permitting).
        var pending: [ClientRequest] = []
        /// The last slot of each Accept batch sent and not yet wholly committed (the pipeline window).
        var batchEnds: [LogIndex] = []
        var peers: [PeerProgress] = []
        /// The highest slot phase 1 left open: once every slot up to here is chosen, the leader's
        /// state machine holds every value chosen under earlier ballots (lease reads wait for it).
        var recoveredThrough = LogIndex.zero
        var lease = LeaseState()

        var nextSlot: LogIndex { base.advanced(by: Int64(proposals.count)) }

        func offset(of slot: LogIndex) -> Int { Int(slot.rawValue - base.rawValue) }

        /// Forgets what the commit index has passed.
        mutating func trim(through commit: LogIndex) {
            if commit >= base {
                let count = min(proposals.count, Int(commit.rawValue - base.rawValue + 1))
                proposals.removeFirst(count)
                base = base.advanced(by: Int64(count))
                if sendFrom < base { sendFrom = base }
            }
            if let first = batchEnds.first, first <= commit { batchEnds.removeAll { $0 <= commit } }
        }

        func peerIndex(position: Int) -> Int? { peers.firstIndex { $0.position == position } }
    }
}

// Multi mode, the proposer's and the leader's side.
extension MultiPaxos.Instance {
    // MARK: Phase 1, once per leadership

    /// A follower heard from no leader in time (or a phase 1 did not finish): try to lead with a
    /// ballot above every one seen, asking every acceptor for a promise covering all slots above
    /// this node's commit point ("Paxos Made Moderately Complex", §3: the leader's scout).
    mutating func startCandidacy(now: Instant, into out: inout Effects<Message>) {
        precondition(role != .leader, "a leader does not campaign")
        let round = nextOwnRound(after: max(maxRoundSeen, promised.round))
        guard round < MultiPaxos.Ballot.roundLimit else {
            if anomalies.count < Self.anomaliesMax { anomalies.append("\(id): ballot rounds exhausted") }
            return
        }
        role = .candidate
        leader = nil
        ballot = MultiPaxos.Ballot(round: round, node: id)
        maxRoundSeen = round
        // Our own acceptor promises first; the Prepares wait until that promise is on disk.
        promised = ballot
        persistPromise(ballot, into: &out)
        statistics.phase1Rounds += 1
        let from = commitIndex.next
        candidacy = MultiPaxos.Candidacy(ballot: ballot, fromSlot: from,
                                         nextChunk: Array(repeating: from, count: cluster.size))
        var slot = from
        while slot <= slots.lastIndex {
            if let accepted = slots[slot].accepted { candidacy.merge(accepted) }
            slot = slot.next
        }
        candidacy.complete = bit(position)
        for peer in peers { out.sendAfterDurable(.prepare(.init(ballot: ballot, fromSlot: from)), to: peer) }
        resetElectionTimer(now: now, into: &out)
        if candidacy.complete.nonzeroBitCount >= quorum { becomeLeader(now: now, into: &out) }
    }

    mutating func onPromise(_ m: MultiPaxos.Promise, from: NodeID, sender: Int, now: Instant, into out: inout Effects<Message>) {
        noteBallot(m.ballot)
        guard role == .candidate, m.ballot == ballot, m.ballot == candidacy.ballot else { return }
        let mask = bit(sender)
        // Chunks must arrive in order; a duplicate or a stale chunk is ignored.
        guard candidacy.complete & mask == 0, candidacy.nextChunk[sender] == m.fromSlot else { return }
        if !settings.unsafeSkipRecovery {
            let limit = slotLimit
            for entry in m.entries where entry.index.rawValue >= 1 && entry.index <= limit {
                if entry.index <= m.chosenThrough {
                    // The acceptor learned this value chosen: a fact, whatever happens to this candidacy.
                    markChosen(entry.index, entry.payload, into: &out)
                } else if MultiPaxos.Ballot(term: entry.term) < ballot {
                    candidacy.merge(entry)
                }
            }
        }
        if m.nextSlot > m.fromSlot {
            candidacy.nextChunk[sender] = m.nextSlot
            out.send(.prepare(.init(ballot: ballot, fromSlot: m.nextSlot)), to: from)
        } else {
            candidacy.complete |= mask
        }
        advanceCommit(into: &out)
        if candidacy.complete.nonzeroBitCount >= quorum { becomeLeader(now: now, into: &out) }
    }

    /// A majority promised: lead. For every open slot up to the highest any promise reported,
    /// propose the value accepted with the highest ballot, or a no-op where none was ("Paxos Made
    /// Simple", §3: gaps are filled with no-ops so later commands can be executed).
    mutating func becomeLeader(now: Instant, into out: inout Effects<Message>) {
        precondition(role == .candidate && promised == ballot, "only a candidate holding its own promise leads")
        role = .leader
        leader = id
        statistics.leaderships += 1
        out.cancelTimer(MultiPaxos.Timers.election)
        lead = MultiPaxos.LeaderState()
        lead.base = commitIndex.next
        lead.sendFrom = lead.base
        for (position, member) in cluster.members.enumerated() where member != id {
            lead.peers.append(MultiPaxos.PeerProgress(peer: member, position: position, lastHeard: now))
        }
        let top = max(candidacy.topSlot, slots.lastIndex, commitIndex)
        var slot = lead.base
        while slot <= top {
            if let chosen = slots[slot].chosen {
                lead.proposals.append(MultiPaxos.Proposal(payload: chosen, chosen: true, sentAt: now))
            } else {
                let payload = candidacy.adopted[slot]?.payload ?? .noop
                if payload == .noop { statistics.noopsProposed += 1 }
                acceptLocally(slot, ballot: ballot, payload: payload, into: &out)
                lead.proposals.append(MultiPaxos.Proposal(payload: payload))
            }
            slot = slot.next
        }
        lead.recoveredThrough = top
        candidacy = MultiPaxos.Candidacy()
        let round = settings.leaseReads ? lead.lease.nextRound(at: now) : 0
        for peer in peers { out.send(.heartbeat(.init(ballot: ballot, commit: commitIndex, round: round)), to: peer) }
        out.setTimer(MultiPaxos.Timers.heartbeat, at: now + settings.heartbeatInterval)
        sendUnsentProposals(now: now, into: &out)
    }

    /// Leadership (or candidacy) ends: answer what this node can no longer vouch for.
    mutating func stepDown(now: Instant, into out: inout Effects<Message>) {
        if role == .leader {
            out.cancelTimer(MultiPaxos.Timers.heartbeat)
            // Proposed commands may still be chosen under the next leader, or not: the client must ask again.
            for (offset, proposal) in lead.proposals.enumerated()
            where lead.base.advanced(by: Int64(offset)) > lastApplied {
                if case let .command(request) = proposal.payload { out.reply(ClientReply(to: request, .unknown)) }
            }
            // Never proposed by this leader: certainly not applied through it.
            for request in lead.pending { out.reply(ClientReply(to: request, .notLeader(hint: nil))) }
        }
        lead = MultiPaxos.LeaderState()
        candidacy = MultiPaxos.Candidacy()
        role = .follower
        leader = nil
        resetElectionTimer(now: now, into: &out)
    }

    mutating func onReject(_ m: MultiPaxos.Reject, now: Instant, into out: inout Effects<Message>) {
        noteBallot(m.promised)
        guard role != .follower, m.ballot == ballot, m.promised > ballot else { return }
        // A node that sees a higher ballot stops leading (or campaigning); the election timer decides
        // when it tries again, so two proposers do not keep pre-empting each other.
        statistics.rejections += 1
        stepDown(now: now, into: &out)
    }

    // MARK: Phase 2, per slot

    mutating func onMultiRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
        guard role == .leader else {
            out.reply(ClientReply(to: request, .notLeader(hint: role == .follower ? leader : nil)))
            return
        }
        if settings.leaseReads && request.command.isReadOnly {
            if holdsLease(now: now) && commitIndex >= lead.recoveredThrough {
                // No other leader can be chosen before the lease ends, and every value chosen before
                // this read arrived is applied here: under earlier ballots (recovered and chosen
                // again), or under ours (this leader chose and applied it before answering anyone).
                statistics.leaseReads += 1
                // A read-only command leaves the store as it was (`execute` answers reads of balances too).
                out.reply(ClientReply(to: request, store.execute(request.command, client: request.client)))
                return
            }
            statistics.logReads += 1
        }
        let proposed = Int(lead.nextSlot.rawValue - commitIndex.rawValue - 1)
        guard lead.pending.count + proposed < settings.uncommittedEntriesMax else {
            out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
            return
        }
        lead.pending.append(request)
    }

    /// The end of a batch of inputs: send what is waiting, as few Accepts as the limits allow, while
    /// the pipeline window has room.
    mutating func onMultiFlush(now: Instant, into out: inout Effects<Message>) {
        guard role == .leader else { return }
        sendUnsentProposals(now: now, into: &out)
        while !lead.pending.isEmpty && lead.batchEnds.count < settings.inflightMax && lead.sendFrom == lead.nextSlot {
            let first = lead.nextSlot
            var payloads: [EntryPayload] = []
            var bytes = 0
            var taken = 0
            for request in lead.pending {
                guard payloads.count < settings.batchEntriesMax else { break }
                var stamped = request
                stamped.command = request.command.stamped(now)
                let payload = EntryPayload.command(stamped)
                let size = MultiPaxos.wireSize(of: payload)
                if !payloads.isEmpty && bytes + size > settings.batchBytesMax { break }
                acceptLocally(lead.nextSlot, ballot: ballot, payload: payload, into: &out)
                lead.proposals.append(MultiPaxos.Proposal(payload: payload, sentAt: now))
                payloads.append(payload)
                bytes += size
                taken += 1
            }
            lead.pending.removeFirst(taken)
            lead.sendFrom = lead.nextSlot
            broadcastAccept(first: first, payloads: payloads, into: &out)
        }
        armRetryIfNeeded(now: now, into: &out)
    }

    mutating func broadcastAccept(first: LogIndex, payloads: [EntryPayload], into out: inout Effects<Message>) {
        precondition(!payloads.isEmpty, "an Accept carries at least one value")
        let accept = MultiPaxos.Accept(ballot: ballot, firstSlot: first, payloads: payloads, commit: commitIndex)
        for peer in lead.peers { out.send(.accept(accept), to: peer.peer) }
        lead.batchEnds.append(first.advanced(by: Int64(payloads.count - 1)))
    }

    /// Sends proposals made but not yet sent (a new leader's re-proposals), skipping slots already
    /// known to be chosen, in runs of consecutive slots, while the window has room.
    mutating func sendUnsentProposals(now: Instant, into out: inout Effects<Message>) {
        while lead.sendFrom < lead.nextSlot && lead.batchEnds.count < settings.inflightMax {
            var i = lead.offset(of: lead.sendFrom)
            while i < lead.proposals.count && lead.proposals[i].chosen { i += 1 }
            guard i < lead.proposals.count else {
                lead.sendFrom = lead.nextSlot
                break
            }
            let first = lead.base.advanced(by: Int64(i))
            var payloads: [EntryPayload] = []
            var bytes = 0
            while i < lead.proposals.count && !lead.proposals[i].chosen && payloads.count < settings.batchEntriesMax {
                let size = MultiPaxos.wireSize(of: lead.proposals[i].payload)
                if !payloads.isEmpty && bytes + size > settings.batchBytesMax { break }
                payloads.append(lead.proposals[i].payload)
                lead.proposals[i].sentAt = now
                bytes += size
                i += 1
            }
            lead.sendFrom = lead.base.advanced(by: Int64(i))
            broadcastAccept(first: first, payloads: payloads, into: &out)
        }
    }

    mutating func onAccepted(_ m: MultiPaxos.Accepted, sender: Int, now: Instant, into out: inout Effects<Message>) {
        guard role == .leader, m.ballot == ballot, let p = lead.peerIndex(position: sender) else { return }
        lead.peers[p].lastHeard = now
        lead.peers[p].learnedThrough = m.learnedThrough
        // The follower lacks values it knows are chosen: send them now rather than at the next heartbeat.
        if m.learnedThrough < min(m.commitSeen, commitIndex) { sendLearn(to: p, now: now, into: &out) }
        guard m.firstSlot <= m.lastSlot, lead.nextSlot > lead.base else { return }
        let low = max(m.firstSlot, lead.base)
        let high = min(m.lastSlot, lead.nextSlot.previous)
        guard low <= high else { return }
        let mask = bit(sender)
        for slot in low...high {
            let i = lead.offset(of: slot)
            lead.proposals[i].acks |= mask
            checkChosen(i, into: &out)
        }
        advanceCommit(into: &out)
    }

    /// Our own acceptance of `write` is durable: it now counts toward the majority.
    mutating func onOwnAcceptDurable(_ write: MultiPaxos.OwnWrite, into out: inout Effects<Message>) {
        guard role == .leader, write.term == ballot.term, write.slot >= lead.base, write.slot < lead.nextSlot else { return }
        let i = lead.offset(of: write.slot)
        lead.proposals[i].selfDurable = true
        checkChosen(i, into: &out)
    }

    /// A value accepted by a majority under one ballot is chosen ("Paxos Made Simple", §2.2).
    mutating func checkChosen(_ i: Int, into out: inout Effects<Message>) {
        let proposal = lead.proposals[i]
        guard !proposal.chosen, proposal.acks.nonzeroBitCount + (proposal.selfDurable ? 1 : 0) >= quorum else { return }
        lead.proposals[i].chosen = true
        markChosen(lead.base.advanced(by: Int64(i)), proposal.payload, into: &out)
    }

    // MARK: Heartbeats, resends, learners

    mutating func onLeaderHeartbeat(now: Instant, into out: inout Effects<Message>) {
        guard role == .leader else { return }
        if settings.checkQuorum {
            let heard = lead.peers.count { now - $0.lastHeard < settings.electionTimeout } + 1
            if heard < quorum {
                // Cut off from a majority: stop acting as leader, so clients look elsewhere.
                stepDown(now: now, into: &out)
                return
            }
        }
        // Lease mode: every heartbeat is a round, so its acknowledgements renew the lease.
        let round = settings.leaseReads ? lead.lease.nextRound(at: now) : 0
        for peer in lead.peers { out.send(.heartbeat(.init(ballot: ballot, commit: commitIndex, round: round)), to: peer.peer) }
        out.setTimer(MultiPaxos.Timers.heartbeat, at: now + settings.heartbeatInterval)
    }

    /// Lease mode: this leader may answer a read locally at `now` (its own clock). A single-node
    /// cluster has no one else who could lead.
    func holdsLease(now: Instant) -> Bool {
        role == .leader && (cluster.size == 1 || now < lead.lease.expiry)
    }

    /// A round is confirmed when a majority, counting the leader, has acknowledged it or a later one:
    /// each of them heard from this leader after it sent the round and promises no other ballot for
    /// an election timeout after that, so no other leader exists before sentAt + electionTimeout
    /// (less the margin for clock drift). Raft dissertation §6.4.1.
    mutating func confirmLeaseRounds() {
        var acked = lead.peers.map(\.roundAcked)
        acked.append(lead.lease.round)
        acked.sort(by: >)
        let confirmed = acked[quorum - 1]
        guard confirmed > 0, let sentAt = lead.lease.sentTime(of: confirmed) else { return }
        let expiry = sentAt + settings.electionTimeout - settings.leaseMargin
        if expiry > lead.lease.expiry { lead.lease.expiry = expiry }
    }

    mutating func onHeartbeatAck(_ m: MultiPaxos.HeartbeatAck, sender: Int, now: Instant, into out: inout Effects<Message>) {
        guard role == .leader, m.ballot == ballot, let p = lead.peerIndex(position: sender) else { return }
        lead.peers[p].lastHeard = now
        lead.peers[p].learnedThrough = m.learnedThrough
        if settings.leaseReads && m.round > lead.peers[p].roundAcked && m.round <= lead.lease.round {
            lead.peers[p].roundAcked = m.round
            confirmLeaseRounds()
        }
        // The follower knows slots up to commitSeen are chosen but lacks some of their values:
        // it accepted them under another ballot, or never received them.
        if m.learnedThrough < min(m.commitSeen, commitIndex) { sendLearn(to: p, now: now, into: &out) }
    }

    /// Sends a follower the chosen values after its learned prefix, one batch at a time.
    mutating func sendLearn(to p: Int, now: Instant, into out: inout Effects<Message>) {
        let progress = lead.peers[p]
        if progress.learnSentThrough > progress.learnedThrough && now - progress.learnSentAt < settings.retryTimeout { return }
        let first = progress.learnedThrough.next
        let payloads = chosenValues(from: first)
        guard !payloads.isEmpty else { return }
        out.send(.learn(.init(ballot: ballot, firstSlot: first, payloads: payloads)), to: progress.peer)
        lead.peers[p].learnSentThrough = first.advanced(by: Int64(payloads.count - 1))
        lead.peers[p].learnSentAt = now
    }

    mutating func armRetryIfNeeded(now: Instant, into out: inout Effects<Message>) {
        guard !retryArmed, role == .leader, lead.proposals.contains(where: { !$0.chosen && $0.sentAt != nil }) else { return }
        retryArmed = true
        out.setTimer(MultiPaxos.Timers.retry, at: now + settings.retryTimeout)
    }

    /// Messages get lost: Accepts unanswered for a retry timeout go again to the peers that did not
    /// answer, in runs of consecutive slots.
    mutating func resendStaleProposals(now: Instant, into out: inout Effects<Message>) {
        let staleAt = now - settings.retryTimeout
        let sentCount = lead.offset(of: lead.sendFrom)
        let ballot = self.ballot
        let commit = commitIndex
        let runsMax = settings.inflightMax
        func isStale(_ p: MultiPaxos.Proposal) -> Bool {
            guard !p.chosen, let sentAt = p.sentAt else { return false }
            return sentAt <= staleAt
        }
        for peer in lead.peers {
            let mask = bit(peer.position)
            var first = LogIndex.zero
            var payloads: [EntryPayload] = []
            var bytes = 0
            var messages = 0
            func flush(_ out: inout Effects<Message>) {
                guard !payloads.isEmpty else { return }
                out.send(.accept(.init(ballot: ballot, firstSlot: first, payloads: payloads, commit: commit)), to: peer.peer)
                messages += 1
                payloads.removeAll(keepingCapacity: true)
                bytes = 0
            }
            for i in 0..<sentCount where messages < runsMax {
                let proposal = lead.proposals[i]
                guard isStale(proposal), proposal.acks & mask == 0 else {
                    flush(&out)
                    continue
                }
                let size = MultiPaxos.wireSize(of: proposal.payload)
                if payloads.count >= settings.batchEntriesMax || (!payloads.isEmpty && bytes + size > settings.batchBytesMax) {
                    flush(&out)
                }
                if payloads.isEmpty { first = lead.base.advanced(by: Int64(i)) }
                payloads.append(proposal.payload)
                bytes += size
            }
            flush(&out)
            statistics.resends += messages
        }
        for i in 0..<sentCount where isStale(lead.proposals[i]) { lead.proposals[i].sentAt = now }
    }
}
