import BenchCore
@testable import Protocols

/// The compact, stable renderings a Raft script transcript is written in. Log positions are
/// `index@term` (`3@2`: index 3, written in term 2); nodes are plain numbers; a message is
/// `from->to Kind fields`, with etcd raft's message names so the traces read like etcd's.
enum RaftScriptText {
    static func node(_ id: NodeID) -> String { "\(id.rawValue)" }
    static func node(_ id: NodeID?) -> String { id.map(node) ?? "none" }

    static func position(_ index: LogIndex, _ term: Term) -> String { "\(index.rawValue)@\(term.rawValue)" }

    static func entry(_ entry: LogEntry) -> String {
        "\(position(entry.index, entry.term)) \(payload(entry.payload))"
    }

    static func entries(_ entries: [LogEntry]) -> String {
        "[" + entries.map(entry).joined(separator: ", ") + "]"
    }

    static func payload(_ payload: EntryPayload) -> String {
        switch payload {
        case .noop: "noop"
        case let .command(request): command(request.command)
        case let .record(bytes): "record(\(bytes.count) bytes)"
        }
    }

    /// Values in scripts are small numbers carried as the value's tag (`v=10` is `Value(tag: 10)`).
    static func value(_ value: Value?) -> String { value.map { "\($0.tag)" } ?? "none" }

    static func command(_ command: Command) -> String {
        switch command {
        case let .get(key): "get k\(key)"
        case let .put(key, newValue): "put k\(key)=\(value(newValue))"
        case let .compareAndSet(key, expected, new): "cas k\(key) \(value(expected))->\(value(new))"
        case let .transaction(deltas): "txn " + deltas.map { "k\($0.account)\($0.amount >= 0 ? "+" : "")\($0.amount)" }.joined(separator: " ")
        case let .readBalances(keys): "balances " + keys.map { "k\($0)" }.joined(separator: " ")
        case let .acquireLock(lock, lease, stamp): "lock k\(lock) lease=\(lease) stamp=\(stamp)"
        case let .releaseLock(lock): "unlock k\(lock)"
        case let .readLocal(key): "read-local k\(key)"
        }
    }

    static func request(_ request: ClientRequest) -> String {
        "c\(request.client.rawValue)#\(request.seq) \(command(request.command))"
    }

    /// An outcome, read in the light of the command it answers (a get's `ok` carries a value).
    static func outcome(_ outcome: Outcome, of command: Command?) -> String {
        switch outcome {
        case let .ok(result):
            if case .get = command { return "ok value=\(value(result))" }
            return "ok"
        case let .compareFailed(current): return "compare-failed current=\(value(current))"
        case let .notLeader(hint): return "not-leader hint=\(node(hint))"
        case .unknown: return "unknown"
        case let .rejected(code): return "rejected code=\(code)"
        case .aborted: return "aborted"
        case let .balances(values): return "balances " + values.map(String.init).joined(separator: ",")
        case let .lockHeld(until): return "lock-held until=\(until)"
        }
    }

    /// The etcd-style name of a message's kind; scripts filter on these (`deliver-msgs type=MsgApp`).
    static func kind(_ message: Raft.Message) -> String {
        switch message {
        case let .voteRequest(m): m.preVote ? "MsgPreVote" : "MsgVote"
        case let .voteResponse(m): m.preVote ? "MsgPreVoteResp" : "MsgVoteResp"
        case .appendEntries: "MsgApp"
        case .appendResponse: "MsgAppResp"
        case .heartbeat: "MsgHeartbeat"
        case .heartbeatResponse: "MsgHeartbeatResp"
        }
    }

    static let kinds: Set<String> = ["MsgPreVote", "MsgPreVoteResp", "MsgVote", "MsgVoteResp", "MsgApp",
                                     "MsgAppResp", "MsgHeartbeat", "MsgHeartbeatResp"]

    static func message(_ message: Raft.Message) -> String {
        let name = kind(message)
        switch message {
        case let .voteRequest(m):
            return "\(name) term=\(m.term.rawValue) last=\(position(m.lastLogIndex, m.lastLogTerm))"
        case let .voteResponse(m):
            return "\(name) term=\(m.term.rawValue) \(m.granted ? "granted" : "rejected")"
        case let .appendEntries(m):
            return "\(name) term=\(m.term.rawValue) prev=\(position(m.prevLogIndex, m.prevLogTerm)) "
                + "entries=\(entries(m.entries)) commit=\(m.leaderCommit.rawValue)"
        case let .appendResponse(m):
            if m.success { return "\(name) term=\(m.term.rawValue) match=\(m.matchIndex.rawValue)" }
            var text = "\(name) term=\(m.term.rawValue) reject=\(m.rejectedIndex.rawValue)"
            if let conflictTerm = m.conflictTerm { text += " conflict-term=\(conflictTerm.rawValue)" }
            if m.conflictIndex > .zero { text += " conflict-index=\(m.conflictIndex.rawValue)" }
            return text
        case let .heartbeat(m):
            return "\(name) term=\(m.term.rawValue) commit=\(m.commit.rawValue)" + (m.readRound > 0 ? " read=\(m.readRound)" : "")
        case let .heartbeatResponse(m):
            return "\(name) term=\(m.term.rawValue)" + (m.readRound > 0 ? " read=\(m.readRound)" : "")
        }
    }

    static func packet(from: NodeID, to: NodeID, _ message: Raft.Message) -> String {
        "\(node(from))->\(node(to)) \(self.message(message))"
    }

    static func hardState(_ state: HardState) -> String {
        "term=\(state.term.rawValue) vote=\(node(state.vote))"
    }

    /// Lines describing writes as a step issues them: consecutive entries share one line.
    static func writeLines(_ writes: [StorageWrite]) -> [String] {
        var lines: [String] = []
        var run: [LogEntry] = []
        func endRun() {
            if !run.isEmpty { lines.append("write \(entries(run))") }
            run = []
        }
        for write in writes {
            switch write {
            case let .entry(entry): run.append(entry)
            case let .hardState(state): endRun(); lines.append("write \(hardState(state))")
            case let .truncate(from): endRun(); lines.append("write truncate from=\(from.rawValue)")
            }
        }
        endRun()
        return lines
    }

    /// A one-line summary of writes reaching the disk: `term=1 vote=1, entries 2@1..4@1`.
    static func syncSummary(_ writes: [StorageWrite]) -> String {
        var parts: [String] = []
        var run: [LogEntry] = []
        func endRun() {
            if let first = run.first, let last = run.last {
                parts.append(run.count == 1 ? "entry \(position(first.index, first.term))"
                             : "entries \(position(first.index, first.term))..\(position(last.index, last.term))")
            }
            run = []
        }
        for write in writes {
            switch write {
            case let .entry(entry): run.append(entry)
            case let .hardState(state): endRun(); parts.append(hardState(state))
            case let .truncate(from): endRun(); parts.append("truncate from=\(from.rawValue)")
            }
        }
        endRun()
        return parts.joined(separator: ", ")
    }
}
