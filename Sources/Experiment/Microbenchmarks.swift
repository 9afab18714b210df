import BenchCore
import Checker
import CReference
import Foundation
import LoadGen
import LogStore
import Protocols
import RingBuffer
import Runtime
import Simulation

/// `bench micro`: the hot path's figures, each beside the reference it must be compared with,
/// measured in the same run (this box is shared and noisy: only same-run ratios mean anything).
/// Runs are interleaved and repeated; medians are reported.
public enum Microbenchmarks {
    public struct Figure: Sendable {
        public var name: String
        public var value: Double
        public var unit: String
        public var reference: String = ""
        public var referenceValue: Double?
        /// value / reference (or its inverse for "lower is better" figures); nil without a reference.
        public var ratio: Double?
        /// The committed bound the ratio must meet, e.g. ">= 0.9" or "<= 1.3".
        public var bound: String = ""
        public var pass: Bool? = nil
    }

    public struct Options: Sendable {
        public var repetitions = 5
        public var scratch: URL = FileManager.default.temporaryDirectory
        public var log: @Sendable (String) -> Void = { _ in }
        public var only: Set<String> = []
        public init() {}
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    static func ratioFigure(_ name: String, value: Double, unit: String, reference: String, referenceValue: Double,
                            atLeast: Double? = nil, atMost: Double? = nil) -> Figure {
        let ratio = referenceValue > 0 ? value / referenceValue : 0
        var figure = Figure(name: name, value: value, unit: unit, reference: reference, referenceValue: referenceValue, ratio: ratio)
        if let atLeast { figure.bound = ">= \(atLeast)"; figure.pass = ratio >= atLeast }
        if let atMost { figure.bound = "<= \(atMost)"; figure.pass = ratio <= atMost }
        return figure
    }

    public static func run(_ options: Options) throws -> [Figure] {
        var figures: [Figure] = []
        func wanted(_ group: String) -> Bool { options.only.isEmpty || options.only.contains(group) }
        if wanted("ring") { figures += rings(options) }
        if wanted("codec") { figures += codec(options) }
        if wanted("raft") { figures += raftSteps(options) }
        if wanted("sim") { figures += simulator(options) }
        if wanted("checker") { figures += checker(options) }
        if wanted("log") { figures += try appender(options) }
        if wanted("transport") { figures += try transport(options) }
        if wanted("cluster") { figures += try cluster(options) }
        return figures
    }

    // MARK: Rings

    static func rings(_ options: Options) -> [Figure] {
        let items = 4_000_000
        var swift1: [Double] = [], swift64: [Double] = [], c1: [Double] = [], c64: [Double] = []
        var mutex1: [Double] = [], mutex64: [Double] = [], mpsc64: [Double] = []
        func rate(_ n: Int, _ ns: UInt64) -> Double { Double(n) / (Double(ns) / 1e9) }
        let capacity = UInt32(RingBenchmark.ringCapacity)
        for rep in 0..<options.repetitions {
            options.log("ring: repetition \(rep + 1)/\(options.repetitions)")
            swift1.append(rate(items / 4, RingBenchmark.handOff(items: items / 4, batch: 1).nanoseconds))
            c1.append(rate(items / 4, cref_spsc_hand_off(UInt64(items / 4), 1, capacity).nanoseconds))
            swift64.append(rate(items, RingBenchmark.handOff(items: items, batch: 64).nanoseconds))
            c64.append(rate(items, cref_spsc_hand_off(UInt64(items), 64, capacity).nanoseconds))
            mutex1.append(rate(items / 4, cref_mutex_queue_hand_off(UInt64(items / 4), 1, capacity).nanoseconds))
            mutex64.append(rate(items, cref_mutex_queue_hand_off(UInt64(items), 64, capacity).nanoseconds))
            mpsc64.append(rate(items, RingBenchmark.manyToOne(producers: 2, itemsPerProducer: items / 2, batch: 64).nanoseconds))
        }
        let m = median
        return [
            ratioFigure("ring SPSC hand-off, batch 64", value: m(swift64) / 1e6, unit: "M items/s",
                        reference: "C ring, same design", referenceValue: m(c64) / 1e6, atLeast: 0.9),
            ratioFigure("ring SPSC hand-off, batch 1", value: m(swift1) / 1e6, unit: "M items/s",
                        reference: "C ring, same design", referenceValue: m(c1) / 1e6),
            ratioFigure("ring SPSC batch 64 vs mutex queue", value: m(swift64) / 1e6, unit: "M items/s",
                        reference: "C mutex+condvar queue, batch 64", referenceValue: m(mutex64) / 1e6),
            ratioFigure("ring SPSC batch 1 vs mutex queue", value: m(swift1) / 1e6, unit: "M items/s",
                        reference: "C mutex+condvar queue, batch 1", referenceValue: m(mutex1) / 1e6),
            ratioFigure("ring MPSC 2 producers, batch 64", value: m(mpsc64) / 1e6, unit: "M items/s",
                        reference: "C ring SPSC, batch 64", referenceValue: m(c64) / 1e6),
        ]
    }

    // MARK: Codec, protocol step, simulator, checker

    static func codec(_ options: Options) -> [Figure] {
        let request = ClientRequest(client: 7, seq: 42, command: .put(key: 99, value: Value(tag: 5, size: 64)))
        var writer = WireWriter(capacity: 256)
        let count = 1_000_000
        var encode: [Double] = [], decode: [Double] = []
        for _ in 0..<options.repetitions {
            var start = MonotonicClock.nowNanos()
            for _ in 0..<count {
                writer.removeAll()
                request.encode(to: &writer)
            }
            encode.append(Double(MonotonicClock.nowNanos() - start) / Double(count))
            let bytes = writer.bytes
            start = MonotonicClock.nowNanos()
            var checksum: UInt64 = 0
            bytes.withUnsafeBytes { raw in
                for _ in 0..<count {
                    var reader = WireReader(raw)
                    if let decoded = try? ClientRequest(from: &reader) { checksum &+= decoded.seq }
                }
            }
            precondition(checksum == 42 * UInt64(count), "decode checksum")
            decode.append(Double(MonotonicClock.nowNanos() - start) / Double(count))
        }
        return [Figure(name: "codec: encode request (64 B value)", value: median(encode), unit: "ns/op"),
                Figure(name: "codec: decode request (64 B value)", value: median(decode), unit: "ns/op")]
    }

    /// Three Raft replicas driven directly (no simulator): requests into the leader, messages
    /// delivered at once, every write reported persisted at once. Counts `handle` calls per second.
    static func raftSteps(_ options: Options) -> [Figure] {
        var rates: [Double] = []
        for _ in 0..<options.repetitions {
            let (steps, nanos) = RaftStepBench.run(requests: 200_000)
            rates.append(Double(steps) / (Double(nanos) / 1e9))
        }
        return [Figure(name: "Raft.Instance steps (3 replicas, batches of 64 puts)", value: median(rates) / 1e6, unit: "M steps/s")]
    }

    static func simulator(_ options: Options) -> [Figure] {
        var rates: [Double] = []
        for rep in 0..<options.repetitions {
            var sim = SimulationOptions()
            sim.seed = UInt64(rep + 1)
            sim.nodes = 3
            sim.duration = .seconds(2)
            sim.checkEveryStep = false
            let simulator = Simulator<Raft.Instance>(options: sim, settings: .init())
            let start = MonotonicClock.nowNanos()
            let result = simulator.run()
            rates.append(Double(result.events) / (Double(MonotonicClock.nowNanos() - start) / 1e9))
        }
        return [Figure(name: "simulator events (Raft, 3 nodes, 8 clients)", value: median(rates) / 1e6, unit: "M events/s")]
    }

    static func checker(_ options: Options) -> [Figure] {
        let history = CheckerBenchmarks.generateLinearizableHistory(operations: 10_000, keys: 100, clients: 8, seed: 1)
        var times: [Double] = []
        for _ in 0..<options.repetitions {
            let start = MonotonicClock.nowNanos()
            precondition(Linearizability.check(history).isLinearizable, "the fixed history is linearizable")
            times.append(Double(MonotonicClock.nowNanos() - start) / 1e6)
        }
        return [Figure(name: "checker: 10,000-op history, 100 keys", value: median(times), unit: "ms")]
    }

    // MARK: Disk

    static func appender(_ options: Options) throws -> [Figure] {
        let directory = options.scratch.path
        var appender: [Double] = [], raw: [Double] = [], perSync: [Double] = [], perWrite: [Double] = []
        var appender64: [Double] = [], raw64: [Double] = [], perSync64: [Double] = []
        var syncs1: [UInt64] = []
        var encode: [Double] = []
        for rep in 0..<options.repetitions {
            options.log("log: repetition \(rep + 1)/\(options.repetitions)")
            encode.append(AppenderBenchmark.encodeOnly(appends: 200_000, payloadBytes: 128))
            let saturated = try AppenderBenchmark.saturate(directory: directory, appends: 200_000, payloadBytes: 128)
            appender.append(saturated.appendsPerSecond)
            perSync.append(saturated.recordsPerSync)
            perWrite.append(200_000 / Double(saturated.batches))
            // The reference makes as many syncs for the same records: the appender's gain may
            // come only from overlapping its writes with its syncs, not from syncing less often.
            raw.append(try AppenderBenchmark.rawWriteSync(directory: directory, appends: 200_000, payloadBytes: 128,
                                                          batch: max(1, Int(saturated.recordsPerSync.rounded()))))
            var capped = LogOptions()
            capped.maxBatchRecords = 64
            let saturated64 = try AppenderBenchmark.saturate(directory: directory, appends: 50_000, payloadBytes: 128, options: capped)
            appender64.append(saturated64.appendsPerSecond)
            perSync64.append(saturated64.recordsPerSync)
            // Small writes cost syscalls the one-write reference would not make: this reference
            // makes the same writes and syncs as the appender did, serially.
            raw64.append(try AppenderBenchmark.rawWriteSync(directory: directory, appends: 50_000, payloadBytes: 128, batch: 64,
                                                            writesPerSync: max(1, saturated64.batches / max(1, saturated64.syncs))))
            var latencies = [UInt64](repeating: 0, count: 200)
            if cref_append_fdatasync(directory + "/cb-fsync-\(getpid())", 200, 128, &latencies) == 0 { syncs1.append(latencies[100]) }
        }
        return [
            ratioFigure("log appender at saturation (128 B records, \(Int(median(perWrite))) per write, \(Int(median(perSync))) per sync)",
                        value: median(appender) / 1e3, unit: "k appends/s",
                        reference: "raw write+fdatasync, same records per sync", referenceValue: median(raw) / 1e3, atLeast: 0.9),
            // No bound: the target is the saturation figure above. This one shows what
            // 64-record writes cost the pipeline (a hand-off and a wake-up per write) against
            // the same writes and syncs made serially with nothing to hand off: 0.88-1.13 here.
            ratioFigure("log appender, writes capped at 64 records (\(Int(median(perSync64))) per sync)",
                        value: median(appender64) / 1e3, unit: "k appends/s",
                        reference: "raw writes+fdatasync, same writes and syncs, serial", referenceValue: median(raw64) / 1e3),
            Figure(name: "log: encoding a 128 B record on the protocol thread", value: median(encode), unit: "ns/record"),
            Figure(name: "C append 128 B + fdatasync, p50", value: Double(syncs1.sorted()[syncs1.count / 2]) / 1e3, unit: "µs"),
        ]
    }

    // MARK: Processes

    static func socketPingPong(_ roundTrips: Int) -> (p50: Double, p99: Double)? {
        var latencies = [UInt64](repeating: 0, count: roundTrips)
        guard cref_tcp_ping_pong(UInt32(roundTrips), 64, &latencies) == 0 else { return nil }
        return (Double(latencies[roundTrips / 2]) / 1e3, Double(latencies[roundTrips * 99 / 100]) / 1e3)
    }

    /// A node process running the echo replica: the whole runtime path (NIO in, MPSC ring,
    /// protocol thread, a direct send out), driven by a plain blocking C client shaped exactly like
    /// the C ping-pong's client, so the ratio is what the node costs over a C echo process. The
    /// same node driven by the load generator (one session: SwiftNIO, timeouts, histograms) is
    /// printed too, as the round trip a user of `bench client` sees.
    static func transport(_ options: Options) throws -> [Figure] {
        var node: [Double] = [], socket: [Double] = [], loadGenerator: [Double] = []
        for rep in 0..<options.repetitions {
            options.log("transport: repetition \(rep + 1)/\(options.repetitions)")
            let (plain, driven) = try withCluster("echo", nodes: 1, options: options) { cluster in
                var frame = WireWriter(capacity: 128)
                let request = ClientRequest(client: ClientID(1), seq: 1, command: .put(key: 1, value: Value(tag: 7, size: 64)))
                frame.writeFrame(clusterID: cluster.options.clusterID, kind: .request, sender: NodeID(0)) { request.encode(to: &$0) }
                var latencies = [UInt64](repeating: 0, count: 20_000)
                let plain: Double? = frame.bytes.withUnsafeBytes { bytes in
                    cref_frame_round_trips(UInt16(cluster.clientEndpoints[0].port), bytes.baseAddress, UInt32(bytes.count),
                                           2_000, UInt32(latencies.count), &latencies) == 0
                        ? Double(latencies[latencies.count / 2]) / 1e3 : nil
                }
                var config = ClientRunConfig(nodes: cluster.clientEndpoints)
                config.clusterID = cluster.options.clusterID
                config.sessions = 1
                config.workload = .mixed(WorkloadSpec(keys: 100, readRatio: 0, valueSize: 64))
                config.warmup = .milliseconds(200)
                config.duration = .seconds(1)
                return (plain, Double(try LoadDriver.run(config).latency.percentile(50)))
            }
            if let plain { node.append(plain) }
            loadGenerator.append(driven)
            if let c = socketPingPong(20_000) { socket.append(c.p50) }
        }
        guard !node.isEmpty, !socket.isEmpty else { throw SweepError("transport: a loopback round trip failed") }
        return [
            ratioFigure("round trip of a 64 B request through a node process (p50)", value: median(node), unit: "µs",
                        reference: "C TCP ping-pong between two processes, 64 B", referenceValue: median(socket), atMost: 1.3),
            Figure(name: "the same, driven by the load generator (1 session), p50", value: median(loadGenerator), unit: "µs"),
        ]
    }

    /// A 3-node Raft cluster's durable write latency at 1 client, beside one loopback round trip
    /// plus one fdatasync measured in the same run, and its throughput at 64 clients.
    static func cluster(_ options: Options) throws -> [Figure] {
        var p50: [Double] = [], p99: [Double] = [], floor: [Double] = [], throughput: [Double] = []
        for rep in 0..<max(1, options.repetitions / 2) {
            options.log("cluster: repetition \(rep + 1)")
            try withCluster("raft", nodes: 3, options: options) { cluster in
                var config = ClientRunConfig(nodes: cluster.clientEndpoints)
                config.clusterID = cluster.options.clusterID
                config.workload = .mixed(WorkloadSpec(keys: 1_000, readRatio: 0, valueSize: 64))
                config.warmup = .milliseconds(300)
                config.duration = .seconds(2)
                config.sessions = 1
                let one = try LoadDriver.run(config)
                p50.append(Double(one.latency.percentile(50)))
                p99.append(Double(one.latency.percentile(99)))
                config.sessions = 64
                config.runNonce &+= 1
                throughput.append(try LoadDriver.run(config).throughput)
            }
            var syncs = [UInt64](repeating: 0, count: 200)
            if let rtt = socketPingPong(5_000), cref_append_fdatasync(options.scratch.path + "/cb-floor-\(getpid())", 200, 128, &syncs) == 0 {
                floor.append(rtt.p50 + Double(syncs[100]) / 1e3)
            }
        }
        return [
            ratioFigure("Raft 3 nodes, durable write at 1 client, p50", value: median(p50), unit: "µs",
                        reference: "floor: loopback RTT p50 + fdatasync p50", referenceValue: median(floor)),
            Figure(name: "Raft 3 nodes, durable write at 1 client, p99", value: median(p99), unit: "µs"),
            Figure(name: "Raft 3 nodes, writes at 64 clients", value: median(throughput), unit: "ops/s"),
        ]
    }

    static func withCluster<T>(_ protocolName: String, nodes: Int, options: Options, _ body: (LocalCluster) throws -> T) throws -> T {
        let directory = options.scratch.appendingPathComponent("cb-micro-\(protocolName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let cluster = try LocalCluster(options: LocalCluster.Options(nodes: nodes, protocolName: protocolName, directory: directory))
        defer { cluster.stop(); cluster.removeData() }
        try cluster.start()
        try cluster.waitUntilReady(needLeader: true)
        return try body(cluster)
    }

    /// The table `bench micro` prints.
    public static func render(_ figures: [Figure]) -> String {
        func f(_ x: Double) -> String { x >= 100 ? format(x, digits: 0) : format(x, digits: 3) }
        var lines = ["figure | value | reference | ratio | bound | verdict", "---|---|---|---|---|---"]
        for figure in figures {
            let reference = figure.referenceValue.map { "\(f($0)) \(figure.unit) (\(figure.reference))" } ?? ""
            let ratio = figure.ratio.map { format($0, digits: 3) } ?? ""
            let verdict = figure.pass.map { $0 ? "ok" : "BELOW TARGET" } ?? ""
            lines.append("\(figure.name) | \(f(figure.value)) \(figure.unit) | \(reference) | \(ratio) | \(figure.bound) | \(verdict)")
        }
        return lines.joined(separator: "\n")
    }
}

/// The Raft step benchmark's driver: three replicas, a leader fed batches of puts, messages and
/// persistence delivered immediately.
enum RaftStepBench {
    static func run(requests: Int) -> (steps: Int, nanos: UInt64) {
        var random = SeededGenerator(seed: 1)
        let cluster = ClusterConfig(size: 3)
        var replicas = cluster.members.map {
            Raft.Instance(id: $0, cluster: cluster, settings: .init(), recovered: .empty, random: &random)
        }
        var effects = Effects<Raft.Message>()
        var steps = 0
        var queue: [(to: Int, from: NodeID, message: Raft.Message)] = []
        func step(_ i: Int, _ input: Input<Raft.Message>, now: Instant) {
            replicas[i].handle(input, now: now, into: &effects)
            steps += 1
            let writes = effects.writes
            for envelope in effects.messages + effects.messagesAfterDurable {
                queue.append((Int(envelope.to.rawValue) - 1, replicas[i].id, envelope.message))
            }
            effects.removeAll()
            if let last = writes.last(where: { if case .entry = $0 { true } else { false } }), case let .entry(entry) = last {
                replicas[i].handle(.persisted(through: entry.index, term: entry.term), now: now, into: &effects)
                steps += 1
                for envelope in effects.messages + effects.messagesAfterDurable {
                    queue.append((Int(envelope.to.rawValue) - 1, replicas[i].id, envelope.message))
                }
                effects.removeAll()
            }
        }
        func drain(now: Instant) {
            while !queue.isEmpty {
                let batch = queue
                queue.removeAll(keepingCapacity: true)
                for (to, from, message) in batch { step(to, .message(from: from, message), now: now) }
                for i in replicas.indices { step(i, .flush, now: now) }
            }
        }
        var now = Instant.zero
        for i in replicas.indices { step(i, .start, now: now) }
        now = now + .seconds(1)
        step(0, .timer(Raft.Timers.election), now: now)
        drain(now: now)
        precondition(replicas[0].status.role == .leader, "node 1 leads")
        let value = Value(tag: 1, size: 64)
        let start = MonotonicClock.nowNanos()
        var sent = 0
        steps = 0
        while sent < requests {
            for _ in 0..<64 {
                sent += 1
                step(0, .request(ClientRequest(client: 1, seq: UInt64(sent), command: .put(key: UInt64(sent % 1_000), value: value))), now: now)
            }
            step(0, .flush, now: now)
            drain(now: now)
        }
        return (steps, MonotonicClock.nowNanos() - start)
    }
}
