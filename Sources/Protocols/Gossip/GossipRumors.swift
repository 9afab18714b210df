import BenchCore

/// Rumor mongering (Demers §1.4, the "feedback" variants): an update a node has just learned is
/// a hot rumor; each round the node pushes its hot rumors to `fanout` random peers, and each peer
/// answers which of them it already knew. After such an unnecessary contact the node loses
/// interest in the rumor — after `rumorK` of them (counter) or with probability 1/`rumorK` each
/// time (coin). Rumors can die before reaching everyone (the paper's residue), which is why
/// rumor mode runs slow push-pull anti-entropy as well.
extension Gossip {
    /// A rumor this node is spreading: the version it spreads, and the contacts that already knew it.
    struct HotRumor: Hashable, Sendable {
        var key: Key
        var version: Version
        var misses = 0
        /// No longer spread; removed from the list at the start of the next round.
        var retired = false
    }
}

extension Gossip.Instance {
    /// Makes `update` a hot rumor (or refreshes the key's rumor to a newer version).
    mutating func heat(_ update: Gossip.Update) {
        if let position = hotPosition[update.key] {
            guard hot[position].version < update.version else { return }
            if hot[position].retired { retiredCount -= 1 }
            hot[position] = Gossip.HotRumor(key: update.key, version: update.version)
            return
        }
        if hot.count >= settings.rumorsMax {
            compactHotRumors()
            if hot.count >= settings.rumorsMax {
                // Full of live rumors: the oldest stops being spread; anti-entropy will carry it.
                hot.removeFirst()
                statistics.rumorsRetired += 1
                rebuildHotPositions()
            }
        }
        hotPosition[update.key] = hot.count
        hot.append(Gossip.HotRumor(key: update.key, version: update.version))
    }

    /// One rumor round: push a batch of hot rumors to `fanout` random peers.
    mutating func spreadRumors(into out: inout Effects<Message>) {
        compactHotRumors()
        guard !hot.isEmpty else { return }
        var batch = UpdateBatch(settings: settings)
        if rumorCursor >= hot.count { rumorCursor = 0 }
        var position = rumorCursor
        var visited = 0
        while visited < hot.count && !batch.isFull {
            let rumor = hot[position]
            if let entry = store[rumor.key], entry.version == rumor.version {
                batch.add(Gossip.Update(key: rumor.key, version: rumor.version, value: entry.value))
            } else {
                // Superseded by a version this node does not spread itself (the broken variant).
                retireRumor(at: position)
            }
            position = (position + 1) % hot.count
            visited += 1
        }
        rumorCursor = position
        guard !batch.updates.isEmpty else { return }
        for peer in randomPeers(settings.fanout) { send(.rumor(batch.updates), to: peer, into: &out) }
    }

    /// A peer pushed rumors: keep what is new (it becomes hot here, in `learn`), and tell the
    /// peer which ones this node already knew.
    mutating func onRumor(_ updates: [Gossip.Update], from peer: NodeID, into out: inout Effects<Message>) {
        var known: [Gossip.KeyVersion] = []
        for update in updates where !learn(update, into: &out) {
            known.append(Gossip.KeyVersion(key: update.key, version: update.version))
        }
        if !known.isEmpty { send(.rumorFeedback(known), to: peer, into: &out) }
    }

    /// A peer already knew these rumors: each was an unnecessary contact (Demers §1.4 feedback).
    /// A duplicated feedback message counts twice; that only makes the node lose interest sooner.
    mutating func onRumorFeedback(_ known: [Gossip.KeyVersion], from peer: NodeID) {
        for line in known {
            guard let position = hotPosition[line.key], !hot[position].retired,
                  hot[position].version <= line.version else { continue }
            switch settings.rumorStop {
            case .counter:
                hot[position].misses += 1
                if hot[position].misses >= settings.rumorK { retireRumor(at: position) }
            case .coin:
                if random.next() % UInt64(settings.rumorK) == 0 { retireRumor(at: position) }
            }
        }
    }

    mutating func retireRumor(at position: Int) {
        precondition(!hot[position].retired, "a rumor retires once")
        hot[position].retired = true
        retiredCount += 1
        statistics.rumorsRetired += 1
    }

    /// Drops retired rumors from the list (once per round, so positions stay put within one).
    mutating func compactHotRumors() {
        guard retiredCount > 0 else { return }
        hot.removeAll { $0.retired }
        retiredCount = 0
        rebuildHotPositions()
    }

    mutating func rebuildHotPositions() {
        hotPosition.removeAll(keepingCapacity: true)
        for (position, rumor) in hot.enumerated() { hotPosition[rumor.key] = position }
        if rumorCursor >= hot.count { rumorCursor = 0 }
    }

    /// Rumors this node is still spreading.
    public var activeRumorCount: Int { hot.count - retiredCount }
}
