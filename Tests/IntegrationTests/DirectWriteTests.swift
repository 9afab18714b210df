import Dispatch
import Glibc
import NIOCore
import NIOPosix
@testable import Runtime
import XCTest

/// The protocol thread's direct writes (`Runtime.Connection`), in one process over loopback: the
/// channel's socket is found, and a stream keeps its order when the kernel takes only part of a
/// batch, the rest queues on the event loop, and direct writes resume once it has drained.
final class DirectWriteTests: XCTestCase {
    /// Records are 8-byte little-endian sequence numbers; a batch is 1,024 of them.
    static let recordsPerBatch = 1_024

    func testBatchesKeepTheirOrderAcrossDirectAndEventLoopWrites() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let accepted = group.next().makePromise(of: Connection.self)
        // Small buffers on both sides, so that the kernel soon takes only part of a batch.
        let server = try ServerBootstrap(group: group)
            .childChannelOption(.socketOption(.so_sndbuf), value: 4_096)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AnnounceConnection(accepted))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        defer { try? server.close().wait() }
        let client = try connectedSocket(port: try XCTUnwrap(server.localAddress?.port), receiveBufferBytes: 4_096)
        defer { close(client) }
        let connection = try accepted.futureResult.wait()

        // Found, and it is this connection's socket: its peer is the client's end.
        XCTAssertGreaterThanOrEqual(connection.directDescriptor, 0, "the accepted channel's socket is found")
        XCTAssertEqual(try localPort(of: client), try peerPort(of: connection.directDescriptor))

        var nextRecord: UInt64 = 0
        func batch() -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Self.recordsPerBatch * 8)
            for _ in 0..<Self.recordsPerBatch {
                withUnsafeBytes(of: nextRecord.littleEndian) { bytes.append(contentsOf: $0) }
                nextRecord += 1
            }
            return bytes
        }

        // 1. The client does not read, and the event loop is held: batches go in directly until
        // the kernel takes only part of one; the rest goes to the event loop and stays queued
        // there. Meanwhile nothing goes direct: later batches queue behind it.
        let loopHeld = DispatchSemaphore(value: 0)
        connection.channel.eventLoop.execute { _ = loopHeld.wait(timeout: .now() + 30) }
        var handedOver = false
        var directBeforeHandOver = 0
        for _ in 0..<10_000 where !handedOver {
            var handOff: [(Connection, ByteBuffer)] = []
            directBeforeHandOver += connection.write(batch(), handOff: &handOff)
            handedOver = !handOff.isEmpty
            Connection.handOff(handOff)
        }
        XCTAssertGreaterThan(directBeforeHandOver, 0, "writes go straight into the socket")
        XCTAssertTrue(handedOver, "a full socket buffer hands the rest to the event loop")
        for queued in 1...3 {
            XCTAssertEqual(connection.writesOnLoop.load(ordering: .acquiring), queued)
            var handOff: [(Connection, ByteBuffer)] = []
            XCTAssertEqual(connection.write(batch(), handOff: &handOff), 0, "never direct while a write waits on the event loop")
            XCTAssertEqual(handOff.count, 1)
            Connection.handOff(handOff)
        }
        loopHeld.signal()

        // 2. The client reads everything, checking the order, until the connection closes.
        let reader = StreamReader(descriptor: client)
        let readerDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            reader.readToEnd()
            readerDone.signal()
        }

        // 3. Once the event loop has written all it was given, writes go direct again.
        var directAfterDrain = 0
        for _ in 0..<50 {
            guard waitUntil({ connection.writesOnLoop.load(ordering: .acquiring) == 0 }) else {
                XCTFail("the event loop does not drain (\(reader.failure ?? "the client reads on"))")
                break
            }
            var handOff: [(Connection, ByteBuffer)] = []
            directAfterDrain += connection.write(batch(), handOff: &handOff)
            Connection.handOff(handOff)
        }
        XCTAssertGreaterThan(directAfterDrain, 0, "direct writes resume after the event loop drained")

        // 4. Close: NIO's descriptor, then the duplicate, which is what lets the client see the end.
        XCTAssertTrue(waitUntil { connection.writesOnLoop.load(ordering: .acquiring) == 0 }, "the event loop drains")
        try connection.channel.close().wait()
        connection.closeDirectDescriptor()
        XCTAssertEqual(connection.directDescriptor, -1)
        connection.closeDirectDescriptor()  // a second close does nothing
        XCTAssertEqual(readerDone.wait(timeout: .now() + 30), .success, "the client sees the close")
        XCTAssertNil(reader.failure)
        XCTAssertEqual(reader.records, nextRecord, "every record arrives, in order")
    }

    func testAConnectedChannelsSocketIsFoundToo() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let listener = try listeningSocket()
        defer { close(listener) }
        let channel = try ClientBootstrap(group: group).connect(host: "127.0.0.1", port: try localPort(of: listener)).wait()
        defer { try? channel.close().wait() }
        let peer = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(peer, 0)
        defer { close(peer) }
        let connection = Connection(channel: channel)
        try channel.eventLoop.submit { connection.attachDirectDescriptor() }.wait()
        XCTAssertGreaterThanOrEqual(connection.directDescriptor, 0)
        XCTAssertEqual(try localPort(of: peer), try peerPort(of: connection.directDescriptor))
        XCTAssertEqual(fcntl(connection.directDescriptor, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "close-on-exec")
        connection.closeDirectDescriptor()
    }

    // MARK: Helpers

    /// Polls `condition` every millisecond, for at most 20 seconds.
    func waitUntil(_ condition: () -> Bool) -> Bool {
        for _ in 0..<20_000 {
            if condition() { return true }
            usleep(1_000)
        }
        return condition()
    }

    func connectedSocket(port: Int, receiveBufferBytes: Int32) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw NodeError("socket: errno \(errno)") }
        var size = receiveBufferBytes
        setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw NodeError("connect: errno \(errno)")
        }
        return descriptor
    }

    func listeningSocket() throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw NodeError("socket: errno \(errno)") }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 4) == 0 else {
            close(descriptor)
            throw NodeError("bind/listen: errno \(errno)")
        }
        return descriptor
    }

    func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    func localPort(of descriptor: Int32) throws -> Int {
        try port(of: descriptor) { getsockname($0, $1, $2) }
    }

    func peerPort(of descriptor: Int32) throws -> Int {
        try port(of: descriptor) { getpeername($0, $1, $2) }
    }

    func port(of descriptor: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) throws -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(descriptor, $0, &length) }
        }
        guard result == 0 else { throw NodeError("getsockname/getpeername: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Makes the accepted channel's `Connection` on channelActive, as the transport does.
final class AnnounceConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<Connection>

    init(_ promise: EventLoopPromise<Connection>) { self.promise = promise }

    func channelActive(context: ChannelHandlerContext) {
        let connection = Connection(channel: context.channel)
        connection.attachDirectDescriptor()
        promise.succeed(connection)
        context.fireChannelActive()
    }
}

/// Reads 8-byte sequence numbers from a blocking socket until end of stream, checking that they
/// count up from 0 with no gap; after a failure it reads on without checking, so that the writer
/// is not left blocked. `@unchecked Sendable`: written only by the reading thread, read by the
/// test after the reader signalled that it finished (a racy early look at `failure` only words a
/// failure message).
final class StreamReader: @unchecked Sendable {
    let descriptor: Int32
    private(set) var records: UInt64 = 0
    private(set) var failure: String?

    init(descriptor: Int32) { self.descriptor = descriptor }

    func readToEnd() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var partial: [UInt8] = []
        // Bounded: each read waits at most SO_RCVTIMEO (20 s) and the writer sends a bounded stream.
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            guard count > 0 else {
                failure = failure ?? "read failed: errno \(errno)"
                break
            }
            if failure != nil { continue }
            partial.append(contentsOf: chunk[0..<count])
            let whole = partial.count / 8 * 8
            partial.withUnsafeBytes { raw in
                for offset in stride(from: 0, to: whole, by: 8) where failure == nil {
                    let value = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                    if value != records { failure = "record \(records) arrived as \(value)" }
                    records += 1
                }
            }
            partial.removeFirst(whole)
        }
        if failure == nil && !partial.isEmpty { failure = "\(partial.count) bytes of a torn record at the end" }
    }
}
