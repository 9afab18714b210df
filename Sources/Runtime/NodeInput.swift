import BenchCore
import LogStore

/// Everything that reaches the protocol thread, through its one inbound ring.
enum NodeInput<Message: Sendable>: @unchecked Sendable {
    /// A decoded peer message (from the transport).
    case peer(from: NodeID, Message)
    /// A client request and the connection to answer on.
    case request(ClientRequest, Connection)
    /// A control command and the connection to answer on.
    case control(ControlRequest, Connection)
    /// The log made writes durable: the report waits in the node's `DurableMailbox` (this only
    /// wakes the protocol thread).
    case durableReady
    /// A connection the protocol thread may write to closed (a client's, or an outbound one to a
    /// peer): close its duplicate descriptor and forget the client sessions it carried. Pushed
    /// exactly once for every `Connection` the transport makes.
    case connectionClosed(Connection)
}
