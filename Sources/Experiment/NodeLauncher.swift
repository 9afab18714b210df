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
            TestHooks.exitLaterIfAsked(dataDirectory: config.dataDirectory)
            let line = "node \(config.id.rawValue) \(R.name) peers=\(config.ownPeerEndpoint) clients=\(config.clientEndpoint) "
                + "data=\(config.dataDirectory) allocator=\(runtime.allocator) recovered: \(runtime.recoveryDescription)\n"
            FileHandle.standardError.write(Data(line.utf8))
            runtime.run()
        }
    }
}

/// A hook for the orchestrator's tests only: a node whose data directory contains
/// `CONSENSUSBENCH_TEST_EXIT_DATA_MATCH` exits with status 3 after
/// `CONSENSUSBENCH_TEST_EXIT_AFTER_MS`, so a test can show that a node dying mid-cell marks the
/// cell failed and the sweep goes on. Inert unless both variables are set.
enum TestHooks {
    static func exitLaterIfAsked(dataDirectory: String) {
        let environment = ProcessInfo.processInfo.environment
        guard let match = environment["CONSENSUSBENCH_TEST_EXIT_DATA_MATCH"], dataDirectory.contains(match),
              let delay = environment["CONSENSUSBENCH_TEST_EXIT_AFTER_MS"].flatMap({ UInt32($0) }) else { return }
        Thread.detachNewThread {
            usleep(delay * 1_000)
            FileHandle.standardError.write(Data("test hook: exiting on purpose\n".utf8))
            exit(3)
        }
    }
}
