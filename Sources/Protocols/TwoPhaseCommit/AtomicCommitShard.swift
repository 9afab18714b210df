import BenchCore

extension AtomicCommit {
    /// How a participant meets a lock it cannot take.
    public enum LockPolicy: String, Sendable, CaseIterable {
        /// Refuse at once: the participant votes NO (no waiting, so no deadlock).
        case noWait = "no-wait"
        /// Wait-die (Rosenkrantz, Stearns & Lewis, 1978): a transaction older than every holder
        /// in its way waits (for a bounded time); a younger one dies (votes NO). Waits only go
        /// from older to younger, so there is no deadlock, and the oldest transaction always
        /// gets through — no-wait can livelock when few accounts are shared by many clients.
        case waitDie = "wait-die"
    }

    /// A transaction's age for wait-die: its coordinator's clock when it began, then its id.
    /// Smaller is older.
    public struct Priority: Hashable, Comparable, Sendable {
        public var timestamp: Instant
        public var tx: TxID
        public init(timestamp: Instant, tx: TxID) {
            self.timestamp = timestamp
            self.tx = tx
        }
        public static func < (a: Priority, b: Priority) -> Bool { (a.timestamp, a.tx) < (b.timestamp, b.tx) }
    }

    /// What a lock request got.
    enum LockResult: Equatable {
        case granted
        /// Every conflicting holder is younger: under wait-die the requester may wait.
        case olderThanHolders
        /// Some conflicting holder is older (or the lock is full): the requester dies.
        case refused
    }

    /// The accounts one node owns and the locks on them (strict two-phase locking; what happens
    /// on a conflict is the participant's `LockPolicy`).
    ///
    /// `deltaTotal` is the sum of every delta this shard applied: the bank's total is unchanged
    /// exactly when the shards' totals sum to zero once every transaction has resolved.
    public struct Shard: Sendable {
        /// Balances of the accounts ever written; an account never written holds `initialBalance`.
        public private(set) var balances: [Key: Int64] = [:]
        public private(set) var deltaTotal: Int64 = 0
        /// Lock table: an exclusive holder, or the shared holders (a few readers at most).
        private(set) var locks: [Key: Lock] = [:]
        /// The age of every transaction holding a lock here.
        private(set) var holderPriorities: [TxID: Priority] = [:]

        enum Lock: Hashable, Sendable {
            case exclusive(TxID)
            case shared([TxID])
        }

        public init() {}

        @inlinable public func balance(_ account: Key) -> Int64 { balances[account] ?? KeyValueStore.initialBalance }

        /// Whether every holder in the way of `priority` is younger (the wait-die test).
        private func olderThan(_ holders: some Sequence<TxID>, _ priority: Priority) -> Bool {
            holders.allSatisfy { holder in holderPriorities[holder].map { priority < $0 } ?? false }
        }

        /// Takes exclusive locks on every account of `deltas` for the transaction, or none of
        /// them. A lock it already holds exclusively is kept (a retransmitted PREPARE).
        mutating func lockExclusive(_ deltas: [AccountDelta], priority: Priority) -> LockResult {
            let tx = priority.tx
            var inTheWay: [TxID] = []
            for delta in deltas {
                switch locks[delta.account] {
                case nil: continue
                case let .exclusive(holder): if holder != tx { inTheWay.append(holder) }
                case let .shared(holders): inTheWay.append(contentsOf: holders.filter { $0 != tx })
                }
            }
            guard inTheWay.isEmpty else { return olderThan(inTheWay, priority) ? .olderThanHolders : .refused }
            for delta in deltas { locks[delta.account] = .exclusive(tx) }
            holderPriorities[tx] = priority
            return .granted
        }

        /// Takes shared locks on `keys` for the transaction, or none. A shared lock has at most
        /// `sharedHoldersMax` holders (bounded), beyond which the read is refused like a conflict.
        mutating func lockShared(_ keys: [Key], priority: Priority, sharedHoldersMax: Int) -> LockResult {
            let tx = priority.tx
            var inTheWay: [TxID] = []
            for key in keys {
                switch locks[key] {
                case nil: continue
                case let .exclusive(holder): if holder != tx { inTheWay.append(holder) }
                case let .shared(holders): if !holders.contains(tx) && holders.count >= sharedHoldersMax { return .refused }
                }
            }
            guard inTheWay.isEmpty else { return olderThan(inTheWay, priority) ? .olderThanHolders : .refused }
            for key in keys {
                if case var .shared(holders) = locks[key] {
                    if !holders.contains(tx) { holders.append(tx) }
                    locks[key] = .shared(holders)
                } else {
                    locks[key] = .shared([tx])
                }
            }
            holderPriorities[tx] = priority
            return .granted
        }

        /// Releases whatever `tx` holds on `keys` (all the keys it locked: callers release a
        /// transaction's locks together).
        mutating func release(_ keys: some Sequence<Key>, for tx: TxID) {
            holderPriorities[tx] = nil
            for key in keys {
                switch locks[key] {
                case let .exclusive(holder) where holder == tx:
                    locks[key] = nil
                case var .shared(holders):
                    holders.removeAll { $0 == tx }
                    locks[key] = holders.isEmpty ? nil : .shared(holders)
                default:
                    continue
                }
            }
        }

        /// Whether `tx` holds an exclusive lock on `account`.
        func holdsExclusive(_ account: Key, _ tx: TxID) -> Bool { locks[account] == .exclusive(tx) }

        /// The number of locked accounts.
        var lockedCount: Int { locks.count }

        /// Whether applying `deltas` (in order, an account may repeat) keeps every balance non-negative.
        func canApply(_ deltas: [AccountDelta]) -> Bool {
            var tentative: [Key: Int64] = [:]
            for delta in deltas {
                let next = (tentative[delta.account] ?? balance(delta.account)) + delta.amount
                if next < 0 { return false }
                tentative[delta.account] = next
            }
            return true
        }

        mutating func apply(_ deltas: [AccountDelta]) {
            for delta in deltas {
                balances[delta.account] = balance(delta.account) + delta.amount
                deltaTotal += delta.amount
            }
        }

        func read(_ keys: [Key]) -> [Int64] { keys.map(balance) }
    }
}
