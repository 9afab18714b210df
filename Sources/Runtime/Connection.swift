import Atomics
import Glibc
import NIOCore

/// A connection the protocol thread writes to (an outbound peer connection or a client
/// connection): its NIO channel, plus a duplicate of the channel's socket descriptor so that the
/// protocol thread can put a batch straight into the kernel without waking the event loop.
///
/// Byte order. Bytes reach the socket in the order the protocol thread produced them. Every write
/// handed to the event loop is counted in `writesOnLoop` before it is handed over and uncounted
/// when NIO completes its promise, which NIO does once all of its bytes are in the kernel or the
/// write failed. The protocol thread writes directly only when it sees the count at zero, so a
/// direct write never overtakes bytes still queued in NIO; while the count is above zero it hands
/// its batch to the event loop, behind the others. Nothing else writes to the socket: the transport
/// counts the one write of its own (the hello on a peer connection) in the same way.
///
/// No gap in the stream. When NIO drops queued bytes (a write failed, or the channel closed with
/// writes pending), `closed` is set before the count drops, so the protocol thread, which reads
/// the count first, cannot follow the dropped bytes with a direct write. A direct write that
/// races a close with nothing queued only adds whole batches after everything sent before it.
///
/// Descriptor lifetime. `directDescriptor` is a close-on-exec `dup` made on the event loop while
/// NIO's descriptor is known to be open (`attachDirectDescriptor`); NIO's own number is never kept,
/// since NIO may close it at any time and the number be reused. The protocol thread owns the
/// duplicate and closes it exactly once (`closeDirectDescriptor`, idempotent) when it learns the
/// connection closed (`NodeInput.connectionClosed`, pushed by the event loop for every connection
/// it made), or, for closes still in the ring when the node stops, the thread that joined it does
/// (`NodeRuntime.closeDescriptorsAfterStop`). The duplicate keeps the socket open after NIO closes its own
/// descriptor (no FIN goes out until both are closed), which is why the close is pushed into the
/// protocol thread's ring: the ring wakes it at once, so the peer sees the close promptly.
/// If no descriptor is found, `directDescriptor` stays -1 and every write goes through the event
/// loop, as before: correct, one hop slower.
///
/// `@unchecked Sendable`: `channel` never changes and is `Sendable`; `writesOnLoop` and `closed`
/// are atomics; `directDescriptor` is set on the event loop before the connection is published
/// to the protocol thread (through the inbound ring's releasing publish, or the transport's
/// `outbound` lock), and from then on is read and written by the protocol thread alone (by the
/// thread that joined it, once it has stopped).
final class Connection: @unchecked Sendable {
    let channel: Channel
    /// Writes handed to the event loop whose promises NIO has not completed yet.
    let writesOnLoop = ManagedAtomic<Int>(0)
    /// Set on the event loop once NIO dropped bytes of ours or closed the channel; never cleared.
    let closed = ManagedAtomic<Bool>(false)
    /// The protocol thread's duplicate of the socket descriptor, or -1.
    private(set) var directDescriptor: Int32 = -1

    init(channel: Channel) {
        self.channel = channel
    }

    /// Event loop, while the channel is active and before the connection is published: finds the
    /// channel's socket and keeps a duplicate of it for direct writes (-1 if none is found).
    func attachDirectDescriptor() {
        channel.eventLoop.preconditionInEventLoop()
        precondition(directDescriptor == -1, "a connection's descriptor is attached once")
        directDescriptor = ChannelDescriptor.duplicate(of: channel)
    }

    /// Whether the event loop reported the connection closed (or dropped bytes of ours).
    var isClosed: Bool {
        // Pairs with the releasing store in `markClosed`.
        closed.load(ordering: .acquiring)
    }

    /// Event loop: the channel closed or a write failed; the protocol thread stops writing to it.
    func markClosed() {
        // Pairs with the acquiring loads in `isClosed` and `writeDirect`.
        closed.store(true, ordering: .releasing)
    }

    /// Before a write is handed to the event loop (on the protocol thread, or on the event loop for
    /// the transport's own hello): the protocol thread must not write directly until it completes.
    func countWriteOnLoop() {
        // Relaxed: the read that matters is the protocol thread's own (program order covers it when
        // it counts; the hello is counted before the connection is published under the lock), and a
        // read-modify-write loses no decrement. The hand-over itself (`EventLoop.execute`) orders
        // this before the event loop's decrement.
        writesOnLoop.wrappingIncrement(ordering: .relaxed)
    }

    /// Event loop: NIO completed the promise of a counted write (its bytes are in the kernel, or
    /// it failed and the bytes were dropped).
    func writeOnLoopCompleted(_ result: Result<Void, Error>) {
        // A failure drops bytes: set `closed` before the count can reach zero (see "No gap").
        if case .failure = result { markClosed() }
        // Releasing: pairs with the acquiring load in `writeDirect`. Whoever sees the count drop
        // also sees this write's bytes in the kernel and `closed` if it failed.
        let remaining = writesOnLoop.loadThenWrappingDecrement(ordering: .releasing) - 1
        assert(remaining >= 0, "a write on the loop completed twice")
    }

    /// Event loop: writes and flushes `buffer`, already counted by `countWriteOnLoop`; NIO's
    /// completion of the write uncounts it.
    func writeOnLoop(_ buffer: ByteBuffer) {
        channel.eventLoop.assertInEventLoop()
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { [self] result in writeOnLoopCompleted(result) }
        channel.writeAndFlush(buffer, promise: promise)
    }

    /// Protocol thread: writes as much of `bytes` into the socket as the kernel takes now, without
    /// blocking, provided no write of this connection waits on the event loop and the connection is
    /// open. Returns how many bytes went in (0 if it must not or could not write directly); the
    /// caller hands the rest to the event loop.
    func writeDirect(_ bytes: UnsafeRawBufferPointer) -> Int {
        precondition(!bytes.isEmpty, "an empty write is never made")
        guard directDescriptor >= 0 else { return 0 }
        // Acquiring: pairs with the releasing decrement in `writeOnLoopCompleted`. At zero, every
        // byte handed over earlier is in the kernel, so these go after them.
        guard writesOnLoop.load(ordering: .acquiring) == 0 else { return 0 }
        // Read after the count (see "No gap"); pairs with the releasing store in `markClosed`.
        guard !closed.load(ordering: .acquiring) else { return 0 }
        // MSG_DONTWAIT: never block the protocol thread, whatever the descriptor's flags.
        // MSG_NOSIGNAL: a reset peer is an error return, not SIGPIPE.
        let flags = Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)
        for _ in 0..<4 {
            let sent = send(directDescriptor, bytes.baseAddress, bytes.count, flags)
            if sent >= 0 { return sent }
            if errno != EINTR { break }
        }
        // EAGAIN: the socket buffer is full; the event loop waits until it drains. Any other error
        // (a reset peer): the event loop's write meets it too and closes the channel, as before.
        return 0
    }

    /// Protocol thread: writes this connection's batch of frames, straight into the socket when
    /// `writeDirect` may, and appends to `handOff` whatever the kernel did not take (all of it
    /// when the connection must queue behind the event loop), counted. Bytes for a connection
    /// known to be closed are dropped, as NIO would drop them. Returns how many bytes went
    /// straight into the socket.
    @discardableResult
    func write(_ bytes: [UInt8], handOff: inout [(Connection, ByteBuffer)]) -> Int {
        guard !isClosed else { return 0 }
        let written = bytes.withUnsafeBytes { writeDirect($0) }
        guard written < bytes.count else { return written }
        // Counted before the hand-over, so that the next batch queues behind it.
        countWriteOnLoop()
        handOff.append((self, channel.allocator.buffer(bytes: bytes[written...])))
        return written
    }

    /// Protocol thread: hands a batch's remaining writes (from `write(_:handOff:)`) to the event
    /// loop in one hop, to be written and flushed there in order. All the connections must be on
    /// one event loop (the transport's group has one).
    static func handOff(_ writes: [(Connection, ByteBuffer)]) {
        guard let first = writes.first else { return }
        let loop = first.0.channel.eventLoop
        assert(writes.allSatisfy { $0.0.channel.eventLoop === loop }, "one event loop for every connection")
        let box = UnsafeTransfer(writes)
        loop.execute {
            for (connection, buffer) in box.value { connection.writeOnLoop(buffer) }
        }
    }

    /// Protocol thread: closes the duplicate descriptor (once; later calls do nothing). Later
    /// writes go to the event loop, which fails them on a closed channel.
    func closeDirectDescriptor() {
        guard directDescriptor >= 0 else { return }
        let descriptor = directDescriptor
        directDescriptor = -1
        // EINTR from close still closes the descriptor on Linux: never retry.
        _ = close(descriptor)
    }
}
