import BenchCore

extension Quorum {
    /// A put this node coordinates, from its first message until every home replica holds it or
    /// the request times out (it lingers after it is answered, resending to the replicas that
    /// have not acknowledged, so all N converge without waiting for anti-entropy).
    struct PendingWrite {
        let op: UInt64
        let request: ClientRequest
        let record: Record
        /// The key's N replicas (its preference list).
        let homes: [NodeID]
        /// The homes whose copy is durable, directly or through a fallback's hint (sloppy quorum).
        var acked: [NodeID] = []
        /// Sloppy quorums: the node standing in for each home that did not answer in time.
        var fallbacks: [(fallback: NodeID, home: NodeID)] = []
        var answered = false
        let started: Instant
        let deadline: Instant
        var nextResend: Instant
    }

    /// A get this node coordinates, until every home replica answered or the request times out.
    struct PendingRead {
        let op: UInt64
        let request: ClientRequest
        let key: Key
        let homes: [NodeID]
        /// Each reply's version (`.zero`: the replica does not hold the key), in arrival order.
        var replies: [(node: NodeID, version: Version)] = []
        /// The newest record among the replies (nil: none held the key).
        var newest: Record?
        /// The first reply's record (for the deliberately broken `unsafe-read-first`).
        var first: Record?
        var answered = false
        let deadline: Instant
        var nextResend: Instant
    }

    /// A local write a coordinator counts as an acknowledgement once it is durable.
    struct LocalAck {
        let index: LogIndex
        let op: UInt64
        /// Set when this node stands in for that home (sloppy quorum) rather than being a home.
        let asFallbackFor: NodeID?
    }

    /// A hint on its way to its home replica.
    struct Handoff {
        let op: UInt64
        let hint: HintKey
        let version: Version
        let deadline: Instant
    }
}

extension Quorum.Instance {
    typealias PendingWrite = Quorum.PendingWrite
    typealias PendingRead = Quorum.PendingRead

    mutating func takeOp() -> UInt64 {
        nextOp &+= 1
        return nextOp
    }

    // MARK: Client requests

    mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
        switch request.command {
        case let .get(key):
            guard makeRoom(now: now, into: &out) else {
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                return
            }
            coordinateGet(request, key: key, now: now, into: &out)
        case let .put(key, value):
            guard makeRoom(now: now, into: &out) else {
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                return
            }
            coordinatePut(request, key: key, value: value, now: now, into: &out)
        case let .readLocal(key):
            // Degraded read: this replica's own copy, without asking any other (may be stale or absent).
            out.reply(ClientReply(to: request, .ok(store.record(for: key)?.value)))
        case .compareAndSet, .transaction, .readBalances, .acquireLock, .releaseLock:
            // Quorums without a read-modify-write step cannot order conditional updates.
            out.reply(ClientReply(to: request, .rejected(code: RejectCode.unsupported)))
        }
    }

    /// Bounds the coordinator's state: at `pendingMax` operations, the oldest answered one (which
    /// lingers only to reach the last replicas) gives way; if none is answered the request is refused.
    mutating func makeRoom(now: Instant, into out: inout Effects<Message>) -> Bool {
        guard writes.count + reads.count >= settings.pendingMax else { return true }
        if let index = writes.firstIndex(where: \.answered) {
            writes.remove(at: index)
            return true
        }
        if let index = reads.firstIndex(where: \.answered) {
            finishRead(reads.remove(at: index), now: now, into: &out)
            return true
        }
        return false
    }

    /// Dynamo §4.5: stamp the put with a new version, send it to the key's N replicas, answer once W hold it.
    mutating func coordinatePut(_ request: ClientRequest, key: Key, value: Value, now: Instant,
                                into out: inout Effects<Message>) {
        let homes = ring.preferenceList(for: key, n: n)
        precondition(homes.count == n, "a key has exactly N replicas")
        let record = Quorum.Record(key: key, version: clock.tick(now: now), value: value)
        precondition(record.version > store.newestVersion, "a new version orders after every version stored here")
        let op = takeOp()
        statistics.putsCoordinated += 1
        recentlyIssued.append(Quorum.StoredUpdate(key: key, version: record.version, tag: value.tag))
        for home in homes where home != id {
            out.send(.write(Quorum.Write(op: op, record: record, hintFor: nil)), to: home)
        }
        writes.append(PendingWrite(op: op, request: request, record: record, homes: homes, started: now,
                                   deadline: now + settings.requestTimeout, nextResend: now + settings.resendInterval))
        if homes.contains(id) {
            storeLocally(record, now: now, into: &out)
            // This replica counts once everything issued so far is durable: the new version, or
            // the newer one it already held.
            countLocally(op: op, asFallbackFor: nil, now: now, into: &out)
        }
    }

    /// Counts this node's own copy for `op` now if the disk has caught up, or once it does.
    mutating func countLocally(op: UInt64, asFallbackFor home: NodeID?, now: Instant, into out: inout Effects<Message>) {
        if persistedIndex >= lastIndex {
            acknowledge(op: op, home: home ?? id, into: &out)
        } else {
            localAcks.append(Quorum.LocalAck(index: lastIndex, op: op, asFallbackFor: home))
        }
    }

    mutating func onLocalAck(_ ack: Quorum.LocalAck, now: Instant, into out: inout Effects<Message>) {
        acknowledge(op: ack.op, home: ack.asFallbackFor ?? id, into: &out)
    }

    /// `home`'s copy of write `op` is durable (on `home`, or as a hint on its fallback).
    mutating func acknowledge(op: UInt64, home: NodeID, into out: inout Effects<Message>) {
        guard let index = writeIndex(op) else { return }
        guard writes[index].homes.contains(home), !writes[index].acked.contains(home) else { return }
        writes[index].acked.append(home)
        precondition(writes[index].acked.count <= writes[index].homes.count, "each home counts once")
        // The broken variant answers after one copy whatever W says.
        let needed = settings.unsafeAckEarly ? 1 : w
        if !writes[index].answered && writes[index].acked.count >= needed {
            writes[index].answered = true
            out.reply(ClientReply(to: writes[index].request, .ok(nil)))
        }
        if writes[index].acked.count == writes[index].homes.count { writes.remove(at: index) }
    }

    mutating func onWriteAck(_ m: Quorum.WriteAck, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        if let index = writeIndex(m.op) {
            // An ack matches only with the version this operation wrote.
            guard writes[index].record.version == m.version, writes[index].record.key == m.key else { return }
            if writes[index].homes.contains(from) {
                acknowledge(op: m.op, home: from, into: &out)
            } else if let standIn = writes[index].fallbacks.first(where: { $0.fallback == from }) {
                acknowledge(op: m.op, home: standIn.home, into: &out)
            }
            return
        }
        if let index = handoffs.firstIndex(where: { $0.op == m.op }) {
            let handoff = handoffs[index]
            guard from == handoff.hint.home, handoff.version == m.version, handoff.hint.key == m.key else { return }
            handoffs.remove(at: index)
            // The home holds it durably: the hint (unless a newer one replaced it meanwhile) can go.
            if hints.remove(handoff.hint, through: handoff.version) {
                statistics.hintsDelivered += 1
                persist(.hintDelivered(home: handoff.hint.home, key: handoff.hint.key, version: handoff.version), into: &out)
            }
        }
    }

    /// Dynamo §4.5: ask the key's N replicas, answer with the newest of the first R replies.
    mutating func coordinateGet(_ request: ClientRequest, key: Key, now: Instant, into out: inout Effects<Message>) {
        let homes = ring.preferenceList(for: key, n: n)
        precondition(homes.count == n, "a key has exactly N replicas")
        let op = takeOp()
        statistics.getsCoordinated += 1
        for home in homes where home != id {
            out.send(.read(Quorum.Read(op: op, key: key)), to: home)
        }
        reads.append(PendingRead(op: op, request: request, key: key, homes: homes, deadline: now + settings.requestTimeout,
                                 nextResend: now + settings.resendInterval))
        if homes.contains(id) {
            receiveReply(at: reads.count - 1, from: id, record: store.record(for: key), now: now, into: &out)
        }
    }

    mutating func onReadReply(_ m: Quorum.ReadReply, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        guard let index = readIndex(m.op), reads[index].key == m.key else { return }
        receiveReply(at: index, from: from, record: m.record, now: now, into: &out)
    }

    mutating func receiveReply(at index: Int, from: NodeID, record: Quorum.Record?, now: Instant,
                               into out: inout Effects<Message>) {
        guard reads[index].homes.contains(from), !reads[index].replies.contains(where: { $0.node == from }) else { return }
        if let record { clock.observe(record.version, now: now) }
        reads[index].replies.append((from, record?.version ?? .zero))
        if reads[index].replies.count == 1 { reads[index].first = record }
        if let record, record.version > (reads[index].newest?.version ?? .zero) { reads[index].newest = record }
        if !reads[index].answered && reads[index].replies.count >= r {
            reads[index].answered = true
            let answer = settings.unsafeReadFirst ? reads[index].first : reads[index].newest
            out.reply(ClientReply(to: reads[index].request, .ok(answer?.value)))
        }
        if reads[index].replies.count == reads[index].homes.count {
            finishRead(reads.remove(at: index), now: now, into: &out)
        }
    }

    /// Read repair (Dynamo §4.7): replicas that answered an older version get the newest one.
    mutating func finishRead(_ read: PendingRead, now: Instant, into out: inout Effects<Message>) {
        guard settings.readRepair, let newest = read.newest else { return }
        for reply in read.replies where reply.version < newest.version {
            statistics.readRepairs += 1
            if reply.node == id {
                storeLocally(newest, now: now, into: &out)
            } else {
                out.send(.push([newest]), to: reply.node)
            }
        }
    }

    // MARK: Timeouts and resends

    /// Answers `.unknown` for operations whose quorum did not come in time, resends to replicas
    /// that have not answered (messages may be lost), and, with sloppy quorums, writes to
    /// fallbacks for homes that stay silent.
    mutating func expireAndResend(now: Instant, into out: inout Effects<Message>) {
        var standInAcks: [(op: UInt64, home: NodeID)] = []
        var kept = 0
        for index in writes.indices {
            if now >= writes[index].deadline {
                if !writes[index].answered {
                    statistics.coordinatorTimeouts += 1
                    // It may have reached some replicas: the client must not assume it failed.
                    out.reply(ClientReply(to: writes[index].request, .unknown))
                }
                continue
            }
            if settings.sloppy && now >= writes[index].started + settings.hintAfter {
                engageFallbacks(at: index, now: now, standInAcks: &standInAcks, into: &out)
            }
            if now >= writes[index].nextResend {
                resendWrite(writes[index], into: &out)
                writes[index].nextResend = now + settings.resendInterval
            }
            writes.swapAt(kept, index)
            kept += 1
        }
        writes.removeLast(writes.count - kept)
        for ack in standInAcks { acknowledge(op: ack.op, home: ack.home, into: &out) }

        kept = 0
        var expired: [PendingRead] = []
        for index in reads.indices {
            if now >= reads[index].deadline {
                if !reads[index].answered {
                    statistics.coordinatorTimeouts += 1
                    out.reply(ClientReply(to: reads[index].request, .unknown))
                }
                expired.append(reads[index])
                continue
            }
            if now >= reads[index].nextResend {
                statistics.resends += 1
                for home in reads[index].homes where home != id && !reads[index].replies.contains(where: { $0.node == home }) {
                    out.send(.read(Quorum.Read(op: reads[index].op, key: reads[index].key)), to: home)
                }
                reads[index].nextResend = now + settings.resendInterval
            }
            reads.swapAt(kept, index)
            kept += 1
        }
        reads.removeLast(reads.count - kept)
        for read in expired { finishRead(read, now: now, into: &out) }

        handoffs.removeAll { $0.deadline <= now }
    }

    mutating func resendWrite(_ write: PendingWrite, into out: inout Effects<Message>) {
        statistics.resends += 1
        for home in write.homes where home != id && !write.acked.contains(home) {
            out.send(.write(Quorum.Write(op: write.op, record: write.record, hintFor: nil)), to: home)
        }
        for standIn in write.fallbacks where standIn.fallback != id && !write.acked.contains(standIn.home) {
            out.send(.write(Quorum.Write(op: write.op, record: write.record, hintFor: standIn.home)), to: standIn.fallback)
        }
    }

    /// Dynamo §4.6: a home that has not acknowledged within `hintAfter` gets a stand-in, the next
    /// node on the ring past the preference list, which keeps the write as a hint for it. The
    /// stand-in's acknowledgement counts toward W (a sloppy quorum).
    mutating func engageFallbacks(at index: Int, now: Instant, standInAcks: inout [(op: UInt64, home: NodeID)],
                                  into out: inout Effects<Message>) {
        let write = writes[index]
        let silent = write.homes.filter { home in
            !write.acked.contains(home) && !write.fallbacks.contains { $0.home == home }
        }
        guard !silent.isEmpty else { return }
        var candidates = ring.walk(from: write.record.key, count: cluster.size).dropFirst(n).filter { node in
            !write.fallbacks.contains { $0.fallback == node }
        }
        for home in silent {
            guard !candidates.isEmpty else { return }
            let fallback = candidates.removeFirst()
            writes[index].fallbacks.append((fallback, home))
            if fallback == id {
                guard standIn(for: home, write.record, now: now, into: &out) else { continue }
                if persistedIndex >= lastIndex {
                    standInAcks.append((write.op, home))
                } else {
                    localAcks.append(Quorum.LocalAck(index: lastIndex, op: write.op, asFallbackFor: home))
                }
            } else {
                out.send(.write(Quorum.Write(op: write.op, record: write.record, hintFor: home)), to: fallback)
            }
        }
    }

    // MARK: Hinted handoff

    /// Dynamo §4.6: a replica holding hints sends them to their homes; an acknowledged hint is dropped.
    mutating func handOffHints(now: Instant, into out: inout Effects<Message>) {
        guard hints.count > 0 else { return }
        let batch = settings.antiEntropyBatch
        var position = hints.firstPosition(atOrAfter: handoffCursor)
        var scanned = 0
        while scanned < hints.count && handoffs.count < batch {
            if position >= hints.sortedKeys.count { position = 0 }
            let key = hints.sortedKeys[position]
            position += 1
            scanned += 1
            guard let hint = hints[key], hint.inFlightUntil <= now else { continue }
            let op = takeOp()
            let deadline = now + settings.requestTimeout
            handoffs.append(Quorum.Handoff(op: op, hint: key, version: hint.record.version, deadline: deadline))
            hints.markInFlight(key, until: deadline)
            out.send(.write(Quorum.Write(op: op, record: hint.record, hintFor: nil)), to: key.home)
        }
        handoffCursor = position < hints.sortedKeys.count ? hints.sortedKeys[position] : Quorum.HintKey(home: NodeID(0), key: 0)
    }

    // MARK: Lookups

    /// The position of write `op` (operations are appended in op order, so the array is sorted).
    func writeIndex(_ op: UInt64) -> Int? {
        let position = Self.firstPosition(in: writes, atOrAfter: op, by: \.op)
        return position < writes.count && writes[position].op == op ? position : nil
    }

    func readIndex(_ op: UInt64) -> Int? {
        let position = Self.firstPosition(in: reads, atOrAfter: op, by: \.op)
        return position < reads.count && reads[position].op == op ? position : nil
    }

    static func firstPosition<T>(in array: [T], atOrAfter op: UInt64, by key: (T) -> UInt64) -> Int {
        var low = 0
        var high = array.count
        while low < high {
            let middle = (low + high) / 2
            if key(array[middle]) < op { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
