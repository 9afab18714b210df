import BenchCore
@testable import Protocols

/// Scripted interaction tests for Raft, in the style of etcd raft's `interaction_test.go` and
/// `testdata/*.txt`: a script drives an in-memory cluster one step at a time and the transcript
/// it prints is compared with the expected output stored in the script.
///
/// Scripts live in `Tests/ProtocolsTests/testdata/raft/*.txt` (see `GoldenScript` for the
/// layout). To regenerate every expected output after an intended change, run
///
///     REWRITE_GOLDEN=1 swift test --filter RaftScriptTests
///
/// and read the diff before committing it: the diff is the behaviour change.
///
/// Commands (node ids are 1...n; a duration is `300ms`, `1s`, ...):
///
///     add-nodes 3 [seed=1] [setting=value ...]  a fresh cluster; settings as `Raft.Settings.set`
///                                             takes them (pre-vote=false, read-mode=log, batch-entries=1)
///     reset                                   forget the cluster (to run a second story in one file)
///     campaign 1                              fire node 1's election timer (alias: tick-election)
///     tick-heartbeat 1                        fire node 1's heartbeat timer
///     elapse 300ms                            move the shared clock; no timer fires by itself
///     propose 1 put k=1 v=10 [client=1]       a client request to node 1; also `cas k=1 old=10 new=20`
///                                             (old=none: absent) and `get k=1`. It joins node 1's
///                                             current batch: nothing is sent until a flush
///     read 1 k=1 [client=1]                   the same as `propose 1 get k=1`
///     flush 1 [2 ...]                         end the nodes' batches (`Input.flush`)
///     persist 1 [2 ...]                       sync the nodes' disks: writes become durable, held
///                                             messages go out, the replica hears `.persisted`
///     deliver-msgs [2 ...] [from=1] [type=MsgApp,MsgVote]
///                                             deliver the matching messages now in flight (not those
///                                             they cause); each recipient ends its batch with a flush
///     drop-msgs [2 ...] [from=1] [type=...]   lose the matching messages in flight
///     stabilize                               repeat {flush open batches, sync all disks, deliver all
///                                             messages} until nothing moves (bounded)
///     partition 1 | 2 3                       only nodes in the same group talk; unnamed nodes are
///                                             alone. Messages crossing the cut are lost on delivery
///     heal                                    the whole network again
///     crash 2 / restart 2                     lose unsynced writes and volatile state / rebuild from disk
///     status, log [1 ...], progress 1, msgs, replies
///
/// Transcript lines: `> ...` opens a step (what arrived); indented lines are what the node did
/// (`write ...` to its disk, `1->2 Msg...` sent, `... (after sync)` held until its disk syncs,
/// `reply ...` to a client, role and commit changes). Positions are `index@term`.
final class RaftScript {
    private(set) var cluster: RaftScriptCluster?
    /// Violations seen by clusters that a `reset` has since discarded.
    private var earlierViolations: [RaftScriptCluster.Violation] = []

    /// Every violation seen, across `reset`s.
    var violations: [RaftScriptCluster.Violation] { earlierViolations + (cluster?.violations ?? []) }

    init() {}

    /// Runs one command line and returns its transcript.
    func run(_ line: String) -> [String] {
        let words = line.split(separator: " ").map(String.init)
        guard let name = words.first else { return ["error: empty command"] }
        do {
            let output = try run(name, Array(words.dropFirst()))
            return output.isEmpty ? ["ok"] : output
        } catch {
            return ["error: \(error.description)"]
        }
    }

    private func current() throws(ScriptError) -> RaftScriptCluster {
        guard let cluster else { throw ScriptError("no cluster: start with add-nodes") }
        return cluster
    }

    private func run(_ name: String, _ args: [String]) throws(ScriptError) -> [String] {
        if name == "add-nodes" { return try addNodes(args) }
        if name == "reset" {
            earlierViolations += cluster?.violations ?? []
            cluster = nil
            return []
        }
        let c = try current()
        c.output = []
        let (positional, options) = try Arguments.split(args)
        switch name {
        case "campaign", "tick-election":
            try options.expectNone(name)
            try c.fire(Raft.Timers.election, named: "election", at: try Arguments.single(positional))
        case "tick-heartbeat":
            try options.expectNone(name)
            try c.fire(Raft.Timers.heartbeat, named: "heartbeat", at: try Arguments.single(positional))
        case "elapse":
            try options.expectNone(name)
            guard positional.count == 1, let duration = Duration(parsing: positional[0]) else {
                throw ScriptError("elapse takes one duration, like 300ms")
            }
            c.elapse(duration)
        case "propose":
            guard positional.count == 2 else { throw ScriptError("propose <node> put|cas|get k=... [v=...]") }
            let node = try Arguments.node(positional[0])
            try c.request(try Arguments.command(positional[1], options), client: try options.client(), at: node)
        case "read":
            let node = try Arguments.single(positional)
            try c.request(try Arguments.command("get", options), client: try options.client(), at: node)
        case "flush":
            try options.expectNone(name)
            for id in try Arguments.nodes(positional, min: 1) { try c.flush(id) }
        case "persist":
            try options.expectNone(name)
            for id in try Arguments.nodes(positional, min: 0, default: c.ids) { try c.sync(id) }
        case "deliver-msgs":
            if c.deliver(try options.selection(to: positional)) == 0 { c.output.append("no messages to deliver") }
        case "drop-msgs":
            if c.drop(try options.selection(to: positional)) == 0 { c.output.append("no messages to drop") }
        case "stabilize":
            try options.expectNone(name)
            try c.stabilize()
        case "partition":
            try options.expectNone(name)
            var groups: [[NodeID]] = [[]]
            for word in positional {
                if word == "|" { groups.append([]) } else { groups[groups.count - 1].append(try Arguments.node(word)) }
            }
            try c.partition(groups.filter { !$0.isEmpty })
        case "heal":
            try options.expectNone(name)
            c.heal()
        case "crash":
            try options.expectNone(name)
            try c.crash(try Arguments.single(positional))
        case "restart":
            try options.expectNone(name)
            try c.restart(try Arguments.single(positional))
        case "status":
            try options.expectNone(name)
            c.output.append(contentsOf: c.statusLines())
        case "log":
            try options.expectNone(name)
            c.output.append(contentsOf: c.logLines(try Arguments.nodes(positional, min: 0, default: c.ids)))
        case "progress":
            try options.expectNone(name)
            c.output.append(contentsOf: try c.progressLines(try Arguments.single(positional)))
        case "msgs":
            try options.expectNone(name)
            c.output.append(contentsOf: c.networkLines())
        case "replies":
            try options.expectNone(name)
            c.output.append(contentsOf: c.replyLines())
        default:
            throw ScriptError("unknown command '\(name)'")
        }
        return c.output
    }

    private func addNodes(_ args: [String]) throws(ScriptError) -> [String] {
        guard cluster == nil else { throw ScriptError("a cluster exists: reset first") }
        let (positional, options) = try Arguments.split(args)
        guard positional.count == 1, let count = Int(positional[0]), (1...9).contains(count) else {
            throw ScriptError("add-nodes takes a node count 1...9")
        }
        var seed: UInt64 = 1
        var settings = Raft.Settings()
        for (key, value) in options.pairs {
            if key == "seed" {
                guard let parsed = UInt64(value) else { throw ScriptError("seed=\(value) is not a number") }
                seed = parsed
                continue
            }
            do { try settings.set(key, to: value) } catch { throw ScriptError(error.description) }
        }
        let defaults = Dictionary(uniqueKeysWithValues: Raft.Settings().parameters.map { ($0.key, $0.value) })
        let changed = settings.parameters.filter { defaults[$0.key] != $0.value }.map { "\($0.key)=\($0.value)" }
        let created = RaftScriptCluster(size: count, settings: settings, seed: seed)
        cluster = created
        let names = created.ids.map(RaftScriptText.node).joined(separator: " ")
        return ["nodes \(names), seed=\(seed), settings: " + (changed.isEmpty ? "defaults" : changed.joined(separator: " "))]
            + created.output
    }
}

/// Parsing of command arguments: positional words and `key=value` options.
enum Arguments {
    struct Options {
        var pairs: [(key: String, value: String)] = []

        func value(_ key: String) -> String? { pairs.last { $0.key == key }?.value }

        func expectNone(_ command: String) throws(ScriptError) {
            if let first = pairs.first { throw ScriptError("\(command) takes no option \(first.key)=") }
        }

        func expectOnly(_ keys: Set<String>, _ command: String) throws(ScriptError) {
            if let bad = pairs.first(where: { !keys.contains($0.key) }) {
                throw ScriptError("\(command): unknown option \(bad.key)=")
            }
        }

        func client() throws(ScriptError) -> ClientID {
            guard let text = value("client") else { return ClientID(1) }
            guard let raw = UInt64(text) else { throw ScriptError("client=\(text) is not a number") }
            return ClientID(raw)
        }

        func selection(to positional: [String]) throws(ScriptError) -> RaftScriptCluster.Selection {
            try expectOnly(["from", "type"], "message selection")
            var selection = RaftScriptCluster.Selection()
            selection.to = Set(try nodes(positional, min: 0))
            if let from = value("from") { selection.from = Set(try list(from).map(node)) }
            if let kinds = value("type") {
                selection.kinds = Set(try list(kinds))
                if let bad = selection.kinds.first(where: { !RaftScriptText.kinds.contains($0) }) {
                    throw ScriptError("unknown message type \(bad)")
                }
            }
            return selection
        }
    }

    static func split(_ args: [String]) throws(ScriptError) -> ([String], Options) {
        var positional: [String] = []
        var options = Options()
        for arg in args {
            if let eq = arg.firstIndex(of: "=") {
                let key = String(arg[..<eq])
                let value = String(arg[arg.index(after: eq)...])
                guard !key.isEmpty, !value.isEmpty else { throw ScriptError("malformed option '\(arg)'") }
                options.pairs.append((key, value))
            } else {
                guard options.pairs.isEmpty else { throw ScriptError("'\(arg)' follows options: put options last") }
                positional.append(arg)
            }
        }
        return (positional, options)
    }

    static func list(_ text: String) throws(ScriptError) -> [String] {
        let items = text.split(separator: ",").map(String.init)
        guard !items.isEmpty else { throw ScriptError("empty list") }
        return items
    }

    static func node(_ word: String) throws(ScriptError) -> NodeID {
        guard let raw = UInt32(word), raw >= 1 else { throw ScriptError("'\(word)' is not a node id") }
        return NodeID(raw)
    }

    static func single(_ positional: [String]) throws(ScriptError) -> NodeID {
        guard positional.count == 1 else { throw ScriptError("expected one node id, got \(positional.count)") }
        return try node(positional[0])
    }

    static func nodes(_ positional: [String], min: Int, default fallback: [NodeID] = []) throws(ScriptError) -> [NodeID] {
        guard positional.count >= min else { throw ScriptError("expected at least \(min) node ids") }
        if positional.isEmpty { return fallback }
        var ids: [NodeID] = []
        for word in positional { ids.append(try node(word)) }
        return ids
    }

    static func number(_ options: Options, _ key: String) throws(ScriptError) -> UInt64 {
        guard let text = options.value(key) else { throw ScriptError("missing \(key)=") }
        guard let value = UInt64(text) else { throw ScriptError("\(key)=\(text) is not a number") }
        return value
    }

    static func value(_ options: Options, _ key: String) throws(ScriptError) -> Value? {
        guard let text = options.value(key) else { throw ScriptError("missing \(key)=") }
        if text == "none" { return nil }
        guard let tag = UInt64(text) else { throw ScriptError("\(key)=\(text) is not a number or none") }
        return Value(tag: tag)
    }

    static func command(_ verb: String, _ options: Options) throws(ScriptError) -> Command {
        switch verb {
        case "get":
            try options.expectOnly(["k", "client"], verb)
            return .get(key: try number(options, "k"))
        case "put":
            try options.expectOnly(["k", "v", "client"], verb)
            guard let new = try value(options, "v") else { throw ScriptError("put needs a value") }
            return .put(key: try number(options, "k"), value: new)
        case "cas":
            try options.expectOnly(["k", "old", "new", "client"], verb)
            guard let new = try value(options, "new") else { throw ScriptError("cas needs a new value") }
            return .compareAndSet(key: try number(options, "k"), expected: try value(options, "old"), new: new)
        default:
            throw ScriptError("unknown command verb '\(verb)' (put, cas, get)")
        }
    }
}
