import BenchCore
import Checker
import LoadGen
import Simulation

/// The figures of one finished cell repetition, whatever mode it ran in.
public struct CellOutcome: Sendable {
    public var row: ResultRow
    public var histogram: LatencyHistogram
    public var throughput: Double
    public var verdict: String
    public var failed: Bool
    /// The merged client measurements of a real cell (time series, retries); nil in sim.
    public var clientResult: ClientResult? = nil
    /// Why the run was not correct, in a few readable lines (written next to the results).
    public var counterexample: String? = nil
    /// Operations and latency per 100 ms (`timeseries/<cell>.csv`).
    public var timeSeries: String? = nil
    /// The faults carried out (times from the start of the measurement window).
    public var injectedFaults: [InjectedFault] = []
}

/// Correctness of a run, in the words of the `verdict` column.
enum Verdicts {
    static func linearizability(_ history: History) -> (verdict: String, violations: Int, detail: String?) {
        switch Linearizability.check(history) {
        case .linearizable: return ("linearizable", 0, nil)
        case let .violation(counterexample): return ("NOT-LINEARIZABLE", 1, counterexample.explanation)
        case let .undecided(reason): return ("undecided", 0, reason)
        }
    }
}

enum SimulatedCell {
    /// Runs one repetition of `cell` in the simulator.
    static func run(_ cell: Cell, repetition: Int, seed: UInt64, descriptor: ProtocolDescriptor) throws -> CellOutcome {
        var options = SimulationOptions()
        options.seed = seed
        options.nodes = cell.nodes
        options.clients.clients = cell.clients
        options.clients.workload = cell.workload
        // The simulator's clients share the session logic, so they take the back-off; budgets,
        // breakers and rate limits act in real client processes only.
        options.clients.session.backoff = cell.resilience.backoff
        options.faults = cell.faults
        // Clients sit on a side of a partition, as in a real network split (see ClientModel).
        options.clients.followPartitions = cell.faults.events.contains { if case .partition = $0.action { true } else { false } }
        options.duration = cell.duration + cell.warmup
        options.warmup = cell.warmup
        let result = try descriptor.simulate(options, cell.effectiveSettings)
        let guarantee = descriptor.guarantee(for: cell.effectiveSettings)

        var histogram = LatencyHistogram()
        for latency in result.latencies { histogram.record(.nanoseconds(latency)) }

        var violations = result.violations.count
        var verdict: String
        var detail: [String] = result.violations
        switch guarantee {
        case .linearizable:
            let check = Verdicts.linearizability(result.history)
            verdict = check.verdict
            violations += check.violations
            if check.violations > 0, let text = check.detail { detail.append(text) }
        case .eventual:
            let report = Staleness.measure(result.history)
            verdict = "stale-rate:\(format(report.staleReadRate, digits: 4))"
        case .atomic:
            verdict = violations == 0 ? "atomic" : "NOT-ATOMIC"
        }

        if !result.violations.isEmpty && verdict == "linearizable" { verdict = "INVARIANT-VIOLATED" }
        let lockFindings = LockFindings(cell: cell, history: result.history)
        lockFindings.judge(verdict: &verdict, violations: &violations, detail: &detail)

        var row = ResultRow.describing(cell, repetition: repetition, seed: seed)
        row.setStaleness(result.history)
        let ops = max(result.opsOK, 1)
        row["duration_s"] = format(cell.duration.seconds, digits: 3)
        row["ops_ok"] = "\(result.opsOK)"
        row["ops_failed"] = "\(result.opsFailed)"
        row["ops_unknown"] = "\(result.opsUnknown)"
        row["throughput_ops_s"] = format(result.throughput, digits: 1)
        row.setLatencies(histogram)
        row["availability"] = format(result.opsAttempted == 0 ? 0 : Double(result.opsOK) / Double(max(result.opsAttempted, result.opsOK)), digits: 4)
        row["verdict"] = verdict
        row["violations"] = "\(violations)"
        row["leader_changes"] = "\(result.leaderElections)"
        row["messages_per_op"] = format(Double(result.messages) / Double(ops), digits: 3)
        row["fsyncs_per_op"] = format(Double(result.fsyncs) / Double(ops), digits: 3)
        row["cpu_s"] = format(result.cpuTime.seconds, digits: 3)
        row["allocator"] = "none"
        row["client_processes"] = "0"
        row.setMetrics(result.metrics)
        lockFindings.fill(&row)
        if let share = result.sideAvailability.minority { row["availability_minority"] = format(share, digits: 4) }
        if let share = result.sideAvailability.majority { row["availability_majority"] = format(share, digits: 4) }
        let origin = Instant.zero + cell.warmup
        let buckets = FaultFigures.apply(
            to: &row, history: result.history, faults: result.injectedFaults,
            leaderCrashes: result.injectedFaults.filter { $0.action == "crash-leader" }.map(\.at),
            origin: origin, duration: cell.duration)
        if result.opsAborted > 0 || guarantee == .atomic {
            row["abort_rate"] = format(Double(result.opsAborted) / Double(max(result.opsAttempted, 1)), digits: 4)
        }
        // A window in which nothing succeeded measured nothing: say so rather than print zeros as figures.
        let measuredNothing = result.opsOK == 0
        row["status"] = measuredNothing ? "failed: no operation succeeded in the measured window" : "ok"
        var outcome = CellOutcome(row: row, histogram: histogram, throughput: result.throughput, verdict: verdict, failed: measuredNothing)
        outcome.timeSeries = FaultFigures.csv(buckets)
        outcome.injectedFaults = result.injectedFaults
        if !detail.isEmpty { outcome.counterexample = (["replay: bench sim with \(options)"] + detail).joined(separator: "\n") }
        return outcome
    }
}

extension ResultRow {
    /// The parameter columns of a cell.
    static func describing(_ cell: Cell, repetition: Int, seed: UInt64) -> ResultRow {
        var row = ResultRow()
        row["cell"] = cell.name
        row["protocol"] = cell.protocolName
        row["mode"] = cell.mode.rawValue
        row["nodes"] = "\(cell.nodes)"
        row["n"] = cell.n.map { "\($0)" } ?? ""
        row["w"] = cell.w.map { "\($0)" } ?? ""
        row["r"] = cell.r.map { "\($0)" } ?? ""
        row["clients"] = "\(cell.clients)"
        row["target_rate"] = cell.rate.map { format($0, digits: 1) } ?? ""
        row["arrival"] = cell.rate == nil ? "" : (cell.poissonArrivals ? "poisson" : "constant")
        row["read_ratio"] = "\(cell.workload.readRatio)"
        row["value_size"] = "\(cell.workload.valueSize)"
        row["keys"] = "\(cell.workload.keys)"
        row["distribution"] = cell.workload.distribution.description
        row["workload"] = cell.workload.kind.description
        // The read mode and lease margin the cell ran with: its own setting, else the protocol's default.
        let defaults = ProtocolCatalog.named(cell.protocolName)?.defaultSettings ?? []
        func setting(_ key: String) -> String? {
            cell.settings.last(where: { $0.key == key })?.value ?? defaults.first(where: { $0.key == key })?.value
        }
        row["read_mode"] = setting("read-mode") ?? ""
        // A lease margin matters to lock clients, to lease reads, and to a primary's lease.
        let leaseMatters = setting("read-mode") == "lease" || setting("lease-duration") != nil
        if let lock = cell.workload.kind.lockWorkload {
            row["lease_margin_ms"] = format(lock.margin.milliseconds, digits: 3)
        } else if leaseMatters, let text = setting("lease-margin"), let margin = Duration(parsing: text) {
            row["lease_margin_ms"] = format(margin.milliseconds, digits: 3)
        }
        row["drop"] = "\(cell.faults.dropProbability)"
        row["duplicate"] = "\(cell.faults.duplicateProbability)"
        var rest = cell.faults
        rest.dropProbability = 0
        rest.duplicateProbability = 0
        row["faults"] = rest.description
        row["settings"] = cell.settings.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
        row["resilience"] = cell.resilience.name
        row["seed"] = "\(seed)"
        row["repetition"] = "\(repetition)"
        return row
    }

    /// Stale reads, measured for every protocol (0 expected for the linearizable ones).
    mutating func setStaleness(_ history: History) {
        let report = Staleness.measure(history)
        self["stale_read_rate"] = format(report.staleReadRate, digits: 5)
        self["stale_age_p50_us"] = report.staleReadCount == 0 ? "" : format(Double(report.staleAgeP50Nanos) / 1_000, digits: 1)
    }

    /// Protocol figures by column name; names that are not columns are ignored.
    mutating func setMetrics(_ metrics: [String: Double]) {
        for (name, value) in metrics where Columns.names.contains(name) {
            self[name] = format(value, digits: 4)
        }
    }

    mutating func setLatencies(_ histogram: LatencyHistogram) {
        self["p50_us"] = "\(histogram.percentile(50))"
        self["p90_us"] = "\(histogram.percentile(90))"
        self["p99_us"] = "\(histogram.percentile(99))"
        self["p999_us"] = "\(histogram.percentile(99.9))"
        self["max_us"] = "\(histogram.max)"
    }
}

/// Fixed-point formatting without Foundation's locale-dependent formatters.
func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = "\(rounded)"
    if text.hasSuffix(".0") { text.removeLast(2) }
    if text.contains("e") { text = String(format: "%.\(digits)f", value) }
    return text
}

import Foundation

/// The lock service's own check, for cells whose clients run the lock workload: no two clients
/// may believe they hold one lock at the same instant; and how long a lock stayed unusable after
/// its holder crashed.
struct LockFindings {
    var report: LockSafety.Report?

    init(cell: Cell, history: History) {
        report = cell.workload.kind.lockWorkload == nil ? nil : LockSafety.check(history)
    }

    /// A run in which no client ever held a lock checked nothing about locks: undecided.
    func judge(verdict: inout String, violations: inout Int, detail: inout [String]) {
        guard let report else { return }
        let failed = verdict != "linearizable"
        if report.beliefCount == 0 {
            if !failed { verdict = "undecided" }
            detail.append("no client held a lock: lock safety was not checked")
        } else if report.isSafe {
            if !failed { verdict = "lock-safe" }
        } else {
            violations += report.overlapCount
            verdict = failed ? verdict + "+LOCK-OVERLAP" : "LOCK-OVERLAP"
            detail += report.overlaps.map { "\($0)" }
        }
    }

    func fill(_ row: inout ResultRow) {
        guard let report, report.beliefCount > 0 else { return }
        row["lock_overlaps"] = "\(report.overlapCount)"
        row["lock_unavailable_ms"] = report.unavailableAfterCrashMeanMs.map { format($0, digits: 1) } ?? ""
    }
}
