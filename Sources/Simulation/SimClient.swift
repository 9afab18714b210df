import BenchCore

/// A simulated closed-loop client: a `ClientSession` (the same retry logic the real load
/// generator uses) plus its own random stream and a token that invalidates stale wake-ups.
struct SimClient {
    var session: ClientSession
    var random: SeededGenerator
    /// Wake-ups carry a token; one whose token is stale is ignored.
    var token: UInt64 = 0
    var stopped = false
    /// The lock workload's client logic (nil for other workloads). It runs on `clock`.
    var lock: LockClient?
    /// The client's own clock. Only the lock workload reads it (lease beliefs are measured in the
    /// client's clock); sessions keep true time, so other workloads run exactly as before.
    var clock = SimClock()

    init(index: Int, random: inout SeededGenerator, nodes: Int, settings: ClientSession.Settings) {
        var own = SeededGenerator(from: &random)
        let first = Int(own.next() % UInt64(nodes))
        self.random = own
        self.session = ClientSession(id: ClientID(UInt64(index + 1)), nodeCount: nodes, firstTarget: first, settings: settings)
    }
}

/// A clock that runs off true time: local = true + offset + true × drift (as `SimNode`'s).
struct SimClock {
    var offset: Int64 = 0
    var driftPPM: Double = 0

    func localTime(_ t: Instant) -> Instant {
        let drift = Int64((Double(t.nanoseconds) * driftPPM / 1e6).rounded(.towardZero))
        return Instant(nanoseconds: t.nanoseconds + offset + drift)
    }

    /// The true time at which this clock reads `local`.
    func trueTime(_ local: Instant) -> Instant {
        let t = Double(local.nanoseconds - offset) / (1 + driftPPM / 1e6)
        return Instant(nanoseconds: Int64(t.rounded(.up)))
    }
}
