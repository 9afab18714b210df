import BenchCore

/// Where a cell runs.
public enum RunMode: String, Sendable, CaseIterable {
    case sim, real
}

/// A parameter sweep: every parameter is a list, and the cells are their cartesian product.
public struct SweepSpec: Sendable {
    public var protocols: [String] = ["raft"]
    public var mode: RunMode = .sim
    public var nodes: [Int] = [3]
    /// NWR parameters; apply only to protocols that use them.
    public var n: [Int] = []
    public var w: [Int] = []
    public var r: [Int] = []
    public var clients: [Int] = [8]
    /// Open-loop target rates (operations/s over all clients); empty: closed loop.
    public var rates: [Double] = []
    public var poissonArrivals = true
    /// Client processes per real cell (sessions are spread over them); nil: min(clients, 2).
    public var clientProcesses: Int?
    public var allocator: AllocatorChoice = .jemalloc
    /// Client resilience policies (an axis).
    public var resilience: [ResiliencePolicy] = [ResiliencePolicy()]
    public var readRatios: [Double] = [0.5]
    public var valueSizes: [Int] = [64]
    public var keys: [Int] = [1_000]
    public var distributions: [KeyDistribution] = [.uniform]
    /// Workload kinds to run instead of each protocol's own (a bank for 2PC, locks for the lock
    /// service). A kind applies to the protocols whose own kind is of the same sort; empty: each
    /// protocol's own.
    public var workloadKinds: [WorkloadKind] = []
    public var drops: [Double] = [0]
    public var duplicates: [Double] = [0]
    /// The rest of the fault schedule (events, delay, skew), common to every cell.
    public var faults = FaultSchedule()
    /// Protocol settings: each key may take a list of values, which becomes another axis.
    public var settings: [(key: String, values: [String])] = []
    public var repetitions = 1
    public var duration: Duration = .seconds(2)
    public var warmup: Duration = .milliseconds(500)
    public var seed: UInt64 = 1

    public init() {}
}

/// One combination of parameters.
public struct Cell: Sendable {
    public var index: Int
    public var protocolName: String
    public var mode: RunMode
    public var nodes: Int
    public var n: Int?
    public var w: Int?
    public var r: Int?
    public var clients: Int
    /// Open-loop target rate (nil: closed loop).
    public var rate: Double?
    public var poissonArrivals: Bool
    public var clientProcesses: Int
    public var allocator: AllocatorChoice
    public var resilience: ResiliencePolicy
    public var workload: WorkloadSpec
    public var faults: FaultSchedule
    public var settings: [(key: String, value: String)]
    public var duration: Duration
    public var warmup: Duration

    /// The protocol settings to run with: the swept ones, plus N, W and R for quorum protocols.
    public var effectiveSettings: [(String, String)] {
        var pairs = settings.map { ($0.key, $0.value) }
        if let n, let w, let r { pairs += [("n", "\(n)"), ("w", "\(w)"), ("r", "\(r)")] }
        return pairs
    }

    /// A short unique name: the histogram file name and the `cell` column.
    public var name: String {
        var parts = [String(format: "%03d", index), protocolName, mode.rawValue, "n\(nodes)"]
        if let n, let w, let r { parts.append("N\(n)W\(w)R\(r)") }
        parts.append("c\(clients)")
        if let rate { parts.append("rate\(Int(rate))") }
        if resilience.name != "default" { parts.append(resilience.name) }
        parts.append("rr\(workload.readRatio)")
        if case let .locks(locks) = workload.kind { parts.append(locks == LockWorkload() ? "locks" : workload.kind.description) }
        if case let .bank(k) = workload.kind, k != 2 { parts.append("bank\(k)") }
        if faults.dropProbability > 0 { parts.append("drop\(faults.dropProbability)") }
        if faults.duplicateProbability > 0 { parts.append("dup\(faults.duplicateProbability)") }
        for (key, value) in settings { parts.append("\(key)=\(value)") }
        return parts.joined(separator: "-").map { $0.isLetter || $0.isNumber || "-.=_".contains($0) ? $0 : "_" }
            .reduce(into: "") { $0.append($1) }
    }
}

/// A combination the sweep does not run, and why.
public struct SkippedCell: Sendable, CustomStringConvertible {
    public var parameters: String
    public var reason: String
    public var description: String { "skipped \(parameters): \(reason)" }
}

/// Why a sweep cannot run at all (bad input: exit 2).
public struct SweepError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension SweepSpec {
    /// Checks every value that does not depend on the combination; throws the first problem.
    public func validate(catalog: [ProtocolDescriptor] = ProtocolCatalog.all) throws(SweepError) {
        if protocols.isEmpty { throw SweepError("no protocol given") }
        for name in protocols where !catalog.contains(where: { $0.name == name }) {
            throw SweepError("unknown protocol '\(name)' (known: \(catalog.map(\.name).joined(separator: ", ")))")
        }
        func nonEmpty<T>(_ list: [T], _ name: String) throws(SweepError) {
            if list.isEmpty { throw SweepError("--\(name) needs at least one value") }
        }
        try nonEmpty(nodes, "nodes"); try nonEmpty(clients, "clients"); try nonEmpty(readRatios, "read-ratio")
        try nonEmpty(valueSizes, "value-size"); try nonEmpty(keys, "keys"); try nonEmpty(distributions, "distribution")
        try nonEmpty(drops, "drop"); try nonEmpty(duplicates, "duplicate"); try nonEmpty(resilience, "resilience")
        for v in nodes where v < 1 || v > 1_000 { throw SweepError("--nodes \(v): must be between 1 and 1000") }
        for v in n + w + r where v < 1 { throw SweepError("N, W and R must be at least 1 (got \(v))") }
        for v in clients where v < 1 || v > 65_536 { throw SweepError("--clients \(v): must be between 1 and 65536") }
        for v in rates where !(v > 0) || !v.isFinite { throw SweepError("--rate \(v): must be a positive number of operations per second") }
        if let p = clientProcesses, p < 1 || p > 64 { throw SweepError("--client-processes \(p): must be between 1 and 64") }
        for v in readRatios where !(0...1).contains(v) { throw SweepError("--read-ratio \(v): must be within 0...1") }
        for v in valueSizes where v < 8 || v > Value.sizeLimit { throw SweepError("--value-size \(v): must be within 8...\(Value.sizeLimit)") }
        for v in keys where v < 1 { throw SweepError("--keys \(v): must be at least 1") }
        for v in drops where !(0...1).contains(v) { throw SweepError("--drop \(v): must be within 0...1") }
        for v in duplicates where !(0...1).contains(v) { throw SweepError("--duplicate \(v): must be within 0...1") }
        if repetitions < 1 { throw SweepError("--repeat \(repetitions): must be at least 1") }
        if duration <= .zero { throw SweepError("--duration must be positive") }
        if warmup < .zero { throw SweepError("--warmup cannot be negative") }
        for (key, values) in settings where values.isEmpty { throw SweepError("--set \(key) needs a value") }
    }

    /// The cells to run and the combinations skipped (with reasons). Throws when the input is bad
    /// or when no combination is valid.
    public func expand(catalog: [ProtocolDescriptor] = ProtocolCatalog.all) throws(SweepError) -> (cells: [Cell], skipped: [SkippedCell]) {
        try validate(catalog: catalog)
        var cells: [Cell] = []
        var skipped: [SkippedCell] = []
        for name in protocols {
            let descriptor = catalog.first { $0.name == name }!
            if case .locks = descriptor.workload, !rates.isEmpty {
                throw SweepError("\(name) runs closed loop only: lock sessions acquire, hold and release in turn (drop --rate)")
            }
            // Settings: only the keys this protocol has; an axis per key with several values.
            let known = Set(descriptor.defaultSettings.map(\.key))
            let axes = settings.filter { known.contains($0.key) }
            for (key, _) in settings where !known.contains(key) && protocols.count == 1 {
                throw SweepError("unknown setting '\(key)' for \(name) (see: bench list)")
            }
            var settingCombos: [[(key: String, value: String)]] = [[]]
            for (key, values) in axes {
                settingCombos = settingCombos.flatMap { combo in values.map { combo + [(key: key, value: $0)] } }
            }
            for combo in settingCombos {
                do { try descriptor.validateSettings(combo.map { ($0.key, $0.value) }) }
                catch { throw SweepError("\(name): \(error)") }
            }
            let quorumAxes: [(Int?, Int?, Int?)]
            if descriptor.usesQuorumParameters {
                let ns = n.isEmpty ? [3] : n, ws = w.isEmpty ? [2] : w, rs = r.isEmpty ? [2] : r
                quorumAxes = ns.flatMap { a in ws.flatMap { b in rs.map { c in (Optional(a), Optional(b), Optional(c)) } } }
            } else {
                quorumAxes = [(nil, nil, nil)]
            }
            // The other axes, each flattened to one list, so the product below stays readable.
            let loads = product(product(clients, rates.isEmpty ? [nil] : rates.map { Optional($0) }), resilience)
            let ownKinds = workloadKinds.filter { $0.isSameSort(as: descriptor.workload) }
            let kinds = ownKinds.isEmpty ? [descriptor.workload] : ownKinds
            let workloads = product(product(product(readRatios, valueSizes), product(keys, distributions)), kinds).map { ab, kind in
                let (a, b) = ab
                var spec = WorkloadSpec(keys: b.0, distribution: b.1, readRatio: a.0, valueSize: a.1)
                spec.kind = kind
                return spec
            }
            let networks = product(drops, duplicates)
            for nodeCount in nodes {
                for (qn, qw, qr) in quorumAxes {
                    if let qn, let qw, let qr {
                        let label = "\(name) nodes=\(nodeCount) N=\(qn) W=\(qw) R=\(qr)"
                        if qn > nodeCount { skipped.append(.init(parameters: label, reason: "N > nodes")); continue }
                        if qw > qn { skipped.append(.init(parameters: label, reason: "W > N")); continue }
                        if qr > qn { skipped.append(.init(parameters: label, reason: "R > N")); continue }
                    }
                    for ((clientCount, rate), policy) in loads {
                        for workload in workloads {
                            for (drop, duplicate) in networks {
                                for combo in settingCombos {
                                    var schedule = faults
                                    schedule.dropProbability = drop
                                    schedule.duplicateProbability = duplicate
                                    cells.append(Cell(
                                        index: cells.count + 1, protocolName: name, mode: mode, nodes: nodeCount,
                                        n: qn, w: qw, r: qr, clients: clientCount, rate: rate, poissonArrivals: poissonArrivals,
                                        clientProcesses: max(1, min(clientProcesses ?? 2, clientCount)), allocator: allocator,
                                        resilience: policy,
                                        workload: workload,
                                        faults: schedule, settings: combo, duration: duration, warmup: warmup))
                                }
                            }
                        }
                    }
                }
            }
        }
        for kind in workloadKinds where !protocols.contains(where: { ProtocolCatalog.named($0)?.workload.isSameSort(as: kind) == true }) {
            throw SweepError("--workload \(kind): applies to none of the selected protocols (kv: key-value protocols, bank: 2pc and 3pc, locks: lease-locks)")
        }
        if cells.isEmpty {
            let reasons = skipped.map(\.description).joined(separator: "; ")
            throw SweepError("no valid combination to run (\(reasons))")
        }
        return (cells, skipped)
    }
}

import Foundation

/// Every pair of an element of `a` and an element of `b`, `a` varying slowest.
func product<A, B>(_ a: [A], _ b: [B]) -> [(A, B)] {
    a.flatMap { x in b.map { y in (x, y) } }
}

extension WorkloadKind {
    /// Whether both are key-value, both banks, or both lock workloads (whatever their knobs).
    func isSameSort(as other: WorkloadKind) -> Bool {
        switch (self, other) {
        case (.keyValue, .keyValue), (.bank, .bank), (.locks, .locks): true
        default: false
        }
    }
}
