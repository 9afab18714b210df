import BenchCore
import Checker
import Foundation
import Glibc
import LoadGen
import Runtime
import Simulation

/// Runs one cell repetition as real processes: a fresh cluster of node processes, K client
/// processes, warm-up then measurement, then everything stopped and reaped; the clients'
/// histograms are merged exactly and their histories checked.
enum RealCell {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ cell: Cell, repetition: Int, seed: UInt64, descriptor: ProtocolDescriptor, workRoot: URL,
                    interrupted: () -> Bool) throws -> CellOutcome {
        let directory = workRoot.appendingPathComponent("\(cell.name)-rep\(repetition)")
        var options = LocalCluster.Options(nodes: cell.nodes, protocolName: cell.protocolName, directory: directory)
        options.settings = cell.effectiveSettings
        options.allocator = cell.allocator
        let cluster = try LocalCluster(options: options)
        var clients: [Process] = []
        defer {
            for client in clients where client.isRunning { kill(client.processIdentifier, SIGKILL) }
            for client in clients { client.waitUntilExit(); ChildProcesses.unregister(client.processIdentifier) }
            cluster.stop()
            cluster.removeData()
        }
        try cluster.start()
        try cluster.waitUntilReady(needLeader: descriptor.hasLeader(for: cell.effectiveSettings))
        // Every client process starts at the same instant, so their windows and the fault
        // schedule share one origin: the start of the measurement window.
        let startAt = FaultInjector.now() + .milliseconds(400)
        let injector = FaultInjector(schedule: cell.faults, cluster: cluster, seed: seed, origin: startAt + cell.warmup)
        try injector.configureAll()

        // Client processes, sessions spread evenly; one nonce for the run keeps client ids unique.
        let nonce = UInt64.random(in: 0..<4_096)
        let processCount = cell.clientProcesses
        var outputs: [URL] = []
        for k in 0..<processCount {
            let sessions = cell.clients / processCount + (k < cell.clients % processCount ? 1 : 0)
            let out = directory.appendingPathComponent("client-\(k).result")
            outputs.append(out)
            var arguments = ["client", "--nodes", cluster.clientAddressList, "--cluster-id", "\(options.clusterID)",
                             "--sessions", "\(max(1, sessions))", "--warmup", "\(cell.warmup)", "--duration", "\(cell.duration)",
                             "--workload", "mixed", "--kind", cell.workload.kind.description, "--keys", "\(cell.workload.keys)", "--read-ratio", "\(cell.workload.readRatio)",
                             "--value-size", "\(cell.workload.valueSize)", "--distribution", cell.workload.distribution.description,
                             "--seed", "\(seed &+ UInt64(k))", "--process-index", "\(k)", "--run-nonce", "\(nonce)", "--out", out.path,
                             "--start-at", "\(startAt.nanoseconds)", "--resilience", cell.resilience.name]
            if let rate = cell.rate {
                arguments += ["--rate", "\(rate / Double(processCount))", "--arrival", cell.poissonArrivals ? "poisson" : "constant"]
            }
            clients.append(try spawn(arguments, allocator: cell.allocator, log: directory.appendingPathComponent("client-\(k).log")))
        }

        // Watch the run: the fault schedule, nodes that die, leaders that change, an interrupt.
        var leaders: Set<String> = []
        let limit = Date().addingTimeInterval((cell.warmup + cell.duration).seconds + 20)
        var lastLeaderPoll = Date.distantPast
        while clients.contains(where: \.isRunning) {
            if interrupted() { throw Failure(description: "interrupted") }
            if Date() > limit { throw Failure(description: "clients did not finish in time") }
            try injector.poll()
            let exits = cluster.unexpectedExits()
            if !exits.isEmpty { throw Failure(description: exits.joined(separator: "; ")) }
            if descriptor.hasLeader(for: cell.effectiveSettings), Date().timeIntervalSince(lastLeaderPoll) > 0.1 {
                lastLeaderPoll = Date()
                if let leader = cluster.leader(), let report = cluster.report(leader) {
                    leaders.insert("\(report.status.term.rawValue)/\(leader)")
                }
            }
            usleep(5_000)
        }
        // Crashed nodes come back before the counters are read, so every node reports.
        for node in 1...cell.nodes where !cluster.isRunning(node) { try? injector.restart(node, at: FaultInjector.now()) }
        try? cluster.waitUntilReady(needLeader: false, timeout: 5)
        for (k, client) in clients.enumerated() where client.terminationStatus != 0 {
            let last = (try? String(contentsOf: directory.appendingPathComponent("client-\(k).log"), encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? ""
            throw Failure(description: "client \(k) exited with status \(client.terminationStatus): \(last)")
        }
        let reports = cluster.reports().compactMap { $0 }
        let inspections = (1...cell.nodes).map { node -> [UInt8]? in
            guard case let .inspection(bytes)? = try? cluster.send(.inspect, to: node) else { return nil }
            return bytes
        }
        let findings = descriptor.inspectReal(inspections)
        let exits = cluster.unexpectedExits()
        if !exits.isEmpty { throw Failure(description: exits.joined(separator: "; ")) }

        var merged = ClientResult()
        for out in outputs { merged.merge(try ClientResult(decoding: Data(contentsOf: out))) }

        var row = ResultRow.describing(cell, repetition: repetition, seed: seed)
        row.setStaleness(merged.history)
        let guarantee = descriptor.guarantee(for: cell.effectiveSettings)
        var verdict: String
        var violations = 0
        switch guarantee {
        case .linearizable:
            let check = Verdicts.linearizability(merged.history)
            verdict = check.verdict
            violations = check.violations
        case .eventual:
            verdict = "stale-rate:\(format(Staleness.measure(merged.history).staleReadRate, digits: 4))"
        case .atomic:
            verdict = findings.violations.isEmpty ? "atomic" : "NOT-ATOMIC"
        }
        violations += findings.violations.count
        var lockDetail: [String] = []
        let lockFindings = LockFindings(cell: cell, history: merged.history)
        lockFindings.judge(verdict: &verdict, violations: &violations, detail: &lockDetail)
        let ops = Double(max(merged.succeeded, 1))
        row["client_processes"] = "\(processCount)"
        row["duration_s"] = format(cell.duration.seconds, digits: 3)
        row["ops_ok"] = "\(merged.succeeded)"
        row["ops_failed"] = "\(merged.failed)"
        row["ops_unknown"] = "\(merged.unknown)"
        row["ops_degraded"] = "\(merged.degraded)"
        row["ops_shed"] = "\(merged.shed)"
        row["retries_per_op"] = format(Double(merged.retries) / Double(max(merged.attempted, 1)), digits: 3)
        let throughput = Double(merged.succeeded) / cell.duration.seconds
        row["throughput_ops_s"] = format(throughput, digits: 1)
        row.setLatencies(merged.latency)
        if cell.rate != nil { row["uncorrected_p99_us"] = "\(merged.serviceTime.percentile(99))" }
        row["availability"] = format(merged.attempted == 0 ? 0 : Double(merged.succeeded) / Double(merged.attempted), digits: 4)
        row["verdict"] = verdict
        row["violations"] = "\(violations)"
        row["leader_changes"] = descriptor.hasLeader(for: cell.effectiveSettings) ? "\(leaders.count)" : ""
        row["messages_per_op"] = format(Double(reports.reduce(0) { $0 + $1.messagesSent }) / ops, digits: 3)
        row["fsyncs_per_op"] = format(Double(reports.reduce(0) { $0 + $1.fsyncs }) / ops, digits: 3)
        row["cpu_s"] = format(Double(reports.reduce(0) { $0 + $1.cpuNanos }) / 1e9, digits: 3)
        row["peak_rss_mb"] = format(Double(reports.map(\.peakRSSBytes).max() ?? 0) / 1_048_576, digits: 1)
        row["allocator"] = Set(reports.map(\.allocator)).sorted().joined(separator: "+")
        // Protocol counters: summed over nodes, except maxima (`_max_` in the name) which take the largest.
        let metrics = combinedMetrics(reports.map(\.metrics))
        row.setMetrics(metrics)
        row.setMetrics(findings.metrics)
        lockFindings.fill(&row)
        let origin = startAt + cell.warmup
        let sides = SideAvailability.measure(merged.history, partitions: injector.partitions, nodes: cell.nodes,
                                             windowStart: origin, windowEnd: origin + cell.duration)
        if let share = sides.minority { row["availability_minority"] = format(share, digits: 4) }
        if let share = sides.majority { row["availability_majority"] = format(share, digits: 4) }
        let buckets = FaultFigures.apply(
            to: &row, history: merged.history, faults: injector.log,
            leaderCrashes: injector.log.filter { $0.action == "crash-leader" }.map(\.at), origin: origin, duration: cell.duration)
        if merged.aborted > 0 || guarantee == .atomic {
            row["abort_rate"] = format(Double(merged.aborted) / Double(max(merged.attempted, 1)), digits: 4)
        }
        // A window in which nothing succeeded measured nothing: say so rather than print zeros as figures.
        let measuredNothing = merged.succeeded == 0
        row["status"] = measuredNothing ? "failed: no operation succeeded in the measured window" : "ok"
        var outcome = CellOutcome(row: row, histogram: merged.latency, throughput: throughput, verdict: verdict, failed: measuredNothing,
                                  clientResult: merged)
        outcome.timeSeries = FaultFigures.csv(buckets)
        outcome.injectedFaults = injector.log
        if violations > 0 {
            var detail = findings.violations + lockDetail
            if guarantee == .linearizable, let text = Verdicts.linearizability(merged.history).detail { detail.append(text) }
            outcome.counterexample = detail.joined(separator: "\n")
        }
        return outcome
    }

    /// Starts a `bench` child process (this binary) with the allocator and parent-death watch.
    static func spawn(_ arguments: [String], allocator: AllocatorChoice, log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: LocalCluster.ownExecutable)
        process.arguments = arguments
        var environment = Allocators.environment(for: allocator).environment
        environment["CONSENSUSBENCH_PARENT_PID"] = "\(getpid())"
        environment["CONSENSUSBENCH_REEXEC"] = "1"
        process.environment = environment
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        ChildProcesses.register(process.processIdentifier)
        return process
    }
}
