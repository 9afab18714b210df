import BenchCore

extension ZAB {
    /// A follower's side of its connection to a leader (ZooKeeper's `Learner`/`Follower`).
    struct FollowerSession: Sendable {
        enum Phase: Int, Comparable, Sendable {
            /// FOLLOWERINFO sent; waiting for NEWEPOCH.
            case discovering
            /// ACKEPOCH sent; waiting for DIFF, TRUNC or SNAP.
            case awaitingSync
            /// The history is a prefix of the leader's; receiving proposals; waiting for NEWLEADER.
            case synced
            /// NEWLEADER acknowledged: currentEpoch is the leader's epoch and every ACK counts.
            case broadcasting

            static func < (a: Phase, b: Phase) -> Bool { a.rawValue < b.rawValue }
        }

        let leader: NodeID
        let connection: UInt64
        var phase: Phase = .discovering
        /// The epoch accepted in NEWEPOCH (zero before).
        var epoch: Term = .zero
        /// UPTODATE arrived: this server may answer clients from its applied state.
        var upToDate = false
        var lastContact: Instant
        /// Discovery and synchronization must end by then (initLimit).
        var initDeadline: Instant
    }
}

extension ZAB.Instance {
    /// FLE chose `leader`: open a connection to it and announce this server (FOLLOWERINFO).
    mutating func startFollowing(_ leader: NodeID, now: Instant, into out: inout Effects<Message>) {
        precondition(leader != id, "a server does not follow itself")
        state = .following
        leading = nil
        var connection = random.next()
        if connection == 0 { connection = 1 }
        following = ZAB.FollowerSession(leader: leader, connection: connection, lastContact: now,
                                        initDeadline: now + settings.initLimit)
        sendFollowerInfo(into: &out)
    }

    mutating func sendFollowerInfo(into out: inout Effects<Message>) {
        guard let f = following else { return }
        out.send(.followerInfo(.init(connection: f.connection, acceptedEpoch: acceptedEpoch)), to: f.leader)
    }

    /// The session a leader's message belongs to, or nil when it comes from anyone else or from an
    /// earlier connection. Any message of the current connection proves the leader alive.
    mutating func session(from sender: NodeID, connection: UInt64, now: Instant) -> ZAB.FollowerSession? {
        guard state == .following, let f = following, f.leader == sender, f.connection == connection else { return nil }
        following!.lastContact = now
        return following
    }

    /// Cumulative acknowledgement: the history matches the leader's through its end, on disk (it
    /// waits for the disk).
    mutating func sendAck(gap: Bool, into out: inout Effects<Message>) {
        guard let f = following else { return }
        out.sendAfterDurable(.ack(.init(connection: f.connection, epoch: f.epoch, lastIndex: history.lastIndex, gap: gap)),
                             to: f.leader)
    }

    mutating func onFollowerTick(now: Instant, into out: inout Effects<Message>) {
        guard let f = following else { return }
        // Learner: a leader that does not finish synchronizing within initLimit, or that goes
        // silent for syncLimit, is given up on.
        if (f.phase < .broadcasting && now >= f.initDeadline) || now - f.lastContact >= settings.syncLimit {
            lookForLeader(now: now, into: &out)
            return
        }
        if f.phase == .discovering { sendFollowerInfo(into: &out) }
    }

    /// Discovery (Zab phase 1, follower): accept e' only if it is above every epoch acknowledged
    /// before; the acknowledgement promises that durably, so it waits for the disk.
    mutating func onNewEpoch(_ m: ZAB.NewEpoch, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now) else { return }
        switch f.phase {
        case .discovering: break
        case .awaitingSync where m.epoch == f.epoch: break  // a duplicate: acknowledge again
        default: return
        }
        if m.epoch > acceptedEpoch {
            acceptedEpoch = m.epoch
            acceptedLeader = from
            out.persist(hardState)
        } else if !(m.epoch == acceptedEpoch && acceptedLeader == from) {
            // Learner.registerWithLeader: an epoch below the accepted one, or this epoch already
            // acknowledged to another leader: this leader cannot win; look again.
            lookForLeader(now: now, into: &out)
            return
        }
        following!.epoch = m.epoch
        following!.phase = .awaitingSync
        out.sendAfterDurable(.ackEpoch(.init(connection: f.connection, epoch: m.epoch, currentEpoch: currentEpoch,
                                             lastZxid: history.lastZxid)), to: from)
    }

    /// Synchronization (Zab phase 2, follower): drop what the leader's history does not hold.
    mutating func onSync(_ m: ZAB.Sync, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now), m.epoch == f.epoch,
              f.phase >= .awaitingSync else { return }
        guard f.phase == .awaitingSync else {
            // A duplicate: the truncation was applied once; say where the history ends.
            sendAck(gap: false, into: &out)
            return
        }
        // Nothing has changed this history since ACKEPOCH reported its end, so the leader's base
        // lies within it.
        guard m.base <= history.lastIndex else {
            anomalies.append("\(id): \(m.mode) from \(from) names base \(m.base) beyond the history's end \(history.lastIndex)")
            lookForLeader(now: now, into: &out)
            return
        }
        // Committed proposals are in every later leader's history (Zab's invariant), so DIFF and
        // TRUNC never reach below them; a SNAP re-sends them and they are kept, as they are equal.
        if m.mode != .snap && m.base < commitIndex {
            anomalies.append("\(id): \(m.mode) to \(m.base) from \(from) below the commit index \(commitIndex)")
        }
        truncateHistory(from: max(m.base, commitIndex).next, into: &out)
        following!.phase = .synced
        setCommitIndex(m.commit, into: &out)
        sendAck(gap: false, into: &out)
    }

    /// Proposals of the leader's history (the synchronization data, then broadcast), appended in
    /// zxid order without gaps: a gap means a message was lost and the leader must go back.
    mutating func onProposal(_ m: ZAB.Proposal, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now), m.epoch == f.epoch,
              f.phase >= .synced else { return }
        if let first = m.entries.first, first.index > history.lastIndex.next {
            setCommitIndex(m.commit, into: &out)
            sendAck(gap: true, into: &out)
            return
        }
        for entry in m.entries {
            if entry.term > f.epoch {
                anomalies.append("\(id): proposal \(entry.index) of epoch \(entry.term) from the leader of \(f.epoch)")
            }
            if entry.index <= history.lastIndex {
                if history.epoch(at: entry.index) == entry.term { continue }  // a duplicate
                // After DIFF/TRUNC/SNAP this history is a prefix of the leader's: never expected.
                anomalies.append("\(id): proposal \(entry.index) of epoch \(entry.term) from \(from) conflicts with epoch \(history.epoch(at: entry.index))")
                truncateHistory(from: entry.index, into: &out)
            }
            appendToHistory(entry)
            out.append(entry)
        }
        setCommitIndex(m.commit, into: &out)
        sendAck(gap: false, into: &out)
    }

    /// NEWLEADER: once the whole initial history is here, take e' as currentEpoch (durably) and say so.
    mutating func onNewLeader(_ m: ZAB.NewLeader, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now), m.epoch == f.epoch,
              f.phase >= .synced else { return }
        guard history.lastIndex >= m.through else {
            // Some of the initial history was lost on the way: ask for it again.
            sendAck(gap: true, into: &out)
            return
        }
        if f.phase == .synced {
            if currentEpoch != m.epoch {
                currentEpoch = m.epoch
                out.persist(hardState)
            }
            following!.phase = .broadcasting
        }
        out.sendAfterDurable(.ackNewLeader(.init(connection: f.connection, epoch: m.epoch)), to: from)
    }

    mutating func onUpToDate(_ m: ZAB.UpToDate, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now), m.epoch == f.epoch,
              f.phase == .broadcasting else { return }
        following!.upToDate = true
        setCommitIndex(m.commit, into: &out)
    }

    /// COMMIT: the leader's history is committed through `commit`; this history is a prefix of it,
    /// so everything held up to there is delivered.
    mutating func onCommit(_ m: ZAB.Commit, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now), m.epoch == f.epoch,
              f.phase >= .synced else { return }
        setCommitIndex(m.commit, into: &out)
    }

    mutating func onPing(_ m: ZAB.Ping, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let f = session(from: from, connection: m.connection, now: now) else { return }
        if f.phase >= .synced && m.epoch == f.epoch {
            setCommitIndex(m.commit, into: &out)
            if m.upToDate && f.phase == .broadcasting { following!.upToDate = true }
        }
        out.send(.pingAck(.init(connection: f.connection, epoch: m.epoch, readRound: m.readRound)), to: from)
    }
}
