/// One client session's retry logic, as a pure state machine shared by the simulator's clients and
/// the real load generator, so both treat redirects, refusals and timeouts the same way.
///
/// A session has at most one operation outstanding. It sends it to the node it believes leads,
/// follows `notLeader` hints, moves on to the next node after a timeout, and keeps the same seq on
/// every retry (the state machine applies a seq at most once). When the deadline passes it gives
/// up; the outcome is then unknown if any attempt may have taken effect, and failed otherwise.
public struct ClientSession: Sendable {
    public struct Settings: Hashable, Sendable {
        /// How long to wait for an answer before trying the next node (same seq).
        public var requestTimeout: Duration = .milliseconds(100)
        /// How long to keep retrying one operation before giving up on it.
        public var operationDeadline: Duration = .seconds(2)
        /// The pause before a retry, by attempt. With `.fixed` (the default) a timed-out request is
        /// resent to the next node at once and only refusals wait; with any other policy every
        /// retry waits its back-off.
        public var backoff: Backoff = .fixed(.milliseconds(5))
        public init() {}
    }

    /// What the driver must do next for this session.
    public enum Action: Sendable {
        /// Send `request` to node index `node`; call `onTimeout` at `timeoutAt` unless answered first.
        case send(ClientRequest, node: Int, timeoutAt: Instant)
        /// Call `onTimeout` at this time (a back-off pause), then the session resends.
        case wait(until: Instant)
        /// The operation is over.
        case finished(FinishedOperation)
    }

    public let id: ClientID
    public let settings: Settings
    public let nodeCount: Int
    public private(set) var seq: UInt64 = 0
    /// The node index this session sends to next.
    public private(set) var target: Int
    public private(set) var current: Pending?
    /// Jitter for back-off, seeded from the session id (deterministic in the simulator).
    var random: SeededGenerator

    public struct Pending: Sendable {
        public var request: ClientRequest
        /// When the operation was meant to start (open loop) or started (closed loop).
        public var intended: Instant
        /// When it was first sent.
        public var firstSent: Instant
        public var deadline: Instant
        /// Set once an attempt may have taken effect (a timeout, or an `.unknown` answer).
        public var uncertain = false
        public var attempts = 0
        /// Whether the session is pausing (back-off) rather than waiting for an answer.
        public var backingOff = false
    }

    public init(id: ClientID, nodeCount: Int, firstTarget: Int, settings: Settings = Settings()) {
        precondition(nodeCount >= 1, "a session needs a node to talk to")
        precondition((0..<nodeCount).contains(firstTarget), "first target out of range")
        self.id = id
        self.nodeCount = nodeCount
        self.target = firstTarget
        self.settings = settings
        self.random = SeededGenerator(seed: id.rawValue &* 0x9E37_79B9_7F4A_7C15)
    }

    public var isIdle: Bool { current == nil }

    /// The value tag for this session's `seq`: unique across sessions and processes.
    public func tag(for seq: UInt64) -> UInt64 { id.rawValue << 24 | (seq & 0xFF_FFFF) }

    /// The next seq's value tag (for building the next command's value).
    public var nextTag: UInt64 { tag(for: seq + 1) }

    /// Starts an operation. `intended` is its intended start (open loop); latency counts from there.
    public mutating func start(_ command: Command, now: Instant, intended: Instant? = nil) -> Action {
        precondition(current == nil, "a session has one operation outstanding")
        seq += 1
        current = Pending(request: ClientRequest(client: id, seq: seq, command: command), intended: intended ?? now,
                          firstSent: now, deadline: now + settings.operationDeadline)
        return sendCurrent(now: now)
    }

    mutating func sendCurrent(now: Instant) -> Action {
        current!.attempts += 1
        current!.backingOff = false
        return .send(current!.request, node: target, timeoutAt: now + settings.requestTimeout)
    }

    /// An answer arrived. Returns nil for an answer to an earlier seq (a late duplicate).
    public mutating func onReply(_ reply: ClientReply, now: Instant) -> Action? {
        guard let pending = current, reply.client == id, reply.seq == pending.request.seq, !pending.backingOff else { return nil }
        switch reply.outcome {
        case .ok, .compareFailed, .balances, .lockHeld, .aborted:
            // A definite answer: an aborted transaction is over too (the client starts a new one).
            return finish(outcome: reply.outcome, now: now)
        case let .notLeader(hint):
            if let hint, Int(hint.rawValue) - 1 != target, (1...nodeCount).contains(Int(hint.rawValue)) {
                target = Int(hint.rawValue) - 1
                return sendCurrent(now: now)
            }
            target = (target + 1) % nodeCount
            return backOff(now: now)
        case .unknown:
            current!.uncertain = true
            return backOff(now: now)
        case .rejected:
            return backOff(now: now)
        }
    }

    /// A timeout or the end of a back-off.
    public mutating func onTimeout(now: Instant) -> Action {
        guard let pending = current else { preconditionFailure("timeout without an operation") }
        if now >= pending.deadline { return finish(outcome: nil, now: now) }
        if !pending.backingOff {
            // No answer: it may have been applied. Try the next node.
            current!.uncertain = true
            target = (target + 1) % nodeCount
            if case .fixed = settings.backoff {} else { return backOff(now: now) }
        }
        return sendCurrent(now: now)
    }

    /// Ends the outstanding operation without an answer (a retry budget or an open breaker said
    /// no): unknown if an attempt may have taken effect, failed otherwise.
    public mutating func giveUp(now: Instant) -> FinishedOperation? {
        guard current != nil, case let .finished(operation) = finish(outcome: nil, now: now) else { return nil }
        return operation
    }

    /// Sends the outstanding operation as a different command (a degraded read instead of a
    /// linearizable one) to `node`; the retry logic continues as before.
    public mutating func substitute(_ command: Command, node: Int, now: Instant) -> Action {
        precondition(current != nil, "nothing to substitute")
        current!.request.command = command
        target = node
        return sendCurrent(now: now)
    }

    /// Gives up on the outstanding operation (the run is ending).
    public mutating func abandon(now: Instant) -> FinishedOperation? {
        guard current != nil else { return nil }
        current!.uncertain = true
        guard case let .finished(operation) = finish(outcome: nil, now: now) else { return nil }
        return operation
    }

    mutating func backOff(now: Instant) -> Action {
        let delay = settings.backoff.delay(attempt: max(1, current!.attempts), random: &random)
        if now + delay >= current!.deadline { return finish(outcome: nil, now: now) }
        current!.backingOff = true
        return .wait(until: now + delay)
    }

    mutating func finish(outcome: Outcome?, now: Instant) -> Action {
        let pending = current!
        current = nil
        return .finished(FinishedOperation(request: pending.request, intended: pending.intended, firstSent: pending.firstSent,
                                           complete: now, outcome: outcome, uncertain: pending.uncertain,
                                           attempts: pending.attempts))
    }
}

/// An operation that ended, as the session saw it.
public struct FinishedOperation: Hashable, Sendable {
    public var request: ClientRequest
    public var intended: Instant
    public var firstSent: Instant
    public var complete: Instant
    /// The answer, or nil when the session gave up.
    public var outcome: Outcome?
    /// Whether some attempt may have taken effect without the session learning of it.
    public var uncertain: Bool
    public var attempts: Int

    /// True when the operation certainly took effect and the client knows its result.
    public var succeeded: Bool { outcome?.isApplied ?? false }
    /// True for a transaction the system certainly aborted.
    public var aborted: Bool { outcome == .aborted }

    /// Latency from the intended start (coordinated omission corrected).
    public var latency: Duration { complete - intended }
    /// Latency from the first send (service time, uncorrected).
    public var serviceTime: Duration { complete - firstSent }
}
