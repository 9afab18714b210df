/// The columns of `summary.csv`, in order, with their units. A column's meaning never changes
/// silently: `results/README.md` documents each one, and a test compares the header with a golden copy.
public enum Columns {
    public struct Column: Sendable {
        public let name: String
        public let meaning: String
    }

    public static let all: [Column] = [
        Column(name: "run_id", meaning: "the results directory this row belongs to"),
        Column(name: "cell", meaning: "the cell's name (also its histogram file name, without .hgrm)"),
        Column(name: "protocol", meaning: "protocol name as given to --protocols"),
        Column(name: "mode", meaning: "sim (deterministic simulator, virtual time) or real (node processes on loopback)"),
        Column(name: "nodes", meaning: "replicas in the cluster"),
        Column(name: "n", meaning: "replicas per key (NWR quorum protocols; empty otherwise)"),
        Column(name: "w", meaning: "write quorum (NWR; empty otherwise)"),
        Column(name: "r", meaning: "read quorum (NWR; empty otherwise)"),
        Column(name: "clients", meaning: "concurrent client sessions in closed loop (the concurrency)"),
        Column(name: "client_processes", meaning: "client processes the sessions were spread over (real mode; 0 in sim)"),
        Column(name: "target_rate", meaning: "open-loop target rate in operations/s (empty: closed loop)"),
        Column(name: "arrival", meaning: "open-loop arrivals: constant or poisson (empty: closed loop)"),
        Column(name: "read_ratio", meaning: "share of operations that are reads"),
        Column(name: "value_size", meaning: "bytes per written value"),
        Column(name: "keys", meaning: "number of distinct keys"),
        Column(name: "distribution", meaning: "key distribution: uniform, zipf:θ or hotspot:fraction:probability"),
        Column(name: "workload", meaning: "what clients issue: kv (gets and puts), bank:K (transfers across K accounts, balance reads), or locks:... (acquire, renew, release with a lease and margin)"),
        Column(name: "drop", meaning: "probability a peer message is dropped"),
        Column(name: "duplicate", meaning: "probability a peer message is delivered twice"),
        Column(name: "faults", meaning: "the rest of the fault schedule (crashes, partitions, delay, skew), or none"),
        Column(name: "settings", meaning: "protocol settings that differ from the defaults, key=value;..."),
        Column(name: "resilience", meaning: "client resilience: default, none, backoff, protected (backoff + retry budget + breaker), degrade, optionally +token:R / +leaky:R"),
        Column(name: "seed", meaning: "the seed of this repetition (replays a sim row exactly)"),
        Column(name: "repetition", meaning: "repetition number within the cell, from 1"),
        Column(name: "duration_s", meaning: "length of the measurement window in seconds (virtual in sim)"),
        Column(name: "ops_ok", meaning: "operations that completed successfully in the window"),
        Column(name: "ops_failed", meaning: "operations that certainly did not take effect (refused)"),
        Column(name: "ops_unknown", meaning: "operations whose outcome the client never learned (timeouts)"),
        Column(name: "ops_degraded", meaning: "reads served from a replica's local state while the leader was unreachable (resilience degrade; not in ops_ok; real runs only)"),
        Column(name: "ops_shed", meaning: "operations the client's own rate limiter refused (in ops_failed; real runs only)"),
        Column(name: "retries_per_op", meaning: "retry attempts sent / operations started (real runs only)"),
        Column(name: "throughput_ops_s", meaning: "ops_ok / duration_s"),
        Column(name: "p50_us", meaning: "latency median in microseconds (open loop: from the intended start)"),
        Column(name: "p90_us", meaning: "latency 90th percentile, µs"),
        Column(name: "p99_us", meaning: "latency 99th percentile, µs"),
        Column(name: "p999_us", meaning: "latency 99.9th percentile, µs"),
        Column(name: "max_us", meaning: "largest latency, µs"),
        Column(name: "uncorrected_p99_us", meaning: "open loop: p99 of service time from the actual send (coordinated omission NOT corrected); empty in closed loop"),
        Column(name: "availability", meaning: "operations that succeeded / operations attempted in the window"),
        Column(name: "verdict", meaning: "correctness of the run: linearizable, NOT-LINEARIZABLE, undecided, INVARIANT-VIOLATED (an oracle or a replica's own check failed), stale-rate:x, atomic, NOT-ATOMIC, lock-safe, LOCK-OVERLAP (several failures are joined with +)"),
        Column(name: "violations", meaning: "number of safety violations found (oracle, checker); 0 for a correct run"),
        Column(name: "leader_changes", meaning: "leaders established during the run (terms or epochs with a leader)"),
        Column(name: "messages_per_op", meaning: "peer messages sent / ops_ok"),
        Column(name: "fsyncs_per_op", meaning: "disk syncs / ops_ok"),
        Column(name: "cpu_s", meaning: "CPU seconds used by the node processes (sim: modelled CPU time)"),
        Column(name: "peak_rss_mb", meaning: "largest resident set of any node process in MiB (empty in sim)"),
        Column(name: "allocator", meaning: "allocator the processes ran on: jemalloc or system (sim: none)"),
        Column(name: "read_mode", meaning: "how reads were served where the protocol has a choice: log, readindex, lease, leader, follower"),
        Column(name: "lease_margin_ms", meaning: "the lease safety margin for clock drift, ms (lease protocols and lease reads)"),
        Column(name: "recovery_ms", meaning: "time from a leader/primary crash to the first successful write after it (election or failover time), ms; empty without a crash"),
        Column(name: "unavailable_max_ms", meaning: "the longest stretch of the window with no successful operation, ms"),
        Column(name: "throughput_dip", meaning: "1 − (the lowest 100 ms throughput after the first fault ÷ the mean before it); empty without faults"),
        Column(name: "stale_read_rate", meaning: "reads that missed a write completed before they began / reads (eventually consistent protocols; 0 expected for linearizable ones)"),
        Column(name: "stale_age_p50_us", meaning: "over stale reads: how long before the read began the newer write had completed, median µs"),
        Column(name: "convergence_p50_ms", meaning: "from a write's completion until every live replica holds it (or a newer value), median ms"),
        Column(name: "convergence_max_ms", meaning: "the same, maximum ms"),
        Column(name: "unconverged_writes", meaning: "acknowledged writes that had not reached every live replica by the end of the run (NWR, gossip; simulator)"),
        Column(name: "divergent_keys", meaning: "keys whose live replicas held different versions at the end of the run (NWR, gossip; in-flight writes make a few expected)"),
        Column(name: "messages_per_update", meaning: "gossip: peer messages sent per client write"),
        Column(name: "abort_rate", meaning: "transactions aborted / transactions attempted"),
        Column(name: "blocked_max_ms", meaning: "longest time a participant held locks waiting for a commit decision, ms (2PC/3PC)"),
        Column(name: "bank_drift", meaning: "2PC/3PC: change in the bank's total over the run, from every shard's own applied deltas (0 for a correct run; empty when a node could not be audited)"),
        Column(name: "atomicity_violations", meaning: "transactions committed on some participants and aborted on others (0 for a correct protocol)"),
        Column(name: "availability_minority", meaning: "during a partition: succeeded / attempted for clients on the minority side (each client lives with a home node and reaches only its side)"),
        Column(name: "availability_majority", meaning: "during a partition: succeeded / attempted for clients on the majority side"),
        Column(name: "lock_overlaps", meaning: "pairs of lock holds by different clients that overlapped in time (0 for a safe lease; empty when no lock was held)"),
        Column(name: "lock_unavailable_ms", meaning: "after a lock holder crashed: time until another client acquired the lock, ms (≈ the lease)"),
        Column(name: "status", meaning: "ok, or failed: reason (the cell did not complete; its figures are not valid)"),
    ]

    public static var header: String { all.map(\.name).joined(separator: ",") }
    public static let names: Set<String> = Set(all.map(\.name))
}

/// One row of `summary.csv`: values by column name; columns without a value are written empty.
public struct ResultRow: Sendable {
    public var values: [String: String] = [:]

    public init() {}

    public subscript(column: String) -> String? {
        get { values[column] }
        set {
            precondition(Columns.names.contains(column), "unknown column \(column)")
            values[column] = newValue
        }
    }

    /// The row as one CSV line (RFC 4180 quoting where a value needs it).
    public var csvLine: String {
        Columns.all.map { CSV.escape(values[$0.name] ?? "") }.joined(separator: ",")
    }
}

public enum CSV {
    public static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Splits one CSV line into fields (for reading results back: the gate, tests).
    public static func split(_ line: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var iterator = line.makeIterator()
        while let c = iterator.next() {
            if quoted {
                if c == "\"" {
                    if let n = iterator.next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; if n == "," { fields.append(field); field = "" } else { field.append(n) } }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { fields.append(field); field = "" }
            else { field.append(c) }
        }
        fields.append(field)
        return fields
    }
}

import Foundation
