import BenchCore
import Checker
import Protocols
import Runtime
import Simulation

/// What correctness means for a protocol, and so how its runs are checked.
public enum Guarantee: String, Sendable {
    /// Every history must be linearizable (Wing–Gong check per key).
    case linearizable
    /// Reads may be stale; the stale-read rate is measured.
    case eventual
    /// Transactions commit everywhere or nowhere; atomicity violations are counted.
    case atomic
}

/// What the end-of-run analysis of a protocol found: figures by column name, and violations.
public struct ProtocolFindings: Sendable {
    public var metrics: [String: Double] = [:]
    public var violations: [String] = []
    public init(metrics: [String: Double] = [:], violations: [String] = []) {
        self.metrics = metrics
        self.violations = violations
    }
}

/// Everything the suite knows about one protocol: its name, its settings, how to run it in the
/// simulator and as node processes, and how to check what it did.
public struct ProtocolDescriptor: Sendable {
    public internal(set) var name: String
    public internal(set) var summary: String
    public let guarantee: Guarantee
    /// Whether clients must find a leader (readiness waits for one).
    public let hasLeader: Bool
    /// Whether N, W and R apply (they are passed to the protocol as settings `n`, `w`, `r`).
    public let usesQuorumParameters: Bool
    /// The operations its clients issue.
    public internal(set) var workload: WorkloadKind
    /// Every setting with its default value.
    public let defaultSettings: [(key: String, value: String)]
    /// Checks settings; throws a one-line error for an unknown key or a bad value.
    public let validateSettings: @Sendable ([(String, String)]) throws(SettingError) -> Void
    /// Runs one simulated cell (with the protocol's oracle and end-of-run analysis).
    let simulate: @Sendable (SimulationOptions, [(String, String)]) throws(SettingError) -> SimulationResult
    /// Runs a node process until it is stopped.
    let runNode: @Sendable (NodeConfig) throws -> Void
    /// Analyses a real run from every node's `inspection()` bytes (nil for nodes that did not answer).
    let inspectReal: @Sendable ([[UInt8]?]) -> ProtocolFindings
    /// Settings under which reads are deliberately not linearizable (for example follower reads):
    /// with any of them, runs are judged by their measured staleness instead.
    var relaxedReads: [(key: String, value: String)] = []

    /// Settings under which the protocol runs without a leader (basic Paxos): readiness then does
    /// not wait for one.
    var leaderlessWith: [(key: String, value: String)] = []

    /// Whether a run with `settings` has a leader to wait for.
    public func hasLeader(for settings: [(String, String)]) -> Bool {
        hasLeader && !Self.settings(settings, includeAnyOf: leaderlessWith)
    }

    /// What a run with `settings` must guarantee.
    public func guarantee(for settings: [(String, String)]) -> Guarantee {
        Self.settings(settings, includeAnyOf: relaxedReads) && guarantee == .linearizable ? .eventual : guarantee
    }

    static func settings(_ settings: [(String, String)], includeAnyOf pairs: [(key: String, value: String)]) -> Bool {
        settings.contains { key, value in pairs.contains { $0.key == key && $0.value == value.lowercased() } }
    }

    /// The same protocol, judged by staleness when run with any of `settings`.
    func relaxingReads(_ settings: [(key: String, value: String)]) -> ProtocolDescriptor {
        var copy = self
        copy.relaxedReads = settings
        return copy
    }
}

extension ProtocolDescriptor {
    /// A protocol with its own oracle (installed on the simulator before the run) and end-of-run
    /// analysis (of the simulator's replicas and durable states, and of real nodes' inspections).
    /// `observeSimulation` is for analyses that watch the run itself: it installs its observers on
    /// the simulator and returns the analysis to run on the result.
    static func make<R: Replica>(
        _: R.Type, summary: String, guarantee: Guarantee, hasLeader: Bool, usesQuorumParameters: Bool = false,
        workload: WorkloadKind = .keyValue,
        oracle: (@Sendable (Simulator<R>) -> Void)? = nil,
        analyzeSimulation: (@Sendable (Simulator<R>, SimulationResult) -> ProtocolFindings)? = nil,
        observeSimulation: (@Sendable (Simulator<R>) -> (SimulationResult) -> ProtocolFindings)? = nil,
        inspectReal: @escaping @Sendable ([[UInt8]?]) -> ProtocolFindings = { _ in ProtocolFindings() }
    ) -> ProtocolDescriptor {
        ProtocolDescriptor(
            name: R.name, summary: summary, guarantee: guarantee, hasLeader: hasLeader,
            usesQuorumParameters: usesQuorumParameters, workload: workload,
            defaultSettings: R.Settings().parameters,
            validateSettings: { pairs throws(SettingError) in _ = try R.Settings(pairs) },
            simulate: { options, pairs throws(SettingError) in
                let settings = try R.Settings(pairs)
                let simulator = Simulator<R>(options: options, settings: settings)
                oracle?(simulator)
                let finishObserving = observeSimulation?(simulator)
                var result = simulator.run()
                // The replicas' own counters, combined as a real run combines the nodes' reports.
                result.metrics = combinedMetrics(simulator.memberIDs.compactMap { simulator.replica($0)?.metrics })
                if let finishObserving {
                    let findings = finishObserving(result)
                    result.metrics.merge(findings.metrics) { $1 }
                    result.violations += findings.violations
                }
                if let analyzeSimulation {
                    let findings = analyzeSimulation(simulator, result)
                    result.metrics.merge(findings.metrics) { $1 }
                    result.violations += findings.violations
                }
                return result
            },
            runNode: nodeRunner(R.self),
            inspectReal: inspectReal)
    }

    /// The descriptor of a log-replicating protocol whose runs must be linearizable: the log oracle
    /// (one leader per term, identical committed entries) watches every simulated step.
    static func logReplica<R: LogReplica>(_: R.Type, summary: String) -> ProtocolDescriptor {
        make(R.self, summary: summary, guarantee: .linearizable, hasLeader: true,
             oracle: { simulator in LogOracle<R>().install(on: simulator) })
    }
}

/// The protocols this build knows, in the order `bench list` and the default sweep use.
public enum ProtocolCatalog {
    public static let all: [ProtocolDescriptor] = [
        .logReplica(Raft.Instance.self,
                    summary: "Raft: leader election with pre-vote, batched and pipelined log replication, ReadIndex or log reads"),
        .multiPaxos,
        .zab,
        .primaryBackup,
        .twoPhaseCommit,
        .threePhaseCommit,
        .quorum,
        .gossip,
        .leaseLocks,
    ]

    /// Tools that run through the same machinery but are not replication protocols: not in the
    /// default sweep or `bench list`, but a node can run them (`bench micro` uses echo).
    public static let tools: [ProtocolDescriptor] = [
        .make(Echo.Instance.self, summary: "answers every request at once (the runtime's own floor)",
              guarantee: .linearizable, hasLeader: true),
    ]

    public static func named(_ name: String) -> ProtocolDescriptor? {
        (all + tools).first { $0.name == name.lowercased() }
    }

    public static var names: [String] { all.map(\.name) }
}


/// Per-node counters combined into one figure per name: maxima (names containing `_max_` or
/// ending `_max`, and `..._oldest_ms`) take the largest node's value, everything else is summed.
func combinedMetrics(_ perNode: [[String: Double]]) -> [String: Double] {
    var combined: [String: Double] = [:]
    for metrics in perNode {
        for (name, value) in metrics {
            let isMaximum = name.contains("_max_") || name.hasSuffix("_max") || name.hasSuffix("_oldest_ms")
            combined[name] = isMaximum ? max(combined[name] ?? value, value) : (combined[name] ?? 0) + value
        }
    }
    return combined
}
