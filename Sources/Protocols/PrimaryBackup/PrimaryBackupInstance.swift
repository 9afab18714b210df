import BenchCore

extension PrimaryBackup {
    /// One node: its part in each group it belongs to (none, one, or two in `mutual` mode), and the
    /// disk those groups share. Feed it inputs with `handle`; it never does I/O.
    public struct Instance: LogReplica {
        public typealias Message = PrimaryBackup.Message
        public typealias Settings = PrimaryBackup.Settings
        public static let name = "primary-backup"

        public let id: NodeID
        public let cluster: ClusterConfig
        public let settings: Settings
        public let layout: Layout
        var random: SeededGenerator
        var members: [Member]
        var storage: Storage

        /// Requests for a group this node is not in, redirected to the group's first primary.
        public internal(set) var redirects = 0
        /// Peer messages dropped because they named a group this node does not share with the sender.
        public internal(set) var misaddressed = 0

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            precondition(cluster.members.contains(id), "\(id) is not a member of \(cluster.members)")
            if let problem = settings.inconsistency { preconditionFailure(problem) }
            self.id = id
            self.cluster = cluster
            self.settings = settings
            self.random = SeededGenerator(from: &random)
            let layout = Layout(mode: settings.mode, members: cluster.members)
            self.layout = layout
            let groups = layout.groups(of: id)
            let stored = Storage.decode(recovered.hardState, slots: groups.count)
            var members: [Member] = []
            var metas: [SlotMeta] = []
            for (slot, group) in groups.enumerated() {
                let config = layout.groups[group]
                // Never written: the group's first epoch, both logs empty and so in sync.
                let meta = stored[slot] ?? SlotMeta(epoch: Term(1), primaryIsMe: config.initialPrimary == id, synced: true)
                let action: StartAction
                switch (stored[slot] == nil, meta.primaryIsMe, meta.synced) {
                case (true, true, _): action = .activateFirst
                case (false, true, true): action = .relinquish
                case (false, true, false): action = .bump
                default: action = .follow
                }
                let log = Log(Storage.recoverLog(recovered, slot: slot, slots: groups.count, epoch: meta.epoch))
                members.append(Member(group: group, slot: slot, me: id, peer: config.peer(of: id)!, settings: settings,
                                      meta: meta, startAction: action, log: log))
                metas.append(meta)
            }
            self.members = members
            self.storage = Storage(slots: groups.count, meta: metas)
        }

        /// The position of `group` among this node's groups, if it belongs to it.
        @inline(__always) func slot(of group: Int) -> Int? { members.firstIndex { $0.group == group } }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            switch input {
            case .start:
                for s in members.indices { members[s].start(now: now, storage: &storage, into: &out) }
                if !members.isEmpty { out.setTimer(Timers.tick, at: now + settings.heartbeatInterval) }
            case let .message(from, message):
                onMessage(message, from: from, now: now, into: &out)
            case let .request(request):
                onRequest(request, now: now, into: &out)
            case let .timer(timer):
                if timer == Timers.tick { onTick(now: now, into: &out) }
                else if timer == Timers.promote { onPromoteTimer(now: now, into: &out) }
            case let .persisted(through, term):
                onPersisted(through: through, term: term, now: now, into: &out)
            case .flush:
                for s in members.indices { members[s].flush(now: now, into: &out) }
            }
        }

        mutating func onMessage(_ message: Message, from: NodeID, now: Instant, into out: inout Effects<Message>) {
            let group = Int(message.group)
            guard group < layout.groups.count, let s = slot(of: group), members[s].peer == from else {
                misaddressed += 1
                return
            }
            switch message {
            case let .append(m): members[s].onAppend(m, now: now, storage: &storage, into: &out)
            case let .ack(m): members[s].onAck(m, now: now, storage: &storage, into: &out)
            case let .epochNotice(m): members[s].onEpochNotice(m, now: now, storage: &storage, into: &out)
            case let .relinquish(m): members[s].onRelinquish(m, now: now, storage: &storage, into: &out)
            }
        }

        mutating func onRequest(_ request: ClientRequest, now: Instant, into out: inout Effects<Message>) {
            guard let group = layout.group(of: request.command) else {
                // Keys of several groups in one transaction: there is no cross-group commit.
                out.reply(ClientReply(to: request, .rejected(code: RejectCode.unsupported)))
                return
            }
            guard let s = slot(of: group) else {
                redirects += 1
                out.reply(ClientReply(to: request, .notLeader(hint: layout.groups[group].initialPrimary)))
                return
            }
            members[s].onRequest(request, now: now, storage: &storage, into: &out)
        }

        mutating func onTick(now: Instant, into out: inout Effects<Message>) {
            for s in members.indices { members[s].onTick(now: now, storage: &storage, into: &out) }
            out.setTimer(Timers.tick, at: now + settings.heartbeatInterval)
            // A takeover due before the next tick gets a timer of its own, so failover time does not
            // depend on where the deadline falls between ticks.
            let next = now + settings.heartbeatInterval
            var earliest: Instant?
            for member in members {
                if let deadline = member.promotionDeadline, deadline < next, earliest.map({ deadline < $0 }) ?? true {
                    earliest = deadline
                }
            }
            if let earliest { out.setTimer(Timers.promote, at: max(earliest, now)) }
        }

        mutating func onPromoteTimer(now: Instant, into out: inout Effects<Message>) {
            for s in members.indices { members[s].checkPromotion(now: now, storage: &storage, into: &out) }
        }

        mutating func onPersisted(through index: LogIndex, term: Term, now: Instant, into out: inout Effects<Message>) {
            for write in storage.durable(through: index, term: term) where write.slot >= 0 {
                members[write.slot].onDurable(seq: write.seq, term: write.term)
            }
            for s in members.indices { members[s].afterDurable(now: now, storage: &storage, into: &out) }
        }

        // MARK: What the node reports

        /// In `pair` mode the group's status; otherwise that of the first group this node leads (or
        /// belongs to), with the term made unique per group (`Layout.statusTerm`) and no commit
        /// index, since the groups' logs are separate (see `groupView` and `GroupOracle`).
        public var status: ReplicaStatus {
            let leading = members.first { $0.role == .primary }
            guard let shown = leading ?? members.first else {
                return ReplicaStatus(role: .follower, term: .zero, leader: nil, commitIndex: .zero)
            }
            return ReplicaStatus(role: leading == nil ? .follower : .leader,
                                 term: layout.statusTerm(group: shown.group, epoch: shown.epoch),
                                 leader: shown.primaryID,
                                 commitIndex: layout.groups.count == 1 ? shown.commitIndex : .zero)
        }

        /// The committed entry at `index` of the single group in `pair` mode (the simulator's
        /// `LogOracle`); nil in the other modes, whose status reports no commit index.
        public func committedEntry(at index: LogIndex) -> LogEntry? {
            guard layout.groups.count == 1, let member = members.first else { return nil }
            return member.commitIndex >= index && index.rawValue >= 1 ? member.log[index] : nil
        }

        /// The committed entry at `index` of `group`'s log on this node, if it belongs to the group.
        public func committedEntry(group: Int, at index: LogIndex) -> LogEntry? {
            guard let s = slot(of: group), index.rawValue >= 1, index <= members[s].commitIndex else { return nil }
            return members[s].log[index]
        }

        /// What this node reports about one group it belongs to.
        public struct GroupView: Hashable, Sendable {
            public var group: Int
            public var epoch: Term
            public var role: GroupRole
            public var activated: Bool
            public var synced: Bool
            public var commitIndex: LogIndex
            public var lastIndex: LogIndex
            public var stats: GroupStats
        }

        public func groupView(_ group: Int) -> GroupView? {
            guard let s = slot(of: group) else { return nil }
            let m = members[s]
            return GroupView(group: group, epoch: m.epoch, role: m.role, activated: m.activated, synced: m.synced,
                             commitIndex: m.commitIndex, lastIndex: m.log.lastIndex, stats: m.stats)
        }

        /// The groups this node belongs to.
        public var groups: [Int] { members.map(\.group) }

        /// Counters by column name; the node runtime sums them over nodes (maxima for `_max_` names).
        public var metrics: [String: Double] {
            var failovers = 0, relinquishTakeovers = 0, bumps = 0, relinquishes = 0, lapses = 0, syncs = 0
            var reads = 0, writes = 0
            var detectMax: Int64 = 0
            for m in members {
                failovers += m.stats.promotions
                relinquishTakeovers += m.stats.relinquishTakeovers
                bumps += m.stats.restartBumps
                relinquishes += m.stats.relinquishes
                lapses += m.stats.leaseLapses
                syncs += m.stats.syncDeclarations
                reads += m.stats.readsServed
                writes += m.stats.writesCommitted
                detectMax = max(detectMax, m.stats.detectMaxNanos)
            }
            return ["failovers": Double(failovers), "failovers_on_relinquish": Double(relinquishTakeovers),
                    "restart_epochs": Double(bumps), "relinquishes": Double(relinquishes), "lease_lapses": Double(lapses),
                    "sync_declarations": Double(syncs), "reads_local": Double(reads), "writes_committed": Double(writes),
                    "redirects": Double(redirects), "failover_detect_max_ms": Double(detectMax) / 1e6]
        }
    }
}
