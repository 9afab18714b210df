import BenchCore

extension PrimaryBackup.Member {
    typealias Message = PrimaryBackup.Message
    typealias Storage = PrimaryBackup.Storage

    // MARK: Primary: sending

    /// Sends the entries from the backup's `nextIndex`, batched up to the limits, if the pipeline
    /// has room. Returns whether something was sent.
    @discardableResult
    mutating func sendAppend(now: Instant, allowEmpty: Bool, into out: inout Effects<Message>) -> Bool {
        precondition(role == .primary && activated, "only an active primary sends appends")
        if progress.probing {
            guard progress.inflight.isEmpty else { return false }
        } else {
            guard progress.inflight.count < settings.inflightMax else { return false }
        }
        let prev = progress.nextIndex.previous
        precondition(prev <= log.lastIndex, "nextIndex \(progress.nextIndex) beyond the log's end")
        var entries: [LogEntry] = []
        var bytes = 0
        var index = progress.nextIndex
        while index <= log.lastIndex && entries.count < settings.batchEntriesMax {
            let entry = log[index]
            let size = entry.approximateWireSize
            if !entries.isEmpty && bytes + size > settings.batchBytesMax { break }
            entries.append(entry)
            bytes += size
            index = index.next
        }
        if entries.isEmpty && !allowEmpty { return false }
        let last = prev.advanced(by: Int64(entries.count))
        out.send(.append(.init(group: groupWire, epoch: epoch, sentAt: now, prevSeq: prev, prevEpoch: log.epoch(at: prev),
                               commit: commitIndex, inSync: announcesInSync, entries: entries)), to: peer)
        progress.inflight.append(last)
        if progress.probing {
            progress.lastProgressAt = now
        } else {
            progress.nextIndex = last.next
        }
        return true
    }

    /// The end of a batch of inputs: ship what accumulated, as few appends as the limits allow.
    mutating func flush(now: Instant, into out: inout Effects<Message>) {
        guard role == .primary, activated else { return }
        while progress.nextIndex <= log.lastIndex && sendAppend(now: now, allowEmpty: false, into: &out) {}
    }

    /// Every heartbeat interval.
    mutating func onTick(now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        switch role {
        case .primary:
            guard activated else { return }
            let leased = !synced || now < leaseExpiry
            if wasLeased && !leased { stats.leaseLapses += 1 }
            wasLeased = leased
            // A backup that went silent while catching up is not waited for: serve alone again.
            if syncPending, let lastAck = progress.lastAckAt, now - lastAck >= settings.leaseDuration {
                syncPending = false
                advanceCommit(now: now, storage: &storage, into: &out)
            }
            // The heartbeat: an empty append at the point the backup is known to match, so it
            // always fits; its acknowledgement renews the lease.
            let matched = progress.matched
            out.send(.append(.init(group: groupWire, epoch: epoch, sentAt: now, prevSeq: matched, prevEpoch: log.epoch(at: matched),
                                   commit: min(commitIndex, matched), inSync: announcesInSync, entries: [])), to: peer)
            // Messages get lost: if nothing moved for a while, fall back to probing from what matched.
            if !progress.inflight.isEmpty && now - progress.lastProgressAt >= settings.heartbeatInterval * 2 {
                progress.probing = true
                progress.inflight = []
                progress.nextIndex = matched.next
            }
            if progress.probing && progress.inflight.isEmpty && progress.nextIndex <= log.lastIndex {
                sendAppend(now: now, allowEmpty: false, into: &out)
            }
        case .backup:
            checkPromotion(now: now, storage: &storage, into: &out)
        case .relinquished:
            out.send(.relinquish(.init(group: groupWire, epoch: epoch)), to: peer)
        }
    }

    // MARK: Primary: acknowledgements

    mutating func onAck(_ m: PrimaryBackup.Ack, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        guard m.epoch == epoch else {
            // Older: from before this node's current epoch. Newer: only a primary creates an epoch and
            // a backup acknowledges only its primary's, so the peer cannot be ahead while this node leads.
            if m.epoch > epoch { anomaly("ack of epoch \(m.epoch) from \(peer) while at \(epoch)") }
            return
        }
        guard role == .primary, activated else { return }
        // Gray & Cheriton: the lease runs from when the acknowledged message was sent, on this
        // node's clock; the backup's promise started no earlier, when it received it.
        leaseExpiry = max(leaseExpiry, min(m.echo, now) + settings.leaseDuration)
        everLeased = true
        progress.lastAckAt = now
        if m.success {
            onAppendAccepted(matched: m.matched, now: now, storage: &storage, into: &out)
        } else {
            onAppendRejected(m, now: now, into: &out)
        }
    }

    mutating func onAppendAccepted(matched: LogIndex, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        guard matched <= log.lastIndex else {
            anomaly("backup matched \(matched) beyond the primary's last \(log.lastIndex)")
            return
        }
        if matched > progress.matched {
            progress.matched = matched
            progress.lastProgressAt = now
        }
        progress.inflight.removeAll { $0 <= progress.matched }
        if progress.probing {
            // The probe was answered: the logs agree up to matched, start streaming from there.
            if progress.matched >= progress.nextIndex.previous {
                progress.probing = false
                progress.inflight = []
                progress.nextIndex = progress.matched.next
            }
        } else if progress.nextIndex <= progress.matched {
            progress.nextIndex = progress.matched.next
        }
        // The backup holds this epoch's first entry: it has caught up with the epoch. A primary
        // serving alone now waits for it on every commit until it can declare it in sync.
        if !synced && progress.matched >= activationIndex { syncPending = true }
        advanceCommit(now: now, storage: &storage, into: &out)
        while progress.nextIndex <= log.lastIndex && sendAppend(now: now, allowEmpty: false, into: &out) {}
    }

    mutating func onAppendRejected(_ m: PrimaryBackup.Ack, now: Instant, into out: inout Effects<Message>) {
        // A refusal of something the backup has since matched is stale, and so is one that answers
        // an earlier probe than the one in flight.
        guard m.rejectedPrev > progress.matched else { return }
        if progress.probing && m.rejectedPrev != progress.nextIndex.previous { return }
        // Never back past what the backup matched, never beyond the probe that failed.
        let next = max(progress.matched.next, min(m.hint, m.rejectedPrev))
        progress.nextIndex = max(next, LogIndex(1))
        progress.probing = true
        progress.inflight = []
        sendAppend(now: now, allowEmpty: true, into: &out)
    }

    // MARK: Backup

    mutating func onAppend(_ m: PrimaryBackup.Append, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        if m.epoch < epoch {
            out.send(.epochNotice(.init(group: groupWire, epoch: epoch)), to: peer)
            return
        }
        if m.epoch > epoch { adoptEpoch(m.epoch, now: now, storage: &storage, into: &out) }
        guard role == .backup else {
            anomaly("\(role) of epoch \(epoch) got an append of the same epoch from \(peer): two primaries")
            return
        }
        guard Self.isWellFormed(m) else { return }
        // The promise: no takeover before lastPrimaryContact + lease + margin on this clock.
        lastPrimaryContact = max(lastPrimaryContact, now)
        if m.inSync && !synced {
            synced = true
            storage.persist(meta, slot: slot, into: &out)
        }
        // Log matching (as Raft §5.3): the entry before the new ones must agree.
        if m.prevSeq > log.lastIndex {
            out.send(.ack(.init(group: groupWire, epoch: epoch, echo: m.sentAt, success: false, matched: .zero,
                                rejectedPrev: m.prevSeq, hint: log.lastIndex.next)), to: peer)
            return
        }
        if log.epoch(at: m.prevSeq) != m.prevEpoch {
            if m.prevSeq <= commitIndex { anomaly("committed entry \(m.prevSeq) differs from the primary's") }
            let hint = max(log.firstIndex(ofEpochAt: m.prevSeq), commitIndex.next)
            out.send(.ack(.init(group: groupWire, epoch: epoch, echo: m.sentAt, success: false, matched: .zero,
                                rejectedPrev: m.prevSeq, hint: hint)), to: peer)
            return
        }
        // Skip entries already held; cut the log at the first that differs; append the rest.
        for entry in m.entries {
            if log.contains(entry.index) {
                if log.epoch(at: entry.index) == entry.term { continue }
                if entry.index <= commitIndex { anomaly("truncates committed entry \(entry.index) (commit \(commitIndex))") }
                storage.truncate(slot: slot, from: entry.index, last: log.lastIndex, into: &out)
                log.truncate(from: entry.index)
                if persistedIndex >= entry.index { persistedIndex = entry.index.previous }
            }
            log.append(entry)
            storage.append(entry, slot: slot, into: &out)
        }
        let matched = m.prevSeq.advanced(by: Int64(m.entries.count))
        setCommit(min(m.commit, matched), into: &out)
        // The acknowledgement promises the entries are on disk: it waits for them.
        out.sendAfterDurable(.ack(.init(group: groupWire, epoch: epoch, echo: m.sentAt, success: true, matched: matched,
                                        rejectedPrev: .zero, hint: .zero)), to: peer)
    }

    /// Entries numbered on from `prevSeq`, epochs never decreasing, none above the append's epoch.
    static func isWellFormed(_ m: PrimaryBackup.Append) -> Bool {
        var expected = m.prevSeq.next
        var lastEpoch = m.prevEpoch
        for entry in m.entries {
            guard entry.index == expected, entry.term >= lastEpoch, entry.term <= m.epoch, entry.term > .zero else { return false }
            if case .record = entry.payload { return false }
            expected = expected.next
            lastEpoch = entry.term
        }
        return m.prevEpoch <= m.epoch
    }

    mutating func onEpochNotice(_ m: PrimaryBackup.EpochNotice, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        if m.epoch > epoch { adoptEpoch(m.epoch, now: now, storage: &storage, into: &out) }
    }

    mutating func onRelinquish(_ m: PrimaryBackup.Relinquish, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        if m.epoch < epoch {
            out.send(.epochNotice(.init(group: groupWire, epoch: epoch)), to: peer)
            return
        }
        guard m.epoch == epoch else {
            // The peer declared this node in sync in that epoch, which needed this node's durable
            // acknowledgement of it: this node cannot be behind.
            anomaly("relinquish of epoch \(m.epoch) from \(peer) while at \(epoch)")
            return
        }
        guard role == .backup else {
            anomaly("\(role) of epoch \(epoch) got a relinquish of the same epoch from \(peer)")
            return
        }
        // The peer restarted as this epoch's primary after durably declaring this node in sync, so
        // this node holds every committed entry (even if the declaration never reached it), and
        // the peer will never serve the epoch again: its lease died with it.
        stats.relinquishTakeovers += 1
        promote(now: now, storage: &storage, into: &out)
    }

    // MARK: Failover

    /// When this backup may take over, or nil if it may not (not in sync).
    var promotionDeadline: Instant? {
        guard role == .backup, synced else { return nil }
        if settings.unsafeNoLeaseWait { return lastPrimaryContact + settings.heartbeatInterval * 2 }
        return lastPrimaryContact + settings.leaseDuration + settings.leaseMargin
    }

    mutating func checkPromotion(now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        guard let deadline = promotionDeadline, now >= deadline else { return }
        stats.detectMaxNanos = max(stats.detectMaxNanos, (now - lastPrimaryContact).nanoseconds)
        promote(now: now, storage: &storage, into: &out)
    }

    /// An in-sync backup takes over in the next epoch and serves alone until its peer returns,
    /// catches up and is declared in sync.
    mutating func promote(now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
        precondition(role == .backup, "only a backup takes over")
        stats.promotions += 1
        becomePrimary(epoch: epoch.next, synced: false, now: now, storage: &storage, into: &out)
    }
}

extension LogEntry {
    /// Bytes this entry takes on the wire, near enough for batch limits.
    var approximateWireSize: Int {
        switch payload {
        case .noop: 24
        case let .command(request): 40 + request.command.approximateSize
        case let .record(bytes): 28 + bytes.count
        }
    }
}
