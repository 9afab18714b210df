import BenchCore

/// A replica that answers every request at once, without peers or disk: the node runtime's own
/// floor (transport in, ring, protocol thread, transport out). `bench micro` measures its round
/// trip beside a plain socket ping-pong; it is not a replication protocol and stays out of the
/// default sweep.
public enum Echo {
    public struct Settings: ReplicaSettings {
        public init() {}
        public mutating func set(_ key: String, to value: String) throws(SettingError) {
            throw .unknown(key, protocol: "echo")
        }
        public var parameters: [(key: String, value: String)] { [] }
    }

    /// Echo sends no peer messages; its message type is empty.
    public enum Message: Hashable, Sendable, WireCodable {
        public func encode(to writer: inout WireWriter) {}
        public init(from reader: inout WireReader) throws {
            throw WireError.invalidValue("echo replicas exchange no messages")
        }
    }

    public struct Instance: Replica {
        public typealias Message = Echo.Message
        public typealias Settings = Echo.Settings
        public static let name = "echo"

        let id: NodeID
        var answered: LogIndex = .zero

        public init(id: NodeID, cluster: ClusterConfig, settings: Settings, recovered: RecoveredState,
                    random: inout some RandomNumberGenerator) {
            self.id = id
        }

        public var status: ReplicaStatus { ReplicaStatus(role: .leader, term: .zero, leader: id, commitIndex: answered) }

        public mutating func handle(_ input: Input<Message>, now: Instant, into out: inout Effects<Message>) {
            guard case let .request(request) = input else { return }
            answered = answered.next
            out.reply(ClientReply(to: request, .ok(nil)))
        }
    }
}
