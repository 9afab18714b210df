import BenchCore

// Multi mode, the acceptor's and the follower's side: promises, accepts, and learning from the
// leader's commit notices.
extension MultiPaxos.Instance {
    mutating func onMultiMessage(_ message: Message, from: NodeID, sender: Int, now: Instant, into out: inout Effects<Message>) {
        switch message {
        case let .prepare(m): onPrepare(m, from: from, now: now, into: &out)
        case let .promise(m): onPromise(m, from: from, sender: sender, now: now, into: &out)
        case let .accept(m): onAccept(m, from: from, now: now, into: &out)
        case let .accepted(m): onAccepted(m, sender: sender, now: now, into: &out)
        case let .reject(m): onReject(m, now: now, into: &out)
        case let .heartbeat(m): onHeartbeat(m, from: from, now: now, into: &out)
        case let .heartbeatAck(m): onHeartbeatAck(m, sender: sender, now: now, into: &out)
        case let .learn(m): onMultiLearn(m, from: from, into: &out)
        case .status: break  // basic mode only
        }
    }

    mutating func resetElectionTimer(now: Instant, into out: inout Effects<Message>) {
        let base = settings.electionTimeout.nanoseconds
        let jitter = Int64(random.next() % UInt64(base))
        out.setTimer(MultiPaxos.Timers.election, at: now + .nanoseconds(base + jitter))
    }

    /// True while this node has reason to believe a leader is alive: it then ignores higher
    /// Prepares, so a node rejoining after a partition cannot depose a healthy leader by itself
    /// (the rule Raft's dissertation gives in §4.2.3; it costs Paxos nothing in safety, since
    /// ignoring a Prepare promises nothing).
    func hasLiveLeader(now: Instant) -> Bool {
        if role == .leader { return settings.checkQuorum }
        guard leader != nil, let contact = lastLeaderContact else { return false }
        return now - contact < settings.electionTimeout
    }

    /// Lease mode, the acceptors' half of the lease: a node that heard from a leader less than an
    /// election timeout ago, or (re)started less than one ago, promises no candidate but that
    /// leader, whatever it believes about the leader now, so no new leader can be elected while a
    /// lease this node helped confirm may still be held.
    func leaseForbidsPromising(now: Instant, to candidate: NodeID) -> Bool {
        guard settings.leaseReads else { return false }
        if let startedAt, now - startedAt < settings.electionTimeout { return true }
        if let contact = lastLeaderContact, now - contact < settings.electionTimeout, candidate != leader { return true }
        return false
    }

    /// Phase 1b ("Paxos Made Simple", §2.2, applied to every slot at once): promise never to
    /// accept a ballot below `m.ballot`, and report every value accepted from `m.fromSlot` on.
    mutating func onPrepare(_ m: MultiPaxos.Prepare, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard m.ballot.node == from else { return }
        noteBallot(m.ballot)
        if m.ballot < promised {
            out.send(.reject(.init(ballot: m.ballot, slot: .zero, promised: promised)), to: from)
            return
        }
        if m.ballot > promised {
            if hasLiveLeader(now: now) && leader != from { return }
            if leaseForbidsPromising(now: now, to: from) { return }
            promised = m.ballot
            persistPromise(promised, into: &out)
            if role != .follower { stepDown(now: now, into: &out) }
            leader = nil
            resetElectionTimer(now: now, into: &out)
        }
        // m.ballot == promised: a new promise, a duplicate, or a request for the next chunk.
        out.sendAfterDurable(.promise(promiseChunk(ballot: m.ballot, from: m.fromSlot)), to: from)
    }

    /// One chunk of a promise: chosen values up to the commit index, accepted values after it,
    /// from `from` on, within the batch limits.
    func promiseChunk(ballot: MultiPaxos.Ballot, from: LogIndex) -> MultiPaxos.Promise {
        var entries: [LogEntry] = []
        var bytes = 0
        var slot = max(from, LogIndex(1))
        let last = max(slots.lastIndex, commitIndex)
        while slot <= last && entries.count < settings.batchEntriesMax {
            var entry: LogEntry?
            if slot <= commitIndex {
                entry = LogEntry(index: slot, term: .zero, payload: slots[slot].chosen!)
            } else {
                entry = slots[slot].accepted
            }
            if let entry {
                let size = 16 + MultiPaxos.wireSize(of: entry.payload)
                if !entries.isEmpty && bytes + size > settings.batchBytesMax { break }
                entries.append(entry)
                bytes += size
            }
            slot = slot.next
        }
        return MultiPaxos.Promise(ballot: ballot, fromSlot: from, chosenThrough: commitIndex, entries: entries,
                                  nextSlot: slot <= last ? slot : .zero)
    }

    /// A message from the leader of `ballot`: follow it if its ballot is at least the promise,
    /// refuse it otherwise. Returns whether the message may be acted on.
    mutating func admitLeader(_ ballot: MultiPaxos.Ballot, from: NodeID, slot: LogIndex, now: Instant,
                              into out: inout Effects<Message>) -> Bool {
        noteBallot(ballot)
        if ballot < promised {
            out.send(.reject(.init(ballot: ballot, slot: slot, promised: promised)), to: from)
            return false
        }
        if ballot > promised {
            promised = ballot
            persistPromise(promised, into: &out)
        }
        if role != .follower {
            // A leader or candidate of a lower ballot: a leader of the same ballot would be another
            // node holding our own ballot, which only a bug can produce.
            if ballot == self.ballot && anomalies.count < Self.anomaliesMax {
                anomalies.append("\(id) \(role) with \(ballot) got a leader's message for the same ballot from \(from)")
            }
            stepDown(now: now, into: &out)
        }
        leader = ballot.node
        lastLeaderContact = now
        resetElectionTimer(now: now, into: &out)
        return true
    }

    /// Phase 2b: accept every value whose ballot is at least the promise; answer once on disk.
    mutating func onAccept(_ m: MultiPaxos.Accept, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard m.ballot.node == from, m.firstSlot.rawValue >= 1, m.firstSlot <= slotLimit else { return }
        guard admitLeader(m.ballot, from: from, slot: m.firstSlot, now: now, into: &out) else { return }
        let limit = slotLimit
        var slot = m.firstSlot
        var last = LogIndex.zero
        for payload in m.payloads {
            guard slot <= limit else { break }
            if slots[slot].accepted?.term != m.ballot.term {
                acceptLocally(slot, ballot: m.ballot, payload: payload, into: &out)
            }
            // The leader already said this slot is chosen: its value under this ballot is this one.
            if commitNotice.ballot == m.ballot && slot <= commitNotice.index {
                markChosen(slot, payload, into: &out)
            }
            last = slot
            slot = slot.next
        }
        noteCommit(m.ballot, m.commit, into: &out)
        advanceCommit(into: &out)
        if last >= m.firstSlot {
            out.sendAfterDurable(.accepted(.init(ballot: m.ballot, firstSlot: m.firstSlot, lastSlot: last,
                                                 learnedThrough: commitIndex, commitSeen: commitNotice.index)), to: from)
        }
    }

    /// The leader of `ballot` says every slot up to `commit` is chosen. The leader proposes one value
    /// per slot per ballot, so a value this node accepted under that ballot at such a slot is the
    /// chosen one. Slots it accepted under other ballots (or not at all) it must be sent (Learn).
    mutating func noteCommit(_ ballot: MultiPaxos.Ballot, _ commit: LogIndex, into out: inout Effects<Message>) {
        if commitNotice.ballot != ballot { commitNotice = MultiPaxos.CommitNotice(ballot: ballot, index: commitIndex) }
        let target = min(commit, slotLimit)
        guard target > commitNotice.index else { return }
        var slot = max(commitNotice.index, commitIndex).next
        let term = ballot.term
        while slot <= target {
            if let accepted = slots[slot].accepted, accepted.term == term { markChosen(slot, accepted.payload, into: &out) }
            slot = slot.next
        }
        commitNotice.index = target
    }

    mutating func onHeartbeat(_ m: MultiPaxos.Heartbeat, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard m.ballot.node == from else { return }
        guard admitLeader(m.ballot, from: from, slot: .zero, now: now, into: &out) else { return }
        noteCommit(m.ballot, m.commit, into: &out)
        advanceCommit(into: &out)
        // The acknowledgement follows `admitLeader`, which noted the contact: from here on this node
        // keeps the promise the leader's lease counts on.
        out.send(.heartbeatAck(.init(ballot: m.ballot, learnedThrough: commitIndex, commitSeen: commitNotice.index,
                                     round: m.round)), to: from)
    }

    /// Chosen values from the leader; the acknowledgement keeps them coming while more are missing.
    mutating func onMultiLearn(_ m: MultiPaxos.Learn, from: NodeID, into out: inout Effects<Message>) {
        let last = onLearn(m, into: &out)
        guard m.ballot == promised, m.ballot.node == from, role == .follower else { return }
        out.send(.heartbeatAck(.init(ballot: m.ballot, learnedThrough: commitIndex,
                                     commitSeen: max(commitNotice.index, last))), to: from)
    }
}
