import BenchCore
import Checker
import NIOCore
import NIOPosix
import Runtime

/// One client process's load: many sessions over one connection per node, all on one SwiftNIO
/// event loop (no locks: every field below is touched only on `loop`). Requests are written as
/// they are issued and flushed once per event-loop turn; replies are routed to their session by
/// client id. Closed loop keeps each session busy; open loop issues at a target rate from a
/// pool of sessions and measures latency from each operation's intended start.
public final class LoadDriver: @unchecked Sendable {
    let config: ClientRunConfig
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop: EventLoop
    var channels: [Channel?]
    var pending: [WireWriter]
    var sessions: [ClientSession] = []
    var tokens: [UInt64] = []
    var idle: [Int] = []
    var random: SeededGenerator
    let generator: WorkloadGenerator?
    var result = ClientResult()
    var startedCount = 0
    var scriptedCursor = 0
    var issuing = true
    var finished = false
    var runStart: Instant = .zero
    var warmupEnd: Instant = .zero
    var endAt: Instant?
    var nextArrival: Instant = .zero
    var promise: EventLoopPromise<ClientResult>
    // Resilience (all on the event loop).
    var budget: RetryBudget?
    var breaker: CircuitBreaker?
    var tokenBucket: TokenBucket?
    var leakyBucket: LeakyBucket?
    /// Sessions whose outstanding operation became a degraded read.
    var degradedSessions: Set<Int> = []
    /// The lock workload (closed loop only): each session's lock logic, by session index.
    let lockWorkload: LockWorkload?
    var lockClients: [LockClient] = []

    static let sessionsMax = 1 << 16

    init(config: ClientRunConfig) {
        precondition(!config.nodes.isEmpty, "a client needs nodes")
        precondition(config.sessions >= 1 && config.sessions <= Self.sessionsMax, "sessions out of range")
        self.config = config
        self.loop = group.next()
        self.channels = Array(repeating: nil, count: config.nodes.count)
        self.pending = Array(repeating: WireWriter(capacity: 4_096), count: config.nodes.count)
        self.random = SeededGenerator(seed: config.seed &+ UInt64(config.processIndex) &* 0x9E37_79B9_7F4A_7C15)
        if case let .mixed(spec) = config.workload { generator = WorkloadGenerator(spec: spec) } else { generator = nil }
        // Open loop issues at a rate regardless of answers, which a lease holder cannot do: there
        // the lock workload degrades to bare acquisitions (`WorkloadGenerator`).
        if case let .mixed(spec) = config.workload, case .closedLoop = config.plan {
            lockWorkload = spec.kind.lockWorkload
        } else {
            lockWorkload = nil
        }
        self.promise = loop.makePromise()
        budget = config.resilience.retryBudget.map { RetryBudget(ratio: $0) }
        breaker = config.resilience.breaker.map { CircuitBreaker(settings: $0) }
        switch config.resilience.rateLimit {
        case let .tokenBucket(rate, burst)?: tokenBucket = TokenBucket(rate: rate, burst: burst)
        case let .leakyBucket(rate, capacity)?: leakyBucket = LeakyBucket(rate: rate, capacity: capacity)
        case nil: break
        }
    }

    /// Runs the load to the end and returns what it measured. Throws if no node can be reached.
    public static func run(_ config: ClientRunConfig) throws -> ClientResult {
        let driver = LoadDriver(config: config)
        defer { try? driver.group.syncShutdownGracefully() }
        try driver.connectAll()
        if let startAt = config.startAt, startAt > Self.now() {
            driver.loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(startAt.nanoseconds))) { driver.begin() }
        } else {
            driver.loop.execute { driver.begin() }
        }
        let result = try driver.promise.futureResult.wait()
        for channel in driver.channels.compactMap({ $0 }) { try? channel.close().wait() }
        return result
    }

    static func now() -> Instant { Instant(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    // MARK: Connections

    func connectAll() throws {
        var connected = 0
        var lastError: Error?
        for index in config.nodes.indices {
            do {
                channels[index] = try connect(index).wait()
                connected += 1
            } catch {
                lastError = error
                scheduleReconnect(index)
            }
        }
        if connected == 0 {
            throw NodeError("cannot reach any node (\(config.nodes.map(\.description).joined(separator: ", "))): \(lastError.map { "\($0)" } ?? "")")
        }
    }

    func connect(_ index: Int) -> EventLoopFuture<Channel> {
        let endpoint = config.nodes[index]
        return ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.milliseconds(500))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(driver: self, node: index))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .map { [self] channel in
                channel.closeFuture.whenComplete { [self] _ in
                    if channels[index] === channel { channels[index] = nil }
                    if !finished { scheduleReconnect(index) }
                }
                return channel
            }
    }

    func scheduleReconnect(_ index: Int) {
        loop.scheduleTask(in: .milliseconds(50)) { [self] in
            guard !finished, channels[index] == nil else { return }
            connect(index).whenComplete { [self] result in
                switch result {
                case let .success(channel): channels[index] = channel
                case .failure: scheduleReconnect(index)
                }
            }
        }
    }

    // MARK: The run

    func begin() {
        runStart = config.startAt.map { max($0, Self.now() - .milliseconds(1)) } ?? Self.now()
        warmupEnd = runStart + config.warmup
        endAt = config.duration.map { warmupEnd + $0 }
        result.runStart = runStart
        result.windowStart = warmupEnd
        if let endAt {
            loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(endAt.nanoseconds))) { [self] in stopIssuing() }
        }
        switch config.plan {
        case .closedLoop:
            for _ in 0..<config.sessions { _ = addSession() }
            for s in sessions.indices { startNext(s, intended: nil) }
        case .openLoop:
            nextArrival = runStart
            arrive()
        }
        flushAll()
    }

    /// Client ids: [run nonce: 12 bits][process index: 8 bits][session: 20 bits]. The state machine
    /// remembers each client id's last seq, so a new run against the same cluster must not reuse
    /// ids: the nonce separates runs, the process index separates the processes of one run.
    func addSession() -> Int {
        let index = sessions.count
        let id = ClientID(UInt64(config.runNonce & 0xFFF) << 28 | UInt64(config.processIndex & 0xFF) << 20 | UInt64(index + 1))
        let first = Int(random.next() % UInt64(config.nodes.count))
        sessions.append(ClientSession(id: id, nodeCount: config.nodes.count, firstTarget: first, settings: config.session))
        tokens.append(0)
        if let lockWorkload { lockClients.append(LockClient(client: id, workload: lockWorkload, seed: config.seed ^ id.rawValue)) }
        return index
    }

    /// The next command, or nil when the workload or the operation budget is exhausted.
    func nextCommand(for s: Int) -> Command? {
        if let limit = config.operations, startedCount >= limit { return nil }
        let tag = sessions[s].nextTag
        switch config.workload {
        case .mixed:
            return generator!.nextCommand(tag: tag, &random)
        case let .writeKeys(count, valueSize):
            guard scriptedCursor < count else { return nil }
            defer { scriptedCursor += 1 }
            return .put(key: Key(scriptedCursor), value: Value(tag: tag, size: valueSize))
        case let .readKeys(count):
            guard scriptedCursor < count else { return nil }
            defer { scriptedCursor += 1 }
            return .get(key: Key(scriptedCursor))
        }
    }

    func startNext(_ s: Int, intended: Instant?) {
        let now = Self.now()
        // Client-side rate limiting: a token bucket sheds what exceeds it in open loop (and makes
        // a closed-loop session wait); a leaky bucket spaces operations out, refusing when its queue is full.
        if var bucket = tokenBucket {
            let granted = bucket.take(now: now)
            tokenBucket = bucket
            if !granted {
                if case .openLoop = config.plan {
                    shed(intended: intended ?? now, now: now)
                    idle.append(s)
                } else {
                    loop.scheduleTask(in: .milliseconds(1)) { [self] in startNext(s, intended: nil); flushAll() }
                }
                return
            }
        }
        if var bucket = leakyBucket {
            guard let at = bucket.admit(now: now) else {
                leakyBucket = bucket
                shed(intended: intended ?? now, now: now)
                if case .openLoop = config.plan { idle.append(s) } else {
                    loop.scheduleTask(in: .milliseconds(1)) { [self] in startNext(s, intended: nil); flushAll() }
                }
                return
            }
            leakyBucket = bucket
            if at > now {
                loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(at.nanoseconds))) { [self] in
                    begin(s, intended: intended)
                    flushAll()
                }
                return
            }
        }
        begin(s, intended: intended)
    }

    func begin(_ s: Int, intended: Instant?) {
        if lockWorkload != nil { return beginLockStep(s) }
        guard issuing, let command = nextCommand(for: s) else {
            stopIssuing()
            return
        }
        startedCount += 1
        budget?.recordFirstAttempt()
        perform(sessions[s].start(command, now: Self.now(), intended: intended), session: s)
    }

    /// A lock session is idle: start what its lock logic asks for, or sleep until its time comes.
    /// Beliefs are in this machine's monotonic clock, the clock the nodes stamp leases with.
    func beginLockStep(_ s: Int) {
        guard issuing, config.operations.map({ startedCount < $0 }) ?? true else {
            stopIssuing()
            return
        }
        let now = Self.now()
        let step = lockClients[s].next(now: now)
        result.history.lockBeliefs += lockClients[s].takeBeliefs()
        switch step {
        case let .issue(command):
            startedCount += 1
            budget?.recordFirstAttempt()
            perform(sessions[s].start(command, now: now), session: s)
        case let .sleep(until):
            tokens[s] &+= 1
            let token = tokens[s]
            loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(max(0, until.nanoseconds)))) { [self] in
                guard tokens[s] == token, !finished, sessions[s].isIdle else { return }
                beginLockStep(s)
                flushAll()
            }
        }
    }

    /// An operation the rate limiter refused: attempted and failed, never sent.
    func shed(intended: Instant, now: Instant) {
        guard intended >= warmupEnd, endAt.map({ intended < $0 }) ?? true else { return }
        result.attempted += 1
        result.failed += 1
        result.shed += 1
    }

    /// Open loop: issue the operations whose intended start has come, then sleep until the next.
    func arrive() {
        guard issuing, case .openLoop = config.plan else { return }
        issueDueArrivals()
        flushAll()
        guard issuing else { return }
        let wake = max(nextArrival, Self.now() + .microseconds(20))
        loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(wake.nanoseconds))) { [self] in arrive() }
    }

    /// Starts every arrival that is due, as long as a session is free. When all `sessions` are busy
    /// (a stalled server), arrivals queue; each is sent when a session frees up, and its latency
    /// still counts from its intended start — the correction for coordinated omission — while its
    /// service time counts from the send.
    func issueDueArrivals() {
        guard issuing, case let .openLoop(rate, poisson) = config.plan else { return }
        let now = Self.now()
        while issuing && nextArrival <= now {
            let s: Int
            if let free = idle.popLast() { s = free }
            else if sessions.count < config.sessions { s = addSession() }
            else { return }
            startNext(s, intended: nextArrival)
            let meanGap = 1e9 / rate
            let gap = poisson ? -meanGap * log(1 - random.nextUnit()) : meanGap
            nextArrival += .nanoseconds(Int64(gap.rounded()))
        }
    }

    func perform(_ action: ClientSession.Action, session s: Int) {
        switch action {
        case let .send(request, node, timeoutAt):
            let now = Self.now()
            let isRetry = (sessions[s].current?.attempts ?? 1) > 1
            if isRetry, budget != nil {
                guard budget!.tryRetry() else { return cutShort(s, now: now) }
            }
            if breaker != nil, !degradedSessions.contains(s), !breaker!.allow(now: now) {
                // The leader looks unreachable: fail fast, or serve a read from any replica, counted as degraded.
                if config.resilience.degradedReads, case let .get(key) = request.command {
                    degradedSessions.insert(s)
                    let any = Int(random.next() % UInt64(config.nodes.count))
                    return perform(sessions[s].substitute(.readLocal(key: key), node: any, now: now), session: s)
                }
                return cutShort(s, now: now)
            }
            if isRetry { result.retries += 1 }
            pending[node].writeFrame(clusterID: config.clusterID, kind: .request, sender: NodeID(0)) { request.encode(to: &$0) }
            arm(s, at: timeoutAt)
        case let .wait(until):
            arm(s, at: until)
        case let .finished(operation):
            tokens[s] &+= 1
            if degradedSessions.remove(s) != nil {
                recordDegraded(operation)
            } else {
                record(operation)
            }
            if lockWorkload != nil {
                lockClients[s].finished(operation, now: Self.now())
                result.history.lockBeliefs += lockClients[s].takeBeliefs()
            }
            if case .openLoop = config.plan {
                idle.append(s)
                if issuing { issueDueArrivals() } else { maybeFinish() }
            } else {
                startNext(s, intended: nil)
            }
        }
    }

    /// Ends a session's operation early (budget exhausted, breaker open).
    func cutShort(_ s: Int, now: Instant) {
        guard let operation = sessions[s].giveUp(now: now) else { return }
        result.cutShort += 1
        perform(.finished(operation), session: s)
    }

    func arm(_ s: Int, at deadline: Instant) {
        tokens[s] &+= 1
        let token = tokens[s]
        let waitingForAnswer = !(sessions[s].current?.backingOff ?? true)
        loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(max(0, deadline.nanoseconds)))) { [self] in
            guard tokens[s] == token, !finished else { return }
            let now = Self.now()
            if waitingForAnswer { breaker?.record(failed: true, now: now) }
            perform(sessions[s].onTimeout(now: now), session: s)
            flushAll()
        }
    }

    func onReply(_ reply: ClientReply) {
        let s = Int(reply.client.rawValue & 0xF_FFFF) - 1
        guard sessions.indices.contains(s) else { return }
        let now = Self.now()
        if breaker != nil, sessions[s].current?.request.seq == reply.seq {
            switch reply.outcome {
            case .ok, .compareFailed, .balances, .lockHeld, .aborted: breaker!.record(failed: false, now: now)
            case .unknown, .rejected: breaker!.record(failed: true, now: now)
            case .notLeader: break
            }
        }
        guard let action = sessions[s].onReply(reply, now: now) else { return }
        perform(action, session: s)
    }

    func record(_ operation: FinishedOperation) {
        if let entry = ClientOperation(operation) { result.history.append(entry) }
        let bucketIndex = Int((operation.complete - runStart).nanoseconds / max(1, config.bucketWidth.nanoseconds))
        if bucketIndex >= 0 && bucketIndex < 100_000 {
            while result.buckets.count <= bucketIndex { result.buckets.append(ClientResult.Bucket()) }
            if operation.succeeded {
                result.buckets[bucketIndex].succeeded += 1
                result.buckets[bucketIndex].latency.record(operation.latency)
            } else {
                result.buckets[bucketIndex].failed += 1
            }
        }
        // The window: operations intended inside it. One that succeeded after the window closed
        // was in flight at the end and is left out; one that failed counts wherever it ended.
        guard operation.intended >= warmupEnd else { return }
        if let endAt, operation.intended >= endAt || (operation.succeeded && operation.complete > endAt) { return }
        result.attempted += 1
        if operation.succeeded {
            result.succeeded += 1
            result.latency.record(operation.latency)
            result.serviceTime.record(operation.serviceTime)
            if operation.attempts > 1 { result.retried += 1 }
        } else if operation.uncertain {
            result.unknown += 1
        } else {
            result.failed += 1
            if operation.aborted { result.aborted += 1 }
        }
    }

    /// A degraded read: in the window it counts as attempted and degraded, never as a success,
    /// and it stays out of the history (it may be stale by design).
    func recordDegraded(_ operation: FinishedOperation) {
        guard operation.intended >= warmupEnd, endAt.map({ operation.intended < $0 }) ?? true else { return }
        result.attempted += 1
        if operation.succeeded { result.degraded += 1 } else if operation.uncertain { result.unknown += 1 } else { result.failed += 1 }
    }

    func stopIssuing() {
        guard issuing else { return }
        issuing = false
        // Outstanding operations get until their deadlines; then the run ends regardless.
        let drain = Self.now() + config.session.operationDeadline + config.session.requestTimeout
        loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(drain.nanoseconds))) { [self] in finish() }
        maybeFinish()
    }

    func maybeFinish() {
        if !issuing && sessions.allSatisfy(\.isIdle) { finish() }
    }

    func finish() {
        guard !finished else { return }
        let now = Self.now()
        for s in sessions.indices {
            if let operation = sessions[s].abandon(now: now) { record(operation) }
            if lockWorkload != nil {
                lockClients[s].stop(now: now)
                result.history.lockBeliefs += lockClients[s].takeBeliefs()
            }
        }
        finished = true
        result.windowEnd = endAt.map { min($0, now) } ?? now
        flushAll()
        promise.succeed(result)
    }

    /// Writes each node's accumulated requests and flushes: one write per connection per turn.
    func flushAll() {
        for index in pending.indices where pending[index].count > 0 {
            if let channel = channels[index] {
                channel.writeAndFlush(channel.allocator.buffer(bytes: pending[index].bytes), promise: nil)
            }
            pending[index].removeAll()
        }
    }
}

/// Decodes reply frames for the driver.
final class ReplyHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    let driver: LoadDriver
    let node: Int

    init(driver: LoadDriver, node: Int) {
        self.driver = driver
        self.node = node
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.header.kind == .reply, frame.header.clusterID == driver.config.clusterID,
              let reply = try? frame.body.decodeWhole(ClientReply.self) else {
            context.close(promise: nil)
            return
        }
        driver.onReply(reply)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        driver.flushAll()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}

import Foundation
