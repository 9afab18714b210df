import BenchCore

/// What two-phase and three-phase commit share: transaction ids, the records a node writes to its
/// durable log, the bank shard each node owns (balances and a lock table), the per-client reply
/// table, and the end-of-run inspection with its atomicity and bank-total audit.
///
/// Sharding: account `a` lives on `members[a % members.count]`. The node a client asks coordinates
/// that transaction; the owners of its accounts are the participants (the coordinator may be one).
public enum AtomicCommit {}

extension AtomicCommit {
    /// Names one transaction, unique across the cluster and across restarts: the coordinating node,
    /// the coordinator's epoch (one more than any epoch in its log, made durable before the
    /// coordinator issues ids in it) and a counter within the epoch.
    public struct TxID: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var coordinator: NodeID
        public var epoch: UInt32
        public var counter: UInt64

        @inlinable public init(coordinator: NodeID, epoch: UInt32, counter: UInt64) {
            self.coordinator = coordinator
            self.epoch = epoch
            self.counter = counter
        }

        @inlinable public static func < (a: TxID, b: TxID) -> Bool {
            (a.coordinator, a.epoch, a.counter) < (b.coordinator, b.epoch, b.counter)
        }

        public var description: String { "tx\(coordinator.rawValue).\(epoch).\(counter)" }
    }

    /// What one participant is asked to do for a transaction.
    public enum Operation: Hashable, Sendable {
        /// Apply these deltas (all on this participant's shard), all or nothing.
        case transfer([AccountDelta])
        /// Read these balances under shared locks held until the coordinator releases them.
        case read([Key])

        public var isRead: Bool { if case .read = self { true } else { false } }
    }

    /// The node that owns `account`.
    @inlinable public static func owner(of account: Key, members: [NodeID]) -> NodeID {
        members[Int(account % UInt64(members.count))]
    }

    /// Splits a command into per-participant operations, participants in increasing id order.
    /// Returns nil for a command that is not a bank command, or an empty one.
    public static func split(_ command: Command, members: [NodeID]) -> [(participant: NodeID, operation: Operation)]? {
        switch command {
        case let .transaction(deltas):
            guard !deltas.isEmpty else { return nil }
            var byOwner: [NodeID: [AccountDelta]] = [:]
            for delta in deltas { byOwner[owner(of: delta.account, members: members), default: []].append(delta) }
            return byOwner.keys.sorted().map { ($0, .transfer(byOwner[$0]!)) }
        case let .readBalances(keys):
            guard !keys.isEmpty else { return nil }
            var byOwner: [NodeID: [Key]] = [:]
            for key in keys { byOwner[owner(of: key, members: members), default: []].append(key) }
            return byOwner.keys.sorted().map { ($0, .read(byOwner[$0]!)) }
        default:
            return nil
        }
    }
}

// MARK: - Durable records

extension AtomicCommit {
    /// One record in a node's durable log (`EntryPayload.record`). Replaying the records in order
    /// rebuilds everything a node must not forget: its epoch, its in-doubt votes, its decisions
    /// (and so its balances) and, as coordinator, the commit decisions it still has to deliver.
    public enum Record: Hashable, Sendable {
        /// The coordinator's epoch for transaction ids issued after this (re)start.
        case epoch(UInt32)
        /// A participant voted YES: it holds these deltas' locks until it learns the decision.
        case vote(TxID, participants: [NodeID], deltas: [AccountDelta])
        /// A 3PC participant entered the pre-committed state (Skeen's state p).
        case precommit(TxID)
        /// A participant's decision: applied (commit) or dropped (abort). A NO vote logs an abort.
        case decision(TxID, commit: Bool)
        /// A coordinator's decision, with the participants it must reach.
        case coordinatorDecision(TxID, commit: Bool, participants: [NodeID])
        /// Every participant acknowledged the coordinator's commit: it need not resend it.
        case coordinatorEnd(TxID)
    }

    /// The largest participant list and delta list a record or message may carry.
    static let participantsMax = 1_024
    static let deltasMax = 4_096
}

extension AtomicCommit.TxID: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(coordinator); writer.write(epoch); writer.write(counter)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(coordinator: try reader.read(NodeID.self), epoch: try reader.readUInt32(), counter: try reader.readUInt64())
    }
}

extension AtomicCommit.Operation: WireCodable {
    public func encode(to writer: inout WireWriter) {
        switch self {
        case let .transfer(deltas): writer.write(UInt8(1)); writer.write(deltas)
        case let .read(keys): writer.write(UInt8(2)); writer.write(keys)
        }
    }
    public init(from reader: inout WireReader) throws {
        switch try reader.readUInt8() {
        case 1: self = .transfer(try reader.readArray(AccountDelta.self, minimumSize: 16, limit: AtomicCommit.deltasMax))
        case 2: self = .read(try reader.readArray(UInt64.self, minimumSize: 8, limit: AtomicCommit.deltasMax))
        case let tag: throw WireError.invalidTag(tag, type: "AtomicCommit.Operation")
        }
    }
}

extension AtomicCommit {
    static func readParticipants(_ reader: inout WireReader) throws -> [NodeID] {
        try reader.readArray(NodeID.self, minimumSize: 4, limit: participantsMax)
    }
}

extension AtomicCommit.Record: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .epoch(epoch): w.write(UInt8(1)); w.write(epoch)
        case let .vote(tx, participants, deltas): w.write(UInt8(2)); w.write(tx); w.write(participants); w.write(deltas)
        case let .precommit(tx): w.write(UInt8(3)); w.write(tx)
        case let .decision(tx, commit): w.write(UInt8(4)); w.write(tx); w.write(commit)
        case let .coordinatorDecision(tx, commit, participants):
            w.write(UInt8(5)); w.write(tx); w.write(commit); w.write(participants)
        case let .coordinatorEnd(tx): w.write(UInt8(6)); w.write(tx)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1: self = .epoch(try r.readUInt32())
        case 2:
            let tx = try r.read(AtomicCommit.TxID.self)
            let participants = try AtomicCommit.readParticipants(&r)
            self = .vote(tx, participants: participants,
                         deltas: try r.readArray(AccountDelta.self, minimumSize: 16, limit: AtomicCommit.deltasMax))
        case 3: self = .precommit(try r.read(AtomicCommit.TxID.self))
        case 4: self = .decision(try r.read(AtomicCommit.TxID.self), commit: try r.readBool())
        case 5:
            let tx = try r.read(AtomicCommit.TxID.self)
            let commit = try r.readBool()
            self = .coordinatorDecision(tx, commit: commit, participants: try AtomicCommit.readParticipants(&r))
        case 6: self = .coordinatorEnd(try r.read(AtomicCommit.TxID.self))
        case let tag: throw WireError.invalidTag(tag, type: "AtomicCommit.Record")
        }
    }
}

// MARK: - Journal

extension AtomicCommit {
    /// Appends records to the node's log at consecutive indexes, tagged with the current epoch
    /// (as the entry's term), and remembers which writes the disk has confirmed.
    public struct Journal: Sendable {
        public private(set) var epoch: UInt32
        public private(set) var lastIndex: LogIndex
        /// The highest index the disk has confirmed in this life.
        public private(set) var durableIndex: LogIndex
        /// The index of this life's epoch record: until it is durable the coordinator issues no ids.
        public private(set) var epochIndex: LogIndex = .zero

        init(recoveredEpoch: UInt32, lastIndex: LogIndex) {
            self.epoch = recoveredEpoch
            self.lastIndex = lastIndex
            self.durableIndex = lastIndex
        }

        /// Starts a new epoch (once per life, at `.start`).
        mutating func beginEpoch<M>(into out: inout Effects<M>) {
            precondition(epochIndex == .zero, "one epoch per life")
            precondition(epoch < UInt32.max, "epochs exhausted")
            epoch += 1
            epochIndex = append(.epoch(epoch), into: &out)
        }

        @inlinable var epochDurable: Bool { epochIndex != .zero && durableIndex >= epochIndex }

        @discardableResult
        mutating func append<M>(_ record: Record, into out: inout Effects<M>) -> LogIndex {
            lastIndex = lastIndex.next
            out.append(LogEntry(index: lastIndex, term: Term(UInt64(epoch)), payload: .record(record.encodedBytes())))
            return lastIndex
        }

        /// The disk confirmed every write through `index`. Reports for an earlier life carry an
        /// older term; a node never truncates, so a matching term means the entry is ours.
        mutating func persisted(through index: LogIndex, term: Term) {
            guard term == Term(UInt64(epoch)), index <= lastIndex, index > durableIndex else { return }
            durableIndex = index
        }
    }
}

// MARK: - Client replies

extension AtomicCommit {
    /// One entry per client: the last request seen and, once it finished, its outcome. A retry of
    /// the same seq to the same coordinator joins the running transaction or gets the same answer,
    /// so it never runs twice here. (A retry sent to another node after a timeout is a new
    /// transaction there; the client counts that attempt as uncertain.) Volatile: lost on a crash.
    struct ClientTable: Sendable {
        struct Entry: Sendable {
            var seq: UInt64
            var outcome: Outcome?
        }
        private var entries: [ClientID: Entry] = [:]

        enum Admission { case new, duplicate(Outcome?), stale }

        mutating func admit(_ request: ClientRequest) -> Admission {
            if let entry = entries[request.client] {
                if request.seq == entry.seq { return .duplicate(entry.outcome) }
                if request.seq < entry.seq { return .stale }
            }
            entries[request.client] = Entry(seq: request.seq, outcome: nil)
            return .new
        }

        /// Forgets a request that was refused before it started (so its retry is admitted anew).
        mutating func forget(_ request: ClientRequest) {
            if entries[request.client]?.seq == request.seq { entries[request.client] = nil }
        }

        mutating func finish(_ request: ClientRequest, _ outcome: Outcome) {
            if entries[request.client]?.seq == request.seq { entries[request.client]?.outcome = outcome }
        }
    }
}

// MARK: - Recovery

extension AtomicCommit {
    /// A node's state rebuilt by replaying its durable log in order (both protocols write the same
    /// records). A decision replays its vote's deltas into the shard, so balances need no record of
    /// their own.
    struct Recovery {
        struct Vote {
            var participants: [NodeID]
            var deltas: [AccountDelta]
            var precommitted: Bool
        }

        var epoch: UInt32 = 0
        var lastIndex: LogIndex
        var shard = Shard()
        /// YES votes without a decision: these transactions are in doubt after the restart.
        var votes: [TxID: Vote] = [:]
        var decisions: [TxID: Bool] = [:]
        var coordinatorDecisions: [TxID: Bool] = [:]
        /// Commit decisions some participant may not have acknowledged yet, with their participants.
        var unacknowledged: [TxID: [NodeID]] = [:]
        var anomalies: [String] = []

        init(_ durable: DurableState) {
            lastIndex = durable.lastIndex
            for entry in durable.entries {
                guard case let .record(bytes) = entry.payload else {
                    anomalies.append("log entry \(entry.index) is not an atomic-commit record")
                    continue
                }
                guard let record = try? Record(decoding: bytes) else {
                    anomalies.append("log entry \(entry.index) does not decode")
                    continue
                }
                replay(record)
            }
        }

        mutating func replay(_ record: Record) {
            switch record {
            case let .epoch(e):
                epoch = max(epoch, e)
            case let .vote(tx, participants, deltas):
                if decisions[tx] == nil { votes[tx] = Vote(participants: participants, deltas: deltas, precommitted: false) }
            case let .precommit(tx):
                votes[tx]?.precommitted = true
            case let .decision(tx, commit):
                guard decisions[tx] == nil else {
                    if decisions[tx] != commit { anomalies.append("log holds both outcomes for \(tx)") }
                    return
                }
                decisions[tx] = commit
                if let vote = votes.removeValue(forKey: tx), commit { shard.apply(vote.deltas) }
            case let .coordinatorDecision(tx, commit, participants):
                coordinatorDecisions[tx] = commit
                if commit { unacknowledged[tx] = participants }
            case let .coordinatorEnd(tx):
                unacknowledged[tx] = nil
            }
        }
    }
}

// MARK: - Waiting for locks

extension AtomicCommit {
    /// A PREPARE waiting for locks under wait-die: it retries whenever a lock is released here,
    /// and votes NO at `deadline`.
    struct Waiter: Sendable {
        var priority: Priority
        var participants: [NodeID]
        var operation: Operation
        var deadline: Instant
        var tx: TxID { priority.tx }
    }

    /// The waiting PREPAREs, oldest first, at most `capacity` of them (beyond that a request dies).
    struct WaitQueue: Sendable {
        private(set) var waiters: [Waiter] = []
        let capacity: Int

        init(capacity: Int) {
            precondition(capacity >= 0, "capacity cannot be negative")
            self.capacity = capacity
        }

        var isEmpty: Bool { waiters.isEmpty }
        var count: Int { waiters.count }

        func contains(_ tx: TxID) -> Bool { waiters.contains { $0.tx == tx } }

        /// Queues `waiter` in age order; false when the queue is full.
        mutating func add(_ waiter: Waiter) -> Bool {
            guard waiters.count < capacity else { return false }
            let position = waiters.firstIndex { waiter.priority < $0.priority } ?? waiters.count
            waiters.insert(waiter, at: position)
            return true
        }

        @discardableResult
        mutating func remove(_ tx: TxID) -> Waiter? {
            guard let position = waiters.firstIndex(where: { $0.tx == tx }) else { return nil }
            return waiters.remove(at: position)
        }

        /// Removes and returns every waiter (to retry them, oldest first).
        mutating func takeAll() -> [Waiter] {
            defer { waiters.removeAll(keepingCapacity: true) }
            return waiters
        }

        /// Removes and returns the waiters whose deadline has passed.
        mutating func takeExpired(now: Instant) -> [Waiter] {
            let expired = waiters.filter { $0.deadline <= now }
            if !expired.isEmpty { waiters.removeAll { $0.deadline <= now } }
            return expired
        }
    }
}
