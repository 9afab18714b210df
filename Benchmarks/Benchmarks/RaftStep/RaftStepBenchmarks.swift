import Benchmark
import BenchmarkPolicy
import BenchCore
import Protocols

// Raft.Instance.handle, the pure protocol step, with no simulator and no runtime around it: three
// replicas in one process, messages delivered at once, every write reported persisted at once,
// the clock standing still (no timer fires after the election). Only the step named in the
// benchmark is measured; the rest of the cluster's work runs between measurements so the log
// keeps committing and the leader never hits its uncommitted-entries limit.
//
// The leader's step allocates (the AppendEntries arrays it builds and the messages it emits,
// amortized growth of the in-memory log), so its allocations get a small relative tolerance;
// the follower's step allocates nothing at p90 and is pinned at exactly 0.

let requestsPerBatch = 64

/// Three Raft replicas wired together in memory.
struct Cluster {
    var replicas: [Raft.Instance]
    var effects = Effects<Raft.Message>()
    /// Messages emitted but not yet delivered: (destination index, sender, message).
    var queue: [(to: Int, from: NodeID, message: Raft.Message)] = []
    var now = Instant.zero
    var nextSeq: UInt64 = 1
    let value = Value(tag: 1, size: 64)

    /// Starts three replicas and elects node 1.
    init() {
        var random = SeededGenerator(seed: 1)
        let cluster = ClusterConfig(size: 3)
        replicas = cluster.members.map {
            Raft.Instance(id: $0, cluster: cluster, settings: .init(), recovered: .empty, random: &random)
        }
        for i in replicas.indices { step(i, .start) }
        now = now + .seconds(1)
        step(0, .timer(Raft.Timers.election))
        drain()
        precondition(replicas[0].status.role == .leader, "node 1 leads after its election timeout")
    }

    /// One `handle` call on replica `i`; its messages are queued, and its last entry write is
    /// reported persisted at once (another `handle` call).
    mutating func step(_ i: Int, _ input: Input<Raft.Message>) {
        replicas[i].handle(input, now: now, into: &effects)
        collect(from: i)
        if let persisted = lastEntry(in: effects.writes) {
            effects.removeAll()
            replicas[i].handle(.persisted(through: persisted.index, term: persisted.term), now: now, into: &effects)
            collect(from: i)
        }
        effects.removeAll()
    }

    /// The same as `step`, but leaves the emitted messages in `effects` for the caller to
    /// inspect and does not queue them: for measuring exactly one replica's work.
    mutating func collect(from i: Int) {
        let sender = replicas[i].id
        for envelope in effects.messages { queue.append((Int(envelope.to.rawValue) - 1, sender, envelope.message)) }
        for envelope in effects.messagesAfterDurable { queue.append((Int(envelope.to.rawValue) - 1, sender, envelope.message)) }
    }

    func lastEntry(in writes: [StorageWrite]) -> (index: LogIndex, term: Term)? {
        for write in writes.reversed() {
            if case let .entry(entry) = write { return (entry.index, entry.term) }
        }
        return nil
    }

    /// Delivers queued messages (and a flush per replica after each round) until none are left.
    mutating func drain() {
        var rounds = 0
        while !queue.isEmpty {
            rounds += 1
            precondition(rounds < 10_000, "the cluster keeps exchanging messages without settling")
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            for (to, from, message) in batch { step(to, .message(from: from, message)) }
            for i in replicas.indices { step(i, .flush) }
        }
    }

    /// The next client put.
    mutating func nextRequest() -> ClientRequest {
        defer { nextSeq += 1 }
        return ClientRequest(client: 1, seq: nextSeq, command: .put(key: nextSeq % 1_000, value: value))
    }
}

/// A cluster kept across the iterations of one benchmark (setup, iterations and teardown run
/// one after another on the runner's thread).
final class ClusterHolder: @unchecked Sendable {
    // @unchecked Sendable: only the benchmark runner's thread touches it, one call at a time.
    var cluster: Cluster?
}

let benchmarks: @Sendable () -> Void = {
    // The leader takes a batch of client puts and flushes: it appends them to its log, asks for
    // them to be written, and sends one AppendEntries to each follower.
    let leader = ClusterHolder()
    var leaderConfiguration = BenchmarkPolicy.configuration(allocations: .within(percent: 5))
    leaderConfiguration.setup = { leader.cluster = Cluster() }
    leaderConfiguration.teardown = { leader.cluster = nil }
    Benchmark(BenchmarkPolicy.name("leader \(requestsPerBatch) client puts and flush"), configuration: leaderConfiguration) { benchmark in
        guard var cluster = leader.cluster else { preconditionFailure("setup builds the cluster") }
        leader.cluster = nil // Keeps the arrays uniquely referenced while `cluster` mutates them.
        let requests = (0..<requestsPerBatch).map { _ in cluster.nextRequest() }
        let before = cluster.replicas[0].log.lastIndex
        benchmark.startMeasurement()
        for request in requests { cluster.replicas[0].handle(.request(request), now: cluster.now, into: &cluster.effects) }
        cluster.replicas[0].handle(.flush, now: cluster.now, into: &cluster.effects)
        benchmark.stopMeasurement()
        precondition(cluster.replicas[0].log.lastIndex == before.advanced(by: Int64(requestsPerBatch)), "the leader appended the batch")
        precondition(cluster.effects.messages.contains { if case .appendEntries = $0.message { true } else { false } },
                     "the flush sent AppendEntries")
        // Unmeasured: persistence, replication and commit, so the next batch starts from a settled cluster.
        cluster.collect(from: 0)
        let last = cluster.lastEntry(in: cluster.effects.writes)
        cluster.effects.removeAll()
        if let last {
            cluster.replicas[0].handle(.persisted(through: last.index, term: last.term), now: cluster.now, into: &cluster.effects)
            cluster.collect(from: 0)
            cluster.effects.removeAll()
        }
        cluster.drain()
        leader.cluster = cluster
    }

    // A follower receives one AppendEntries carrying a batch of puts, then the report that the
    // entries are on disk: it appends, acknowledges, and advances its commit index.
    let follower = ClusterHolder()
    // Appending the received entries reuses the log's spare capacity and the entries' own payload
    // buffers: at p90 a follower step allocates nothing, and that is pinned exactly.
    var followerConfiguration = BenchmarkPolicy.configuration(allocations: .exact)
    followerConfiguration.setup = { follower.cluster = Cluster() }
    followerConfiguration.teardown = { follower.cluster = nil }
    Benchmark(BenchmarkPolicy.name("follower AppendEntries of \(requestsPerBatch) puts and persisted"), configuration: followerConfiguration) { benchmark in
        guard var cluster = follower.cluster else { preconditionFailure("setup builds the cluster") }
        follower.cluster = nil
        // Unmeasured: the leader turns a batch of puts into AppendEntries.
        for _ in 0..<requestsPerBatch { cluster.step(0, .request(cluster.nextRequest())) }
        cluster.step(0, .flush)
        guard let position = cluster.queue.firstIndex(where: { entry in
            if entry.to == 1, case .appendEntries = entry.message { true } else { false }
        }) else { preconditionFailure("the leader sent node 2 an AppendEntries") }
        let append = cluster.queue.remove(at: position)
        guard case let .appendEntries(message) = append.message else { preconditionFailure("picked an AppendEntries") }
        let last = message.entries.last!
        let before = cluster.replicas[1].log.lastIndex
        benchmark.startMeasurement()
        cluster.replicas[1].handle(.message(from: append.from, append.message), now: cluster.now, into: &cluster.effects)
        cluster.replicas[1].handle(.flush, now: cluster.now, into: &cluster.effects)
        cluster.replicas[1].handle(.persisted(through: last.index, term: last.term), now: cluster.now, into: &cluster.effects)
        benchmark.stopMeasurement()
        precondition(cluster.replicas[1].log.lastIndex == before.advanced(by: Int64(requestsPerBatch)), "the follower appended the batch")
        // Unmeasured: the acknowledgement goes back and the cluster settles.
        cluster.collect(from: 1)
        cluster.effects.removeAll()
        cluster.drain()
        follower.cluster = cluster
    }
}
