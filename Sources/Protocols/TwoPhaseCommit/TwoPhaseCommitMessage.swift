import BenchCore

extension TwoPhaseCommit {
    public typealias TxID = AtomicCommit.TxID

    /// The messages 2PC nodes exchange.
    public enum Message: Hashable, Sendable {
        /// Phase 1: lock and check these accounts (or read these balances) and vote. `timestamp`
        /// (the coordinator's clock when the transaction began) is its age for wait-die.
        case prepare(TxID, timestamp: Instant, participants: [NodeID], operation: AtomicCommit.Operation)
        /// A participant's vote; a YES to a read carries the balances read, in the order asked.
        case vote(TxID, yes: Bool, balances: [Int64])
        /// Phase 2: the coordinator's decision (or its answer to a decision request).
        case decision(TxID, commit: Bool)
        /// A participant applied and logged a commit: the coordinator may stop resending it.
        case ack(TxID)
        /// A participant in doubt asks the coordinator for the decision.
        case decisionRequest(TxID)
        /// A read-only transaction is over: release its shared locks.
        case release(TxID)
        /// A participant holding a read's shared locks asks whether the read is over (its
        /// release may have been lost, or overtaken by a late PREPARE).
        case readInquiry(TxID)
    }
}

extension WireWriter {
    mutating func writeBalances(_ balances: [Int64]) {
        write(UInt32(balances.count))
        for balance in balances { write(balance) }
    }
}

extension WireReader {
    mutating func readBalances() throws -> [Int64] {
        let count = Int(try readUInt32())
        if count > AtomicCommit.deltasMax { throw WireError.lengthTooLarge(count, limit: AtomicCommit.deltasMax) }
        guard count * 8 <= remaining else { throw WireError.truncated(needed: count * 8, available: remaining) }
        var balances: [Int64] = []
        balances.reserveCapacity(count)
        for _ in 0..<count { balances.append(try readInt64()) }
        return balances
    }
}

extension TwoPhaseCommit.Message: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .prepare(tx, timestamp, participants, operation):
            w.write(UInt8(1)); w.write(tx); w.write(timestamp); w.write(participants); w.write(operation)
        case let .vote(tx, yes, balances):
            w.write(UInt8(2)); w.write(tx); w.write(yes); w.writeBalances(balances)
        case let .decision(tx, commit):
            w.write(UInt8(3)); w.write(tx); w.write(commit)
        case let .ack(tx):
            w.write(UInt8(4)); w.write(tx)
        case let .decisionRequest(tx):
            w.write(UInt8(5)); w.write(tx)
        case let .release(tx):
            w.write(UInt8(6)); w.write(tx)
        case let .readInquiry(tx):
            w.write(UInt8(7)); w.write(tx)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            let tx = try r.read(AtomicCommit.TxID.self)
            let timestamp = try r.read(Instant.self)
            let participants = try AtomicCommit.readParticipants(&r)
            self = .prepare(tx, timestamp: timestamp, participants: participants, operation: try r.read(AtomicCommit.Operation.self))
        case 2:
            let tx = try r.read(AtomicCommit.TxID.self)
            let yes = try r.readBool()
            self = .vote(tx, yes: yes, balances: try r.readBalances())
        case 3: self = .decision(try r.read(AtomicCommit.TxID.self), commit: try r.readBool())
        case 4: self = .ack(try r.read(AtomicCommit.TxID.self))
        case 5: self = .decisionRequest(try r.read(AtomicCommit.TxID.self))
        case 6: self = .release(try r.read(AtomicCommit.TxID.self))
        case 7: self = .readInquiry(try r.read(AtomicCommit.TxID.self))
        case let tag: throw WireError.invalidTag(tag, type: "TwoPhaseCommit.Message")
        }
    }
}
