import BenchCore

extension ThreePhaseCommit {
    /// The messages 3PC nodes exchange.
    public enum Message: Hashable, Sendable {
        /// Phase 1: lock and check (or read) and vote; the participant list lets participants run
        /// the termination protocol among themselves; `timestamp` is the age for wait-die.
        case canCommit(TxID, timestamp: Instant, participants: [NodeID], operation: AtomicCommit.Operation)
        case vote(TxID, yes: Bool, balances: [Int64])
        /// Phase 2: enter the pre-committed state under `ballot`, and acknowledge once it is logged.
        case preCommit(TxID, ballot: Ballot)
        case preCommitAck(TxID, ballot: Ballot)
        /// Phase 3 (DoCommit), or an abort, from the coordinator or a backup.
        case decision(TxID, commit: Bool)
        /// A participant logged the coordinator's decision.
        case decisionAck(TxID)
        /// Termination protocol: a backup with `ballot` (round ≥ 1) asks for the state and the
        /// promise to follow it; round 0 only asks (a recovered participant, a passive coordinator).
        case stateRequest(TxID, ballot: Ballot, participants: [NodeID])
        /// The answer to a state request or to a refused pre-commit; `ballot` echoes the request's.
        case stateReport(TxID, ballot: Ballot, report: Report)
        /// A read-only transaction is over: release its shared locks.
        case release(TxID)
        /// A participant holding a read's shared locks asks whether the read is over.
        case readInquiry(TxID)
    }
}

extension ThreePhaseCommit.Ballot: WireCodable {
    public func encode(to writer: inout WireWriter) { writer.write(round); writer.write(node) }
    public init(from reader: inout WireReader) throws {
        self.init(round: try reader.readUInt32(), node: try reader.read(NodeID.self))
    }
}

extension ThreePhaseCommit.Report: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.write(state.rawValue)
        writer.write(UInt8((operational ? 1 : 0) | (coordinatorActive ? 2 : 0)))
        writer.write(promised)
    }
    public init(from reader: inout WireReader) throws {
        let raw = try reader.readUInt8()
        guard let state = ThreePhaseCommit.State(rawValue: raw) else { throw WireError.invalidTag(raw, type: "ThreePhaseCommit.State") }
        let flags = try reader.readUInt8()
        guard flags < 4 else { throw WireError.invalidTag(flags, type: "ThreePhaseCommit.Report flags") }
        self.init(state: state, operational: flags & 1 != 0, coordinatorActive: flags & 2 != 0,
                  promised: try reader.read(ThreePhaseCommit.Ballot.self))
    }
}

extension ThreePhaseCommit.Message: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case let .canCommit(tx, timestamp, participants, operation):
            w.write(UInt8(1)); w.write(tx); w.write(timestamp); w.write(participants); w.write(operation)
        case let .vote(tx, yes, balances):
            w.write(UInt8(2)); w.write(tx); w.write(yes); w.writeBalances(balances)
        case let .preCommit(tx, ballot):
            w.write(UInt8(3)); w.write(tx); w.write(ballot)
        case let .preCommitAck(tx, ballot):
            w.write(UInt8(4)); w.write(tx); w.write(ballot)
        case let .decision(tx, commit):
            w.write(UInt8(5)); w.write(tx); w.write(commit)
        case let .decisionAck(tx):
            w.write(UInt8(6)); w.write(tx)
        case let .stateRequest(tx, ballot, participants):
            w.write(UInt8(7)); w.write(tx); w.write(ballot); w.write(participants)
        case let .stateReport(tx, ballot, report):
            w.write(UInt8(8)); w.write(tx); w.write(ballot); w.write(report)
        case let .release(tx):
            w.write(UInt8(9)); w.write(tx)
        case let .readInquiry(tx):
            w.write(UInt8(10)); w.write(tx)
        }
    }

    public init(from r: inout WireReader) throws {
        switch try r.readUInt8() {
        case 1:
            let tx = try r.read(AtomicCommit.TxID.self)
            let timestamp = try r.read(Instant.self)
            let participants = try AtomicCommit.readParticipants(&r)
            self = .canCommit(tx, timestamp: timestamp, participants: participants, operation: try r.read(AtomicCommit.Operation.self))
        case 2:
            let tx = try r.read(AtomicCommit.TxID.self)
            let yes = try r.readBool()
            self = .vote(tx, yes: yes, balances: try r.readBalances())
        case 3: self = .preCommit(try r.read(AtomicCommit.TxID.self), ballot: try r.read(ThreePhaseCommit.Ballot.self))
        case 4: self = .preCommitAck(try r.read(AtomicCommit.TxID.self), ballot: try r.read(ThreePhaseCommit.Ballot.self))
        case 5: self = .decision(try r.read(AtomicCommit.TxID.self), commit: try r.readBool())
        case 6: self = .decisionAck(try r.read(AtomicCommit.TxID.self))
        case 7:
            let tx = try r.read(AtomicCommit.TxID.self)
            let ballot = try r.read(ThreePhaseCommit.Ballot.self)
            self = .stateRequest(tx, ballot: ballot, participants: try AtomicCommit.readParticipants(&r))
        case 8:
            let tx = try r.read(AtomicCommit.TxID.self)
            let ballot = try r.read(ThreePhaseCommit.Ballot.self)
            self = .stateReport(tx, ballot: ballot, report: try r.read(ThreePhaseCommit.Report.self))
        case 9: self = .release(try r.read(AtomicCommit.TxID.self))
        case 10: self = .readInquiry(try r.read(AtomicCommit.TxID.self))
        case let tag: throw WireError.invalidTag(tag, type: "ThreePhaseCommit.Message")
        }
    }
}
