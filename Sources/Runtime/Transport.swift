import Atomics
import BenchCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RingBuffer

/// The node's network side, on one SwiftNIO event loop: a server for peers, a server for clients,
/// and one outbound connection to every other peer (reconnected when it drops). Inbound frames are
/// decoded here and pushed into the protocol thread's ring.
///
/// Outbound, the event loop is off the common path: the protocol thread writes each connection's
/// batch of frames straight into the socket (`Connection.write(_:handOff:)`, one non-blocking
/// `send` per connection per batch, through a duplicate of the channel's descriptor). Handing the
/// bytes to the event loop instead costs a second thread wake-up on every reply and every peer
/// message, in the latency of every round trip (and, on 2 cores, a thread competing with the
/// replica for the CPU). Only what the kernel does not take at once (a full socket buffer), what
/// must queue behind such a write, and connections whose descriptor was not found go to the event
/// loop, in one `execute` per batch (`Connection.handOff(_:)`).
///
/// Every connection the protocol thread writes to is announced to it as closed exactly once
/// (`NodeInput.connectionClosed`), so that it closes its duplicate descriptor.
final class Transport<Message: WireCodable & Sendable>: @unchecked Sendable {
    let config: NodeConfig
    let group: MultiThreadedEventLoopGroup
    let inbox: MPSCRing<NodeInput<Message>>
    /// Outbound connection per node index (nil while disconnected; never the node itself).
    let outbound: NIOLockedValueBox<[Connection?]>
    let badFrames = ManagedAtomic<UInt64>(0)
    let stopping = ManagedAtomic<Bool>(false)
    var servers: [Channel] = []

    init(config: NodeConfig, inbox: MPSCRing<NodeInput<Message>>) {
        self.config = config
        self.inbox = inbox
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.outbound = NIOLockedValueBox(Array(repeating: nil, count: config.peers.count))
    }

    /// Binds both servers (a port in use is a `NodeError`) and starts dialling peers.
    func start() throws {
        let peerServer = try bind(config.ownPeerEndpoint, what: "peer") { [self] channel in
            InboundHandler(transport: self, client: nil)
        }
        let clientServer = try bind(config.clientEndpoint, what: "client") { [self] channel in
            InboundHandler(transport: self, client: Connection(channel: channel))
        }
        servers = [peerServer, clientServer]
        for member in config.cluster.members where member != config.id { dial(member, delay: .zero) }
    }

    func bind(_ endpoint: Endpoint, what: String,
              handler: @escaping @Sendable (Channel) -> InboundHandler<Message>) throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1_024, initial: 16_384, maximum: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(handler(channel))
                }
            }
        do {
            return try bootstrap.bind(host: endpoint.host, port: endpoint.port).wait()
        } catch {
            throw NodeError("cannot listen for \(what)s on \(endpoint): \(error)")
        }
    }

    /// Connects to `peer`, retrying every 50 ms until it answers; reconnects when the connection drops.
    func dial(_ peer: NodeID, delay: TimeAmount) {
        let loop = group.next()
        loop.scheduleTask(in: delay) { [self] in
            guard !stopping.load(ordering: .relaxed) else { return }
            let endpoint = config.peers[Int(peer.rawValue) - 1]
            ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.milliseconds(500))
                .connect(host: endpoint.host, port: endpoint.port)
                .whenComplete { [self] result in
                    switch result {
                    case let .success(channel):
                        let connection = Connection(channel: channel)
                        connection.attachDirectDescriptor()
                        var hello = WireWriter(capacity: FrameHeader.size)
                        hello.writeFrame(clusterID: config.clusterID, kind: .hello, sender: config.id) { _ in }
                        // Counted like the protocol thread's own hand-overs: it writes nothing
                        // directly until the hello is in the kernel, so the hello stays first.
                        connection.countWriteOnLoop()
                        connection.writeOnLoop(channel.allocator.buffer(bytes: hello.bytes))
                        outbound.withLockedValue { $0[Int(peer.rawValue) - 1] = connection }
                        channel.closeFuture.whenComplete { [self] _ in
                            connection.markClosed()
                            outbound.withLockedValue { if $0[Int(peer.rawValue) - 1] === connection { $0[Int(peer.rawValue) - 1] = nil } }
                            // The protocol thread may hold the duplicate descriptor, which keeps
                            // the socket open: tell it (and wake it) so that it closes it now.
                            inbox.pushWaiting(.connectionClosed(connection))
                            dial(peer, delay: .milliseconds(50))
                        }
                    case .failure:
                        dial(peer, delay: .milliseconds(50))
                    }
                }
        }
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        for server in servers { try? server.close().wait() }
        let channels = outbound.withLockedValue { $0.compactMap { $0?.channel } }
        for channel in channels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
    }
}

/// Moves a non-Sendable value to the event loop; the caller gives up its copy.
struct UnsafeTransfer<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Decodes frames on one inbound connection and hands them to the protocol thread. A frame from
/// another cluster, of the wrong kind, or whose body does not decode closes the connection and is
/// counted; the node carries on.
final class InboundHandler<Message: WireCodable & Sendable>: ChannelInboundHandler {
    typealias InboundIn = Frame

    let transport: Transport<Message>
    /// On a client connection, the connection that requests are answered on; nil on a peer's
    /// inbound connection (the protocol thread writes to peers on its own outbound connections).
    let client: Connection?

    init(transport: Transport<Message>, client: Connection?) {
        self.transport = transport
        self.client = client
    }

    func channelActive(context: ChannelHandlerContext) {
        // Before the first read, so before the connection reaches the protocol thread.
        client?.attachDirectDescriptor()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        do {
            guard frame.header.clusterID == transport.config.clusterID else {
                throw NodeError("frame from cluster \(frame.header.clusterID)")
            }
            switch (client, frame.header.kind) {
            case (nil, .hello):
                guard transport.config.cluster.members.contains(frame.header.sender), frame.header.sender != transport.config.id else {
                    throw NodeError("hello from unknown node \(frame.header.sender)")
                }
            case (nil, .peer):
                let message = try frame.body.decodeWhole(Message.self)
                transport.inbox.pushWaiting(.peer(from: frame.header.sender, message))
            case let (client?, .request):
                let request = try frame.body.decodeWhole(ClientRequest.self)
                transport.inbox.pushWaiting(.request(request, client))
            case let (client?, .control):
                let request = try frame.body.decodeWhole(ControlRequest.self)
                transport.inbox.pushWaiting(.control(request, client))
            default:
                throw NodeError("unexpected \(frame.header.kind) frame")
            }
        } catch {
            transport.badFrames.wrappingIncrement(ordering: .relaxed)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A header that does not parse lands here: count it and drop the connection.
        if error is WireError || error is ByteToMessageDecoderError { transport.badFrames.wrappingIncrement(ordering: .relaxed) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let client {
            client.markClosed()
            // Forget the client's sessions, and close the duplicate descriptor (which keeps the
            // socket open, so the client would not see the close until then).
            transport.inbox.pushWaiting(.connectionClosed(client))
        }
        context.fireChannelInactive()
    }
}
