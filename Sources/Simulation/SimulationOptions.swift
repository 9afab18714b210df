import BenchCore

/// One-way message latency between replicas (and between clients and replicas): a fixed base
/// plus an exponentially distributed jitter, which gives the long right tail real networks have.
public struct NetworkModel: Hashable, Sendable {
    public var baseLatency: Duration = .microseconds(40)
    public var jitterMean: Duration = .microseconds(15)
    public init() {}
}

/// The disk: a sync takes a fixed time plus a per-byte time; writes issued while a sync is in
/// flight wait for the next one (group commit, as the real log appender does).
public struct DiskModel: Hashable, Sendable {
    public var syncLatency: Duration = .microseconds(250)
    public var nanosecondsPerByte: Double = 0.5
    public init() {}
}

/// CPU cost of the work a node does. Each node is one CPU: inputs queue while it is busy, which is
/// what makes simulated throughput saturate.
public struct CostModel: Hashable, Sendable {
    /// Per input handled and per message sent.
    public var perMessage: Duration = .microseconds(2)
    /// Per byte of a message received or sent (encoding, copying, checksums).
    public var nanosecondsPerByte: Double = 1
    /// The most inputs one batch takes before the node flushes.
    public var batchInputsMax: Int = 1_024
    public init() {}
}

/// The simulated clients: closed-loop sessions, one outstanding operation each.
public struct ClientModel: Hashable, Sendable {
    public var clients: Int = 8
    public var workload = WorkloadSpec(keys: 100, distribution: .uniform, readRatio: 0.5, valueSize: 64)
    /// Timeouts, deadline and back-off of each session (shared with the real load generator).
    public var session = ClientSession.Settings()
    /// Clients live on a side of a partition too: a client's home is `ClientID.homeIndex`, and while
    /// a partition holds, the client reaches only the nodes on its home's side. Off by default (a
    /// partition then cuts only peer links); sweeps turn it on so that availability on each side
    /// (`SimulationResult.sideAvailability`) means what CAP says it means.
    public var followPartitions = false
    public init() {}
}

/// Everything that determines a simulated run. The same options give the same run, event for event.
public struct SimulationOptions: Hashable, Sendable, CustomStringConvertible {
    public var seed: UInt64 = 1
    public var nodes: Int = 3
    public var network = NetworkModel()
    public var disk = DiskModel()
    public var cost = CostModel()
    public var clients = ClientModel()
    public var faults = FaultSchedule()
    /// Clients issue operations during [0, duration); measurement covers [warmup, duration).
    public var duration: Duration = .seconds(2)
    public var warmup: Duration = .milliseconds(500)
    /// Run every replica's and the oracle's checks after every step (tests); off for speed in sweeps.
    public var checkEveryStep = true
    /// A guard against a run that never ends.
    public var eventsMax = 200_000_000
    /// After the clients stop, the run goes on at least this long without client traffic, so
    /// background work (anti-entropy, repair) can settle before end-of-run checks. 0: the run
    /// ends once the last outstanding operation does.
    public var quietPeriod: Duration = .zero
    /// The most nodes a `.crash` fault may leave down at once; nil: a minority, (n−1)/2 (what
    /// majority protocols survive). Primary-backup pairs set it to test the crash of one node of two.
    public var crashedNodesMax: Int? = nil

    public init() {}

    /// Every option on one line: printed first by a failing run, so it can be replayed exactly.
    public var description: String {
        "seed=\(seed) nodes=\(nodes) duration=\(duration) warmup=\(warmup) clients=\(clients.clients) "
            + "keys=\(clients.workload.keys) dist=\(clients.workload.distribution) reads=\(clients.workload.readRatio) "
            + "value=\(clients.workload.valueSize) timeout=\(clients.session.requestTimeout) deadline=\(clients.session.operationDeadline) "
            + "net=\(network.baseLatency)+exp(\(network.jitterMean)) disk=\(disk.syncLatency)+\(disk.nanosecondsPerByte)ns/B "
            + "cpu=\(cost.perMessage)+\(cost.nanosecondsPerByte)ns/B faults=[\(faults)]"
            + (quietPeriod > .zero ? " quiet=\(quietPeriod)" : "")
            + (crashedNodesMax.map { " crashed-max=\($0)" } ?? "")
    }
}
