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

/// Everything the suite knows about one protocol: its name, its settings, and how to run it in
/// the simulator (and, from Step 2 on, as node processes).
public struct ProtocolDescriptor: Sendable {
    public let name: String
    public let summary: String
    public let guarantee: Guarantee
    /// Whether clients must find a leader (readiness waits for one).
    public let hasLeader: Bool
    /// Whether N, W and R apply.
    public let usesQuorumParameters: Bool
    /// Every setting with its default value.
    public let defaultSettings: [(key: String, value: String)]
    /// Checks settings; throws a one-line error for an unknown key or a bad value.
    public let validateSettings: @Sendable ([(String, String)]) throws(SettingError) -> Void
    /// Runs one simulated cell.
    let simulate: @Sendable (SimulationOptions, [(String, String)]) throws(SettingError) -> SimulationResult
    /// Runs a node process until it is stopped.
    let runNode: @Sendable (NodeConfig) throws -> Void
}

extension ProtocolDescriptor {
    /// The descriptor of a log-replicating protocol whose runs must be linearizable.
    static func logReplica<R: LogReplica>(_: R.Type, summary: String) -> ProtocolDescriptor {
        ProtocolDescriptor(
            name: R.name, summary: summary, guarantee: .linearizable, hasLeader: true, usesQuorumParameters: false,
            defaultSettings: R.Settings().parameters,
            validateSettings: { pairs throws(SettingError) in _ = try R.Settings(pairs) },
            simulate: { options, pairs throws(SettingError) in
                let settings = try R.Settings(pairs)
                let simulator = Simulator<R>(options: options, settings: settings)
                LogOracle<R>().install(on: simulator)
                return simulator.run()
            },
            runNode: nodeRunner(R.self))
    }
}

/// The protocols this build knows, in the order `bench list` and the default sweep use.
public enum ProtocolCatalog {
    public static let all: [ProtocolDescriptor] = [
        .logReplica(Raft.Instance.self,
                    summary: "Raft: leader election with pre-vote, batched and pipelined log replication, ReadIndex or log reads"),
    ]

    public static func named(_ name: String) -> ProtocolDescriptor? {
        all.first { $0.name == name.lowercased() }
    }

    public static var names: [String] { all.map(\.name) }
}
