import BenchCore

extension Gossip {
    /// One gossip node. Feed it inputs with `handle`; it never does I/O.
    ///
    /// Work per round is O(fanout) messages, each bounded (`digestKeysMax`, `batchUpdatesMax`,
    /// `batchBytesMax`); state is O(keys + hot rumors), never O(cluster size) beyond the member
    /// list, so a simulated cluster of 1,000 nodes stays cheap.
    public struct Instance: Replica {
        public typealias Message = Gossip.Message
        public typealias Settings = Gossip.Settings
        public static let name = "gossip"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        var random: SeededGenerator
        /// This node's position in `cluster.members` (peers are drawn by index around it).
        let memberIndex: Int

        public internal(set) var store = Store()
        /// The hybrid logical clock: never below any version this node has seen or written.
        public internal(set) var clock: UInt64 = 0

        // Durability: every applied update is written; client puts are answered once durable.
        /// The sequence number of the last write issued, and of the last one known durable.
        public internal(set) var writeSequence: UInt64 = 0
        public internal(set) var durableSequence: UInt64 = 0
        /// Puts applied here whose write is not yet durable, oldest first (from `pendingHead`).
        var pendingReplies: [(sequence: UInt64, reply: ClientReply)] = []
        var pendingHead = 0

        /// Where the next digest's key range starts (anti-entropy covers the store range by range).
        var digestCursor: Key = 0

        // Rumor mongering (Demers §1.4): the hot rumors, in the order they became hot.
        var hot: [HotRumor] = []
        var hotPosition: [Key: Int] = [:]
        var retiredCount = 0
        /// Where the next rumor batch starts in `hot`, so more hot rumors than one batch all get sent.
        var rumorCursor = 0

        /// Updates applied during the current batch of inputs (cleared when the next batch begins),
        /// including, in the first batch, what was recovered from disk. Observers that run after
        /// every batch (the simulator's convergence tracker) read it; the protocol never does.
        public internal(set) var recentlyApplied: [AppliedUpdate] = []
        var batchEnded = false

        /// Safety anomalies this node observed (reported by `invariants()`; never expected).
        public internal(set) var anomalies: [String] = []
        public internal(set) var statistics = Statistics()

        /// Counts for the results (summed over nodes in real runs).
        public struct Statistics: Hashable, Sendable {
            public var messagesSent = 0
            /// Client puts applied here.
            public var updatesOriginated = 0
            /// Updates learned from peers (newer than what this node held).
            public var updatesLearned = 0
            public var rumorsRetired = 0
        }

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            guard let memberIndex = cluster.members.firstIndex(of: id) else {
                preconditionFailure("\(id) is not a member of \(cluster.members)")
            }
            precondition(settings.period > .zero, "a gossip round takes time")
            precondition(settings.fanout >= 1 && settings.rumorK >= 1, "fanout and rumor-k are at least 1")
            self.id = id
            self.cluster = cluster
            self.settings = settings
            self.random = SeededGenerator(from: &random)
            self.memberIndex = memberIndex
            // The disk holds one entry per key: the store as it was last made durable.
            for entry in recovered.entries {
                writeSequence = max(writeSequence, entry.term.rawValue)
                guard let update = DurableRecord.update(in: entry) else {
                    anomalies.append("\(id): unreadable gossip record at \(entry.index)")
                    continue
                }
                clock = max(clock, update.version.time)
                if store.merge(update) { recentlyApplied.append(AppliedUpdate(update)) }
            }
            durableSequence = writeSequence
        }

        public var status: ReplicaStatus {
            // No leader and no terms: `commitIndex` reports how many writes are durable here.
            ReplicaStatus(role: .peer, term: .zero, leader: nil, commitIndex: LogIndex(durableSequence))
        }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            if batchEnded {
                recentlyApplied.removeAll(keepingCapacity: true)
                batchEnded = false
            }
            switch input {
            case .start:
                onStart(now: now, into: &out)
            case let .message(from, message):
                guard from != id, isMember(from) else { return }
                onMessage(message, from: from, now: now, into: &out)
            case let .request(request):
                onRequest(request, now: now, into: &out)
            case let .timer(timer):
                if timer == Gossip.Timers.round { onRoundTimer(now: now, into: &out) }
                else if timer == Gossip.Timers.antiEntropy { onAntiEntropyTimer(now: now, into: &out) }
            case let .persisted(_, term):
                onPersisted(sequence: term.rawValue, into: &out)
            case .flush:
                batchEnded = true
            }
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            switch message {
            case let .digest(digest): onDigest(digest, from: from, into: &out)
            case let .request(keys): onUpdateRequest(keys, from: from, into: &out)
            case let .updates(updates): onUpdates(updates, from: from, into: &out)
            case let .rumor(updates): onRumor(updates, from: from, into: &out)
            case let .rumorFeedback(known): onRumorFeedback(known, from: from)
            }
        }

        mutating func onStart(now: Instant, into out: inout Effects<Message>) {
            // A random phase, so the nodes' rounds do not march in step.
            out.setTimer(Gossip.Timers.round, at: now + randomPhase(within: settings.period))
            if settings.mode == .rumor && settings.antiEntropyPeriod > .zero {
                out.setTimer(Gossip.Timers.antiEntropy, at: now + randomPhase(within: settings.antiEntropyPeriod))
            }
        }

        mutating func randomPhase(within period: Duration) -> Duration {
            .nanoseconds(Int64(random.next() % UInt64(max(1, period.nanoseconds))))
        }

        // MARK: Client requests

        /// Gets and puts are served locally (Demers §1: any site accepts an update and spreads it
        /// afterwards). A put is answered once its write is durable.
        mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
            switch request.command {
            case let .get(key), let .readLocal(key):
                // Every read here is local: a degraded read is the same as a normal one.
                out.reply(ClientReply(to: request, .ok(store[key]?.value)))
            case let .put(key, value):
                guard pendingReplies.count - pendingHead < settings.pendingRepliesMax else {
                    out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                    return
                }
                let update = Update(key: key, version: nextVersion(now: now), value: value)
                let stored = store.merge(update)
                // The clock is above every version held, so a fresh version always wins here.
                precondition(stored, "a new local version \(update.version) lost to \(String(describing: store[key]?.version))")
                applied(update, into: &out)
                statistics.updatesOriginated += 1
                if settings.mode == .rumor { heat(update) }
                pendingReplies.append((writeSequence, ClientReply(to: request, .ok(nil))))
            case .compareAndSet, .transaction, .readBalances, .acquireLock, .releaseLock:
                // Conditional writes, transactions and locks need agreement, which gossip does not give.
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.unsupported)))
            }
        }

        /// The next version this node writes: its clock reading, or one past the clock when the
        /// wall time has not caught up with versions seen from elsewhere.
        mutating func nextVersion(now: Instant) -> Version {
            let wall = UInt64(max(0, now.nanoseconds))
            // Saturate rather than wrap: a clock at the top stays there (ties break by node id).
            clock = max(wall, clock == .max ? clock : clock + 1)
            return Version(time: clock, origin: id)
        }

        // MARK: Learning and durability

        /// Merges an update from a peer. Returns whether it was new here (stored).
        @discardableResult
        mutating func learn(_ update: Update, into out: inout Effects<Message>) -> Bool {
            // A version naming a node outside the cluster did not come from a member's client.
            guard isMember(update.version.origin) else { return false }
            clock = max(clock, update.version.time)
            guard store.merge(update) else { return false }
            applied(update, into: &out)
            statistics.updatesLearned += 1
            // Demers §1.4: a site that receives a new update makes it a hot rumor. The broken
            // variant keeps what it learned to itself.
            if settings.mode == .rumor && !settings.unsafeNoForward { heat(update) }
            return true
        }

        /// An update was stored: write it to disk and note it for observers.
        mutating func applied(_ update: Update, into out: inout Effects<Message>) {
            writeSequence += 1
            out.append(DurableRecord.entry(for: update, sequence: writeSequence))
            recentlyApplied.append(AppliedUpdate(update))
        }

        /// Writes through `sequence` are durable: answer the puts that waited for them.
        mutating func onPersisted(sequence: UInt64, into out: inout Effects<Message>) {
            guard sequence <= writeSequence else {
                anomalies.append("\(id): durable through write \(sequence) but only \(writeSequence) issued")
                return
            }
            guard sequence > durableSequence else { return }
            durableSequence = sequence
            while pendingHead < pendingReplies.count && pendingReplies[pendingHead].sequence <= sequence {
                out.reply(pendingReplies[pendingHead].reply)
                pendingHead += 1
            }
            if pendingHead == pendingReplies.count {
                pendingReplies.removeAll(keepingCapacity: true)
                pendingHead = 0
            }
        }

        // MARK: Sending

        mutating func send(_ message: Message, to peer: NodeID, into out: inout Effects<Message>) {
            statistics.messagesSent += 1
            out.send(message, to: peer)
        }

        /// Up to `count` distinct random peers (all of them when the cluster is that small),
        /// chosen by index around this node so no per-peer state is needed.
        mutating func randomPeers(_ count: Int) -> [NodeID] {
            let others = cluster.size - 1
            guard others > 0 else { return [] }
            if count >= others { return cluster.members.filter { $0 != id } }
            var chosen: [NodeID] = []
            chosen.reserveCapacity(count)
            if 2 * count > others {
                // Most of a small cluster: a partial Fisher–Yates shuffle of the peer indices.
                var indices = Array(0..<others)
                for k in 0..<count {
                    indices.swapAt(k, k + Int(random.next() % UInt64(others - k)))
                    chosen.append(peer(atDraw: indices[k]))
                }
                return chosen
            }
            // A few of many: rejection sampling, each draw new with probability above 1/2.
            // Bounded; the bound is only ever reached with vanishing probability.
            var attempts = 0
            while chosen.count < count && attempts < 64 * count {
                attempts += 1
                let peer = peer(atDraw: Int(random.next() % UInt64(others)))
                if !chosen.contains(peer) { chosen.append(peer) }
            }
            return chosen
        }

        /// Whether `node` belongs to the cluster: a binary search of the sorted members, since
        /// it runs for every message and update and a cluster may have 1,000 members.
        func isMember(_ node: NodeID) -> Bool {
            let members = cluster.members
            var low = 0
            var high = members.count
            while low < high {
                let middle = (low + high) / 2
                if members[middle] < node { low = middle + 1 } else { high = middle }
            }
            return low < members.count && members[low] == node
        }

        /// The `draw`-th member other than this node.
        func peer(atDraw draw: Int) -> NodeID {
            cluster.members[draw < memberIndex ? draw : draw + 1]
        }

        // MARK: Rounds

        /// One gossip round: the mode is switched here, once.
        mutating func onRoundTimer(now: Instant, into out: inout Effects<Message>) {
            out.setTimer(Gossip.Timers.round, at: now + settings.period)
            switch settings.mode {
            case .push: startAntiEntropy(push: true, pull: false, peers: settings.fanout, into: &out)
            case .pull: startAntiEntropy(push: false, pull: true, peers: settings.fanout, into: &out)
            case .pushPull: startAntiEntropy(push: true, pull: true, peers: settings.fanout, into: &out)
            case .rumor: spreadRumors(into: &out)
            }
        }

        /// Rumor mode's backing anti-entropy (Demers §1.5: rumor mongering with anti-entropy as
        /// the backup that guarantees every site eventually receives every update).
        mutating func onAntiEntropyTimer(now: Instant, into out: inout Effects<Message>) {
            guard settings.mode == .rumor, settings.antiEntropyPeriod > .zero else { return }
            out.setTimer(Gossip.Timers.antiEntropy, at: now + settings.antiEntropyPeriod)
            startAntiEntropy(push: true, pull: true, peers: 1, into: &out)
        }
    }

    /// An update a node applied, as observers see it.
    public struct AppliedUpdate: Hashable, Sendable {
        public var key: Key
        public var version: Version
        /// The value's tag (`Value.tag`): which client write it was.
        public var tag: UInt64

        @inlinable public init(key: Key, version: Version, tag: UInt64) {
            self.key = key
            self.version = version
            self.tag = tag
        }

        @inlinable public init(_ update: Update) {
            self.init(key: update.key, version: update.version, tag: update.value.tag)
        }
    }
}
