/// Client-side resilience mechanisms, as pure state machines (time and randomness passed in), so
/// the load generator and the simulator's clients behave the same and each can be tested alone.
/// (They live in BenchCore, not LoadGen, because the simulator's clients use them too.)

/// How long to wait before retrying, by attempt number (1 = the first retry).
public enum Backoff: Hashable, Sendable, CustomStringConvertible {
    /// Retry at once (what a naive client does; under overload it multiplies the load).
    case immediate
    case fixed(Duration)
    /// "Full jitter" (Brooker, AWS Architecture Blog, 2015): uniform in [0, min(cap, base × 2^(attempt-1))).
    case exponentialJitter(base: Duration, cap: Duration)

    public func delay(attempt: Int, random: inout SeededGenerator) -> Duration {
        precondition(attempt >= 1, "attempts count from 1")
        switch self {
        case .immediate: return .zero
        case let .fixed(d): return d
        case let .exponentialJitter(base, cap):
            let shift = min(attempt - 1, 40)
            let ceiling = min(cap.nanoseconds, base.nanoseconds.multipliedReportingOverflow(by: Int64(1) << shift).overflow
                              ? cap.nanoseconds : base.nanoseconds << shift)
            guard ceiling > 0 else { return .zero }
            return .nanoseconds(Int64(random.next() % UInt64(ceiling)))
        }
    }

    public var description: String {
        switch self {
        case .immediate: "immediate"
        case let .fixed(d): "fixed:\(d)"
        case let .exponentialJitter(base, cap): "exp:\(base):\(cap)"
        }
    }
}

/// A retry budget (as in Finagle and gRPC): every first attempt deposits `ratio` of a token,
/// every retry spends one; with no token left, the client does not retry. Bounds retries to
/// about `ratio` of the traffic, so retries cannot multiply the load of an overloaded server.
public struct RetryBudget: Hashable, Sendable {
    public let ratio: Double
    public let tokensMax: Double
    public private(set) var tokens: Double
    public private(set) var denied = 0

    public init(ratio: Double, tokensMax: Double = 100) {
        precondition(ratio >= 0 && tokensMax >= 1, "a budget has a non-negative ratio and room for a token")
        self.ratio = ratio
        self.tokensMax = tokensMax
        self.tokens = min(tokensMax, 10)
    }

    public mutating func recordFirstAttempt() { tokens = min(tokensMax, tokens + ratio) }

    /// Spends a token for a retry; false when the budget is exhausted.
    public mutating func tryRetry() -> Bool {
        guard tokens >= 1 else { denied += 1; return false }
        tokens -= 1
        return true
    }
}

/// A circuit breaker over a sliding time window of outcomes (Nygard, "Release It!"):
/// closed → open when, with at least `minimumRequests` in the window, the failure rate reaches
/// `failureRateThreshold`; open → half-open after `openDuration`; half-open lets `probes`
/// requests through: all succeed → closed, one fails → open again.
public struct CircuitBreaker: Hashable, Sendable {
    public struct Settings: Hashable, Sendable {
        public var failureRateThreshold = 0.5
        public var window: Duration = .seconds(1)
        public var minimumRequests = 20
        public var openDuration: Duration = .milliseconds(500)
        public var probes = 5
        public init() {}
    }

    public enum State: String, Hashable, Sendable { case closed, open, halfOpen = "half-open" }

    public let settings: Settings
    public private(set) var state: State = .closed
    /// Outcomes in the window, oldest first: (time, failed).
    private var outcomes: [(at: Instant, failed: Bool)] = []
    private var outcomesHead = 0
    private var failuresInWindow = 0
    private var openedAt: Instant = .zero
    private var probesAllowed = 0
    private var probesSucceeded = 0
    public private(set) var transitions = 0

    public init(settings: Settings = Settings()) {
        precondition(settings.failureRateThreshold > 0 && settings.failureRateThreshold <= 1, "a threshold is a rate in (0, 1]")
        precondition(settings.probes >= 1 && settings.minimumRequests >= 1, "probes and minimum requests are positive")
        self.settings = settings
    }

    public static func == (a: CircuitBreaker, b: CircuitBreaker) -> Bool { a.state == b.state && a.transitions == b.transitions }
    public func hash(into hasher: inout Hasher) { hasher.combine(state); hasher.combine(transitions) }

    /// Whether a request may be sent now (an open breaker fails it fast).
    public mutating func allow(now: Instant) -> Bool {
        switch state {
        case .closed: return true
        case .open:
            guard now - openedAt >= settings.openDuration else { return false }
            move(to: .halfOpen)
            probesAllowed = settings.probes - 1
            probesSucceeded = 0
            return true
        case .halfOpen:
            guard probesAllowed > 0 else { return false }
            probesAllowed -= 1
            return true
        }
    }

    public mutating func record(failed: Bool, now: Instant) {
        switch state {
        case .closed:
            outcomes.append((now, failed))
            if failed { failuresInWindow += 1 }
            while outcomesHead < outcomes.count && now - outcomes[outcomesHead].at > settings.window {
                if outcomes[outcomesHead].failed { failuresInWindow -= 1 }
                outcomesHead += 1
            }
            if outcomesHead > 1_024 { outcomes.removeFirst(outcomesHead); outcomesHead = 0 }
            let count = outcomes.count - outcomesHead
            if count >= settings.minimumRequests && Double(failuresInWindow) / Double(count) >= settings.failureRateThreshold {
                trip(now: now)
            }
        case .halfOpen:
            if failed {
                trip(now: now)
            } else {
                probesSucceeded += 1
                if probesSucceeded >= settings.probes {
                    move(to: .closed)
                    outcomes.removeAll()
                    outcomesHead = 0
                    failuresInWindow = 0
                }
            }
        case .open:
            break  // late answers to requests sent before it opened
        }
    }

    mutating func trip(now: Instant) {
        move(to: .open)
        openedAt = now
    }

    mutating func move(to next: State) {
        if next != state { transitions += 1 }
        state = next
    }
}

/// A token bucket: `rate` tokens per second up to `burst`; a request takes one or is refused (shed).
public struct TokenBucket: Hashable, Sendable {
    public let rate: Double
    public let burst: Double
    public private(set) var tokens: Double
    private var last: Instant?

    public init(rate: Double, burst: Double) {
        precondition(rate > 0 && burst >= 1, "a bucket refills and holds at least one token")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
    }

    public mutating func take(now: Instant) -> Bool {
        if let last { tokens = min(burst, tokens + (now - last).seconds * rate) }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// A leaky bucket as a meter queue: requests leave at `rate` per second, evenly spaced; up to
/// `capacity` may wait. `admit` returns when the request may go, or nil when the queue is full.
public struct LeakyBucket: Hashable, Sendable {
    public let rate: Double
    public let capacity: Int
    private var nextFree: Instant = .zero

    public init(rate: Double, capacity: Int) {
        precondition(rate > 0 && capacity >= 1, "a leaky bucket drains and holds at least one request")
        self.rate = rate
        self.capacity = capacity
    }

    public mutating func admit(now: Instant) -> Instant? {
        let interval = Duration(seconds: 1 / rate)
        let start = max(now, nextFree)
        // Requests already waiting: how far the next free slot is ahead of now, in intervals.
        let waiting = (start - now).nanoseconds / max(1, interval.nanoseconds)
        guard waiting <= Int64(capacity) else { return nil }
        nextFree = start + interval
        return start
    }
}

/// The resilience a client runs with: a sweep parameter (`--resilience`).
public struct ResiliencePolicy: Hashable, Sendable, CustomStringConvertible {
    public enum RateLimit: Hashable, Sendable {
        case tokenBucket(rate: Double, burst: Double)
        case leakyBucket(rate: Double, capacity: Int)
    }

    public var name = "default"
    public var backoff: Backoff = .fixed(.milliseconds(5))
    /// Retries allowed per first attempt (nil: unlimited).
    public var retryBudget: Double?
    public var breaker: CircuitBreaker.Settings?
    public var rateLimit: RateLimit?
    /// When the leader is unreachable (the breaker is open), answer reads from any replica's local
    /// state and count them as degraded, never as normal successes.
    public var degradedReads = false

    public init() {}

    public var description: String { name }

    /// `default`, `none` (retry at once, no budget, no breaker: what amplifies overload),
    /// `backoff` (exponential backoff with full jitter), `protected` (backoff + 20 % retry budget +
    /// circuit breaker), `degrade` (protected + degraded reads), optionally with a rate limit:
    /// `protected+token:5000` or `none+leaky:5000`.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "+")
        guard let preset = parts.first else { return nil }
        self.init()
        name = text.lowercased()
        switch preset {
        case "default": break
        case "none": backoff = .immediate
        case "backoff": backoff = .exponentialJitter(base: .milliseconds(2), cap: .milliseconds(200))
        case "protected", "degrade":
            backoff = .exponentialJitter(base: .milliseconds(2), cap: .milliseconds(200))
            retryBudget = 0.2
            breaker = CircuitBreaker.Settings()
            degradedReads = preset == "degrade"
        default: return nil
        }
        for extra in parts.dropFirst() {
            let fields = extra.split(separator: ":")
            guard fields.count == 2, let rate = Double(fields[1]), rate > 0 else { return nil }
            switch fields[0] {
            case "token": rateLimit = .tokenBucket(rate: rate, burst: max(1, rate / 100))
            case "leaky": rateLimit = .leakyBucket(rate: rate, capacity: max(1, Int(rate / 10)))
            default: return nil
            }
        }
    }
}
