import ArgumentParser
import BenchCore
import Checker
import Experiment
import Foundation
import LoadGen
import Runtime

/// `bench client`: one load-generator process (the orchestrator starts several).
struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Drive load at a cluster: many sessions over one connection per node; record latencies and a history.",
        discussion: """
        Examples:
          bench client --nodes 127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203 --sessions 16 --duration 5s
          bench client --nodes ... --workload write-keys:10000 --sessions 8 --out writes.result
          bench client --nodes ... --rate 20000 --arrival poisson --duration 10s
        Prints one summary line; --out writes the full result (histograms and history) for `bench check`.
        """)

    @Option(help: "Comma-separated host:port of every node's client port, in node-id order.")
    var nodes: String

    @Option(help: "Concurrent sessions (closed loop), or the most sessions open loop may use.")
    var sessions: Int = 1

    @Option(help: "Open loop: target operations per second (omit for closed loop).")
    var rate: Double?

    @Option(help: "Open-loop arrivals: constant or poisson.")
    var arrival: String = "poisson"

    @Option(help: "mixed (random gets/puts), write-keys:N or read-keys:N.")
    var workload: String = "mixed"

    @Option(help: "What mixed sessions issue: kv (gets and puts), bank[:K] (transfers across K accounts, and balance reads), locks[:...] (acquire, renew, release).")
    var kind: String = "kv"

    @Option(help: "Number of distinct keys (mixed).")
    var keys: Int = 1_000

    @Option(name: .customLong("read-ratio"), help: "Share of reads (mixed), 0...1.")
    var readRatio: Double = 0.5

    @Option(name: .customLong("value-size"), help: "Bytes per written value.")
    var valueSize: Int = 64

    @Option(help: "Key distribution: uniform, zipf[:theta], hotspot[:fraction:probability].")
    var distribution: String = "uniform"

    @Option(help: "Warm-up before measuring.")
    var warmup: String = "0s"

    @Option(help: "Measurement time (omit with --ops or a scripted workload).")
    var duration: String?

    @Option(help: "Stop after this many operations.")
    var ops: Int?

    @Option(help: "Request timeout before trying another node.")
    var timeout: String = "100ms"

    @Option(help: "How long to retry one operation before giving up.")
    var deadline: String = "2s"

    @Option(help: "Seed for keys and values.")
    var seed: UInt64 = 1

    @Option(name: .customLong("process-index"), help: "This process's number among client processes (keeps client ids unique).")
    var processIndex: Int = 0

    @Option(name: .customLong("cluster-id"), help: "Cluster id carried by every frame.")
    var clusterID: UInt32 = 1

    @Option(name: .customLong("run-nonce"), help: "Shared by the client processes of one run (default: random), keeps client ids unique across runs.")
    var runNonce: UInt64?

    @Option(help: "Resilience: default, none, backoff, protected, degrade, optionally +token:RATE or +leaky:RATE.")
    var resilience: String = "default"

    @Option(name: .customLong("start-at"), help: "Begin at this CLOCK_MONOTONIC time in ns (the orchestrator aligns client processes).")
    var startAt: Int64?

    @Option(help: "Write the full result (histograms, history) to this file.")
    var out: String?

    func run() throws {
        let endpoints = try nodes.split(separator: ",").map { item -> Endpoint in
            guard let e = Endpoint(parsing: String(item)) else { throw ValidationError("--nodes: '\(item)' is not host:port") }
            return e
        }
        guard !endpoints.isEmpty else { throw ValidationError("--nodes needs at least one address") }
        guard (1...65_536).contains(sessions) else { throw ValidationError("--sessions \(sessions): must be within 1...65536") }
        guard let distribution = KeyDistribution(parsing: distribution) else { throw ValidationError("--distribution '\(distribution)' is not valid") }
        guard (0...1).contains(readRatio) else { throw ValidationError("--read-ratio \(readRatio): must be within 0...1") }
        guard keys >= 1 else { throw ValidationError("--keys must be at least 1") }
        guard valueSize >= 8, valueSize <= Value.sizeLimit else { throw ValidationError("--value-size \(valueSize): must be within 8...\(Value.sizeLimit)") }
        guard let kind = WorkloadKind(parsing: kind) else {
            throw ValidationError("--kind '\(self.kind)': expected kv, bank[:K] or locks[:count=N][:lease=D][:margin=D][:hold=D][:crash=P][:cutoff=P]")
        }
        var spec = WorkloadSpec(keys: keys, distribution: distribution, readRatio: readRatio, valueSize: valueSize)
        spec.kind = kind
        guard let workload = ClientWorkload.parse(workload, spec: spec) else {
            throw ValidationError("--workload '\(self.workload)': expected mixed, write-keys:N or read-keys:N")
        }
        var config = ClientRunConfig(nodes: endpoints)
        config.clusterID = clusterID
        config.processIndex = processIndex
        if let runNonce { config.runNonce = runNonce }
        guard (0..<256).contains(processIndex) else { throw ValidationError("--process-index \(processIndex): must be within 0...255") }
        config.sessions = sessions
        config.workload = workload
        config.seed = seed
        config.startAt = startAt.map { BenchCore.Instant(nanoseconds: $0) }
        if let rate {
            guard rate > 0, rate.isFinite else { throw ValidationError("--rate \(rate): must be positive") }
            guard arrival == "poisson" || arrival == "constant" else { throw ValidationError("--arrival '\(arrival)': expected constant or poisson") }
            config.plan = .openLoop(rate: rate, poisson: arrival == "poisson")
        }
        config.warmup = try parseDuration(warmup, "warmup", allowZero: true)
        config.duration = try duration.map { try parseDuration($0, "duration", allowZero: false) }
        if case .mixed = workload, config.duration == nil, ops == nil { config.duration = .seconds(5) }
        if let ops { guard ops > 0 else { throw ValidationError("--ops must be positive") }; config.operations = ops }
        guard let policy = ResiliencePolicy(parsing: resilience) else {
            throw ValidationError("--resilience '\(resilience)': expected default, none, backoff, protected or degrade, optionally +token:RATE or +leaky:RATE")
        }
        config.resilience = policy
        config.session.requestTimeout = try parseDuration(timeout, "timeout", allowZero: false)
        config.session.operationDeadline = try parseDuration(deadline, "deadline", allowZero: false)
        if let out, !FileManager.default.isWritableFile(atPath: URL(fileURLWithPath: out).deletingLastPathComponent().path) {
            throw ValidationError("--out \(out): directory is not writable")
        }

        let result: ClientResult
        do { result = try LoadDriver.run(config) } catch let error as NodeError { throw ValidationError(error.message) }
        if let out {
            try Data(result.encodedBytes()).write(to: URL(fileURLWithPath: out), options: .atomic)
        }
        print("ok \(result.succeeded) failed \(result.failed) unknown \(result.unknown) throughput \(Int(result.throughput)) ops/s "
              + "p50 \(result.latency.percentile(50))us p99 \(result.latency.percentile(99))us p999 \(result.latency.percentile(99.9))us "
              + "max \(result.latency.max)us history \(result.history.count) retries \(result.retries) degraded \(result.degraded) shed \(result.shed)")
    }

    func parseDuration(_ text: String, _ name: String, allowZero: Bool) throws -> BenchCore.Duration {
        guard let d = BenchCore.Duration(parsing: text), allowZero || d > .zero else {
            throw ValidationError("--\(name) '\(text)': expected a duration like 2s or 100ms")
        }
        return d
    }
}

/// `bench ctl`: send a control command to a node (status, isolate, faults, stop).
struct ControlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl", abstract: "Ask a node for its status, or stop it: bench ctl --node 127.0.0.1:7201 status")

    @Option(help: "The node's client port, host:port.")
    var node: String

    @Option(name: .customLong("cluster-id"), help: "Cluster id carried by every frame.")
    var clusterID: UInt32 = 1

    @Argument(help: "status | stop | isolate <ids,...> | heal")
    var command: [String]

    func run() throws {
        guard let endpoint = Endpoint(parsing: node) else { throw ValidationError("--node '\(node)' is not host:port") }
        let request: ControlRequest
        switch command.first {
        case "status": request = .status
        case "stop": request = .stop
        case "heal": request = .isolate(from: [])
        case "isolate":
            guard command.count == 2 else { throw ValidationError("isolate needs a comma-separated list of node ids") }
            request = .isolate(from: command[1].split(separator: ",").compactMap { UInt32($0) }.map { NodeID($0) })
        default: throw ValidationError("unknown control command '\(command.joined(separator: " "))'")
        }
        let reply: ControlReply
        do { reply = try ControlClient.send(request, to: endpoint, clusterID: clusterID) } catch let e as NodeError { throw ValidationError(e.message) }
        switch reply {
        case let .report(r):
            print("node \(r.id.rawValue) role \(r.status.role.rawValue) term \(r.status.term.rawValue) leader \(r.status.leader.map { "\($0.rawValue)" } ?? "-") "
                  + "commit \(r.status.commitIndex.rawValue) sent \(r.messagesSent) received \(r.messagesReceived) fsyncs \(r.fsyncs) "
                  + "bad-frames \(r.badFrames) cpu \(Double(r.cpuNanos) / 1e9)s rss \(r.peakRSSBytes >> 20)MiB allocator \(r.allocator)")
        case .done: print("done")
        case let .inspection(bytes): print("inspection: \(bytes.count) bytes")
        case let .failed(message): throw ValidationError(message)
        }
    }
}
