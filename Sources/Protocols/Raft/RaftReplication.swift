import BenchCore

extension Raft {
    /// What a leader knows about one follower (etcd raft's `tracker.Progress`).
    struct Progress: Sendable {
        enum Mode: Sendable {
            /// Finding where the logs agree: one AppendEntries at a time.
            case probe
            /// Logs agree up to matchIndex: stream AppendEntries, up to `inflightMax` unacknowledged.
            case replicate
        }

        let peer: NodeID
        var mode: Mode = .probe
        var matchIndex: LogIndex = .zero
        /// The next index to send. In replicate mode it runs ahead of what was acknowledged.
        var nextIndex: LogIndex
        /// Last index carried by each unacknowledged AppendEntries, oldest first (bounded by inflightMax).
        var inflight: [LogIndex] = []
        /// Heard from since the last quorum check.
        var recentlyActive = true
        /// When matchIndex last moved or the follower was last sent a probe, to resend after losses.
        var lastProgressAt: Instant
        /// The highest ReadIndex round this follower confirmed.
        var readRoundAcked: UInt64 = 0

        init(peer: NodeID, nextIndex: LogIndex, now: Instant) {
            self.peer = peer
            self.nextIndex = nextIndex
            self.lastProgressAt = now
        }
    }
}

extension Raft.Instance {
    func progressIndex(of peer: NodeID) -> Int? {
        progress.firstIndex { $0.peer == peer }
    }

    /// Sends the entries from the follower's nextIndex, batched up to the limits, if the
    /// pipeline has room. Returns whether something was sent.
    @discardableResult
    mutating func sendAppend(to i: Int, now: Instant, allowEmpty: Bool = true, into out: inout Effects<Message>) -> Bool {
        var pr = progress[i]
        defer { progress[i] = pr }
        switch pr.mode {
        case .probe: guard pr.inflight.isEmpty else { return false }
        case .replicate: guard pr.inflight.count < settings.inflightMax else { return false }
        }
        let prevIndex = pr.nextIndex.previous
        precondition(prevIndex <= log.lastIndex, "nextIndex \(pr.nextIndex) beyond the log's end")
        var entries: [LogEntry] = []
        var bytes = 0
        var index = pr.nextIndex
        while index <= log.lastIndex && entries.count < settings.batchEntriesMax {
            let entry = log[index]
            let size = entry.approximateSize
            if !entries.isEmpty && bytes + size > settings.batchBytesMax { break }
            entries.append(entry)
            bytes += size
            index = index.next
        }
        if entries.isEmpty && !allowEmpty { return false }
        let last = prevIndex.advanced(by: Int64(entries.count))
        out.send(.appendEntries(.init(term: currentTerm, leader: id, prevLogIndex: prevIndex,
                                      prevLogTerm: log.term(at: prevIndex), entries: entries,
                                      leaderCommit: commitIndex)), to: pr.peer)
        pr.inflight.append(last)
        if pr.mode == .replicate { pr.nextIndex = last.next }
        if pr.mode == .probe { pr.lastProgressAt = now }
        return true
    }

    /// The end of a batch of inputs: ship what accumulated, as few messages as the limits allow.
    mutating func onFlush(now: Instant, into out: inout Effects<Message>) {
        guard isLeader else { return }
        for i in progress.indices {
            while progress[i].nextIndex <= log.lastIndex && sendAppend(to: i, now: now, allowEmpty: false, into: &out) {}
        }
        startReadRoundIfNeeded(now: now, into: &out)
    }

    // MARK: Follower side

    mutating func acceptLeader(_ leader: NodeID, term: Term, now: Instant, into out: inout Effects<Message>) {
        if term > currentTerm || role != .follower {
            becomeFollower(term: term, leader: leader, now: now, into: &out)
        } else {
            resetElectionTimer(now: now, into: &out)
        }
        self.leader = leader
        lastLeaderContact = now
    }

    mutating func onAppendEntries(_ m: Raft.AppendEntries, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard m.term >= currentTerm else {
            out.send(.appendResponse(.init(term: currentTerm, success: false, matchIndex: .zero, rejectedIndex: m.prevLogIndex,
                                           conflictTerm: nil, conflictIndex: .zero)), to: from)
            return
        }
        if isLeader && m.term == currentTerm {
            anomalies.append("\(id) leads \(currentTerm) and got AppendEntries from \(from) in the same term")
            return
        }
        acceptLeader(m.leader, term: m.term, now: now, into: &out)

        // §5.3 consistency check, with the fast back-off hint.
        if m.prevLogIndex > log.lastIndex {
            out.send(.appendResponse(.init(term: currentTerm, success: false, matchIndex: .zero, rejectedIndex: m.prevLogIndex,
                                           conflictTerm: nil, conflictIndex: log.lastIndex.next)), to: from)
            return
        }
        if log.term(at: m.prevLogIndex) != m.prevLogTerm {
            let conflictTerm = log.term(at: m.prevLogIndex)
            out.send(.appendResponse(.init(term: currentTerm, success: false, matchIndex: .zero, rejectedIndex: m.prevLogIndex,
                                           conflictTerm: conflictTerm, conflictIndex: log.firstIndex(ofTermAt: m.prevLogIndex))),
                     to: from)
            return
        }
        // Skip entries we already hold; truncate at the first conflict; append the rest.
        for entry in m.entries {
            if log.contains(entry.index) {
                if log.term(at: entry.index) == entry.term { continue }
                if entry.index <= commitIndex {
                    anomalies.append("\(id) truncates committed entry \(entry.index) (commit \(commitIndex))")
                }
                log.truncate(from: entry.index)
                out.truncate(from: entry.index)
                if persistedIndex >= entry.index { persistedIndex = entry.index.previous }
            }
            log.append(entry)
            out.append(entry)
        }
        let matched = m.prevLogIndex.advanced(by: Int64(m.entries.count))
        setCommitIndex(min(m.leaderCommit, matched), into: &out)
        // The acknowledgement promises the entries are on disk: it waits for them.
        out.sendAfterDurable(.appendResponse(.init(term: currentTerm, success: true, matchIndex: matched,
                                                   rejectedIndex: .zero, conflictTerm: nil, conflictIndex: .zero)), to: from)
    }

    mutating func onHeartbeat(_ m: Raft.Heartbeat, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard m.term >= currentTerm else {
            out.send(.heartbeatResponse(.init(term: currentTerm, readRound: 0)), to: from)
            return
        }
        if isLeader && m.term == currentTerm {
            anomalies.append("\(id) leads \(currentTerm) and got a heartbeat from \(from) in the same term")
            return
        }
        acceptLeader(m.leader, term: m.term, now: now, into: &out)
        // The leader sends a commit index this follower is known to match (min(commit, matchIndex)).
        setCommitIndex(min(m.commit, log.lastIndex), into: &out)
        out.send(.heartbeatResponse(.init(term: currentTerm, readRound: m.readRound)), to: from)
    }

    // MARK: Leader side

    mutating func onAppendResponse(_ m: Raft.AppendResponse, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        if m.term > currentTerm {
            becomeFollower(term: m.term, leader: nil, now: now, into: &out)
            return
        }
        guard isLeader, m.term == currentTerm, let i = progressIndex(of: from) else { return }
        progress[i].recentlyActive = true
        if m.success {
            onAppendAccepted(matchIndex: m.matchIndex, follower: i, now: now, into: &out)
        } else {
            onAppendRejected(m, follower: i, now: now, into: &out)
        }
    }

    mutating func onAppendAccepted(matchIndex: LogIndex, follower i: Int, now: Instant, into out: inout Effects<Message>) {
        precondition(matchIndex <= log.lastIndex, "a follower cannot match beyond the leader's log")
        var pr = progress[i]
        pr.inflight.removeAll { $0 <= matchIndex }
        if matchIndex > pr.matchIndex {
            pr.matchIndex = matchIndex
            pr.lastProgressAt = now
        }
        if pr.nextIndex <= pr.matchIndex { pr.nextIndex = pr.matchIndex.next }
        if pr.mode == .probe {
            // The logs agree up to matchIndex: start streaming from there.
            pr.mode = .replicate
            pr.inflight = []
            pr.nextIndex = pr.matchIndex.next
        }
        progress[i] = pr
        advanceCommit(into: &out)
        while progress[i].nextIndex <= log.lastIndex && sendAppend(to: i, now: now, allowEmpty: false, into: &out) {}
    }

    mutating func onAppendRejected(_ m: Raft.AppendResponse, follower i: Int, now: Instant, into out: inout Effects<Message>) {
        var pr = progress[i]
        // A rejection of something the follower has since matched is stale, and so is one that
        // answers an earlier probe than the one in flight.
        guard m.rejectedIndex > pr.matchIndex else { return }
        if pr.mode == .probe && m.rejectedIndex != pr.nextIndex.previous { return }
        var next: LogIndex
        if let conflictTerm = m.conflictTerm, let last = log.lastIndex(ofTerm: conflictTerm) {
            next = last.next
        } else {
            next = m.conflictIndex
        }
        // Never back past what the follower matched, never beyond the probe that failed.
        next = max(pr.matchIndex.next, min(next, m.rejectedIndex))
        pr.nextIndex = max(next, LogIndex(1))
        pr.mode = .probe
        pr.inflight = []
        progress[i] = pr
        sendAppend(to: i, now: now, into: &out)
    }

    /// §5.3/§5.4.2: the commit index is the highest index a majority holds on disk, and only an
    /// entry of the leader's own term commits by counting.
    mutating func advanceCommit(into out: inout Effects<Message>) {
        guard isLeader else { return }
        var matches = progress.map(\.matchIndex)
        matches.append(persistedIndex)
        matches.sort(by: >)
        let candidate = matches[cluster.quorum - 1]
        guard candidate > commitIndex else { return }
        if log.term(at: candidate) == currentTerm || settings.unsafeCommitPreviousTerms {
            setCommitIndex(candidate, into: &out)
        }
    }

    mutating func onHeartbeatTimer(now: Instant, into out: inout Effects<Message>) {
        guard isLeader else { return }
        if settings.checkQuorum && now >= quorumCheckDeadline {
            let active = progress.count { $0.recentlyActive } + 1
            if active < cluster.quorum {
                // Cut off from a majority: stop acting as leader (and stop serving reads).
                becomeFollower(term: currentTerm, leader: nil, now: now, into: &out)
                return
            }
            for i in progress.indices { progress[i].recentlyActive = false }
            quorumCheckDeadline = now + settings.electionTimeout
        }
        let resendAfter = settings.heartbeatInterval * 2
        // Lease mode: every heartbeat is a round, so the lease renews without reads.
        if settings.readMode == .lease { reads.openRound() }
        for i in progress.indices {
            let pr = progress[i]
            out.send(.heartbeat(.init(term: currentTerm, leader: id, commit: min(commitIndex, pr.matchIndex),
                                      readRound: reads.latestRound)), to: pr.peer)
            // Messages get lost: if nothing moved for a while, fall back to probing from what matched.
            if !pr.inflight.isEmpty && now - pr.lastProgressAt >= resendAfter {
                progress[i].mode = .probe
                progress[i].inflight = []
                progress[i].nextIndex = pr.matchIndex.next
                sendAppend(to: i, now: now, into: &out)
            }
        }
        reads.markRoundSent(at: now, recordTime: settings.readMode == .lease)
        out.setTimer(Raft.Timers.heartbeat, at: now + settings.heartbeatInterval)
    }

    mutating func onHeartbeatResponse(_ m: Raft.HeartbeatResponse, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        if m.term > currentTerm {
            becomeFollower(term: m.term, leader: nil, now: now, into: &out)
            return
        }
        guard isLeader, m.term == currentTerm, let i = progressIndex(of: from) else { return }
        progress[i].recentlyActive = true
        if m.readRound > progress[i].readRoundAcked {
            progress[i].readRoundAcked = m.readRound
            confirmReadRounds(into: &out)
        }
        // A follower that is alive but idle in probe mode with nothing in flight gets the next probe.
        if progress[i].mode == .probe && progress[i].inflight.isEmpty && progress[i].nextIndex <= log.lastIndex {
            sendAppend(to: i, now: now, into: &out)
        }
    }
}

extension LogEntry {
    /// Bytes this entry takes on the wire, near enough for batch limits.
    var approximateSize: Int {
        switch payload {
        case .noop: 24
        case let .command(request): 40 + request.command.approximateSize
        case let .record(bytes): 28 + bytes.count
        }
    }
}
