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

/// One partition: who was on which side, from when until when (nil: still holding).
public struct PartitionWindow: Sendable {
    public var sides: PartitionSides
    public var start: Instant
    public var end: Instant?
    public init(sides: PartitionSides, start: Instant, end: Instant? = nil) {
        self.sides = sides
        self.start = start
        self.end = end
    }
}

extension [PartitionWindow] {
    /// Starts a partition at `now`, ending the one before if it still holds.
    public mutating func begin(_ sides: PartitionSides, at now: Instant) {
        heal(at: now)
        append(PartitionWindow(sides: sides, start: now))
    }

    /// Ends the partition that holds, if any.
    public mutating func heal(at now: Instant) {
        if let last = indices.last, self[last].end == nil { self[last].end = now }
    }
}

extension SideAvailability {
    /// Counts one operation of a client homed at node index `home` — the rule both modes use: an
    /// operation outstanding while a partition held counts for its client's side (the side with
    /// more nodes is the majority); it was available if it started under the partition and
    /// succeeded before the partition healed (one in flight when the partition began may have
    /// reached the other side already, and proves nothing). A closed-loop client stuck on one
    /// operation for the whole partition invokes nothing new, so counting by invocation alone
    /// would hide it.
    public mutating func count(invoked: Instant, completed: Instant, succeeded: Bool, home: Int,
                               partitions: [PartitionWindow]) {
        guard let window = partitions.last(where: { $0.start <= completed && ($0.end.map { invoked < $0 } ?? true) }) else { return }
        let available = succeeded && invoked >= window.start && (window.end.map { completed < $0 } ?? true)
        let mySide = window.sides.side[home]
        let isMajority = window.sides.side.filter { $0 == mySide }.count * 2 > window.sides.side.count
        if isMajority {
            majorityAttempted += 1
            if available { majorityOK += 1 }
        } else {
            minorityAttempted += 1
            if available { minorityOK += 1 }
        }
    }
}
