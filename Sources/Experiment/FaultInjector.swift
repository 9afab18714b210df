import BenchCore
import Foundation
import Glibc
import Checker
import RingBuffer
import Runtime
import Simulation

/// Carries out a fault plan on a real cluster, with the same meaning the simulator gives it:
/// crashes are `kill -9` (at most a minority down at once), restarts recover from the log,
/// partitions are each node ignoring the peers on other sides (told over the control connection),
/// message faults and slow disks are the nodes' own shims, clock skew is an offset on each node's
/// clock. (Clock drift — a rate error — exists only in the simulator.)
final class FaultInjector {
    let plan: FaultPlan
    let schedule: FaultSchedule
    let cluster: LocalCluster
    let seed: UInt64
    /// The start of the measurement window (monotonic clock).
    let origin: Instant
    var next = 0
    var crashedAt: [Int: Instant] = [:]
    var sides: PartitionSides?
    private(set) var log: [InjectedFault] = []
    /// Every partition with its start and (once healed) end, in the monotonic clock.
    private(set) var partitions: [PartitionWindow] = []

    init(schedule: FaultSchedule, cluster: LocalCluster, seed: UInt64, origin: Instant) {
        self.schedule = schedule
        self.plan = FaultPlan(schedule: schedule, nodes: cluster.options.nodes, seed: seed)
        self.cluster = cluster
        self.seed = seed
        self.origin = origin
    }

    static func now() -> Instant { Instant(nanoseconds: Int64(MonotonicClock.nowNanos())) }

    /// The per-node settings every node gets at the start, and again after it restarts.
    func configure(_ node: Int) throws {
        let message = MessageFaults(dropProbability: schedule.dropProbability, duplicateProbability: schedule.duplicateProbability,
                                    delay: schedule.extraDelay, delayJitter: schedule.extraDelayJitter, seed: seed)
        var requests: [ControlRequest] = []
        if !message.isNone { requests.append(.messageFaults(message)) }
        if plan.clockOffsets[node - 1] != .zero { requests.append(.clockOffset(plan.clockOffsets[node - 1])) }
        if schedule.slowDisk > .zero { requests.append(.slowDisk(schedule.slowDisk)) }
        if let sides { requests.append(.isolate(from: isolatedPeers(of: node, sides))) }
        for request in requests {
            let reply = try cluster.send(request, to: node)
            guard case .done = reply else { throw NodeError("node \(node) refused \(request): \(reply)") }
        }
    }

    func configureAll() throws {
        for node in 1...cluster.options.nodes { try configure(node) }
    }

    func isolatedPeers(of node: Int, _ sides: PartitionSides) -> [NodeID] {
        (1...cluster.options.nodes).filter { $0 != node && sides.separated(node - 1, $0 - 1) }.map { NodeID(UInt32($0)) }
    }

    /// Carries out every step that is due. Call often (every few ms) while the cell runs.
    func poll() throws {
        let now = Self.now()
        while next < plan.steps.count, origin + plan.steps[next].at <= now {
            try apply(plan.steps[next].action, at: now)
            next += 1
        }
    }

    func record(_ action: String, _ nodes: [Int], at now: Instant) {
        log.append(InjectedFault(at: now - origin, action: action, nodes: nodes.map { NodeID(UInt32($0)) }))
    }

    func leaderIndex() -> Int? { cluster.leader().map { $0 - 1 } }

    /// The same resolution rules as the simulator's (`Simulator.resolve`).
    func resolve(_ selector: NodeSelector, up: Bool) -> Int? {
        let candidates = (1...cluster.options.nodes).filter { cluster.isRunning($0) == up }
        guard !candidates.isEmpty else { return nil }
        switch selector {
        case let .node(id): return candidates.contains(Int(id.rawValue)) ? Int(id.rawValue) : nil
        case .leader where up: return cluster.leader()
        case .follower where up:
            let leader = cluster.leader()
            return candidates.first { $0 != leader }
        default:
            return up ? candidates.first : candidates.min { (crashedAt[$0] ?? .zero) < (crashedAt[$1] ?? .zero) }
        }
    }

    func apply(_ action: FaultAction, at now: Instant) throws {
        let n = cluster.options.nodes
        switch action {
        case let .crash(selector):
            let down = (1...n).count { !cluster.isRunning($0) }
            guard down < (n - 1) / 2, let node = resolve(selector, up: true) else { return }
            let wasLeader = cluster.leader() == node
            cluster.kill(node, signal: SIGKILL)
            // The crash happens now, not when this poll began: asking who leads takes a few
            // milliseconds, and writes the leader finished meanwhile are not recovery.
            let killedAt = Self.now()
            crashedAt[node] = killedAt
            record(wasLeader ? "crash-leader" : "crash", [node], at: killedAt)
        case let .restart(selector):
            guard let node = resolve(selector, up: false) else { return }
            try restart(node, at: now)
        case .restartAll:
            let down = (1...n).filter { !cluster.isRunning($0) }
            if !down.isEmpty { record("restart", down, at: now) }
            for node in down { try restart(node, at: now, log: false) }
        case let .partition(shape):
            guard let sides = PartitionShape.sides(of: shape, nodes: n, leader: leaderIndex()) else { return }
            self.sides = sides
            record("partition", sides.cut.map { $0 + 1 }, at: now)
            for node in 1...n where cluster.isRunning(node) {
                _ = try? cluster.send(.isolate(from: isolatedPeers(of: node, sides)), to: node)
            }
            partitions.begin(sides, at: Self.now())
        case .heal:
            sides = nil
            record("heal", [], at: now)
            for node in 1...n where cluster.isRunning(node) { _ = try? cluster.send(.isolate(from: []), to: node) }
            partitions.heal(at: Self.now())
        }
    }

    func restart(_ node: Int, at now: Instant, log: Bool = true) throws {
        try cluster.startNode(node)
        crashedAt[node] = nil
        if log { record("restart", [node], at: now) }
        // A restarted node forgot its fault settings: give them back once it answers.
        let deadline = Date().addingTimeInterval(5)
        while cluster.report(node, timeout: .milliseconds(200)) == nil && Date() < deadline { usleep(5_000) }
        try configure(node)
    }
}

extension SideAvailability {
    /// Availability on each side of a real run's partitions, from the merged client history:
    /// operations invoked inside [windowStart, windowEnd), counted by the simulator's rule.
    static func measure(_ history: History, partitions: [PartitionWindow], nodes: Int,
                        windowStart: Instant, windowEnd: Instant) -> SideAvailability {
        var counts = SideAvailability()
        guard !partitions.isEmpty else { return counts }
        for op in history.operations where op.invoke >= windowStart && op.invoke < windowEnd {
            if op.status == .ok && op.complete >= windowEnd { continue }
            counts.count(invoked: op.invoke, completed: op.complete, succeeded: op.status == .ok,
                         home: op.client.homeIndex(nodes: nodes), partitions: partitions)
        }
        return counts
    }
}
