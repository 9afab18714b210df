import ArgumentParser
import BenchCore
import Experiment
import Foundation
import LogStore
import Runtime

/// `bench node`: one replica as a process (the orchestrator starts these; so can a person).
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one replica as a process: peers over TCP, a durable log in --data.",
        discussion: """
        Example (three terminals, ids 1, 2, 3):
          bench node --id 1 --peers 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103 --client-port 7201 --data ./data/n1 --protocol raft
        Node i listens for peers on the i-th --peers address and for clients on --client-port.
        SIGTERM or Ctrl-C stops it gracefully; after kill -9 it recovers from --data on restart.
        """)

    @Option(help: "This node's id (1-based position in --peers).")
    var id: UInt32

    @Option(help: "Comma-separated host:port of every node's peer listener, in id order.")
    var peers: String

    @Option(name: .customLong("client-port"), help: "Port for clients and control commands.")
    var clientPort: Int

    @Option(name: .customLong("client-host"), help: "Address the client port binds to.")
    var clientHost: String = "127.0.0.1"

    @Option(help: "Directory for this node's write-ahead log.")
    var data: String

    @Option(name: [.customLong("protocol")], help: "Protocol (see: bench list).")
    var protocolName: String = "raft"

    @Option(name: .customLong("set"), help: "A protocol setting key=value (repeatable).")
    var settings: [String] = []

    @Option(name: .customLong("cluster-id"), help: "Cluster id carried by every frame.")
    var clusterID: UInt32 = 1

    @Option(help: "Disk sync: fdatasync (durable) or none (measures what durability costs).")
    var sync: String = "fdatasync"

    @Option(help: "Allocator: jemalloc (preloaded when installed) or system.")
    var allocator: String = "jemalloc"

    func run() throws {
        guard let choice = AllocatorChoice(rawValue: allocator) else {
            throw ValidationError("--allocator '\(allocator)': expected jemalloc or system")
        }
        Allocators.reexecIfNeeded(choice)
        if let note = Allocators.fallbackNote(for: choice) { FileHandle.standardError.write(Data((note + "\n").utf8)) }
        let endpoints = try peers.split(separator: ",").map { item -> Endpoint in
            guard let endpoint = Endpoint(parsing: String(item)) else { throw ValidationError("--peers: '\(item)' is not host:port") }
            return endpoint
        }
        guard !endpoints.isEmpty else { throw ValidationError("--peers needs at least one address") }
        guard (1...65_535).contains(clientPort) else { throw ValidationError("--client-port \(clientPort) is not a port") }
        var config = NodeConfig(id: NodeID(id), peers: endpoints, clientEndpoint: Endpoint(host: clientHost, port: clientPort),
                                dataDirectory: data, protocolName: protocolName.lowercased())
        config.clusterID = clusterID
        config.allocator = choice.rawValue
        config.settings = try settings.map { item in
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--set '\(item)': expected key=value") }
            return (parts[0], parts[1])
        }
        guard let mode = LogOptions.SyncMode(rawValue: sync) else { throw ValidationError("--sync '\(sync)': expected fdatasync or none") }
        config.log.syncMode = mode
        do {
            try NodeLauncher.run(config)
        } catch let error as NodeError {
            throw ValidationError(error.message)
        }
    }
}
