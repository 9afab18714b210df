import BenchCore

extension AtomicCommit {
    /// What one node reports at the end of a run (`Replica.inspection()`), in a compact binary
    /// form: every decision it recorded (as participant and as coordinator), the transactions it
    /// voted YES on and has not yet learned the outcome of (with their deltas on its shard), and its
    /// balances. Built from the replica's state, or from its durable log when the node is down.
    public struct Inspection: Hashable, Sendable {
        public enum Source: UInt8, Sendable { case participant = 1, coordinator = 2 }

        public struct Decision: Hashable, Sendable {
            public var tx: TxID
            public var commit: Bool
            public var source: Source
        }

        /// A YES vote still waiting for its decision.
        public struct InDoubt: Hashable, Sendable {
            public var tx: TxID
            public var deltas: [AccountDelta]
        }

        public var node: NodeID
        /// Sorted by transaction id, then source.
        public var decisions: [Decision]
        /// Sorted by transaction id.
        public var inDoubt: [InDoubt]
        /// Accounts ever written on this shard, sorted by account.
        public var balances: [(account: Key, balance: Int64)]
        /// The sum of every delta this shard applied.
        public var deltaTotal: Int64

        public static func == (a: Inspection, b: Inspection) -> Bool {
            a.node == b.node && a.decisions == b.decisions && a.inDoubt == b.inDoubt && a.deltaTotal == b.deltaTotal
                && a.balances.map(\.account) == b.balances.map(\.account) && a.balances.map(\.balance) == b.balances.map(\.balance)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(node); hasher.combine(decisions); hasher.combine(inDoubt); hasher.combine(deltaTotal)
        }

        static let formatVersion: UInt8 = 1

        /// Builds an inspection from a node's state (sorting everything, so the bytes do not depend
        /// on dictionary order).
        init(node: NodeID, participantDecisions: [TxID: Bool], coordinatorDecisions: [TxID: Bool],
             inDoubt: [TxID: [AccountDelta]], shard: Shard) {
            self.node = node
            var decisions: [Decision] = []
            decisions.reserveCapacity(participantDecisions.count + coordinatorDecisions.count)
            for (tx, commit) in participantDecisions { decisions.append(Decision(tx: tx, commit: commit, source: .participant)) }
            for (tx, commit) in coordinatorDecisions { decisions.append(Decision(tx: tx, commit: commit, source: .coordinator)) }
            decisions.sort { ($0.tx, $0.source.rawValue) < ($1.tx, $1.source.rawValue) }
            self.decisions = decisions
            self.inDoubt = inDoubt.keys.sorted().map { InDoubt(tx: $0, deltas: inDoubt[$0]!) }
            self.balances = shard.balances.keys.sorted().map { ($0, shard.balances[$0]!) }
            self.deltaTotal = shard.deltaTotal
        }

        public init(node: NodeID, decisions: [Decision], inDoubt: [InDoubt], balances: [(account: Key, balance: Int64)],
                    deltaTotal: Int64) {
            self.node = node
            self.decisions = decisions
            self.inDoubt = inDoubt
            self.balances = balances
            self.deltaTotal = deltaTotal
        }
    }
}

extension AtomicCommit.Inspection: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.write(Self.formatVersion)
        w.write(node)
        w.write(UInt32(decisions.count))
        for d in decisions { w.write(d.tx); w.write(UInt8(d.source.rawValue << 1 | (d.commit ? 1 : 0))) }
        w.write(UInt32(inDoubt.count))
        for entry in inDoubt { w.write(entry.tx); w.write(entry.deltas) }
        w.write(UInt32(balances.count))
        for (account, balance) in balances { w.write(account); w.write(balance) }
        w.write(deltaTotal)
    }

    public init(from r: inout WireReader) throws {
        let version = try r.readUInt8()
        guard version == Self.formatVersion else { throw WireError.invalidTag(version, type: "AtomicCommit.Inspection") }
        let node = try r.read(NodeID.self)
        let decisionCount = Int(try r.readUInt32())
        guard decisionCount * 17 <= r.remaining else { throw WireError.truncated(needed: decisionCount * 17, available: r.remaining) }
        var decisions: [Decision] = []
        decisions.reserveCapacity(decisionCount)
        for _ in 0..<decisionCount {
            let tx = try r.read(AtomicCommit.TxID.self)
            let flags = try r.readUInt8()
            guard let source = Source(rawValue: flags >> 1) else { throw WireError.invalidTag(flags, type: "Inspection.Decision") }
            decisions.append(Decision(tx: tx, commit: flags & 1 == 1, source: source))
        }
        let inDoubtCount = Int(try r.readUInt32())
        guard inDoubtCount * 20 <= r.remaining else { throw WireError.truncated(needed: inDoubtCount * 20, available: r.remaining) }
        var inDoubt: [InDoubt] = []
        for _ in 0..<inDoubtCount {
            let tx = try r.read(AtomicCommit.TxID.self)
            inDoubt.append(InDoubt(tx: tx, deltas: try r.readArray(AccountDelta.self, minimumSize: 16, limit: AtomicCommit.deltasMax)))
        }
        let balanceCount = Int(try r.readUInt32())
        guard balanceCount * 16 <= r.remaining else { throw WireError.truncated(needed: balanceCount * 16, available: r.remaining) }
        var balances: [(account: Key, balance: Int64)] = []
        balances.reserveCapacity(balanceCount)
        for _ in 0..<balanceCount { balances.append((try r.readUInt64(), try r.readInt64())) }
        self.init(node: node, decisions: decisions, inDoubt: inDoubt, balances: balances, deltaTotal: try r.readInt64())
    }
}

// MARK: - The audit

extension AtomicCommit {
    /// What the end-of-run audit of every node's inspection found. It trusts no node's view of
    /// another: atomicity is judged from the decisions each node recorded about itself, and the
    /// bank's total from each shard's own applied deltas.
    public struct Audit: Hashable, Sendable, CustomStringConvertible {
        /// Transactions some node recorded as committed and some node (maybe the same) as aborted.
        public var atomicityViolations = 0
        /// A few of them, readable.
        public var examples: [String] = []
        /// Distinct transactions with at least one recorded decision, and how they ended.
        public var transactions = 0
        public var committed = 0
        public var aborted = 0
        /// In-doubt votes whose transaction has no decision recorded anywhere yet.
        public var unresolved = 0
        /// The change in the bank's total once in-doubt votes of committed transactions are
        /// counted as applied (they will be: a commit is final). Zero for a correct run; nil when a
        /// node's inspection is missing or unreadable, so the total cannot be known.
        public var bankDrift: Int64?
        /// Accounts with a negative balance (never allowed), and shards whose balances do not add
        /// up to their own applied total.
        public var negativeBalances = 0
        public var inconsistentShards = 0
        /// Nodes whose inspection was missing or did not decode.
        public var missingNodes = 0

        public init() {}

        /// True when nothing is wrong (a missing node makes the bank check impossible, not wrong).
        public var isClean: Bool {
            atomicityViolations == 0 && (bankDrift ?? 0) == 0 && negativeBalances == 0 && inconsistentShards == 0
        }

        /// One line per problem, for `ProtocolFindings.violations`.
        public var violations: [String] {
            var lines = examples
            if atomicityViolations > examples.count {
                lines.append("\(atomicityViolations - examples.count) more atomicity violations")
            }
            if let drift = bankDrift, drift != 0 { lines.append("bank total changed by \(drift)") }
            if negativeBalances > 0 { lines.append("\(negativeBalances) accounts with a negative balance") }
            if inconsistentShards > 0 { lines.append("\(inconsistentShards) shards whose balances disagree with their applied deltas") }
            return lines
        }

        public var description: String {
            "transactions=\(transactions) committed=\(committed) aborted=\(aborted) atomicity-violations=\(atomicityViolations) "
                + "unresolved=\(unresolved) bank-drift=\(bankDrift.map { "\($0)" } ?? "unknown") negative=\(negativeBalances) "
                + "inconsistent-shards=\(inconsistentShards) missing-nodes=\(missingNodes)"
        }
    }

    /// Audits every node's inspection bytes (nil for a node that did not answer). Pure: usable
    /// from the simulator's end-of-run analysis and from a real run's orchestrator alike.
    public static func audit(_ inspections: [[UInt8]?]) -> Audit {
        var audit = Audit()
        var decoded: [Inspection] = []
        for bytes in inspections {
            guard let bytes, let inspection = try? Inspection(decoding: bytes) else {
                audit.missingNodes += 1
                continue
            }
            decoded.append(inspection)
        }
        // Every recorded outcome per transaction: bit 0 commit seen, bit 1 abort seen.
        var outcomes: [TxID: UInt8] = [:]
        var firstCommitter: [TxID: NodeID] = [:]
        var firstAborter: [TxID: NodeID] = [:]
        for inspection in decoded {
            for decision in inspection.decisions {
                outcomes[decision.tx, default: 0] |= decision.commit ? 1 : 2
                if decision.commit {
                    if firstCommitter[decision.tx] == nil { firstCommitter[decision.tx] = inspection.node }
                } else if firstAborter[decision.tx] == nil {
                    firstAborter[decision.tx] = inspection.node
                }
            }
        }
        audit.transactions = outcomes.count
        for tx in outcomes.keys.sorted() {
            switch outcomes[tx]! {
            case 1: audit.committed += 1
            case 2: audit.aborted += 1
            default:
                audit.atomicityViolations += 1
                if audit.examples.count < 5 {
                    audit.examples.append("atomicity: \(tx) committed on \(firstCommitter[tx]!) but aborted on \(firstAborter[tx]!)")
                }
            }
        }
        var drift: Int64 = 0
        for inspection in decoded {
            drift += inspection.deltaTotal
            var sum: Int64 = 0
            for (_, balance) in inspection.balances {
                if balance < 0 { audit.negativeBalances += 1 }
                sum += balance - KeyValueStore.initialBalance
            }
            if sum != inspection.deltaTotal { audit.inconsistentShards += 1 }
            for vote in inspection.inDoubt {
                switch outcomes[vote.tx] {
                case nil: audit.unresolved += 1
                case let seen? where seen & 1 == 1:
                    // Committed somewhere: this participant will apply it when it hears.
                    for delta in vote.deltas { drift += delta.amount }
                default: continue
                }
            }
        }
        audit.bankDrift = audit.missingNodes == 0 ? drift : nil
        return audit
    }
}
