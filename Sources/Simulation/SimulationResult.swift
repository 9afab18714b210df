import BenchCore
import Checker

/// What a simulated run measured. Times are virtual.
public struct SimulationResult: Sendable {
    public var options: SimulationOptions
    /// Every client operation of the run, for the checker.
    public var history: History
    /// Latencies (ns) of the operations that completed ok inside the measurement window.
    public var latencies: [Int64]
    public var opsOK = 0
    public var opsFailed = 0
    public var opsUnknown = 0
    /// Operations attempted inside the window (invoked there).
    public var opsAttempted = 0
    public var messages = 0
    public var messageBytes = 0
    public var fsyncs = 0
    public var events = 0
    /// Leaders established (one per term that had a leader).
    public var leaderElections = 0
    /// Invariant or oracle violations, the first few, each with the virtual time it was seen.
    public var violations: [String] = []
    /// A hash over every event processed: two runs with the same options have the same hash.
    public var traceHash: UInt64 = 0
    public var endTime: Instant = .zero
    public var leaderTimeline: [(time: Instant, leader: NodeID?)] = []
    /// The CPU time each node spent, summed (virtual).
    public var cpuTime: Duration = .zero
    /// Protocol-specific figures by column name (`convergence_p50_ms`, `abort_rate`, ...), filled
    /// by the protocol's descriptor from the run and the replicas' `metrics`.
    public var metrics: [String: Double] = [:]
    /// Transactions the system certainly aborted inside the window.
    public var opsAborted = 0
    /// With `ClientModel.followPartitions`: operations invoked while a partition held, by the side
    /// of the invoking client's home node (the side with more nodes is the majority).
    public var sideAvailability = SideAvailability()
    /// The faults carried out, in order (times from the start of the measurement window).
    public var injectedFaults: [InjectedFault] = []

    public var window: Duration { options.duration - options.warmup }

    /// Completed operations per virtual second in the measurement window.
    public var throughput: Double {
        window.nanoseconds > 0 ? Double(opsOK) / window.seconds : 0
    }

    /// The first operation to complete ok at or after `instant` (liveness after faults heal).
    public func firstCompletion(after instant: Instant) -> Instant? {
        history.operations.lazy.filter { $0.status == .ok && $0.complete >= instant }.map(\.complete).min()
    }
}

/// Operations attempted and succeeded during partitions, on each side.
public struct SideAvailability: Hashable, Sendable {
    public var minorityAttempted = 0
    public var minorityOK = 0
    public var majorityAttempted = 0
    public var majorityOK = 0
    public init() {}

    /// Succeeded ÷ attempted on the minority side (nil: nothing was attempted there).
    public var minority: Double? { minorityAttempted == 0 ? nil : Double(minorityOK) / Double(minorityAttempted) }
    public var majority: Double? { majorityAttempted == 0 ? nil : Double(majorityOK) / Double(majorityAttempted) }
}
