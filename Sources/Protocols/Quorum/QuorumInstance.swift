import BenchCore

extension Quorum {
    /// One NWR replica, which is also a coordinator for every client request that reaches it.
    /// Feed it inputs with `handle`; it never does I/O.
    public struct Instance: Replica {
        public typealias Message = Quorum.Message
        public typealias Settings = Quorum.Settings
        public static let name = "nwr"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        public let ring: Ring
        /// The quorum parameters in force: the settings, clamped to the cluster (see `problems`).
        public let n: Int
        public let w: Int
        public let r: Int
        /// Settings that did not fit the cluster and were clamped (reported by `invariants()`).
        public let problems: [String]

        var clock: HybridClock
        var store = Store()
        var hints = Hints()

        // Durability: every durable write is the next log index; `.persisted` reports how far the disk is.
        public internal(set) var lastIndex: LogIndex
        public internal(set) var persistedIndex: LogIndex

        // Coordinator state. Operation numbers start at a random point in each incarnation, so an
        // answer to an operation of an earlier life of this node never matches a new one.
        var nextOp: UInt64
        /// Client puts (and gets) this node coordinates, in operation order (so sorted by `op`).
        var writes: [PendingWrite] = []
        var reads: [PendingRead] = []
        /// Local writes a coordinator counts as its own acknowledgement once `persistedIndex` reaches them.
        var localAcks: [LocalAck] = []
        /// Hints being handed to their home replicas.
        var handoffs: [Handoff] = []

        // Background work, driven by the tick.
        var nextAntiEntropy: Instant = .zero
        var antiEntropyRound = 0
        /// Per peer (by member position): the key the next digest to it starts from.
        var antiEntropyCursors: [Key]
        var nextHandoff: Instant = .zero
        var handoffCursor = HintKey(home: NodeID(0), key: 0)

        /// Versions stored during the current batch of inputs (cleared when the next batch begins),
        /// including, in the first batch, what was recovered from disk. Observers that run after
        /// every batch (the simulator's `ConvergenceTracker`) read it; the protocol never does.
        public internal(set) var recentlyStored: [Quorum.StoredUpdate] = []
        /// Versions this node issued as a coordinator during the current batch (cleared likewise):
        /// a put may be overwritten by a concurrent newer one before any replica stores it, so
        /// observers learn a put's version here rather than from the stores.
        public internal(set) var recentlyIssued: [Quorum.StoredUpdate] = []
        var batchEnded = false

        /// Safety anomalies this replica observed (reported by `invariants()`; never expected).
        public internal(set) var anomalies: [String] = []
        public internal(set) var statistics = Statistics()

        /// Counts for the results (`metrics`).
        public struct Statistics: Hashable, Sendable {
            public var putsCoordinated = 0
            public var getsCoordinated = 0
            public var coordinatorTimeouts = 0
            public var resends = 0
            public var readRepairs = 0
            public var antiEntropyRounds = 0
            public var antiEntropyRepairs = 0
            public var olderVersionsIgnored = 0
            public var hintsStored = 0
            public var hintsDelivered = 0
            public var hintsRefused = 0
        }

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            precondition(cluster.members.contains(id), "\(id) is not a member of \(cluster.members)")
            precondition(settings.antiEntropyInterval >= .zero, "a negative anti-entropy interval")
            self.id = id
            self.cluster = cluster
            self.settings = settings
            self.ring = Ring(members: cluster.members, virtualNodes: settings.virtualNodes)
            // A quorum larger than the replica set can never form: clamp, and say so through invariants().
            self.n = min(settings.n, cluster.size)
            self.w = min(settings.w, n)
            self.r = min(settings.r, n)
            self.problems = settings.problems(clusterSize: cluster.size).map { "\(id): nwr settings: \($0) (clamped)" }
            self.clock = HybridClock(node: id)
            var generator = SeededGenerator(from: &random)
            // 62 random bits leave room to count up for the whole life of the node.
            self.nextOp = generator.next() >> 2
            self.antiEntropyCursors = Array(repeating: 0, count: cluster.size)
            self.lastIndex = recovered.lastIndex
            // What was recovered is on disk.
            self.persistedIndex = recovered.lastIndex
            recover(from: recovered.entries)
        }

        /// Replays the durable records in order (the newest version of each key wins).
        mutating func recover(from entries: [LogEntry]) {
            for entry in entries {
                guard case let .record(bytes) = entry.payload else {
                    anomalies.append("\(id): recovered entry \(entry.index) is not an nwr record")
                    continue
                }
                guard let record = try? DurableRecord(decoding: bytes) else {
                    anomalies.append("\(id): recovered entry \(entry.index) does not decode")
                    continue
                }
                switch record {
                case let .stored(record, storedAt):
                    if store.apply(record, at: storedAt) {
                        recentlyStored.append(.init(key: record.key, version: record.version, tag: record.value.tag))
                    }
                case let .hint(home, record):
                    _ = hints.apply(record, home: home)
                case let .hintDelivered(home, key, version):
                    _ = hints.remove(HintKey(home: home, key: key), through: version)
                }
            }
            // Versions this node issues from now on must exceed everything it stored before.
            if store.newestVersion > .zero { clock.observe(store.newestVersion, now: .zero) }
        }

        /// No leader: every node is a peer that coordinates the requests it receives.
        public var status: ReplicaStatus {
            ReplicaStatus(role: .peer, term: .zero, leader: nil, commitIndex: persistedIndex)
        }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            if batchEnded {
                recentlyStored.removeAll(keepingCapacity: true)
                recentlyIssued.removeAll(keepingCapacity: true)
                batchEnded = false
            }
            switch input {
            case .start:
                nextAntiEntropy = now + settings.antiEntropyInterval
                nextHandoff = now + settings.handoffInterval
                out.setTimer(Timers.tick, at: now + settings.tickInterval)
            case let .message(from, message):
                guard cluster.members.contains(from), from != id else { return }
                onMessage(message, from: from, now: now, into: &out)
            case let .request(request):
                onRequest(request, now: now, into: &out)
            case let .timer(timer):
                if timer == Timers.tick { onTick(now: now, into: &out) }
            case let .persisted(through, _):
                onPersisted(through: through, now: now, into: &out)
            case .flush:
                // Nothing is batched: writes and reads go out as requests arrive.
                batchEnded = true
            }
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            switch message {
            case let .write(m): onWrite(m, from: from, now: now, into: &out)
            case let .writeAck(m): onWriteAck(m, from: from, now: now, into: &out)
            case let .read(m): onRead(m, from: from, into: &out)
            case let .readReply(m): onReadReply(m, from: from, now: now, into: &out)
            case let .push(records): onPush(records, from: from, now: now, into: &out)
            case let .digest(m): onDigest(m, from: from, now: now, into: &out)
            case let .digestReply(m): onDigestReply(m, from: from, now: now, into: &out)
            }
        }

        mutating func onTick(now: Instant, into out: inout Effects<Message>) {
            expireAndResend(now: now, into: &out)
            if settings.antiEntropyInterval > .zero && now >= nextAntiEntropy {
                nextAntiEntropy = now + settings.antiEntropyInterval
                startAntiEntropyRound(now: now, into: &out)
            }
            if now >= nextHandoff {
                nextHandoff = now + settings.handoffInterval
                handOffHints(now: now, into: &out)
            }
            out.setTimer(Timers.tick, at: now + settings.tickInterval)
        }

        // MARK: Storage

        /// Queues one durable record as the next log entry; returns its index.
        @discardableResult
        mutating func persist(_ record: DurableRecord, into out: inout Effects<Message>) -> LogIndex {
            lastIndex = lastIndex.next
            out.append(LogEntry(index: lastIndex, term: .zero, payload: .record(record.encodedBytes())))
            return lastIndex
        }

        /// Stores `record` here if it is newer (last writer wins) and queues it for the disk.
        /// Returns whether it was newer.
        @discardableResult
        mutating func storeLocally(_ record: Record, now: Instant, into out: inout Effects<Message>) -> Bool {
            clock.observe(record.version, now: now)
            guard store.apply(record, at: now) else {
                statistics.olderVersionsIgnored += 1
                return false
            }
            persist(.stored(record, storedAt: now), into: &out)
            recentlyStored.append(Quorum.StoredUpdate(key: record.key, version: record.version, tag: record.value.tag))
            return true
        }

        // MARK: Replica side

        /// A coordinator's write (or a hint holder's handoff): store it if newer, then acknowledge
        /// once everything issued so far is durable, so the ack promises the version (or a newer
        /// one) survives a crash.
        mutating func onWrite(_ m: Write, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            let ack = Message.writeAck(WriteAck(op: m.op, key: m.record.key, version: m.record.version))
            if let home = m.hintFor, home != id {
                // Dynamo §4.6: stand in for an unreachable replica, keeping the write apart as a hint.
                guard standIn(for: home, m.record, now: now, into: &out) else { return }
                out.sendAfterDurable(ack, to: from)
                return
            }
            storeLocally(m.record, now: now, into: &out)
            out.sendAfterDurable(ack, to: from)
        }

        /// Keeps `record` as a hint for `home`; false when this replica has no room for another hint.
        mutating func standIn(for home: NodeID, _ record: Record, now: Instant, into out: inout Effects<Message>) -> Bool {
            guard cluster.members.contains(home) else { return false }
            let key = HintKey(home: home, key: record.key)
            if hints[key] == nil && hints.count >= settings.hintsMax {
                statistics.hintsRefused += 1
                return false
            }
            clock.observe(record.version, now: now)
            if hints.apply(record, home: home) {
                statistics.hintsStored += 1
                persist(.hint(home: home, record), into: &out)
            }
            return true
        }

        /// A coordinator asks for a key: answer at once with what this replica holds. (An answer
        /// may show a version whose write is not yet durable here; that is a value some put wrote,
        /// and a put is acknowledged only by replicas where it is durable.)
        mutating func onRead(_ m: Read, from: NodeID, into out: inout Effects<Message>) {
            out.send(.readReply(ReadReply(op: m.op, key: m.key, record: store.record(for: m.key))), to: from)
        }

        /// Read repair or anti-entropy: keep what is newer, for keys this replica holds.
        mutating func onPush(_ records: [Record], from: NodeID, now: Instant, into out: inout Effects<Message>) {
            for record in records.prefix(settings.antiEntropyBatch) where ring.replicates(record.key, node: id, n: n) {
                storeLocally(record, now: now, into: &out)
            }
        }

        // MARK: Durability

        mutating func onPersisted(through index: LogIndex, now: Instant, into out: inout Effects<Message>) {
            guard index > persistedIndex else { return }
            guard index <= lastIndex else {
                anomalies.append("\(id): persisted \(index) beyond the last index issued \(lastIndex)")
                return
            }
            persistedIndex = index
            var released = 0
            while released < localAcks.count && localAcks[released].index <= persistedIndex {
                let ack = localAcks[released]
                released += 1
                onLocalAck(ack, now: now, into: &out)
            }
            if released > 0 { localAcks.removeFirst(released) }
        }
    }
}
