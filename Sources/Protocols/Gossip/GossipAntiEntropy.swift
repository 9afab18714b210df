import BenchCore

/// Anti-entropy (Demers §1.3): a node regularly picks a random peer and the two resolve every
/// difference between their copies. Here an exchange compares digests first (key → version),
/// so only the missing or newer entries travel:
///   push:      A → B digest(push);  B → A request(keys where A is newer);  A → B updates
///   pull:      A → B digest(pull);  B → A updates(where B is newer or A lacks the key)
///   push-pull: both legs from one digest.
/// A digest covers one key range of at most `digestKeysMax` keys; successive rounds walk the
/// key space, so every message stays bounded however large the store grows.
extension Gossip.Instance {
    /// Sends the next digest to `peers` random peers.
    mutating func startAntiEntropy(push: Bool, pull: Bool, peers count: Int, into out: inout Effects<Message>) {
        precondition(push || pull, "an exchange goes at least one way")
        let targets = randomPeers(count)
        guard !targets.isEmpty else { return }
        let digest = nextDigest(push: push, pull: pull)
        for peer in targets { send(.digest(digest), to: peer, into: &out) }
    }

    /// The versions of up to `digestKeysMax` keys from the cursor on, and the key range they
    /// cover: from the cursor up to just below the next key not listed (or to the top of the key
    /// space), so that the ranges of successive digests tile the whole key space and keys this
    /// node lacks are found in every range too.
    mutating func nextDigest(push: Bool, pull: Bool) -> Gossip.Digest {
        let keys = store.keys
        let start = store.position(atOrAfter: digestCursor)
        let end = min(keys.count, start + settings.digestKeysMax)
        var versions: [Gossip.KeyVersion] = []
        versions.reserveCapacity(end - start)
        for key in keys[start..<end] {
            versions.append(Gossip.KeyVersion(key: key, version: store[key]!.version))
        }
        let low = digestCursor
        let high: Key
        if end < keys.count {
            // keys[end] > keys[start] >= low, so the range is not empty and the subtraction cannot wrap.
            high = keys[end] - 1
            digestCursor = keys[end]
        } else {
            high = .max
            digestCursor = 0
        }
        assert(low <= high, "digest range \(low)...\(high)")
        return Gossip.Digest(low: low, high: high, push: push, pull: pull, versions: versions)
    }

    /// Compares a peer's digest with this node's keys in the same range (a merge of two sorted
    /// lists): sends what the peer lacks or holds older (pull leg), asks for what this node lacks
    /// or holds older (push leg).
    mutating func onDigest(_ digest: Gossip.Digest, from peer: NodeID, into out: inout Effects<Message>) {
        let keys = store.keys
        var batch = UpdateBatch(settings: settings)
        var wanted: [Key] = []
        var mine = store.position(atOrAfter: digest.low)
        var theirs = 0
        let lines = digest.versions
        while true {
            let myKey: Key? = mine < keys.count && keys[mine] <= digest.high ? keys[mine] : nil
            let theirLine: Gossip.KeyVersion? = theirs < lines.count ? lines[theirs] : nil
            guard myKey != nil || theirLine != nil else { break }
            if batch.isFull && !digest.push { break }
            if let myKey, theirLine.map({ myKey < $0.key }) ?? true {
                // The peer lacks this key.
                if digest.pull { offer(myKey, in: &batch) }
                mine += 1
            } else if let theirLine, myKey.map({ theirLine.key < $0 }) ?? true {
                // This node lacks the peer's key.
                if digest.push { wanted.append(theirLine.key) }
                theirs += 1
            } else if let myKey, let theirLine {
                let held = store[myKey]!.version
                if held > theirLine.version && digest.pull { offer(myKey, in: &batch) }
                if theirLine.version > held && digest.push { wanted.append(myKey) }
                mine += 1
                theirs += 1
            }
        }
        if !batch.updates.isEmpty { send(.updates(batch.updates), to: peer, into: &out) }
        if !wanted.isEmpty { send(.request(keys: wanted), to: peer, into: &out) }
    }

    /// The push leg: the peer found this node newer on `keys`.
    mutating func onUpdateRequest(_ keys: [Key], from peer: NodeID, into out: inout Effects<Message>) {
        var batch = UpdateBatch(settings: settings)
        for key in keys {
            if batch.isFull { break }
            offer(key, in: &batch)
        }
        if !batch.updates.isEmpty { send(.updates(batch.updates), to: peer, into: &out) }
    }

    /// Anti-entropy's payload: keep what is newer.
    mutating func onUpdates(_ updates: [Gossip.Update], from peer: NodeID, into out: inout Effects<Message>) {
        for update in updates { learn(update, into: &out) }
    }

    /// Adds the key's entry to an outgoing batch if it has room — and, in the broken variant,
    /// only if this node wrote it.
    func offer(_ key: Key, in batch: inout UpdateBatch) {
        guard !batch.isFull, let update = store.update(for: key) else { return }
        if settings.unsafeNoForward && update.version.origin != id { return }
        batch.add(update)
    }
}

/// Updates collected for one message, within the count and byte limits (at least one update
/// always fits, so a value larger than the byte limit still travels).
struct UpdateBatch {
    let countMax: Int
    let bytesMax: Int
    private(set) var updates: [Gossip.Update] = []
    private(set) var bytes = 0

    init(settings: Gossip.Settings) {
        countMax = settings.batchUpdatesMax
        bytesMax = settings.batchBytesMax
    }

    var isFull: Bool { updates.count >= countMax || bytes >= bytesMax }

    mutating func add(_ update: Gossip.Update) {
        precondition(!isFull, "batch already full")
        updates.append(update)
        bytes += Gossip.Update.wireSizeMin + update.value.size
    }
}
