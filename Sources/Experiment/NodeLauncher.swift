import BenchCore
import Foundation
import Runtime

/// Starts a node process's runtime for the protocol named in the config (`bench node`).
public enum NodeLauncher {
    /// Runs the node until SIGTERM/SIGINT or a stop command. Throws `NodeError` for bad input.
    public static func run(_ config: NodeConfig) throws {
        guard let descriptor = ProtocolCatalog.named(config.protocolName) else {
            throw NodeError("unknown protocol '\(config.protocolName)' (known: \(ProtocolCatalog.names.joined(separator: ", ")))")
        }
        try descriptor.runNode(config)
    }
}

extension ProtocolDescriptor {
    static func nodeRunner<R: Replica>(_: R.Type) -> @Sendable (NodeConfig) throws -> Void {
        { config in
            let settings: R.Settings
            do { settings = try R.Settings(config.settings) } catch { throw NodeError("\(R.name): \(error)") }
            NodeSignals.install()
            let runtime = try NodeRuntime<R>(config: config, settings: settings)
            let line = "node \(config.id.rawValue) \(R.name) peers=\(config.ownPeerEndpoint) clients=\(config.clientEndpoint) "
                + "data=\(config.dataDirectory) allocator=\(runtime.allocator) recovered: \(runtime.recoveryDescription)\n"
            FileHandle.standardError.write(Data(line.utf8))
            runtime.run()
        }
    }
}
