import BenchCore
@testable import Protocols

/// An in-memory cluster of `Raft.Instance`s that a script drives one step at a time. Nothing
/// happens on its own: the script delivers messages, syncs disks, fires timers and moves the
/// one shared clock. The only randomness is each instance's seeded generator (it draws election
/// timeouts), so a script's transcript is the same on every run.
///
/// It carries out `Effects` as `BenchCore.Replica` documents: writes queue for the node's disk;
/// `messages` enter the network at once; `messagesAfterDurable` are held until every write
/// issued before them is synced; a sync makes its writes durable, releases the held messages and
/// tells the replica `.persisted(through:term:)` of the last entry it carried. A crash loses
/// unsynced writes, held messages and all volatile state; a restart rebuilds the replica from
/// its `DurableState`.
///
/// After every step it checks each replica's `invariants()` and an oracle that does not trust the
/// protocol: one leader per term, log matching, commit indexes that never move back, every
/// committed index holds one entry on every replica, and no replica ever replaces an entry that
/// was committed. Violations are printed into the transcript
/// (`SAFETY VIOLATION: ...`) and collected in `violations`.
final class RaftScriptCluster {
    struct Node {
        let id: NodeID
        /// nil while crashed.
        var replica: Raft.Instance?
        /// Lives so far; each life draws a different random stream.
        var incarnation: UInt64 = 0
        var durable = DurableState.empty
        /// Writes issued but not yet synced, oldest first.
        var pending: [StorageWrite] = []
        /// Writes issued and writes synced in this life; a held message waits for `syncedCount >= seq`.
        var issuedCount = 0
        var syncedCount = 0
        var held: [(seq: Int, envelope: Envelope<Raft.Message>)] = []
        var timers: [TimerID: Instant] = [:]
        /// A client request joined this node's current batch and no `.flush` has ended it yet.
        var batchOpen = false

        var isUp: Bool { replica != nil }
    }

    /// A message on the wire.
    struct Packet {
        var from: NodeID
        var to: NodeID
        var message: Raft.Message
    }

    struct Violation {
        var text: String
        /// The cluster ran a deliberately broken setting (`unsafe-*`), so the violation is expected.
        var underUnsafeSettings: Bool
    }

    let settings: Raft.Settings
    let seed: UInt64
    /// True when any deliberately broken setting is on.
    let isUnsafe: Bool
    private(set) var nodes: [Node]
    /// Messages in flight, in the order they were sent.
    private(set) var network: [Packet] = []
    private(set) var now: Instant = .zero
    /// The side of the partition each node is on; nil when the network is whole.
    private var sideOf: [NodeID: Int]?

    /// Transcript lines of the command being run.
    var output: [String] = []
    private(set) var violations: [Violation] = []
    private var reported: Set<String> = []

    // Clients.
    private var nextSeq: [ClientID: UInt64] = [:]
    private var requests: [ClientID: [UInt64: ClientRequest]] = [:]
    private(set) var replies: [ClientReply] = []

    // The oracle's record: the first entry seen committed at each index, and by whom.
    private var committed: [LogIndex: (entry: LogEntry, by: NodeID)] = [:]
    private var leaderOfTerm: [Term: NodeID] = [:]

    /// Bounds a `stabilize` so a livelock fails the script instead of hanging it.
    static let stabilizeRoundsMax = 200

    init(size count: Int, settings: Raft.Settings, seed: UInt64) {
        precondition(count >= 1 && count <= 9, "a script cluster has 1...9 nodes")
        self.settings = settings
        self.seed = seed
        self.isUnsafe = settings.unsafeVoteTwice || settings.unsafeCommitPreviousTerms
        self.nodes = (1...count).map { Node(id: NodeID(UInt32($0))) }
        for i in nodes.indices { boot(i) }
    }

    var cluster: ClusterConfig { ClusterConfig(size: nodes.count) }
    var ids: [NodeID] { nodes.map(\.id) }

    func index(of id: NodeID) throws(ScriptError) -> Int {
        guard id.rawValue >= 1, Int(id.rawValue) <= nodes.count else { throw ScriptError("no node \(id.rawValue)") }
        return Int(id.rawValue) - 1
    }

    func node(_ id: NodeID) throws(ScriptError) -> Node { nodes[try index(of: id)] }

    // MARK: Lives

    private func boot(_ i: Int) {
        precondition(!nodes[i].isUp, "booting a node that is up")
        let id = nodes[i].id
        // Each node and each life gets its own stream, derived from the script's seed.
        var random = SeededGenerator(seed: seed &+ UInt64(id.rawValue) &* 0x9E37_79B9_7F4A_7C15 &+ nodes[i].incarnation)
        nodes[i].replica = Raft.Instance(id: id, cluster: cluster, settings: settings, recovered: nodes[i].durable,
                                         random: &random)
        nodes[i].incarnation += 1
        let lines = step(i, .start)
        output.append(contentsOf: lines)
        flush(i)
    }

    func crash(_ id: NodeID) throws(ScriptError) {
        let i = try index(of: id)
        guard nodes[i].isUp else { throw ScriptError("node \(id.rawValue) is already down") }
        var lost: [String] = []
        if !nodes[i].pending.isEmpty {
            lost.append("\(nodes[i].pending.count) unsynced writes (\(RaftScriptText.syncSummary(nodes[i].pending)))")
        }
        for item in nodes[i].held {
            lost.append("held \(RaftScriptText.packet(from: id, to: item.envelope.to, item.envelope.message))")
        }
        output.append("\(RaftScriptText.node(id)) crashes" + (lost.isEmpty ? "" : ", losing:"))
        output.append(contentsOf: lost.map { "  " + $0 })
        nodes[i].replica = nil
        nodes[i].pending = []
        nodes[i].issuedCount = 0
        nodes[i].syncedCount = 0
        nodes[i].held = []
        nodes[i].timers = [:]
        nodes[i].batchOpen = false
    }

    func restart(_ id: NodeID) throws(ScriptError) {
        let i = try index(of: id)
        guard !nodes[i].isUp else { throw ScriptError("node \(id.rawValue) is up") }
        let disk = nodes[i].durable
        let last = disk.entries.last.map { RaftScriptText.position($0.index, $0.term) } ?? "0@0"
        output.append("\(RaftScriptText.node(id)) restarts from disk: \(RaftScriptText.hardState(disk.hardState)) last=\(last)")
        boot(i)
    }

    // MARK: Steps

    /// Feeds one input to node `i` and carries out its effects. Returns the transcript lines:
    /// indented lines say what the node did, flush-left lines report violations.
    private func step(_ i: Int, _ input: Input<Raft.Message>) -> [String] {
        guard var replica = nodes[i].replica else { return [] }
        let before = replica.status
        let logBefore = replica.log.entries
        var effects = Effects<Raft.Message>()
        replica.handle(input, now: now, into: &effects)
        nodes[i].replica = replica
        var lines = describeChange(replica.id, from: before, to: replica.status).map { "  " + $0 }
        lines += carryOut(effects, node: i).map { "  " + $0 }
        lines += check(i, logBefore: logBefore, commitBefore: before.commitIndex)
        return lines
    }

    private func describeChange(_ id: NodeID, from before: ReplicaStatus, to after: ReplicaStatus) -> [String] {
        var lines: [String] = []
        let name = RaftScriptText.node(id)
        let leaderText = after.role == .follower ? " leader=\(RaftScriptText.node(after.leader))" : ""
        if before.role != after.role {
            lines.append("\(name) becomes \(after.role.rawValue) term=\(after.term.rawValue)\(leaderText)")
        } else if before.term != after.term {
            lines.append("\(name) moves to term=\(after.term.rawValue)\(leaderText)")
        } else if before.leader != after.leader {
            lines.append("\(name) follows leader=\(RaftScriptText.node(after.leader))")
        }
        if before.commitIndex != after.commitIndex {
            lines.append("\(name) commit=\(after.commitIndex.rawValue)")
        }
        return lines
    }

    /// Carries out `effects` in the order `Effects` documents; returns what it did.
    private func carryOut(_ effects: Effects<Raft.Message>, node i: Int) -> [String] {
        let id = nodes[i].id
        var lines = RaftScriptText.writeLines(effects.writes)
        nodes[i].pending.append(contentsOf: effects.writes)
        nodes[i].issuedCount += effects.writes.count
        for envelope in effects.messages {
            network.append(Packet(from: id, to: envelope.to, message: envelope.message))
            lines.append(RaftScriptText.packet(from: id, to: envelope.to, envelope.message))
        }
        for envelope in effects.messagesAfterDurable {
            let text = RaftScriptText.packet(from: id, to: envelope.to, envelope.message)
            if nodes[i].syncedCount >= nodes[i].issuedCount {
                network.append(Packet(from: id, to: envelope.to, message: envelope.message))
                lines.append(text)
            } else {
                nodes[i].held.append((nodes[i].issuedCount, envelope))
                lines.append(text + " (after sync)")
            }
        }
        for reply in effects.replies {
            replies.append(reply)
            lines.append("reply \(describe(reply))")
        }
        for timer in effects.timers {
            switch timer {
            case let .set(timer, deadline): nodes[i].timers[timer] = deadline
            case let .cancel(timer): nodes[i].timers[timer] = nil
            }
        }
        return lines
    }

    func describe(_ reply: ClientReply) -> String {
        let request = requests[reply.client]?[reply.seq]
        let what = request.map { RaftScriptText.command($0.command) } ?? "?"
        return "c\(reply.client.rawValue)#\(reply.seq) \(what) -> \(RaftScriptText.outcome(reply.outcome, of: request?.command))"
    }

    /// Ends node `i`'s batch with `.flush`; prints a block only if the flush did something.
    private func flush(_ i: Int) {
        nodes[i].batchOpen = false
        let lines = step(i, .flush)
        guard !lines.isEmpty else { return }
        output.append("> \(RaftScriptText.node(nodes[i].id)) flush")
        output.append(contentsOf: lines)
    }

    func flush(_ id: NodeID) throws(ScriptError) {
        let i = try index(of: id)
        guard nodes[i].isUp else { throw ScriptError("node \(id.rawValue) is down") }
        flush(i)
    }

    // MARK: Oracle

    private func check(_ i: Int, logBefore: [LogEntry], commitBefore: LogIndex) -> [String] {
        guard let replica = nodes[i].replica else { return [] }
        let id = RaftScriptText.node(replica.id)
        var found: [String] = []
        if let broken = replica.invariants() { found.append("INVARIANT VIOLATION: \(broken)") }
        // Within one life the commit index only grows (a restart starts again from 0).
        if replica.commitIndex < commitBefore {
            found.append("SAFETY VIOLATION: \(id) moves its commit index back from \(commitBefore.rawValue) "
                         + "to \(replica.commitIndex.rawValue)")
        }
        // Log matching (§5.3): two logs holding an entry with the same index and term are identical
        // up to it. Compared from this replica's last common position with each other live replica.
        for other in nodes where other.id != replica.id {
            guard let theirs = other.replica?.log.entries else { continue }
            let ours = replica.log.entries
            guard let agreed = (0..<min(ours.count, theirs.count)).last(where: { ours[$0].term == theirs[$0].term }) else {
                continue
            }
            if let differs = (0...agreed).first(where: { ours[$0] != theirs[$0] }) {
                found.append("SAFETY VIOLATION: log matching: \(id) and \(RaftScriptText.node(other.id)) agree on "
                             + "\(RaftScriptText.position(ours[agreed].index, ours[agreed].term)) but differ at "
                             + "\(RaftScriptText.entry(ours[differs])) / \(RaftScriptText.entry(theirs[differs]))")
            }
        }
        if replica.role == .leader {
            if let other = leaderOfTerm[replica.currentTerm], other != replica.id {
                found.append("SAFETY VIOLATION: two leaders in term \(replica.currentTerm.rawValue): "
                             + "\(RaftScriptText.node(other)) and \(id)")
            } else {
                leaderOfTerm[replica.currentTerm] = replica.id
            }
        }
        // State machine safety: one entry per committed index, whoever committed it.
        var index = LogIndex(1)
        while index <= replica.commitIndex {
            let entry = replica.log[index]
            if let record = committed[index] {
                if record.entry != entry {
                    found.append("SAFETY VIOLATION: committed entry overwritten: \(id) commits \(RaftScriptText.entry(entry)) "
                                 + "where \(RaftScriptText.node(record.by)) committed \(RaftScriptText.entry(record.entry))")
                }
            } else {
                committed[index] = (entry, replica.id)
            }
            index = index.next
        }
        // Leader completeness, seen from one replica: an entry it held that is known committed never goes away.
        for old in logBefore {
            guard let record = committed[old.index], record.entry == old else { continue }
            let now = replica.log.contains(old.index) ? replica.log[old.index] : nil
            if now != old {
                found.append("SAFETY VIOLATION: committed entry overwritten: \(id) replaces \(RaftScriptText.entry(old)) "
                             + "(committed by \(RaftScriptText.node(record.by))) with \(now.map(RaftScriptText.entry) ?? "nothing")")
            }
        }
        return found.filter { text in
            guard reported.insert(text).inserted else { return false }
            violations.append(Violation(text: text, underUnsafeSettings: isUnsafe))
            return true
        }
    }

    // MARK: The network

    func isConnected(_ a: NodeID, _ b: NodeID) -> Bool {
        guard let sideOf else { return true }
        return sideOf[a] == sideOf[b]
    }

    /// Splits the network: each group can talk only among itself; nodes named in no group are
    /// each cut off alone. Messages already in flight across the cut are lost when delivered.
    func partition(_ groups: [[NodeID]]) throws(ScriptError) {
        var sides: [NodeID: Int] = [:]
        for (side, group) in groups.enumerated() {
            for id in group {
                _ = try index(of: id)
                guard sides.updateValue(side, forKey: id) == nil else { throw ScriptError("node \(id.rawValue) named twice") }
            }
        }
        var lone = groups.count
        for id in ids where sides[id] == nil {
            sides[id] = lone
            lone += 1
        }
        sideOf = sides
        let sideCount = Set(sides.values).count
        let described = (0..<sideCount).map { side in
            ids.filter { sides[$0] == side }.map(RaftScriptText.node).joined(separator: " ")
        }
        output.append("partition: " + described.joined(separator: " | "))
    }

    func heal() {
        sideOf = nil
        output.append("network healed")
    }

    /// Which messages in flight a command acts on.
    struct Selection {
        var to: Set<NodeID> = []
        var from: Set<NodeID> = []
        var kinds: Set<String> = []

        func matches(_ packet: Packet) -> Bool {
            (to.isEmpty || to.contains(packet.to)) && (from.isEmpty || from.contains(packet.from))
                && (kinds.isEmpty || kinds.contains(RaftScriptText.kind(packet.message)))
        }
    }

    private func take(_ selection: Selection) -> [Packet] {
        let taken = network.filter(selection.matches)
        network.removeAll(where: selection.matches)
        return taken
    }

    /// Delivers the selected messages in flight now (not those they cause): each recipient, in
    /// node order, handles its messages in the order sent, as one batch ended by `.flush`.
    /// Returns how many were taken from the network.
    @discardableResult
    func deliver(_ selection: Selection = Selection()) -> Int {
        let taken = take(selection)
        for recipient in ids {
            let batch = taken.filter { $0.to == recipient }
            guard !batch.isEmpty else { continue }
            let i = Int(recipient.rawValue) - 1
            var delivered = false
            for packet in batch { delivered = deliverOne(packet, to: i) || delivered }
            if delivered { flush(i) }
        }
        return taken.count
    }

    private func deliverOne(_ packet: Packet, to i: Int) -> Bool {
        let text = RaftScriptText.packet(from: packet.from, to: packet.to, packet.message)
        guard nodes[i].isUp else {
            output.append("dropped \(text) (\(RaftScriptText.node(packet.to)) is down)")
            return false
        }
        guard isConnected(packet.from, packet.to) else {
            output.append("dropped \(text) (partition)")
            return false
        }
        // Every delivery goes through the wire codec, so the traces also exercise it.
        let bytes = packet.message.encodedBytes()
        let decoded = try? Raft.Message(decoding: bytes)
        if decoded != packet.message {
            let text = "CODEC VIOLATION: \(text) does not survive encode/decode"
            violations.append(Violation(text: text, underUnsafeSettings: false))
            output.append(text)
            return false
        }
        output.append("> \(text)")
        output.append(contentsOf: step(i, .message(from: packet.from, packet.message)))
        return true
    }

    func drop(_ selection: Selection) -> Int {
        let taken = take(selection)
        for packet in taken {
            output.append("dropped \(RaftScriptText.packet(from: packet.from, to: packet.to, packet.message))")
        }
        return taken.count
    }

    // MARK: Disks

    /// Syncs node `i`'s disk: its writes become durable, messages held for them go out, and the
    /// replica hears `.persisted` for the last entry synced. Returns false when nothing was pending.
    @discardableResult
    private func sync(_ i: Int) -> Bool {
        guard nodes[i].isUp, !nodes[i].pending.isEmpty else { return false }
        let id = nodes[i].id
        let writes = nodes[i].pending
        output.append("> \(RaftScriptText.node(id)) syncs \(RaftScriptText.syncSummary(writes))")
        nodes[i].durable.apply(writes)
        nodes[i].pending = []
        nodes[i].syncedCount = nodes[i].issuedCount
        let synced = nodes[i].syncedCount
        let released = nodes[i].held.filter { $0.seq <= synced }
        nodes[i].held.removeAll { $0.seq <= synced }
        for item in released {
            network.append(Packet(from: id, to: item.envelope.to, message: item.envelope.message))
            output.append("  released \(RaftScriptText.packet(from: id, to: item.envelope.to, item.envelope.message))")
        }
        var lastEntry: LogEntry?
        for write in writes { if case let .entry(entry) = write { lastEntry = entry } }
        if let lastEntry {
            output.append(contentsOf: step(i, .persisted(through: lastEntry.index, term: lastEntry.term)))
        }
        flush(i)
        return true
    }

    func sync(_ id: NodeID) throws(ScriptError) {
        let i = try index(of: id)
        guard nodes[i].isUp else { throw ScriptError("node \(id.rawValue) is down") }
        if !sync(i) { output.append("\(RaftScriptText.node(id)) has nothing to sync") }
    }

    // MARK: Time and timers

    func elapse(_ duration: Duration) {
        now += duration
        output.append("now=\(Duration(nanoseconds: now.nanoseconds))")
    }

    /// Fires `timer` on `id` now, whatever its deadline: the script decides when time is up.
    /// A timer that is not armed does not fire (a replica never hears a timer it did not set).
    func fire(_ timer: TimerID, named name: String, at id: NodeID) throws(ScriptError) {
        let i = try index(of: id)
        guard nodes[i].isUp else { throw ScriptError("node \(id.rawValue) is down") }
        guard nodes[i].timers.removeValue(forKey: timer) != nil else {
            output.append("\(RaftScriptText.node(id)) has no \(name) timer armed")
            return
        }
        output.append("> \(RaftScriptText.node(id)) \(name) timeout")
        output.append(contentsOf: step(i, .timer(timer)))
        flush(i)
    }

    // MARK: Clients

    /// Hands a client request to node `id`. It joins the node's current batch: nothing is
    /// flushed, so several requests can travel in one AppendEntries.
    func request(_ command: Command, client: ClientID, at id: NodeID) throws(ScriptError) {
        let i = try index(of: id)
        guard nodes[i].isUp else { throw ScriptError("node \(id.rawValue) is down") }
        let seq = (nextSeq[client] ?? 0) + 1
        nextSeq[client] = seq
        let request = ClientRequest(client: client, seq: seq, command: command)
        requests[client, default: [:]][seq] = request
        output.append("> \(RaftScriptText.node(id)) gets request \(RaftScriptText.request(request))")
        output.append(contentsOf: step(i, .request(request)))
        nodes[i].batchOpen = true
    }

    // MARK: Stabilize

    /// Runs the cluster until nothing is left to do without time passing: each round ends open
    /// batches, syncs every disk with pending writes, then delivers every message in flight.
    func stabilize() throws(ScriptError) {
        for _ in 0..<Self.stabilizeRoundsMax {
            var progressed = false
            for i in nodes.indices where nodes[i].isUp && nodes[i].batchOpen {
                flush(i)
                progressed = true
            }
            for i in nodes.indices where sync(i) { progressed = true }
            if deliver() > 0 { progressed = true }
            if !progressed { return }
        }
        throw ScriptError("stabilize did not settle within \(Self.stabilizeRoundsMax) rounds")
    }

    // MARK: Reports

    func statusLines() -> [String] {
        nodes.map { node in
            let name = RaftScriptText.node(node.id)
            guard let r = node.replica else {
                let last = node.durable.entries.last.map { RaftScriptText.position($0.index, $0.term) } ?? "0@0"
                return "\(name) down (disk: \(RaftScriptText.hardState(node.durable.hardState)) last=\(last))"
            }
            var text = "\(name) \(r.role.rawValue) term=\(r.currentTerm.rawValue) vote=\(RaftScriptText.node(r.votedFor))"
            if r.role == .follower { text += " leader=\(RaftScriptText.node(r.leader))" }
            text += " last=\(RaftScriptText.position(r.log.lastIndex, r.log.lastTerm)) commit=\(r.commitIndex.rawValue)"
            text += " persisted=\(r.persistedIndex.rawValue)"
            if !node.pending.isEmpty { text += " unsynced=\(node.pending.count)" }
            if !node.held.isEmpty { text += " held=\(node.held.count)" }
            return text
        }
    }

    func logLines(_ selected: [NodeID]) -> [String] {
        selected.map { id in
            let node = nodes[Int(id.rawValue) - 1]
            guard let r = node.replica else { return "\(RaftScriptText.node(id)) down" }
            return "\(RaftScriptText.node(id)) \(RaftScriptText.entries(r.log.entries)) commit=\(r.commitIndex.rawValue)"
        }
    }

    /// The leader's view of each follower (etcd raft's tracker.Progress).
    func progressLines(_ id: NodeID) throws(ScriptError) -> [String] {
        guard let r = try node(id).replica else { throw ScriptError("node \(id.rawValue) is down") }
        guard r.role == .leader else { return ["\(RaftScriptText.node(id)) is not the leader"] }
        return r.progress.map { pr in
            let inflight = pr.inflight.map { "\($0.rawValue)" }.joined(separator: " ")
            return "\(RaftScriptText.node(pr.peer)): \(pr.mode) match=\(pr.matchIndex.rawValue) "
                + "next=\(pr.nextIndex.rawValue) inflight=[\(inflight)]"
        }
    }

    func networkLines() -> [String] {
        var lines = network.map { "in flight: " + RaftScriptText.packet(from: $0.from, to: $0.to, $0.message) }
        for node in nodes {
            for item in node.held {
                lines.append("held until \(RaftScriptText.node(node.id)) syncs: "
                             + RaftScriptText.packet(from: node.id, to: item.envelope.to, item.envelope.message))
            }
        }
        return lines.isEmpty ? ["no messages"] : lines
    }

    func replyLines() -> [String] {
        replies.isEmpty ? ["no replies"] : replies.map(describe)
    }
}

/// A script that cannot run as written (an unknown command, a bad argument, a node that is down).
struct ScriptError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
