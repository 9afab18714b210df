import BenchCore
import LogStore

/// A host and port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { "\(host):\(port)" }
}

/// Everything a node process needs to run: who it is, whom it talks to, where its log lives.
public struct NodeConfig: Sendable {
    public var id: NodeID
    /// Peer endpoints by node id: node i listens for peers on `peers[i - 1]`.
    public var peers: [Endpoint]
    public var clientEndpoint: Endpoint
    public var dataDirectory: String
    public var clusterID: UInt32 = 1
    public var protocolName: String
    public var settings: [(String, String)] = []
    public var log = LogOptions()
    /// Inputs the protocol thread takes per batch at most.
    public var batchInputsMax = 4_096
    /// Capacity of the inbound ring (a power of two).
    public var inboxCapacity = 1 << 16
    public var allocator = "system"

    public init(id: NodeID, peers: [Endpoint], clientEndpoint: Endpoint, dataDirectory: String, protocolName: String) {
        self.id = id
        self.peers = peers
        self.clientEndpoint = clientEndpoint
        self.dataDirectory = dataDirectory
        self.protocolName = protocolName
    }

    public var cluster: ClusterConfig { ClusterConfig(clusterID: clusterID, size: peers.count) }
    public var ownPeerEndpoint: Endpoint { peers[Int(id.rawValue) - 1] }
}

/// Why a node could not start (bad configuration, a port in use, an unreadable data directory).
public struct NodeError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
