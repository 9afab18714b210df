import BenchCore

extension PrimaryBackup {
    /// A node's role in one group.
    public enum GroupRole: String, Hashable, Sendable {
        /// Orders and replicates updates; serves only while `activated` and, once its backup is in
        /// sync, only while its lease holds.
        case primary
        /// Appends what the primary sends, acknowledges once durable, grants the primary's lease,
        /// and takes over (if in sync) when that lease has lapsed.
        case backup
        /// A node that restarted as the primary of an epoch in which it had declared its backup in
        /// sync. Its lease died with it; rather than wait out the backup's promise it tells the
        /// backup to take over, and never serves that epoch again.
        case relinquished
    }

    /// What a node does first with a group when it starts, decided from its disk.
    enum StartAction: Sendable {
        /// Nothing written yet and this node is the group's first primary: begin epoch 1.
        case activateFirst
        /// Restarted as the primary of an epoch whose backup is in sync: hand over (`relinquished`).
        case relinquish
        /// Restarted as the primary of an epoch whose backup is not in sync: only this node can
        /// serve, in a fresh epoch (so no sequence number it lost in the crash is ever reused).
        case bump
        /// A backup: follow, and grant no lease before a full promise period has passed.
        case follow
    }

    /// What the primary knows about its backup's log (etcd raft's `tracker.Progress`, for one peer).
    struct Progress: Sendable {
        var matched: LogIndex = .zero
        /// The next sequence to send; in replicate mode it runs ahead of what was acknowledged.
        var nextIndex: LogIndex
        /// Finding where the logs agree: one append at a time.
        var probing = true
        /// Last sequence carried by each unacknowledged append, oldest first (at most `inflightMax`).
        var inflight: [LogIndex] = []
        /// When `matched` last moved, or a probe was last sent (to resend after losses).
        var lastProgressAt: Instant
        /// When the backup last acknowledged anything in this epoch.
        var lastAckAt: Instant?
    }

    /// Counters for one group on one node.
    public struct GroupStats: Hashable, Sendable {
        /// Times this node took over as primary from an in-sync backup role (failovers).
        public var promotions = 0
        /// Of those, takeovers on a `relinquish` notice (no lease wait).
        public var relinquishTakeovers = 0
        /// Restarts as a primary whose backup was not in sync (a fresh epoch, alone).
        public var restartBumps = 0
        /// Restarts as a primary whose backup was in sync (handed over).
        public var relinquishes = 0
        /// Times a primary with an in-sync backup stopped serving because its lease ran out.
        public var leaseLapses = 0
        /// Times a primary serving alone declared its backup in sync.
        public var syncDeclarations = 0
        /// Reads served from the primary's state, and the epoch of the last one.
        public var readsServed = 0
        public var lastReadEpoch: Term = .zero
        /// Client commands this node committed while primary.
        public var writesCommitted = 0
        /// The longest wait, on this node's clock, from last hearing the primary to taking over (ns).
        public var detectMaxNanos: Int64 = 0
    }

    /// One node's part in one group: its epoch and role there, the group's log and state machine.
    struct Member: Sendable {
        let group: Int
        /// Position of this group among the node's groups (its place in the node's disk layout).
        let slot: Int
        let me: NodeID
        let peer: NodeID
        let settings: Settings
        var startAction: StartAction

        // Persistent (mirrored into the node's hard state by `Storage.persist` before relied on).
        var epoch: Term
        var synced: Bool
        var role: GroupRole

        var activated = false
        /// The sequence of the no-op that opened this node's epoch as primary: once it is durable the
        /// epoch is on disk too and messages of the epoch may leave; once it commits, every earlier
        /// entry has.
        var activationIndex: LogIndex = .zero
        /// A primary serving alone that saw its backup catch up commits only what both hold from then
        /// on, until it can declare the backup in sync (or the backup goes silent).
        var syncPending = false
        /// The no-op written with the sync declaration: once durable, appends say `inSync`.
        var syncMarker: LogIndex?

        var log: Log
        var commitIndex: LogIndex = .zero
        var lastApplied: LogIndex = .zero
        /// Entries 1...persistedIndex are on this node's disk.
        var persistedIndex: LogIndex
        var store = KeyValueStore()

        /// Backup: when it last heard from the primary of its epoch. Its promise runs from here.
        var lastPrimaryContact: Instant = .zero
        /// Primary: it may serve (with an in-sync backup) while its clock reads before this.
        var leaseExpiry: Instant = .zero
        var everLeased = false
        var wasLeased = false
        var progress: Progress

        var stats = GroupStats()
        /// Safety anomalies observed (reported by `invariants()`; never expected).
        var anomalies: [String] = []

        init(group: Int, slot: Int, me: NodeID, peer: NodeID, settings: Settings, meta: SlotMeta, startAction: StartAction,
             log: Log) {
            self.group = group
            self.slot = slot
            self.me = me
            self.peer = peer
            self.settings = settings
            self.startAction = startAction
            self.epoch = meta.epoch
            self.synced = meta.synced
            self.role = startAction == .follow ? .backup : .relinquished
            self.log = log
            // What was recovered is on disk.
            self.persistedIndex = log.lastIndex
            self.progress = Progress(nextIndex: log.lastIndex.next, lastProgressAt: .zero)
        }

        var meta: SlotMeta { SlotMeta(epoch: epoch, primaryIsMe: role != .backup, synced: synced) }
        var groupWire: UInt32 { UInt32(group) }

        /// The node this member believes is the group's primary now.
        var primaryID: NodeID? {
            switch role {
            case .primary: me
            case .backup: peer
            case .relinquished: nil
            }
        }

        mutating func anomaly(_ text: String) {
            if anomalies.count < 8 { anomalies.append("group \(group) on \(me): \(text)") }
        }

        // MARK: Start and roles

        mutating func start(now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
            lastPrimaryContact = now
            switch startAction {
            case .activateFirst:
                becomePrimary(epoch: epoch, synced: true, now: now, storage: &storage, into: &out)
            case .relinquish:
                role = .relinquished
                stats.relinquishes += 1
                out.send(.relinquish(.init(group: groupWire, epoch: epoch)), to: peer)
            case .bump:
                stats.restartBumps += 1
                becomePrimary(epoch: epoch.next, synced: false, now: now, storage: &storage, into: &out)
            case .follow:
                role = .backup
            }
        }

        /// Opens `epoch` with this node as primary: the epoch goes to disk, then a no-op; nothing of
        /// the epoch is sent until that no-op is durable (`activated`).
        mutating func becomePrimary(epoch newEpoch: Term, synced: Bool, now: Instant, storage: inout Storage,
                                    into out: inout Effects<Message>) {
            precondition(newEpoch >= epoch, "epochs never go back")
            epoch = newEpoch
            role = .primary
            self.synced = synced
            activated = false
            syncPending = false
            syncMarker = nil
            storage.persist(meta, slot: slot, into: &out)
            activationIndex = appendLocal(.noop, storage: &storage, into: &out).index
            progress = Progress(nextIndex: activationIndex, lastProgressAt: now)
            leaseExpiry = .zero
            everLeased = false
            wasLeased = false
        }

        /// Joins the higher `newEpoch`, whose primary is the peer (a node on a higher epoch leads it:
        /// a backup only ever learns an epoch from its primary). A primary stepping down answers
        /// its uncommitted requests `.unknown`: they may still commit under the new primary.
        mutating func adoptEpoch(_ newEpoch: Term, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
            precondition(newEpoch > epoch, "only a higher epoch is adopted")
            if role == .primary {
                var index = commitIndex.next
                while index <= log.lastIndex {
                    if case let .command(request) = log[index].payload { out.reply(ClientReply(to: request, .unknown)) }
                    index = index.next
                }
            }
            epoch = newEpoch
            role = .backup
            synced = false
            activated = false
            syncPending = false
            syncMarker = nil
            storage.persist(meta, slot: slot, into: &out)
            lastPrimaryContact = now
        }

        @discardableResult
        mutating func appendLocal(_ payload: EntryPayload, storage: inout Storage, into out: inout Effects<Message>) -> LogEntry {
            let entry = LogEntry(index: log.lastIndex.next, term: epoch, payload: payload)
            log.append(entry)
            storage.append(entry, slot: slot, into: &out)
            return entry
        }

        // MARK: Durability, commit, apply

        /// Entry `seq` of epoch `term` was reported durable (with everything written before it).
        mutating func onDurable(seq: LogIndex, term: Term) {
            guard log.epoch(at: seq) == term, seq > persistedIndex else { return }
            persistedIndex = seq
        }

        mutating func afterDurable(now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
            guard role == .primary else { return }
            if !activated && persistedIndex >= activationIndex { activated = true }
            advanceCommit(now: now, storage: &storage, into: &out)
        }

        /// Whether a commit needs the backup: once it is in sync (or about to be declared so).
        var commitNeedsBackup: Bool { synced || syncPending }

        /// A primary commits what is on its own disk and, when the backup counts, on the backup's:
        /// "the primary replies only when both have it durable, or it alone holds it in an epoch
        /// whose backup is not in sync (and so cannot take over)".
        mutating func advanceCommit(now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
            guard role == .primary, activated else { return }
            let target = commitNeedsBackup ? min(persistedIndex, progress.matched) : persistedIndex
            if target > commitIndex { setCommit(target, into: &out) }
            maybeDeclareSync(storage: &storage, into: &out)
        }

        mutating func setCommit(_ index: LogIndex, into out: inout Effects<Message>) {
            guard index > commitIndex else { return }
            precondition(index <= log.lastIndex, "commit \(index) beyond the log's end \(log.lastIndex)")
            commitIndex = index
            while lastApplied < commitIndex {
                lastApplied = lastApplied.next
                guard case let .command(request) = log[lastApplied].payload else { continue }
                let outcome = store.apply(request)
                if role == .primary {
                    out.reply(ClientReply(to: request, outcome))
                    stats.writesCommitted += 1
                }
            }
        }

        /// A primary serving alone whose backup holds every committed entry declares it in sync:
        /// from now on it commits nothing without the backup, and the backup may take over. The
        /// declaration is on disk (the marker no-op after it durable) before the backup hears it, so
        /// a restart finds it and hands over instead of serving alone beside a backup that took over.
        mutating func maybeDeclareSync(storage: inout Storage, into out: inout Effects<Message>) {
            guard role == .primary, activated, !synced, syncPending,
                  progress.matched >= commitIndex, progress.matched >= activationIndex else { return }
            synced = true
            syncPending = false
            storage.persist(meta, slot: slot, into: &out)
            syncMarker = appendLocal(.noop, storage: &storage, into: &out).index
            stats.syncDeclarations += 1
        }

        /// What appends tell the backup: it may take over if the lease lapses.
        var announcesInSync: Bool {
            guard synced else { return false }
            guard let marker = syncMarker else { return true }
            return persistedIndex >= marker
        }

        // MARK: Serving clients

        /// Whether this primary may answer clients now: its epoch is on disk and its no-op committed
        /// (so its state holds every earlier commit), and either its backup cannot take over (not
        /// in sync) or its lease holds.
        func isServing(now: Instant) -> Bool {
            role == .primary && activated && commitIndex >= activationIndex && (!synced || now < leaseExpiry)
        }

        mutating func onRequest(_ request: ClientRequest, now: Instant, storage: inout Storage, into out: inout Effects<Message>) {
            switch role {
            case .primary:
                guard isServing(now: now) else {
                    // Opening its epoch or awaiting its first lease: retry here soon. Lease lapsed:
                    // the backup may be taking over.
                    let opening = !activated || commitIndex < activationIndex || !everLeased
                    out.reply(ClientReply(to: request, opening ? .rejected(code: RejectCode.overloaded) : .notLeader(hint: peer)))
                    return
                }
                if request.command.isReadOnly {
                    serveRead(request, into: &out)
                    return
                }
                guard log.lastIndex.rawValue - commitIndex.rawValue < UInt64(settings.uncommittedEntriesMax) else {
                    out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
                    return
                }
                var stamped = request
                stamped.command = request.command.stamped(now)
                appendLocal(.command(stamped), storage: &storage, into: &out)
            case .backup:
                // A backup in sync that has not heard from its primary for a while may be about to take
                // over: the client waits and retries here rather than bounce between the two.
                let silent = now - lastPrimaryContact >= settings.heartbeatInterval * 3
                out.reply(ClientReply(to: request, synced && silent ? .rejected(code: RejectCode.overloaded) : .notLeader(hint: peer)))
            case .relinquished:
                out.reply(ClientReply(to: request, .notLeader(hint: peer)))
            }
        }

        /// A read answered from the primary's applied state: linearizable because that state holds
        /// every committed write (the no-op of the epoch has committed) and no other node can have
        /// committed anything newer (the backup cannot take over while the lease holds).
        mutating func serveRead(_ request: ClientRequest, into out: inout Effects<Message>) {
            let outcome: Outcome
            switch request.command {
            case let .get(key): outcome = .ok(store.read(key))
            case let .readBalances(keys): outcome = .balances(keys.map(store.balance))
            default: preconditionFailure("not a read: \(request.command)")
            }
            stats.readsServed += 1
            stats.lastReadEpoch = epoch
            out.reply(ClientReply(to: request, outcome))
        }
    }
}
