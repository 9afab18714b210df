import BenchCore

extension ZAB {
    /// What a leader knows about one follower's connection (ZooKeeper's `LearnerHandler`).
    struct Learner: Sendable {
        enum Phase: Int, Comparable, Sendable {
            /// FOLLOWERINFO arrived; the epoch is not chosen yet.
            case discovering
            /// NEWEPOCH sent; waiting for ACKEPOCH.
            case awaitingAckEpoch
            /// ACKEPOCH arrived; synchronization starts once the epoch is established.
            case ackedEpoch
            /// DIFF/TRUNC/SNAP sent, proposals streaming, NEWLEADER not yet acknowledged.
            case syncing
            /// NEWLEADER acknowledged: its ACKs count toward commits.
            case broadcasting

            static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
        }

        let peer: NodeID
        let connection: UInt64
        var phase: Phase = .discovering
        var acceptedEpoch: Term
        /// From ACKEPOCH: the follower's currentEpoch and last zxid.
        var followerEpoch: Term = .zero
        var followerLast: Zxid = .zero
        var syncMode: SyncMode = .diff
        /// The follower's history matches the leader's through here once it applied the sync.
        var base: LogIndex = .zero
        /// Some ACK arrived since the sync was sent (so the follower applied it).
        var syncAcked = false
        var syncSentAt: Instant
        var newLeaderSentAt: Instant?
        /// The follower's history matches this leader's, on disk, through here.
        var ackedIndex: LogIndex = .zero
        /// The next position to send. It runs ahead of what was acknowledged (pipelining).
        var nextIndex = LogIndex(1)
        /// Last position carried by each unacknowledged PROPOSAL, oldest first (bounded by inflightMax).
        var inflight: [LogIndex] = []
        /// When ackedIndex last moved, or sending restarted from an empty pipeline.
        var lastProgressAt: Instant
        /// Heard from since the last quorum check.
        var heardSinceCheck = true
        /// The commit index this follower was last told.
        var sentCommit: LogIndex = .zero
        /// The highest read round this follower confirmed.
        var readRoundAcked: UInt64 = 0

        init(peer: NodeID, connection: UInt64, acceptedEpoch: Term, now: Instant) {
            self.peer = peer
            self.connection = connection
            self.acceptedEpoch = acceptedEpoch
            self.syncSentAt = now
            self.lastProgressAt = now
        }
    }

    /// A leader's state, from the moment FLE chose it (ZooKeeper's `Leader.lead`).
    struct LeaderSession: Sendable {
        enum Phase: Int, Comparable, Sendable {
            /// Collecting FOLLOWERINFO from a quorum.
            case discovery
            /// NEWEPOCH(e') sent; collecting ACKEPOCH from a quorum.
            case epochProposed
            /// e' established (a quorum acknowledged it); synchronizing; collecting NEWLEADER ACKs.
            case synchronizing
            /// A quorum holds the initial history: proposing and committing.
            case broadcasting

            static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
        }

        var phase: Phase = .discovery
        /// e', once chosen.
        var epoch: Term = .zero
        /// One per member position; nil for this server and for members not connected.
        var learners: [Learner?]
        /// The end of the initial history I(e') (the leader's history when e' was established).
        var establishedIndex: LogIndex = .zero
        /// Each step before broadcasting must end by then (initLimit).
        var initDeadline: Instant
        var quorumCheckDeadline: Instant
        var reads = ReadQueue()

        init(members: Int, initDeadline: Instant) {
            learners = Array(repeating: nil, count: members)
            self.initDeadline = initDeadline
            self.quorumCheckDeadline = initDeadline
        }
    }
}

extension ZAB.Instance {
    // MARK: Discovery (Zab phase 1, leader)

    /// FLE chose this server: it leads prospectively, and learns its followers' epochs first.
    mutating func becomeProspectiveLeader(now: Instant, into out: inout Effects<Message>) {
        state = .leading
        following = nil
        leading = ZAB.LeaderSession(members: cluster.size, initDeadline: now + settings.initLimit)
        if cluster.quorum == 1 { chooseEpoch(now: now, into: &out) }
    }

    func countsTowardCommit(_ learner: ZAB.Learner) -> Bool {
        learner.phase == .broadcasting || (settings.unsafeSkipSync && learner.phase == .syncing)
    }

    mutating func onFollowerInfo(_ m: ZAB.FollowerInfo, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard state == .leading, leading != nil, let k = position(of: from) else { return }
        if leading!.learners[k]?.connection != m.connection {
            // A new connection from this follower replaces whatever the old one had reached.
            leading!.learners[k] = ZAB.Learner(peer: from, connection: m.connection, acceptedEpoch: m.acceptedEpoch, now: now)
        }
        leading!.learners[k]!.heardSinceCheck = true
        if leading!.phase == .discovery {
            let connected = leading!.learners.count { $0 != nil } + 1
            if connected >= cluster.quorum { chooseEpoch(now: now, into: &out) }
        } else if leading!.learners[k]!.phase <= .awaitingAckEpoch {
            // The epoch is chosen: a follower arriving late (or repeating itself) is told it.
            leading!.learners[k]!.phase = .awaitingAckEpoch
            sendNewEpoch(to: k, into: &out)
        }
    }

    /// A quorum is connected: propose e' = the highest acceptedEpoch among them, plus one.
    mutating func chooseEpoch(now: Instant, into out: inout Effects<Message>) {
        precondition(leading?.phase == .discovery, "the epoch is chosen once")
        var highest = max(acceptedEpoch, currentEpoch)
        for learner in leading!.learners { if let learner { highest = max(highest, learner.acceptedEpoch) } }
        let epoch = highest.next
        acceptedEpoch = epoch
        acceptedLeader = id
        out.persist(hardState)
        leading!.epoch = epoch
        leading!.phase = .epochProposed
        for k in leading!.learners.indices where leading!.learners[k] != nil {
            leading!.learners[k]!.phase = .awaitingAckEpoch
            sendNewEpoch(to: k, into: &out)
        }
        if cluster.quorum == 1 { establish(now: now, into: &out) }
    }

    /// NEWEPOCH waits for the leader's own acceptedEpoch to be on disk, so every ACKEPOCH implies
    /// it: the leader then counts itself in the quorum.
    mutating func sendNewEpoch(to k: Int, into out: inout Effects<Message>) {
        guard let learner = leading?.learners[k] else { return }
        out.sendAfterDurable(.newEpoch(.init(connection: learner.connection, epoch: leading!.epoch)), to: learner.peer)
    }

    mutating func onAckEpoch(_ m: ZAB.AckEpoch, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard state == .leading, let phase = leading?.phase, phase >= .epochProposed, m.epoch == leading!.epoch,
              let k = position(of: from), let learner = leading!.learners[k], learner.connection == m.connection,
              learner.phase == .awaitingAckEpoch else { return }
        leading!.learners[k]!.phase = .ackedEpoch
        leading!.learners[k]!.followerEpoch = m.currentEpoch
        leading!.learners[k]!.followerLast = m.lastZxid
        leading!.learners[k]!.heardSinceCheck = true
        switch phase {
        case .epochProposed:
            // Leader.waitForEpochAck: the leader must hold the most up-to-date history of the quorum
            // (highest currentEpoch, then highest last zxid). A follower ahead of it means the
            // election picked the wrong server: give up and let FLE pick that follower.
            if m.currentEpoch > currentEpoch || (m.currentEpoch == currentEpoch && m.lastZxid > history.lastZxid) {
                lookForLeader(now: now, into: &out)
                return
            }
            let acked = leading!.learners.count { $0?.phase == .ackedEpoch } + 1
            if acked >= cluster.quorum { establish(now: now, into: &out) }
        case .synchronizing, .broadcasting:
            startSync(k, now: now, into: &out)
        case .discovery:
            break
        }
    }

    /// A quorum acknowledged e': no other server can establish it. This server's history is the
    /// initial history of e' (it is the most up to date of that quorum), and e' its currentEpoch.
    mutating func establish(now: Instant, into out: inout Effects<Message>) {
        precondition(leading?.phase == .epochProposed, "an epoch is established once")
        currentEpoch = leading!.epoch
        out.persist(hardState)
        leading!.phase = .synchronizing
        leading!.establishedIndex = history.lastIndex
        leading!.initDeadline = now + settings.initLimit
        statistics.epochsLed += 1
        for k in leading!.learners.indices where leading!.learners[k]?.phase == .ackedEpoch {
            startSync(k, now: now, into: &out)
        }
        // Deliberately broken: broadcast before a quorum holds the initial history.
        if settings.unsafeSkipSync || cluster.quorum == 1 { startBroadcasting(now: now, into: &out) }
    }

    // MARK: Synchronization (Zab phase 2, leader)

    /// Where the follower's history last agrees with this one, and how to get it there
    /// (`LearnerHandler.syncFollower`). Histories that share a (position, epoch) share the whole
    /// prefix up to it, so the follower's last zxid tells enough.
    func syncPoint(for last: ZAB.Zxid) -> (ZAB.SyncMode, LogIndex) {
        if settings.unsafeSkipSync { return (.diff, min(last.index, history.lastIndex)) }  // deliberately broken
        if last.index == .zero { return (.diff, .zero) }
        if last.index <= history.lastIndex && history.epoch(at: last.index) == last.epoch { return (.diff, last.index) }
        // The follower has proposals of its last epoch that this history lacks: they were never
        // committed; cut back to the last proposal of that epoch both hold.
        if let end = history.lastIndex(ofEpoch: last.epoch), end < last.index { return (.trunc, end) }
        return (.snap, .zero)
    }

    /// Sends DIFF/TRUNC/SNAP and starts streaming the history after its base. Also the resend
    /// when the follower did not acknowledge the sync in time.
    mutating func startSync(_ k: Int, now: Instant, resend: Bool = false, into out: inout Effects<Message>) {
        guard var learner = leading?.learners[k] else { return }
        let (mode, base) = syncPoint(for: learner.followerLast)
        if !resend {
            switch mode {
            case .diff: statistics.syncsDiff += 1
            case .trunc: statistics.syncsTrunc += 1
            case .snap: statistics.syncsSnap += 1
            }
        }
        learner.phase = .syncing
        learner.syncMode = mode
        learner.base = base
        learner.syncAcked = false
        learner.syncSentAt = now
        learner.newLeaderSentAt = nil
        learner.ackedIndex = .zero
        learner.nextIndex = base.next
        learner.inflight = []
        learner.lastProgressAt = now
        leading!.learners[k] = learner
        out.send(.sync(.init(connection: learner.connection, epoch: leading!.epoch, mode: mode, base: base,
                             commit: commitIndex)), to: learner.peer)
        sendProposals(to: k, now: now, into: &out)
    }

    /// Streams the history from the follower's next position, batched, while the pipeline has
    /// room; then NEWLEADER once the initial history is all on its way.
    mutating func sendProposals(to k: Int, now: Instant, into out: inout Effects<Message>) {
        guard let epoch = leading?.epoch, let established = leading?.establishedIndex,
              var learner = leading!.learners[k], learner.phase >= .syncing else { return }
        while learner.inflight.count < settings.inflightMax && learner.nextIndex <= history.lastIndex {
            if learner.inflight.isEmpty { learner.lastProgressAt = now }
            var entries: [LogEntry] = []
            var bytes = 0
            var index = learner.nextIndex
            while index <= history.lastIndex && entries.count < settings.batchEntriesMax {
                let entry = history[index]
                let size = entry.zabWireSize
                if !entries.isEmpty && bytes + size > settings.batchBytesMax { break }
                entries.append(entry)
                bytes += size
                index = index.next
            }
            out.send(.proposal(.init(connection: learner.connection, epoch: epoch, entries: entries, commit: commitIndex)),
                     to: learner.peer)
            learner.inflight.append(index.previous)
            learner.nextIndex = index
            learner.sentCommit = commitIndex
        }
        if learner.phase == .syncing && learner.newLeaderSentAt == nil && learner.nextIndex > established {
            // NEWLEADER waits for this leader's currentEpoch and history to be on disk, so every
            // acknowledgement of it implies them: the leader then counts itself in the quorum.
            out.sendAfterDurable(.newLeader(.init(connection: learner.connection, epoch: epoch, through: established)),
                                 to: learner.peer)
            learner.newLeaderSentAt = now
        }
        leading!.learners[k] = learner
    }

    mutating func onAck(_ m: ZAB.Ack, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard state == .leading, let phase = leading?.phase, phase >= .synchronizing, m.epoch == leading!.epoch,
              let k = position(of: from), var learner = leading!.learners[k], learner.connection == m.connection,
              learner.phase >= .syncing else { return }
        guard m.lastIndex <= history.lastIndex else {
            anomalies.append("\(id): \(from) acknowledges \(m.lastIndex) beyond the leader's history end \(history.lastIndex)")
            return
        }
        learner.heardSinceCheck = true
        learner.syncAcked = true
        if m.lastIndex > learner.ackedIndex {
            learner.ackedIndex = m.lastIndex
            learner.lastProgressAt = now
        }
        learner.inflight.removeAll { $0 <= m.lastIndex }
        if learner.nextIndex <= learner.ackedIndex { learner.nextIndex = learner.ackedIndex.next }
        if m.gap && m.lastIndex == learner.ackedIndex && learner.nextIndex > m.lastIndex.next {
            // A PROPOSAL (or the data before NEWLEADER) was lost: go back to the follower's end.
            learner.nextIndex = m.lastIndex.next
            learner.inflight = []
            learner.newLeaderSentAt = nil
        } else if m.gap && learner.phase == .syncing && learner.nextIndex > leading!.establishedIndex {
            // NEWLEADER overtook the data it needs: send it again after what is in flight.
            learner.newLeaderSentAt = nil
        }
        leading!.learners[k] = learner
        if countsTowardCommit(learner) { advanceCommit(into: &out) }
        sendProposals(to: k, now: now, into: &out)
    }

    mutating func onAckNewLeader(_ m: ZAB.AckNewLeader, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard state == .leading, let phase = leading?.phase, phase >= .synchronizing, m.epoch == leading!.epoch,
              let k = position(of: from), var learner = leading!.learners[k], learner.connection == m.connection,
              learner.phase >= .syncing else { return }
        learner.heardSinceCheck = true
        learner.syncAcked = true
        if learner.phase == .syncing {
            // The follower holds the initial history, on disk, with e' as its currentEpoch.
            learner.phase = .broadcasting
            learner.ackedIndex = max(learner.ackedIndex, leading!.establishedIndex)
            learner.inflight.removeAll { $0 <= learner.ackedIndex }
            if learner.nextIndex <= learner.ackedIndex { learner.nextIndex = learner.ackedIndex.next }
        }
        leading!.learners[k] = learner
        if phase == .synchronizing {
            // Zab phase 2: broadcast only once a quorum (this leader included) holds I(e').
            let acked = leading!.learners.count { $0?.phase == .broadcasting } + 1
            if acked >= cluster.quorum { startBroadcasting(now: now, into: &out) }
        } else {
            out.send(.upToDate(.init(connection: m.connection, epoch: m.epoch, commit: commitIndex)), to: from)
            advanceCommit(into: &out)
        }
    }

    /// A quorum holds the initial history with e' as its currentEpoch: all of it is committed
    /// (Zab 1.0), and proposals of e' may begin.
    mutating func startBroadcasting(now: Instant, into out: inout Effects<Message>) {
        precondition(leading?.phase == .synchronizing, "broadcast starts after synchronization")
        leading!.phase = .broadcasting
        leading!.quorumCheckDeadline = now + settings.syncLimit
        setCommitIndex(leading!.establishedIndex, into: &out)
        for k in leading!.learners.indices {
            guard let learner = leading!.learners[k] else { continue }
            leading!.learners[k]!.heardSinceCheck = true
            if learner.phase == .broadcasting {
                out.send(.upToDate(.init(connection: learner.connection, epoch: leading!.epoch, commit: commitIndex)),
                         to: learner.peer)
            }
        }
        advanceCommit(into: &out)
    }

    // MARK: Broadcast (Zab phase 3, leader)

    /// COMMIT rule: the highest position a quorum (this leader counted only up to its own disk)
    /// has acknowledged.
    mutating func advanceCommit(into out: inout Effects<Message>) {
        guard state == .leading, leading?.phase == .broadcasting else { return }
        var candidate: LogIndex
        if settings.unsafeCommitWithoutQuorum {
            candidate = persistedIndex  // deliberately broken: no quorum
        } else {
            var acked = [persistedIndex]
            for learner in leading!.learners {
                if let learner, countsTowardCommit(learner) { acked.append(learner.ackedIndex) }
            }
            guard acked.count >= cluster.quorum else { return }
            acked.sort(by: >)
            candidate = acked[cluster.quorum - 1]
        }
        if candidate > commitIndex { setCommitIndex(candidate, into: &out) }
    }

    /// The end of a batch of inputs: ship what accumulated, as few messages as the limits allow,
    /// and tell followers what committed.
    mutating func onFlush(now: Instant, into out: inout Effects<Message>) {
        guard state == .leading, let phase = leading?.phase, phase >= .synchronizing else { return }
        for k in leading!.learners.indices {
            guard let learner = leading!.learners[k], learner.phase >= .syncing else { continue }
            sendProposals(to: k, now: now, into: &out)
            if leading!.learners[k]!.sentCommit < commitIndex {
                out.send(.commit(.init(connection: learner.connection, epoch: leading!.epoch, commit: commitIndex)),
                         to: learner.peer)
                leading!.learners[k]!.sentCommit = commitIndex
            }
        }
        startReadRoundIfNeeded(into: &out)
    }

    mutating func onLeaderTick(now: Instant, into out: inout Effects<Message>) {
        guard let phase = leading?.phase else { return }
        if phase < .broadcasting {
            if now >= leading!.initDeadline {
                lookForLeader(now: now, into: &out)
                return
            }
        } else if now >= leading!.quorumCheckDeadline {
            // A leader that has not heard from a quorum within syncLimit steps down (and stops serving reads).
            let heard = leading!.learners.count { $0?.phase == .broadcasting && $0?.heardSinceCheck == true } + 1
            if heard < cluster.quorum {
                lookForLeader(now: now, into: &out)
                return
            }
            for k in leading!.learners.indices where leading!.learners[k] != nil {
                leading!.learners[k]!.heardSinceCheck = false
            }
            leading!.quorumCheckDeadline = now + settings.syncLimit
        }
        let resendAfter = settings.tickInterval * 2
        let round = leading!.reads.latestRound
        for k in leading!.learners.indices {
            guard let learner = leading!.learners[k] else { continue }
            out.send(.ping(.init(connection: learner.connection, epoch: leading!.epoch, commit: commitIndex, readRound: round,
                                 upToDate: phase == .broadcasting && learner.phase == .broadcasting)), to: learner.peer)
            switch learner.phase {
            case .awaitingAckEpoch:
                sendNewEpoch(to: k, into: &out)
            case .syncing, .broadcasting:
                if !learner.syncAcked {
                    if now - learner.syncSentAt >= resendAfter { startSync(k, now: now, resend: true, into: &out) }
                } else if !learner.inflight.isEmpty && now - learner.lastProgressAt >= resendAfter {
                    // Nothing acknowledged for a while: proposals were lost; go back to what is acknowledged.
                    leading!.learners[k]!.nextIndex = max(learner.ackedIndex, learner.base).next
                    leading!.learners[k]!.inflight = []
                    leading!.learners[k]!.newLeaderSentAt = nil
                    sendProposals(to: k, now: now, into: &out)
                } else if learner.phase == .syncing, let sent = learner.newLeaderSentAt, now - sent >= resendAfter {
                    leading!.learners[k]!.newLeaderSentAt = nil
                    sendProposals(to: k, now: now, into: &out)
                }
            case .discovering, .ackedEpoch:
                break
            }
        }
        leading!.reads.markRoundSent()
    }

    mutating func onPingAck(_ m: ZAB.PingAck, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard state == .leading, let k = position(of: from), let learner = leading?.learners[k],
              learner.connection == m.connection else { return }
        leading!.learners[k]!.heardSinceCheck = true
        if m.epoch == leading!.epoch && learner.phase >= .syncing && m.readRound > learner.readRoundAcked {
            leading!.learners[k]!.readRoundAcked = m.readRound
            confirmReadRounds(into: &out)
        }
    }

    /// Leadership ended: answer what this leader can no longer vouch for.
    mutating func stepDownAsLeader(into out: inout Effects<Message>) {
        guard let session = leading else { return }
        out.cancelTimer(ZAB.Timers.finalize)
        if session.phase == .broadcasting {
            // Uncommitted proposals may still commit under the next leader, or vanish: the client must ask again.
            var index = commitIndex.next
            while index <= history.lastIndex {
                if case let .command(request) = history[index].payload { out.reply(ClientReply(to: request, .unknown)) }
                index = index.next
            }
        }
        for read in session.reads.pending { out.reply(ClientReply(to: read.request, .notLeader(hint: nil))) }
        leading = nil
    }
}
