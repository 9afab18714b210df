import BenchCore

extension PrimaryBackup {
    /// One primary-backup group: the node that is primary in its first epoch, and its backup.
    public struct GroupConfig: Hashable, Sendable {
        public var initialPrimary: NodeID
        public var initialBackup: NodeID

        public func peer(of node: NodeID) -> NodeID? {
            if node == initialPrimary { return initialBackup }
            if node == initialBackup { return initialPrimary }
            return nil
        }
    }

    /// How a cluster is arranged into groups, and which group owns a key. Every node computes the
    /// same layout from the member list and the mode.
    public struct Layout: Hashable, Sendable {
        public let mode: Mode
        public let groups: [GroupConfig]

        public init(mode: Mode, members: [NodeID]) {
            precondition(members.count >= 2, "primary-backup needs at least two nodes, got \(members.count)")
            self.mode = mode
            switch mode {
            case .pair:
                groups = [GroupConfig(initialPrimary: members[0], initialBackup: members[1])]
            case .mutual:
                groups = [GroupConfig(initialPrimary: members[0], initialBackup: members[1]),
                          GroupConfig(initialPrimary: members[1], initialBackup: members[0])]
            case .cluster:
                groups = (0..<(members.count / 2)).map {
                    GroupConfig(initialPrimary: members[2 * $0], initialBackup: members[2 * $0 + 1])
                }
            }
        }

        /// The group that owns `key`.
        @inlinable public func group(of key: Key) -> Int { Int(key % UInt64(groups.count)) }

        /// The group that owns every key a command touches, or nil when they span groups (a bank
        /// transfer between accounts of different groups: refused, there is no cross-group commit).
        public func group(of command: Command) -> Int? {
            switch command {
            case let .transaction(deltas):
                guard let first = deltas.first else { return group(of: 0) }
                let g = group(of: first.account)
                return deltas.allSatisfy({ group(of: $0.account) == g }) ? g : nil
            case let .readBalances(keys):
                guard let first = keys.first else { return group(of: 0) }
                let g = group(of: first)
                return keys.allSatisfy({ group(of: $0) == g }) ? g : nil
            default:
                return group(of: command.key)
            }
        }

        /// The groups `node` belongs to, in group order (its *slots*: 0, 1 or 2 of them).
        public func groups(of node: NodeID) -> [Int] {
            groups.indices.filter { groups[$0].peer(of: node) != nil }
        }

        /// The term a node reports in its status for epoch `epoch` of group `group`: unique per
        /// (group, epoch), so "one leader per term" holds across groups too; equal to the epoch in
        /// `pair` mode.
        public func statusTerm(group: Int, epoch: Term) -> Term {
            Term(epoch.rawValue &* UInt64(groups.count) &+ UInt64(group))
        }
    }

    /// What a node keeps on disk for one of its groups (mirrored into the node's one `HardState`).
    struct SlotMeta: Hashable, Sendable {
        /// The highest epoch this node has joined in the group. Persisted before any message of the
        /// epoch leaves the node, so a restart never re-creates an epoch that peers have seen.
        var epoch: Term
        var primaryIsMe: Bool
        /// For a backup: it holds every committed entry and the primary commits nothing without it,
        /// so it may take over. For a primary: it has declared its backup so (and so needs a lease).
        var synced: Bool
    }

    /// A node's disk, shared by the groups it belongs to: one log and one hard state.
    ///
    /// Layout: with one group the group's sequence numbers are the log's indices. With two groups
    /// (`mutual`) the logs interleave: sequence `s` of slot `k` lives at index `(s−1)·2 + k + 1`. A
    /// plain truncation would cut the other group's log too, so a slot's log is shortened by
    /// overwriting the removed positions with tombstones; recovery stops a slot's log at the first
    /// missing entry or tombstone.
    ///
    /// Hard state: `term` is slot 0's epoch; `auxiliary` is slot 1's epoch shifted left by 8 over
    /// flag bits (bit 0/1: slot 0/1 synced; bit 2/3: slot 0/1 primary is this node). A stored epoch
    /// of 0 means the slot has never been written: its first epoch (1) with the layout's initial roles.
    ///
    /// Durability reports (`.persisted`) name the last entry of a sync; every write issued before it
    /// is durable too, so the node keeps the entries it has issued, in order, and pops them as reports come.
    struct Storage: Sendable {
        struct Issued: Sendable {
            var index: LogIndex
            var term: Term
            /// The slot whose entry this is, or -1 for a tombstone.
            var slot: Int
            var seq: LogIndex
        }

        let slots: Int
        private(set) var meta: [SlotMeta]
        private var issued: [Issued] = []
        private var issuedHead = 0

        static let tombstone: [UInt8] = [0x54, 0x4F, 0x4D, 0x42]  // "TOMB"

        init(slots: Int, meta: [SlotMeta]) {
            precondition(slots >= 0 && slots <= 2, "a node belongs to at most two groups")
            precondition(meta.count == slots, "one meta record per slot")
            self.slots = slots
            self.meta = meta
        }

        func durableIndex(seq: LogIndex, slot: Int) -> LogIndex {
            precondition(seq.rawValue >= 1 && slot >= 0 && slot < slots, "seq \(seq) slot \(slot) out of range")
            return LogIndex((seq.rawValue - 1) * UInt64(slots) + UInt64(slot) + 1)
        }

        var hardState: HardState {
            var flags: UInt64 = 0
            for (k, m) in meta.enumerated() {
                if m.synced { flags |= 1 << UInt64(k) }
                if m.primaryIsMe { flags |= 1 << UInt64(2 + k) }
            }
            let second = slots > 1 ? meta[1].epoch.rawValue : 0
            return HardState(term: slots > 0 ? meta[0].epoch : .zero, vote: nil, auxiliary: second << 8 | flags)
        }

        /// The stored meta of each slot, nil for a slot never written.
        static func decode(_ state: HardState, slots: Int) -> [SlotMeta?] {
            (0..<slots).map { k in
                let epoch = k == 0 ? state.term : Term(state.auxiliary >> 8)
                guard epoch > .zero else { return nil }
                return SlotMeta(epoch: epoch, primaryIsMe: state.auxiliary & (1 << UInt64(2 + k)) != 0,
                                synced: state.auxiliary & (1 << UInt64(k)) != 0)
            }
        }

        /// Slot `slot`'s log as recovered: contiguous from sequence 1, epochs never decreasing and
        /// never above the slot's epoch, up to the first gap or tombstone.
        static func recoverLog(_ recovered: RecoveredState, slot: Int, slots: Int, epoch: Term) -> [LogEntry] {
            var entries: [LogEntry] = []
            var seq = LogIndex(1)
            var lastEpoch = Term.zero
            let layout = Storage(slots: slots, meta: Array(repeating: SlotMeta(epoch: .zero, primaryIsMe: false, synced: false), count: slots))
            while let stored = recovered.entry(at: layout.durableIndex(seq: seq, slot: slot)) {
                if case .record = stored.payload { break }
                guard stored.term >= lastEpoch, stored.term <= epoch else { break }
                entries.append(LogEntry(index: seq, term: stored.term, payload: stored.payload))
                lastEpoch = stored.term
                seq = seq.next
            }
            return entries
        }

        /// Replaces slot `slot`'s meta and writes the node's hard state.
        mutating func persist(_ slotMeta: SlotMeta, slot: Int, into out: inout Effects<Message>) {
            precondition(slotMeta.epoch >= meta[slot].epoch, "a slot's epoch never goes back")
            meta[slot] = slotMeta
            out.persist(hardState)
        }

        /// Writes `entry` (indexed by its group sequence) of slot `slot`.
        mutating func append(_ entry: LogEntry, slot: Int, into out: inout Effects<Message>) {
            let index = durableIndex(seq: entry.index, slot: slot)
            out.append(LogEntry(index: index, term: entry.term, payload: entry.payload))
            issued.append(Issued(index: index, term: entry.term, slot: slot, seq: entry.index))
        }

        /// Removes slot `slot`'s entries from `from` through `last` (its current last sequence).
        /// Tombstones carry term 0, so a durability report for one is never mistaken for the entry
        /// that is written over it next.
        mutating func truncate(slot: Int, from: LogIndex, last: LogIndex, into out: inout Effects<Message>) {
            guard from <= last else { return }
            if slots == 1 {
                out.truncate(from: from)
                return
            }
            var seq = from
            while seq <= last {
                let index = durableIndex(seq: seq, slot: slot)
                out.append(LogEntry(index: index, term: .zero, payload: .record(Self.tombstone)))
                issued.append(Issued(index: index, term: .zero, slot: -1, seq: seq))
                seq = seq.next
            }
        }

        /// The entries a durability report covers, oldest first: every issued entry up to the one
        /// reported. A report that matches nothing issued (an entry since overwritten) covers nothing.
        mutating func durable(through index: LogIndex, term: Term) -> ArraySlice<Issued> {
            guard let position = issued[issuedHead...].firstIndex(where: { $0.index == index && $0.term == term }) else {
                return []
            }
            let covered = issued[issuedHead...position]
            issuedHead = position + 1
            if issuedHead == issued.count {
                issued.removeAll(keepingCapacity: true)
                issuedHead = 0
            } else if issuedHead >= 1_024 && issuedHead * 2 >= issued.count {
                issued.removeFirst(issuedHead)
                issuedHead = 0
            }
            return covered
        }

        /// Entries issued and not yet reported durable.
        var issuedPending: Int { issued.count - issuedHead }
    }
}
