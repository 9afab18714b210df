import BenchCore
import Checker
import HeapModule
import Foundation  // log() only: the simulator does no I/O and reads no clock

/// A deterministic discrete-event simulation of a cluster of `R` replicas and their clients, on a
/// virtual clock driven by one seeded generator. The network delays, drops, duplicates and
/// reorders messages and honours partitions; nodes crash (losing whatever was not yet synced) and
/// restart from their disks; clocks drift; the disk takes time; each node's CPU costs time per
/// message and byte. Same options, same run: every event is folded into `traceHash`.
public final class Simulator<R: Replica> {
    public let options: SimulationOptions
    public let settings: R.Settings
    let cluster: ClusterConfig
    var random: SeededGenerator
    var nodes: [SimNode<R>]
    var clients: [SimClient]
    let workload: WorkloadGenerator
    var queue = Heap<QueuedEvent>()
    var slots = EventSlots<R.Message>()
    var nextSeq: UInt64 = 0
    var nextTimerGeneration: UInt64 = 0
    public private(set) var now: Instant = .zero

    /// The run's faults, made concrete from the schedule and the seed.
    public let plan: FaultPlan

    // Network state.
    var dropProbability: Double
    /// blocked[i × n + j]: messages from node i to node j are lost (the current partition).
    var blocked: [Bool]
    /// The partition that holds now and when it began (nil: none).
    var partition: (sides: PartitionSides, since: Instant)?
    /// Every partition so far, with its end once healed (for availability on each side).
    var partitionWindows: [PartitionWindow] = []

    // Per-step scratch, reused so a step allocates nothing of its own.
    var effects = Effects<R.Message>()
    var scratch = WireWriter(capacity: 4_096)

    // Checks run after every step when `options.checkEveryStep`.
    var oracle: ((NodeID, R, Instant) -> String?)?
    var restartHook: ((NodeID) -> Void)?
    /// Whatever an oracle keeps for the end-of-run analysis (a protocol's convergence tracker):
    /// set it when installing the oracle, read it back after `run()`. The simulator never reads it.
    public var oracleContext: AnyObject?

    // What the run measured.
    var result: SimulationResult
    var hasher = TraceHasher()
    var leaderTerms: Set<Term> = []
    var lastLeader: NodeID?
    var clientsStopped = false

    /// Builds the cluster and its clients; nothing runs until `run()`.
    public init(options: SimulationOptions, settings: R.Settings) {
        precondition(options.nodes >= 1, "a cluster has at least one node")
        precondition(options.clients.clients >= 0, "client count cannot be negative")
        precondition(options.warmup <= options.duration, "warm-up longer than the run")
        self.options = options
        self.settings = settings
        self.cluster = ClusterConfig(size: options.nodes)
        self.random = SeededGenerator(seed: options.seed)
        self.nodes = cluster.members.map { SimNode(id: $0) }
        self.workload = WorkloadGenerator(spec: options.clients.workload)
        self.dropProbability = options.faults.dropProbability
        self.blocked = Array(repeating: false, count: options.nodes * options.nodes)
        self.result = SimulationResult(options: options, history: History(), latencies: [])
        self.clients = []
        for i in 0..<options.clients.clients {
            clients.append(SimClient(index: i, random: &random, nodes: options.nodes, settings: options.clients.session))
        }
        // Faults and clocks come from the plan, which draws its random choices from the seed with a
        // generator of its own: a real run with the same schedule and seed makes the same choices.
        self.plan = FaultPlan(schedule: options.faults, nodes: options.nodes, seed: options.seed)
        for i in nodes.indices {
            nodes[i].clockOffset = plan.clockOffsets[i].nanoseconds
            nodes[i].clockDriftPPM = plan.clockDriftsPPM[i]
        }
        if let lockWorkload = options.clients.workload.kind.lockWorkload {
            // Lock clients get drifting clocks within the same bounds as the nodes', drawn from a
            // stream of their own so the run's other random choices stay as they were.
            var clockRandom = SeededGenerator(seed: options.seed ^ 0x10C6_C10C_5EED_0001)
            let skew = options.faults.clockSkewMax.nanoseconds
            let driftPPM = options.faults.clockDriftPPM
            for c in clients.indices {
                if skew > 0 { clients[c].clock.offset = Int64(clockRandom.next() % UInt64(2 * skew + 1)) - skew }
                if driftPPM > 0 { clients[c].clock.driftPPM = (clockRandom.nextUnit() * 2 - 1) * driftPPM }
                clients[c].lock = LockClient(client: clients[c].session.id, workload: lockWorkload, seed: clockRandom.next())
            }
        }
    }

    /// Installs a check run after every step of every node (when `checkEveryStep`); it returns a
    /// violation or nil. `onRestart` tells the oracle a node lost its volatile state.
    public func setOracle(_ check: @escaping (NodeID, R, Instant) -> String?, onRestart: ((NodeID) -> Void)? = nil) {
        oracle = check
        restartHook = onRestart
    }

    /// The replica on node `id`, if it is up (for tests, oracles and end-of-run analysis).
    public func replica(_ id: NodeID) -> R? { nodes[index(of: id)].replica }

    /// Every node's id, in order.
    public var memberIDs: [NodeID] { cluster.members }

    /// What node `id` has on disk (survives its crashes).
    public func durableState(_ id: NodeID) -> DurableState { nodes[index(of: id)].durable }

    /// The node that currently believes it leads with the highest term, if any.
    public var currentLeader: NodeID? {
        var best: (NodeID, Term)?
        for node in nodes {
            guard let status = node.replica?.status, status.role == .leader else { continue }
            if best == nil || status.term > best!.1 { best = (node.id, status.term) }
        }
        return best?.0
    }

    func index(of id: NodeID) -> Int { Int(id.rawValue) - 1 }

    func schedule(_ kind: EventKind<R.Message>, at time: Instant) {
        precondition(time >= now, "events cannot be scheduled in the past")
        nextSeq += 1
        queue.insert(QueuedEvent(time: time, seq: nextSeq, slot: slots.store(kind)))
    }

    // MARK: Running

    /// Runs to the end and returns what was measured. A run is used once.
    public func run() -> SimulationResult {
        for i in nodes.indices { boot(i) }
        for i in clients.indices {
            // Clients start spread over the first millisecond.
            let start = Instant(nanoseconds: Int64(clients[i].random.next() % 1_000_000))
            clients[i].token += 1
            schedule(.clientWake(client: i, token: clients[i].token), at: start)
        }
        // Fault times count from the start of the measurement window.
        for (i, step) in plan.steps.enumerated() {
            schedule(.fault(index: i), at: .zero + options.warmup + step.at)
        }
        let stopAt = Instant.zero + options.duration
        schedule(.stopClients, at: stopAt)
        // After clients stop, outstanding operations get until their deadlines to finish.
        let endAt = stopAt + max(options.clients.session.operationDeadline + options.clients.session.requestTimeout,
                                 options.quietPeriod)
        let quietUntil = stopAt + options.quietPeriod

        while let event = queue.popMin() {
            if event.time > endAt { break }
            precondition(event.time >= now, "time runs forward")
            now = event.time
            result.events += 1
            if result.events > options.eventsMax {
                record(violation: "event limit \(options.eventsMax) reached")
                break
            }
            dispatch(slots.take(event.slot))
            if clientsStopped && now >= quietUntil && clients.allSatisfy({ $0.session.isIdle }) { break }
        }
        finishOutstandingOperations()
        result.endTime = now
        result.traceHash = hasher.value
        result.leaderElections = leaderTerms.count
        return result
    }

    func dispatch(_ kind: EventKind<R.Message>) {
        hasher.mix(now)
        switch kind {
        case let .deliver(node, from, message, size, incarnation):
            hasher.mix(1); hasher.mix(node); hasher.mix(Int(from.rawValue)); hasher.mix(size)
            guard nodes[node].incarnation == incarnation, nodes[node].isUp,
                  canReach(index(of: from), node) else { return }
            enqueue(.message(from: from, message), at: node)
        case let .request(node, request, _):
            hasher.mix(2); hasher.mix(node); hasher.mix(request.seq)
            guard nodes[node].isUp else { return }
            enqueue(.request(request), at: node)
        case let .process(node, incarnation):
            hasher.mix(3); hasher.mix(node)
            guard nodes[node].incarnation == incarnation, nodes[node].isUp else { return }
            nodes[node].processScheduled = false
            process(node)
        case let .timer(node, timer, generation, incarnation):
            hasher.mix(4); hasher.mix(node); hasher.mix(UInt64(timer.rawValue))
            guard nodes[node].incarnation == incarnation, nodes[node].isUp,
                  nodes[node].timerGenerations[timer] == generation else { return }
            nodes[node].timerGenerations[timer] = nil
            enqueue(.timer(timer), at: node)
        case let .diskDone(node, incarnation):
            hasher.mix(5); hasher.mix(node)
            guard nodes[node].incarnation == incarnation, nodes[node].isUp else { return }
            completeSync(node)
        case let .reply(client, reply):
            hasher.mix(6); hasher.mix(client); hasher.mix(reply.seq)
            onReply(reply, client: client)
        case let .clientWake(client, token):
            hasher.mix(7); hasher.mix(client)
            guard clients[client].token == token else { return }
            onClientWake(client)
        case let .fault(index):
            hasher.mix(8); hasher.mix(index)
            apply(plan.steps[index].action)
        case .stopClients:
            hasher.mix(9)
            clientsStopped = true
            for i in clients.indices { clients[i].stopped = true }
        }
    }

    // MARK: Nodes

    func boot(_ i: Int) {
        precondition(!nodes[i].isUp, "booting a node that is up")
        var rng = SeededGenerator(from: &random)
        nodes[i].replica = R(id: nodes[i].id, cluster: cluster, settings: settings, recovered: nodes[i].durable, random: &rng)
        nodes[i].crashedAt = nil
        nodes[i].busyUntil = max(nodes[i].busyUntil, now)
        enqueue(.start, at: i)
    }

    func enqueue(_ input: Input<R.Message>, at i: Int) {
        nodes[i].inbox.append(input)
        if !nodes[i].processScheduled {
            nodes[i].processScheduled = true
            schedule(.process(node: i, incarnation: nodes[i].incarnation), at: max(now, nodes[i].busyUntil))
        }
    }

    func cost(bytes: Int) -> Duration {
        options.cost.perMessage + .nanoseconds(Int64(Double(bytes) * options.cost.nanosecondsPerByte))
    }

    func size(of message: R.Message) -> Int {
        scratch.removeAll()
        message.encode(to: &scratch)
        return scratch.count + FrameHeader.size
    }

    /// Handles a batch of queued inputs, then `.flush`, and carries out the effects once the CPU
    /// time the batch costs has passed.
    func process(_ i: Int) {
        precondition(nodes[i].isUp, "processing on a crashed node")
        // Move the replica out of the node while it runs, so its storage (the log, the store) stays
        // uniquely referenced and mutates in place instead of being copied on every step.
        guard var replica = nodes[i].replica.take() else { return }
        let local = nodes[i].localTime(now)
        var cpu = Duration.zero
        effects.removeAll()
        let batch = nodes[i].takeInbox(max: options.cost.batchInputsMax)
        for input in batch {
            switch input {
            case let .message(_, message): cpu = cpu + cost(bytes: size(of: message))
            case .request: cpu = cpu + cost(bytes: 64)
            default: cpu = cpu + options.cost.perMessage
            }
            replica.handle(input, now: local, into: &effects)
        }
        replica.handle(.flush, now: local, into: &effects)
        for envelope in effects.messages { cpu = cpu + cost(bytes: size(of: envelope.message)) }
        for envelope in effects.messagesAfterDurable { cpu = cpu + cost(bytes: size(of: envelope.message)) }
        cpu = cpu + options.cost.perMessage * Int64(effects.replies.count)
        nodes[i].replica = replica
        result.cpuTime = result.cpuTime + cpu
        let done = now + cpu
        nodes[i].busyUntil = done
        carryOut(node: i, at: done)
        if nodes[i].inboxCount > 0 {
            nodes[i].processScheduled = true
            schedule(.process(node: i, incarnation: nodes[i].incarnation), at: done)
        }
        observe(i, replica)
    }

    /// Carries out `effects` for node `i`, in the order `Effects` documents.
    func carryOut(node i: Int, at time: Instant) {
        if !effects.writes.isEmpty {
            nodes[i].pending.append(contentsOf: effects.writes)
            nodes[i].issuedSeq += UInt64(effects.writes.count)
            if nodes[i].syncingCount == 0 { startSync(i, at: time) }
        }
        for envelope in effects.messages { send(envelope.message, from: i, to: envelope.to, at: time) }
        for envelope in effects.messagesAfterDurable {
            if nodes[i].durableSeq >= nodes[i].issuedSeq {
                send(envelope.message, from: i, to: envelope.to, at: time)
            } else {
                nodes[i].deferred.append((nodes[i].issuedSeq, envelope))
            }
        }
        for reply in effects.replies {
            let client = Int(reply.client.rawValue) - 1
            guard clients.indices.contains(client) else { continue }
            schedule(.reply(client: client, reply), at: time + networkDelay())
        }
        for timer in effects.timers {
            switch timer {
            case let .set(id, deadline):
                nextTimerGeneration += 1
                let generation = nextTimerGeneration
                nodes[i].timerGenerations[id] = generation
                schedule(.timer(node: i, id, generation: generation, incarnation: nodes[i].incarnation),
                         at: max(time, nodes[i].trueTime(deadline)))
            case let .cancel(id):
                nodes[i].timerGenerations[id] = nil
            }
        }
    }

    func startSync(_ i: Int, at time: Instant) {
        precondition(nodes[i].syncingCount == 0, "one sync at a time per disk")
        guard !nodes[i].pending.isEmpty else { return }
        nodes[i].syncingCount = nodes[i].pending.count
        var bytes = 0
        for write in nodes[i].pending { bytes += write.approximateSize }
        let duration = options.disk.syncLatency + options.faults.slowDisk
            + .nanoseconds(Int64(Double(bytes) * options.disk.nanosecondsPerByte))
        result.fsyncs += 1
        schedule(.diskDone(node: i, incarnation: nodes[i].incarnation), at: time + duration)
    }

    /// A sync finished: its writes are durable, the messages waiting on them go out, and the
    /// replica hears `.persisted` for the last entry the sync carried.
    func completeSync(_ i: Int) {
        let count = nodes[i].syncingCount
        precondition(count > 0 && count <= nodes[i].pending.count, "a sync completes what it started")
        var lastEntry: LogEntry?
        for write in nodes[i].pending[..<count] {
            nodes[i].durable.apply(write)
            if case let .entry(entry) = write { lastEntry = entry }
        }
        nodes[i].pending.removeFirst(count)
        nodes[i].syncingCount = 0
        nodes[i].durableSeq += UInt64(count)
        var released = 0
        for item in nodes[i].deferred {
            guard item.seq <= nodes[i].durableSeq else { break }
            send(item.envelope.message, from: i, to: item.envelope.to, at: now)
            released += 1
        }
        if released > 0 { nodes[i].deferred.removeFirst(released) }
        if let lastEntry { enqueue(.persisted(through: lastEntry.index, term: lastEntry.term), at: i) }
        if !nodes[i].pending.isEmpty { startSync(i, at: now) }
    }

    // MARK: Network

    func networkDelay() -> Duration {
        let jitter = options.network.jitterMean.nanoseconds
        var delay = options.network.baseLatency.nanoseconds
        if jitter > 0 {
            // Exponential by inversion; 1 - u avoids log(0).
            delay += Int64(-Double(jitter) * log(1 - random.nextUnit()))
        }
        let extra = options.faults.extraDelay.nanoseconds
        let spread = options.faults.extraDelayJitter.nanoseconds
        if extra > 0 || spread > 0 {
            delay += extra + (spread > 0 ? Int64(random.next() % UInt64(2 * spread + 1)) - spread : 0)
        }
        return .nanoseconds(max(0, delay))
    }

    func send(_ message: R.Message, from i: Int, to peer: NodeID, at time: Instant) {
        let j = index(of: peer)
        guard nodes.indices.contains(j), j != i else { return }
        let bytes = size(of: message)
        result.messages += 1
        result.messageBytes += bytes
        guard canReach(i, j), !random.chance(dropProbability) else { return }
        var copies = 1
        if random.chance(options.faults.duplicateProbability) { copies = 2 }
        for _ in 0..<copies {
            var delay = networkDelay()
            if random.chance(options.faults.reorderProbability) {
                delay = delay + .nanoseconds(Int64(random.next() % UInt64(max(1, options.faults.reorderWindow.nanoseconds))))
            }
            schedule(.deliver(node: j, from: nodes[i].id, message: message, size: bytes, incarnation: nodes[j].incarnation),
                     at: time + delay)
        }
    }

    // MARK: Faults

    /// The node a selector names now. Choices that depend on the run's state use rules both
    /// modes share: a follower is the lowest-id live node that does not lead; a node to restart is
    /// the one crashed longest ago. (Random choices were made by the plan.)
    func resolve(_ selector: NodeSelector, up: Bool) -> Int? {
        let candidates = nodes.indices.filter { nodes[$0].isUp == up }
        guard !candidates.isEmpty else { return nil }
        switch selector {
        case let .node(id):
            let i = index(of: id)
            return candidates.contains(i) ? i : nil
        case .leader where up:
            return currentLeader.map(index(of:))
        case .follower where up:
            let leader = currentLeader.map(index(of:))
            return candidates.first { $0 != leader }
        default:
            // Restarts: the node down the longest.
            return up ? candidates.first : candidates.min { (nodes[$0].crashedAt ?? now) < (nodes[$1].crashedAt ?? now) }
        }
    }

    func logFault(_ action: String, _ nodeIndices: [Int]) {
        let at = now - (Instant.zero + options.warmup)
        result.injectedFaults.append(InjectedFault(at: at, action: action, nodes: nodeIndices.map { nodes[$0].id }))
    }

    func apply(_ action: FaultAction) {
        let n = nodes.count
        switch action {
        case let .crash(selector):
            // Never more than a minority down at once: the schedules test safety under minority failures
            // (unless the options allow more, for protocols whose unit of failure is not a majority).
            let down = nodes.count { !$0.isUp }
            guard down < options.crashedNodesMax ?? (n - 1) / 2, let i = resolve(selector, up: true) else { return }
            // The log says whether the victim led: recovery time is measured from leader crashes.
            logFault(currentLeader == nodes[i].id ? "crash-leader" : "crash", [i])
            crash(i)
        case let .restart(selector):
            if let i = resolve(selector, up: false) {
                logFault("restart", [i])
                boot(i)
            }
        case .restartAll:
            let down = nodes.indices.filter { !nodes[$0].isUp }
            if !down.isEmpty { logFault("restart", down) }
            for i in down { boot(i) }
        case let .partition(shape):
            let sides = PartitionShape.sides(of: shape, nodes: n, leader: currentLeader.map { index(of: $0) })
            guard let sides else { return }
            logFault("partition", sides.cut)
            partition = (sides, now)
            partitionWindows.begin(sides, at: now)
            for i in 0..<n {
                for j in 0..<n { blocked[i * n + j] = sides.separated(i, j) }
            }
        case .heal:
            logFault("heal", [])
            partition = nil
            partitionWindows.heal(at: now)
            for k in blocked.indices { blocked[k] = false }
        }
    }

    func crash(_ i: Int) {
        nodes[i].crash(at: now)
        restartHook?(nodes[i].id)
    }

    /// Whether a message from node i can reach node j under the current partition.
    @inline(__always) func canReach(_ i: Int, _ j: Int) -> Bool { !blocked[i * nodes.count + j] }

    // MARK: Clients

    func onClientWake(_ c: Int) {
        if clients[c].session.isIdle {
            guard !clients[c].stopped else { return }
            if clients[c].lock != nil { return wakeLockClient(c) }
            let command = workload.nextCommand(tag: clients[c].session.nextTag, &clients[c].random)
            perform(clients[c].session.start(command, now: now), client: c)
        } else {
            perform(clients[c].session.onTimeout(now: now), client: c)
        }
    }

    /// An idle lock client: start what it asks for, or sleep until its (local) time comes.
    func wakeLockClient(_ c: Int) {
        let step = clients[c].lock!.next(now: clients[c].clock.localTime(now))
        collectLockBeliefs(c)
        switch step {
        case let .issue(command):
            perform(clients[c].session.start(command, now: now), client: c)
        case let .sleep(until):
            clients[c].token += 1
            // At least a nanosecond on: converting the clock back and forth may round to now.
            schedule(.clientWake(client: c, token: clients[c].token),
                     at: max(now + .nanoseconds(1), clients[c].clock.trueTime(until)))
        }
    }

    /// Moves the lock beliefs client `c` closed into the history, in true time.
    func collectLockBeliefs(_ c: Int) {
        for var belief in clients[c].lock!.takeBeliefs() {
            belief.start = clients[c].clock.trueTime(belief.start)
            belief.end = max(belief.start, clients[c].clock.trueTime(belief.end))
            result.history.lockBeliefs.append(belief)
        }
    }

    func onReply(_ reply: ClientReply, client c: Int) {
        if let action = clients[c].session.onReply(reply, now: now) { perform(action, client: c) }
    }

    /// Carries out what a client session asked for.
    func perform(_ action: ClientSession.Action, client c: Int) {
        switch action {
        case let .send(request, node, timeoutAt):
            // A client cut off from the node by a partition loses the request; it times out.
            if !(options.clients.followPartitions && partition.map({ $0.sides.separated(home(of: c), node) }) == true) {
                schedule(.request(node: node, request, size: 64), at: now + networkDelay())
            }
            clients[c].token += 1
            schedule(.clientWake(client: c, token: clients[c].token), at: timeoutAt)
        case let .wait(until):
            clients[c].token += 1
            schedule(.clientWake(client: c, token: clients[c].token), at: until)
        case let .finished(operation):
            record(operation)
            countBySide(operation, client: c)
            if clients[c].lock != nil {
                clients[c].lock!.finished(operation, now: clients[c].clock.localTime(now))
                collectLockBeliefs(c)
            }
            clients[c].token += 1
            if !clients[c].stopped {
                // Closed loop: the next operation starts at once.
                schedule(.clientWake(client: c, token: clients[c].token), at: now)
            }
        }
    }

    func record(_ operation: FinishedOperation) {
        if let entry = ClientOperation(operation) { result.history.append(entry) }
        let windowStart = Instant.zero + options.warmup
        let windowEnd = Instant.zero + options.duration
        // Measured: operations intended inside the window (so warm-up and the election at the
        // start do not leak into the figures). One that succeeded after the window closed was in
        // flight at the end and is left out; one that failed counts wherever it ended.
        guard operation.intended >= windowStart && operation.intended < windowEnd else { return }
        if operation.succeeded && operation.complete >= windowEnd { return }
        result.opsAttempted += 1
        if operation.succeeded {
            result.opsOK += 1
            result.latencies.append(operation.latency.nanoseconds)
        } else if operation.uncertain {
            result.opsUnknown += 1
        } else {
            result.opsFailed += 1
            if operation.aborted { result.opsAborted += 1 }
        }
    }

    /// Client c's home node: the side of a partition the client is on.
    func home(of c: Int) -> Int { clients[c].session.id.homeIndex(nodes: nodes.count) }

    /// With clients that follow partitions: counts an operation for its client's side of the
    /// partition it overlapped (`SideAvailability.count`), inside the measurement window.
    func countBySide(_ operation: FinishedOperation, client c: Int) {
        let windowEnd = Instant.zero + options.duration
        guard options.clients.followPartitions, operation.intended >= Instant.zero + options.warmup,
              operation.intended < windowEnd,
              // As `record` does: a success after the measurement window closed was in flight at the end.
              !(operation.succeeded && operation.complete >= windowEnd) else { return }
        result.sideAvailability.count(invoked: operation.intended, completed: operation.complete, succeeded: operation.succeeded,
                                      home: home(of: c), partitions: partitionWindows)
    }

    /// Operations still outstanding when the run ends are recorded as unknown.
    func finishOutstandingOperations() {
        for c in clients.indices {
            if let operation = clients[c].session.abandon(now: now) {
                record(operation)
                countBySide(operation, client: c)
            }
            if clients[c].lock != nil {
                clients[c].lock!.stop(now: clients[c].clock.localTime(now))
                collectLockBeliefs(c)
            }
        }
    }

    // MARK: Observation

    func observe(_ i: Int, _ replica: R) {
        let status = replica.status
        if status.role == .leader && !leaderTerms.contains(status.term) {
            leaderTerms.insert(status.term)
        }
        if status.role == .leader && lastLeader != nodes[i].id {
            lastLeader = nodes[i].id
            result.leaderTimeline.append((now, nodes[i].id))
        }
        guard options.checkEveryStep else { return }
        if let violation = replica.invariants() { record(violation: violation) }
        if let oracle, let violation = oracle(nodes[i].id, replica, now) { record(violation: violation) }
    }

    func record(violation: String) {
        if result.violations.count < 20 { result.violations.append("at \(now): \(violation)") }
    }
}

extension StorageWrite {
    /// Bytes this write takes on disk, near enough for the disk model.
    var approximateSize: Int {
        switch self {
        case .hardState: 40
        case .truncate: 24
        case let .entry(entry):
            switch entry.payload {
            case .noop: 32
            case let .record(bytes): 32 + bytes.count
            case let .command(request): 48 + request.command.approximateSize
            }
        }
    }
}
