/// The knobs of the lock workload: clients take one of `locks` locks with a lease, renew it while
/// they hold it, and release it after a random hold time.
///
/// A client believes it holds a lock from the moment the grant's answer arrives until the time it
/// SENT the granted request (in its own clock) plus `lease − margin`. The granting replica measures
/// the lease from its stamp, which it takes later than the send; the margin covers how far the
/// clocks involved (the client's rate, and the offsets between the replicas that grant and later
/// free the lock) may disagree. With a margin smaller than that disagreement, two clients can
/// believe they hold the same lock at once — what `LockSafety` catches.
public struct LockWorkload: Hashable, Sendable, CustomStringConvertible {
    /// How many locks the clients compete for (lock keys 0..<locks).
    public var locks: Int = 4
    public var lease: Duration = .milliseconds(200)
    /// The safety margin for clock drift and skew.
    public var margin: Duration = .milliseconds(20)
    /// A hold lasts a uniformly random time in [0, holdMax].
    public var holdMax: Duration = .milliseconds(400)
    /// The chance that a holder "crashes" during a hold: it stops acting at a random instant of the
    /// hold, never renews or releases, and comes back `lease × 2` later. This is what makes the
    /// unavailable window after a holder crash measurable.
    public var crashProbability: Double = 0.1
    /// The chance that a holder loses contact with the service during a hold (its renewals stop
    /// getting through) while it keeps running: it goes on believing until its belief runs out, then
    /// stops, and comes back a lease later. This is the case the margin exists for — the service
    /// frees the lock when the grantor's lease ends, and the holder must have stopped by then.
    public var cutOffProbability: Double = 0.1

    public init(locks: Int = 4, lease: Duration = .milliseconds(200), margin: Duration = .milliseconds(20),
                holdMax: Duration = .milliseconds(400), crashProbability: Double = 0.1, cutOffProbability: Double = 0.1) {
        self.locks = locks
        self.lease = lease
        self.margin = margin
        self.holdMax = holdMax
        self.crashProbability = crashProbability
        self.cutOffProbability = cutOffProbability
    }

    /// A renewal is sent a third of a lease after the previous grant's request was sent.
    public var renewInterval: Duration { lease / 3 }

    /// Whether the knobs make sense (a margin below the lease, a probability, at least one lock).
    public var isValid: Bool {
        locks >= 1 && locks <= 1 << 20 && lease > .zero && margin >= .zero && margin < lease
            && holdMax >= .zero && (0...1).contains(crashProbability) && (0...1).contains(cutOffProbability)
            && crashProbability + cutOffProbability <= 1
    }

    public var description: String {
        "locks:count=\(locks):lease=\(lease):margin=\(margin):hold=\(holdMax):crash=\(crashProbability):cutoff=\(cutOffProbability)"
    }

    /// Parses the part after `locks:`: colon-separated `count=N`, `lease=D`, `margin=D`, `hold=D`,
    /// `crash=P`, `cutoff=P` in any order, each optional.
    public init?<S: Sequence>(parsingFields fields: S) where S.Element == Substring {
        self.init()
        for field in fields {
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            switch pair[0] {
            case "count": guard let n = Int(pair[1]) else { return nil }; locks = n
            case "lease": guard let d = Duration(parsing: pair[1]) else { return nil }; lease = d
            case "margin": guard let d = Duration(parsing: pair[1]) else { return nil }; margin = d
            case "hold": guard let d = Duration(parsing: pair[1]) else { return nil }; holdMax = d
            case "crash": guard let p = Double(pair[1]) else { return nil }; crashProbability = p
            case "cutoff": guard let p = Double(pair[1]) else { return nil }; cutOffProbability = p
            default: return nil
            }
        }
        guard isValid else { return nil }
    }
}

/// How a belief interval ended.
public enum LockBeliefEnding: UInt8, Hashable, Sendable {
    /// The client released the lock (it stopped believing when it sent the release).
    case released = 1
    /// The belief ran out: renewals did not come back in time.
    case lapsed = 2
    /// A renewal was refused: another client holds the lock.
    case refused = 3
    /// The client crashed while holding (it stops acting at `end`).
    case crashed = 4
    /// The run ended while the client still believed.
    case runEnded = 5
}

/// One stretch of time during which a client believed it held a lock. `[start, end)` in the
/// clock the history uses (the simulator's true time; one machine's monotonic clock in real runs).
public struct LockBelief: Hashable, Sendable, CustomStringConvertible {
    public var client: ClientID
    public var lock: Key
    public var start: Instant
    public var end: Instant
    public var ending: LockBeliefEnding

    public init(client: ClientID, lock: Key, start: Instant, end: Instant, ending: LockBeliefEnding) {
        self.client = client
        self.lock = lock
        self.start = start
        self.end = end
        self.ending = ending
    }

    public var description: String { "client \(client.rawValue) held lock \(lock) [\(start), \(end)) \(ending)" }
}

/// One client's lock behaviour as a pure state machine, driven beside a `ClientSession` by the
/// simulator and by the load generator: when the session is idle, ask `next(now:)` what to do;
/// when an operation the client issued finishes, tell `finished(_:now:)`; take the belief
/// intervals that closed with `takeBeliefs()`. Every time is in the client's OWN clock.
public struct LockClient: Sendable {
    public enum Step: Hashable, Sendable {
        /// Start this command on the session now.
        case issue(Command)
        /// Nothing to do until this (local) time; then ask again.
        case sleep(until: Instant)
    }

    struct Holding: Sendable {
        var lock: Key
        /// When the current belief began (the first grant's answer, or a grant after a lapse).
        var beliefStart: Instant
        /// When the belief runs out: the granted request's send time + lease − margin.
        var beliefEnd: Instant
        /// When to send the next renewal.
        var renewAt: Instant
        /// When to release (or, for a holder that will crash or be cut off, when that happens).
        var releaseAt: Instant
        var fate: Fate
    }

    /// How a hold ends.
    enum Fate: Sendable {
        case release
        case crash
        case cutOff
        /// Cut off already: no more renewals, the belief runs out.
        case isolated
    }

    public let client: ClientID
    public let workload: LockWorkload
    var random: SeededGenerator
    var holding: Holding?
    /// The lock and send time of the acquire or renewal in flight.
    var inFlight: (lock: Key, sentAt: Instant)?
    /// When an idle client may try again (after a refusal, a release, or a crash).
    var idleUntil: Instant = .zero
    var closed: [LockBelief] = []
    /// Grants received (first grants and renewals), crashes and cut-offs acted out: for tests and figures.
    public private(set) var grantCount = 0
    public private(set) var crashCount = 0
    public private(set) var cutOffCount = 0

    public init(client: ClientID, workload: LockWorkload, seed: UInt64) {
        precondition(workload.isValid, "invalid lock workload \(workload)")
        self.client = client
        self.workload = workload
        self.random = SeededGenerator(seed: seed)
    }

    /// Whether the client currently believes it holds a lock (at the last time it was told).
    public var believesHolding: Bool { holding != nil }

    /// What to do next; call only while the session is idle.
    public mutating func next(now: Instant) -> Step {
        precondition(inFlight == nil, "next() while an operation is in flight")
        guard var held = holding else {
            if now < idleUntil { return .sleep(until: idleUntil) }
            let lock = Key(random.next() % UInt64(workload.locks))
            inFlight = (lock, now)
            return .issue(.acquireLock(lock: lock, lease: workload.lease, stamp: .zero))
        }
        if now >= held.beliefEnd {
            // The renewals did not keep the lease: stop acting at the belief's end.
            close(held, at: held.beliefEnd, .lapsed)
            if case .isolated = held.fate { idleUntil = held.beliefEnd + workload.lease }
            return next(now: now)
        }
        if now >= held.releaseAt {
            switch held.fate {
            case .isolated:
                preconditionFailure("an isolated holder has nothing left to do but wait")
            case .cutOff:
                // It can no longer reach the service: no renewal, no release; it waits out its belief.
                cutOffCount += 1
                held.fate = .isolated
                held.renewAt = .distantFuture
                held.releaseAt = .distantFuture
                holding = held
                return .sleep(until: held.beliefEnd)
            case .crash:
                // A crashed holder stops acting at once and says nothing: the lock stays taken
                // until the grantor's lease runs out.
                close(held, at: held.releaseAt, .crashed)
                crashCount += 1
                idleUntil = held.releaseAt + workload.lease * 2
                return next(now: now)
            case .release:
                break
            }
            // It stops believing as it sends the release.
            close(held, at: now, .released)
            inFlight = (held.lock, now)
            return .issue(.releaseLock(lock: held.lock))
        }
        if now >= held.renewAt {
            inFlight = (held.lock, now)
            // The next renewal is due an interval after this one is sent, answered or not.
            held.renewAt = now + workload.renewInterval
            holding = held
            return .issue(.acquireLock(lock: held.lock, lease: workload.lease, stamp: .zero))
        }
        return .sleep(until: min(held.renewAt, held.releaseAt, held.beliefEnd))
    }

    /// An operation this client issued finished (at local time `now`).
    public mutating func finished(_ operation: FinishedOperation, now: Instant) {
        guard let (lock, sentAt) = inFlight else { return }
        inFlight = nil
        switch operation.request.command {
        case .acquireLock:
            onAcquireFinished(lock: lock, sentAt: sentAt, outcome: operation.outcome, now: now)
        case .releaseLock:
            idleUntil = now + pause()
        default:
            break
        }
    }

    mutating func onAcquireFinished(lock: Key, sentAt: Instant, outcome: Outcome?, now: Instant) {
        // A renewal answered after the belief ran out: that belief ended at its own end.
        if let held = holding, now >= held.beliefEnd {
            close(held, at: held.beliefEnd, .lapsed)
        }
        switch outcome {
        case .ok?:
            grantCount += 1
            let end = sentAt + workload.lease - workload.margin
            if var held = holding {
                precondition(held.lock == lock, "a client renews only the lock it holds")
                held.beliefEnd = max(held.beliefEnd, end)
                held.renewAt = sentAt + workload.renewInterval
                holding = held
            } else if end > now {
                let hold = Duration(nanoseconds: Int64(random.next() % UInt64(workload.holdMax.nanoseconds + 1)))
                holding = Holding(lock: lock, beliefStart: now, beliefEnd: end, renewAt: sentAt + workload.renewInterval,
                                  releaseAt: now + hold, fate: drawFate())
            } else {
                // The grant came back too late to act on; the lease lapses at the grantor.
                idleUntil = now + pause()
            }
        case .lockHeld?:
            if let held = holding { close(held, at: now, .refused) }
            idleUntil = now + pause()
        default:
            // No answer (or an unknown one): keep believing until the belief's end; an idle
            // client tries again after a pause.
            if holding == nil { idleUntil = now + pause() }
        }
    }

    /// The run is over: close the open belief at `now` (or where it ran out, if earlier).
    public mutating func stop(now: Instant) {
        if let held = holding {
            if now >= held.beliefEnd { close(held, at: held.beliefEnd, .lapsed) } else { close(held, at: now, .runEnded) }
        }
        inFlight = nil
    }

    /// The belief intervals closed since the last call, in the client's clock.
    public mutating func takeBeliefs() -> [LockBelief] {
        defer { closed.removeAll() }
        return closed
    }

    mutating func close(_ held: Holding, at end: Instant, _ ending: LockBeliefEnding) {
        holding = nil
        if end > held.beliefStart {
            closed.append(LockBelief(client: client, lock: held.lock, start: held.beliefStart, end: end, ending: ending))
        }
    }

    mutating func drawFate() -> Fate {
        let u = random.nextUnit()
        if u < workload.crashProbability { return .crash }
        if u < workload.crashProbability + workload.cutOffProbability { return .cutOff }
        return .release
    }

    /// A short random pause before trying again: a fortieth to a tenth of a lease.
    mutating func pause() -> Duration {
        let low = workload.lease / 40
        let span = max(1, (workload.lease / 10 - low).nanoseconds)
        return low + Duration(nanoseconds: Int64(random.next() % UInt64(span)))
    }
}
