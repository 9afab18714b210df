import BenchCore

// Anti-entropy (Dynamo §4.7). Dynamo compares key ranges with Merkle trees so that replicas in
// sync exchange one hash; this is the flat form of the same comparison: one replica sends the
// (key, version) pairs of a key range both replicate, the other answers with what it holds newer
// and names what it lacks, and the first pushes those. Every round covers the next range with the
// next peer, so after a quiet period every pair of replicas has compared every key.
extension Quorum {
    /// The most value bytes one repair message carries (at least one record always goes).
    static let repairBytesMax = 1 << 20
}

extension Quorum.Instance {
    /// Sends the next digest: to the next peer in turn, for the next range of this replica's keys.
    mutating func startAntiEntropyRound(now: Instant, into out: inout Effects<Message>) {
        guard cluster.size > 1 else { return }
        let peerSlot = (cluster.members.firstIndex(of: id)! + 1 + antiEntropyRound % (cluster.size - 1)) % cluster.size
        antiEntropyRound = (antiEntropyRound + 1) % (cluster.size - 1)
        let peer = cluster.members[peerSlot]
        statistics.antiEntropyRounds += 1

        let batch = settings.antiEntropyBatch
        let from = antiEntropyCursors[peerSlot]
        let keys = store.sortedKeys
        var position = store.firstPosition(atOrAfter: from)
        var scanned = 0
        var lastExamined = from
        var stamps: [Quorum.VersionStamp] = []
        // Keys the peer does not replicate are skipped, but the scan is bounded all the same.
        while position < keys.count && stamps.count < batch && scanned < 4 * batch {
            let key = keys[position]
            position += 1
            scanned += 1
            lastExamined = key
            let homes = ring.preferenceList(for: key, n: n)
            guard homes.contains(id), homes.contains(peer) else { continue }
            stamps.append(Quorum.VersionStamp(key: key, version: store.version(of: key)))
        }
        let through: Key
        if position >= keys.count {
            // The rest of the key space: the peer also sends what it holds beyond this replica's last key.
            through = .max
            antiEntropyCursors[peerSlot] = 0
        } else {
            // keys[position] > lastExamined, so lastExamined + 1 cannot overflow.
            through = lastExamined
            antiEntropyCursors[peerSlot] = lastExamined + 1
        }
        out.send(.digest(Quorum.Digest(from: from, through: through, stamps: stamps)), to: peer)
    }

    /// Compares a peer's digest with this replica: answers with the records it holds newer (or the
    /// peer lacks) and the keys the peer holds newer.
    mutating func onDigest(_ m: Quorum.Digest, from peer: NodeID, now: Instant, into out: inout Effects<Message>) {
        // The sender lists keys in increasing order inside the range; anything else is malformed.
        for (a, b) in zip(m.stamps, m.stamps.dropFirst()) where a.key >= b.key { return }
        if let first = m.stamps.first, first.key < m.from { return }
        if let last = m.stamps.last, last.key > m.through { return }

        let batch = settings.antiEntropyBatch
        var newer: [Quorum.Record] = []
        var bytes = 0
        var wanted: [Key] = []
        func fits(_ record: Quorum.Record) -> Bool {
            newer.count < batch && (newer.isEmpty || bytes + record.value.size <= Quorum.repairBytesMax)
        }
        for stamp in m.stamps {
            let mine = store.version(of: stamp.key)
            if mine < stamp.version {
                if wanted.count < batch && ring.replicates(stamp.key, node: id, n: n) { wanted.append(stamp.key) }
            } else if mine > stamp.version, let record = store.record(for: stamp.key), fits(record) {
                newer.append(record)
                bytes += record.value.size
            }
        }
        // Keys in the range the peer did not list: it lacks them, if it replicates them.
        let keys = store.sortedKeys
        var position = store.firstPosition(atOrAfter: m.from)
        var scanned = 0
        var listed = 0  // both lists are sorted: walk them together
        while position < keys.count && keys[position] <= m.through && newer.count < batch && scanned < 4 * batch {
            let key = keys[position]
            position += 1
            scanned += 1
            while listed < m.stamps.count && m.stamps[listed].key < key { listed += 1 }
            if listed < m.stamps.count && m.stamps[listed].key == key { continue }
            let homes = ring.preferenceList(for: key, n: n)
            guard homes.contains(id), homes.contains(peer), let record = store.record(for: key), fits(record) else { continue }
            newer.append(record)
            bytes += record.value.size
        }
        guard !newer.isEmpty || !wanted.isEmpty else { return }
        statistics.antiEntropyRepairs += newer.count
        out.send(.digestReply(Quorum.DigestReply(newer: newer, wanted: wanted)), to: peer)
    }

    /// Keeps the newer records the peer sent and pushes the ones it asked for.
    mutating func onDigestReply(_ m: Quorum.DigestReply, from peer: NodeID, now: Instant, into out: inout Effects<Message>) {
        let batch = settings.antiEntropyBatch
        for record in m.newer.prefix(batch) where ring.replicates(record.key, node: id, n: n) {
            storeLocally(record, now: now, into: &out)
        }
        var push: [Quorum.Record] = []
        var bytes = 0
        for key in m.wanted.prefix(batch) {
            guard let record = store.record(for: key), ring.replicates(key, node: peer, n: n) else { continue }
            guard push.isEmpty || bytes + record.value.size <= Quorum.repairBytesMax else { break }
            push.append(record)
            bytes += record.value.size
        }
        guard !push.isEmpty else { return }
        statistics.antiEntropyRepairs += push.count
        out.send(.push(push), to: peer)
    }
}
