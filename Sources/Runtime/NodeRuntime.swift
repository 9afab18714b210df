import Atomics
import BenchCore
import LogStore
import NIOCore
import RingBuffer
import Glibc

/// Set from a SIGTERM/SIGINT handler (an atomic store is async-signal-safe; waking a parked
/// thread is not, so the protocol thread polls this at least every 50 ms).
public enum NodeSignals {
    public static let stopRequested = ManagedAtomic<Bool>(false)

    /// Installs handlers so SIGTERM and SIGINT stop the node gracefully.
    public static func install() {
        signal(SIGTERM) { _ in NodeSignals.stopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in NodeSignals.stopRequested.store(true, ordering: .relaxed) }
        signal(SIGPIPE, SIG_IGN)
    }
}

/// One node process: a replica driven by a protocol thread, fed by the transport through an MPSC
/// ring, persisting through the write-ahead log's appender and syncer threads.
///
///     NIO event loop ──frames──▶ MPSC ring ──▶ protocol thread (batch → handle → .flush → effects)
///                                                 │ writes ──▶ WAL appender (writev) ─▶ sync stage (fdatasync)
///                                                 │◀── durability reports (a mailbox, and a
///                                                 │    wake-up marker in the same ring)
///                                                 └── frames ──▶ one send() per connection per batch,
///                                                      straight into the socket; only what the kernel
///                                                      does not take (and what must queue behind it)
///                                                      goes to the NIO event loop to write
///
/// A reply thus crosses one thread hop (event loop → protocol thread), not two: the event loop is
/// woken to read, not again to write back. `Transport` says why, and `Connection` how byte order
/// and the duplicate descriptor's lifetime are kept.
public final class NodeRuntime<R: Replica>: @unchecked Sendable {
    let config: NodeConfig
    let inbox: MPSCRing<NodeInput<R.Message>>
    let transport: Transport<R.Message>
    let wal: WriteAheadLog
    let durable = DurableMailbox()
    let stopRequested = ManagedAtomic<Bool>(false)
    let startedAt = MonotonicClock.nowNanos()

    // Protocol-thread state (touched by no other thread once `run` starts).
    var replica: R
    var effects = Effects<R.Message>()
    var timers: [(id: TimerID, deadline: Instant)] = []
    var deferred: [(seq: UInt64, envelope: Envelope<R.Message>)] = []
    var deferredHead = 0
    var issuedSeq: UInt64 = 0
    var durableSeq: UInt64 = 0
    var clients: [ClientID: Connection] = [:]
    var peerFrames: [WireWriter]
    /// Frames for each client connection this batch, keyed by `ObjectIdentifier` of the connection.
    var clientFrames: [ObjectIdentifier: (connection: Connection, frames: WireWriter)] = [:]
    var report: NodeReport
    // Fault shim (Step 6): a partition as this node sees it, message faults, clock skew.
    var isolated: Set<NodeID> = []
    var faults = MessageFaults.none
    var faultRandom = SeededGenerator(seed: 1)
    var delayed: [(release: Instant, from: NodeID, message: R.Message)] = []
    var clockOffset: Duration = .zero

    /// Opens the log (recovering it), builds the replica, binds the servers and starts dialling
    /// peers. Throws a `NodeError` for bad input: a protocol setting, a port in use, an unusable
    /// data directory.
    public init(config: NodeConfig, settings: R.Settings) throws {
        guard Int(config.id.rawValue) >= 1, Int(config.id.rawValue) <= config.peers.count else {
            throw NodeError("--id \(config.id.rawValue) is not in 1...\(config.peers.count) (one per --peers entry)")
        }
        self.config = config
        var capacity = 2
        while capacity < config.inboxCapacity { capacity <<= 1 }
        self.inbox = MPSCRing(capacity: capacity)
        let opened: (log: WriteAheadLog, recovered: DurableState)
        do {
            opened = try WriteAheadLog.open(directory: config.dataDirectory, options: config.log)
        } catch {
            throw NodeError("cannot open the log in \(config.dataDirectory): \(error)")
        }
        self.wal = opened.log
        var random = SeededGenerator(seed: UInt64(config.id.rawValue) &* 0x9E37_79B9 ^ startedAt)
        self.replica = R(id: config.id, cluster: config.cluster, settings: settings, recovered: opened.recovered, random: &random)
        self.peerFrames = Array(repeating: WireWriter(capacity: 1 << 16), count: config.peers.count)
        self.report = NodeReport(id: config.id, status: replica.status)
        self.transport = Transport(config: config, inbox: inbox)
        self.issuedSeq = wal.recoveryReport.lastSequence
        self.durableSeq = issuedSeq
        do {
            try transport.start()
        } catch {
            wal.stop()
            transport.stop()
            closeDescriptorsAfterStop()
            throw error
        }
    }

    /// The allocator this process runs on (jemalloc when preloaded, else the system's).
    public var allocator: String { ResourceUsage.allocatorInUse() }

    /// What recovery found (for the node's start-up line).
    public var recoveryDescription: String { wal.recoveryReport.description }

    /// Asks the protocol thread to stop; `run` then returns. Safe from any thread.
    public func requestStop() {
        stopRequested.store(true, ordering: .relaxed)
        inbox.wake()
    }

    /// Runs the protocol thread until `requestStop` (or a `.stop` control command), then stops the
    /// appender (syncing what is queued) and the transport.
    public func run() {
        // Never waits: the log's threads must not wait for the protocol thread (see DurableMailbox).
        wal.start { [durable, inbox] report in
            if durable.post(report) { _ = inbox.tryPush(.durableReady) }
        }
        let thread = ProtocolThreadHandle(name: "protocol") { [self] in protocolLoop() }
        thread.join()
        wal.stop()
        transport.stop()
        closeDescriptorsAfterStop()
    }

    /// Once the protocol thread and the transport have stopped (so this thread is the ring's only
    /// consumer and nothing pushes any more): closes the duplicate descriptors of the connections
    /// whose close is still in the ring. Stopping the transport closes every connection, and each
    /// close was pushed, so afterwards this process holds no duplicate.
    func closeDescriptorsAfterStop() {
        // Bounded: no producer is left, so each round empties the ring further.
        while inbox.drain(maxCount: config.batchInputsMax, { input in
            if case let .connectionClosed(connection) = input { connection.closeDirectDescriptor() }
        }) > 0 {}
    }

    // MARK: The protocol thread

    func clock() -> Instant { Instant(nanoseconds: Int64(MonotonicClock.nowNanos()) + clockOffset.nanoseconds) }

    func protocolLoop() {
        replica.handle(.start, now: clock(), into: &effects)
        carryOutEffects()
        flushOutbound()
        while !stopRequested.load(ordering: .relaxed) && !NodeSignals.stopRequested.load(ordering: .relaxed) {
            let now = clock()
            var worked = fireDueTimers(now: now)
            worked = releaseDelayed(now: now) || worked
            let drained = inbox.drain(maxCount: config.batchInputsMax) { input in self.accept(input, now: now) }
            // After the drain: a report posted before its `.durableReady` marker was drained is
            // taken here, in the same batch.
            if let durability = durable.take() {
                applyDurable(durability, now: now)
                worked = true
            }
            if drained > 0 || worked {
                report.batches += 1
                report.inputs += UInt64(drained)
                replica.handle(.flush, now: now, into: &effects)
                carryOutEffects()
                flushOutbound()
                continue
            }
            // Idle: park until an input arrives or the next timer is due (at most 50 ms, to notice a stop).
            var deadline = now + .milliseconds(50)
            for timer in timers where timer.deadline < deadline { deadline = timer.deadline }
            if let first = delayed.first, first.release < deadline { deadline = first.release }
            _ = inbox.waitForItems(deadlineNanos: UInt64(max(0, deadline.nanoseconds - clockOffset.nanoseconds)))
        }
    }

    /// Handles one input of the batch; effects accumulate until the batch ends.
    func accept(_ input: NodeInput<R.Message>, now: Instant) {
        switch input {
        case let .peer(from, message):
            report.messagesReceived += 1
            deliver(message, from: from, now: now)
        case let .request(request, connection):
            // While partitioned, a client whose home is on the other side cannot reach this node
            // (as in the simulator): the request is lost and the client times out.
            if !isolated.isEmpty {
                let members = config.cluster.members
                if isolated.contains(members[request.client.homeIndex(nodes: members.count)]) { return }
            }
            clients[request.client] = connection
            replica.handle(.request(request), now: now, into: &effects)
        case let .control(request, connection):
            answer(request, on: connection)
        case .durableReady:
            break // The loop takes the report from the mailbox after the drain.
        case let .connectionClosed(connection):
            // Exactly once per connection; nothing is written to it directly from here on.
            connection.closeDirectDescriptor()
            clientFrames[ObjectIdentifier(connection)] = nil
            clients = clients.filter { $0.value !== connection }
        }
    }

    /// The log made every write through `durability.throughSequence` durable: release what
    /// waited for it and tell the replica.
    func applyDurable(_ durability: WriteAheadLog.DurabilityReport, now: Instant) {
        durableSeq = durability.throughSequence
        releaseDeferred()
        if let last = durability.lastEntry {
            replica.handle(.persisted(through: last.index, term: last.term), now: now, into: &effects)
        }
    }

    /// The fault shim in front of the replica: partitions, drops, duplicates, delays (all off by default).
    func deliver(_ message: R.Message, from: NodeID, now: Instant) {
        if isolated.contains(from) { return }
        if faults.isNone {
            replica.handle(.message(from: from, message), now: now, into: &effects)
            return
        }
        if faultRandom.chance(faults.dropProbability) { return }
        let copies = faultRandom.chance(faults.duplicateProbability) ? 2 : 1
        for _ in 0..<copies {
            var delay = faults.delay.nanoseconds
            let jitter = faults.delayJitter.nanoseconds
            if jitter > 0 { delay += Int64(faultRandom.next() % UInt64(2 * jitter + 1)) - jitter }
            if delay <= 0 {
                replica.handle(.message(from: from, message), now: now, into: &effects)
            } else {
                let release = now + .nanoseconds(delay)
                let position = delayed.firstIndex { $0.release > release } ?? delayed.count
                delayed.insert((release, from, message), at: position)
            }
        }
    }

    func releaseDelayed(now: Instant) -> Bool {
        var released = 0
        while released < delayed.count && delayed[released].release <= now {
            replica.handle(.message(from: delayed[released].from, delayed[released].message), now: now, into: &effects)
            released += 1
        }
        if released > 0 { delayed.removeFirst(released) }
        return released > 0
    }

    func fireDueTimers(now: Instant) -> Bool {
        var fired = false
        var i = 0
        while i < timers.count {
            if timers[i].deadline <= now {
                let id = timers.remove(at: i).id
                replica.handle(.timer(id), now: now, into: &effects)
                fired = true
            } else {
                i += 1
            }
        }
        return fired
    }

    /// Carries out the batch's effects in the order `Effects` documents.
    func carryOutEffects() {
        if !effects.writes.isEmpty {
            issuedSeq = wal.submit(effects.writes)
        }
        for envelope in effects.messages { enqueue(envelope.message, to: envelope.to) }
        for envelope in effects.messagesAfterDurable {
            if durableSeq >= issuedSeq {
                enqueue(envelope.message, to: envelope.to)
            } else {
                deferred.append((issuedSeq, envelope))
            }
        }
        for reply in effects.replies {
            guard let connection = clients[reply.client] else { continue }
            appendClientFrame(kind: .reply, to: connection) { reply.encode(to: &$0) }
        }
        for request in effects.timers {
            switch request {
            case let .set(id, deadline):
                if let i = timers.firstIndex(where: { $0.id == id }) { timers[i].deadline = deadline }
                else { timers.append((id, deadline)) }
            case let .cancel(id):
                timers.removeAll { $0.id == id }
            }
        }
        effects.removeAll()
    }

    /// Sends the messages whose writes are now durable.
    func releaseDeferred() {
        while deferredHead < deferred.count && deferred[deferredHead].seq <= durableSeq {
            enqueue(deferred[deferredHead].envelope.message, to: deferred[deferredHead].envelope.to)
            deferredHead += 1
        }
        if deferredHead == deferred.count {
            deferred.removeAll(keepingCapacity: true)
            deferredHead = 0
        }
    }

    func enqueue(_ message: R.Message, to peer: NodeID) {
        let index = Int(peer.rawValue) - 1
        guard peerFrames.indices.contains(index), peer != config.id, !isolated.contains(peer) else { return }
        report.messagesSent += 1
        peerFrames[index].writeFrame(clusterID: config.clusterID, kind: .peer, sender: config.id) { message.encode(to: &$0) }
    }

    func appendClientFrame(kind: FrameKind, to connection: Connection, body: (inout WireWriter) -> Void) {
        let id = ObjectIdentifier(connection)
        if clientFrames[id] == nil { clientFrames[id] = (connection, WireWriter(capacity: 4_096)) }
        clientFrames[id]!.frames.writeFrame(clusterID: config.clusterID, kind: kind, sender: config.id, body: body)
    }

    /// Writes every connection's accumulated frames: one write per connection per batch, into the
    /// socket directly where possible, the rest handed to the event loop in one hop.
    func flushOutbound() {
        var handOff: [(Connection, ByteBuffer)] = []
        let connections = transport.outbound.withLockedValue { $0 }
        for index in peerFrames.indices where peerFrames[index].count > 0 {
            if let connection = connections[index] {
                report.bytesSent += UInt64(peerFrames[index].count)
                connection.write(peerFrames[index].bytes, handOff: &handOff)
            }
            peerFrames[index].removeAll()
        }
        // By index, clearing the writers in place: clearing them while iterating the dictionary
        // would copy it, and give every writer a new buffer, on every batch.
        var position = clientFrames.startIndex
        while position != clientFrames.endIndex {
            if clientFrames.values[position].frames.count > 0 {
                clientFrames.values[position].connection.write(clientFrames.values[position].frames.bytes, handOff: &handOff)
                clientFrames.values[position].frames.removeAll()
            }
            clientFrames.formIndex(after: &position)
        }
        Connection.handOff(handOff)
    }

    // MARK: Control

    func answer(_ request: ControlRequest, on connection: Connection) {
        let reply: ControlReply
        switch request {
        case .status:
            reply = .report(currentReport())
        case let .isolate(peers):
            isolated = Set(peers)
            reply = .done
        case let .messageFaults(newFaults):
            faults = newFaults
            faultRandom = SeededGenerator(seed: newFaults.seed ^ UInt64(config.id.rawValue))
            reply = .done
        case let .clockOffset(offset):
            clockOffset = offset
            reply = .done
        case let .slowDisk(delay):
            wal.setExtraSyncDelay(delay)
            reply = .done
        case .stop:
            stopRequested.store(true, ordering: .relaxed)
            reply = .done
        case .inspect:
            reply = .inspection(replica.inspection())
        }
        appendClientFrame(kind: .controlReply, to: connection) { reply.encode(to: &$0) }
    }

    func currentReport() -> NodeReport {
        var current = report
        current.status = replica.status
        let statistics = wal.statistics
        current.fsyncs = UInt64(statistics.syncs)
        current.walBytes = UInt64(statistics.bytes)
        current.badFrames = transport.badFrames.load(ordering: .relaxed)
        current.cpuNanos = ResourceUsage.cpuNanos()
        current.peakRSSBytes = ResourceUsage.peakRSSBytes()
        current.allocator = ResourceUsage.allocatorInUse()
        current.uptimeNanos = MonotonicClock.nowNanos() - startedAt
        current.metrics = replica.metrics
        return current
    }
}
