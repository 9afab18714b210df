import BenchCore
import LogStore
import NIOCore

/// Everything that reaches the protocol thread, through its one inbound ring.
enum NodeInput<Message: Sendable>: @unchecked Sendable {
    /// A decoded peer message (from the transport).
    case peer(from: NodeID, Message)
    /// A client request and the connection to answer on.
    case request(ClientRequest, Channel)
    /// A control command and the connection to answer on.
    case control(ControlRequest, Channel)
    /// The log appender made writes durable.
    case durable(WriteAheadLog.DurabilityReport)
    /// A client connection closed: forget the sessions it carried.
    case clientClosed(ObjectIdentifier)
}
