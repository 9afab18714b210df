import Benchmark
import BenchmarkPolicy
import BenchCore
import Foundation
import LogStore

// The write-ahead log on the local disk, with fdatasync: what a replica pays to make its log
// entries durable. Each benchmark works in its own fresh directory under the system temporary
// directory and removes it afterwards. Disk latency on a shared box varies far more than CPU
// time, so these get a wider wall-clock tolerance (`diskSlowdownPercent`).

let payloadBytes = 128
/// Entries per synchronous append: a protocol step's worth of writes.
let syncBatch = 64
/// Entries submitted per iteration of the group-commit benchmark.
let groupCommitEntries = 4_096
let diskSlowdownPercent: Double = 300

/// `count` entries with their own `payloadBytes`-byte `.record` payloads, numbered from `first`.
func makeEntries(first: Int, count: Int) -> [StorageWrite] {
    (0..<count).map { i in
        let position = first + i
        let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: position), count: payloadBytes)
        return .entry(LogEntry(index: LogIndex(UInt64(position)), term: Term(1), payload: .record(payload)))
    }
}

/// A fresh, empty directory for one benchmark's log.
func freshDirectory(_ label: String) -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("cb-benchmark-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        preconditionFailure("cannot create \(path): \(error)")
    }
    return path
}

func removeDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The log a synchronous benchmark appends to, opened in setup and closed in teardown.
final class OpenLog: @unchecked Sendable {
    // @unchecked Sendable: setup, iterations and teardown run one after another on the
    // benchmark runner's thread; nothing here is touched concurrently.
    var directory = ""
    var log: WriteAheadLog?
    var nextIndex = 1
}

let benchmarks: @Sendable () -> Void = {
    // One thread, no appender: encode, checksum, write and fdatasync one batch per iteration.
    let open = OpenLog()
    var syncConfiguration = BenchmarkPolicy.configuration(
        allocations: .within(percent: 10), slowdownPercent: diskSlowdownPercent, seconds: 2, iterations: 1_000, warmupIterations: 5)
    syncConfiguration.setup = {
        open.directory = freshDirectory("sync")
        open.log = try WriteAheadLog.open(directory: open.directory).log
        open.nextIndex = 1
    }
    syncConfiguration.teardown = {
        open.log?.stop()
        open.log = nil
        removeDirectory(open.directory)
    }
    Benchmark(BenchmarkPolicy.name("appendAndSync \(syncBatch) entries of \(payloadBytes)B"),
              configuration: syncConfiguration) { benchmark in
        guard let log = open.log else { preconditionFailure("setup opens the log") }
        let writes = makeEntries(first: open.nextIndex, count: syncBatch)
        open.nextIndex += syncBatch
        benchmark.startMeasurement()
        let report: WriteAheadLog.DurabilityReport?
        do {
            report = try log.appendAndSync(writes)
        } catch {
            preconditionFailure("appendAndSync failed: \(error)")
        }
        benchmark.stopMeasurement()
        precondition(report?.lastEntry?.index == LogIndex(UInt64(open.nextIndex - 1)), "the whole batch became durable")
    }

    // The appender thread with group commit: submit `groupCommitEntries` entries in submits of
    // 64 as fast as the ring takes them; the iteration ends when `stop()` has made all durable.
    // Thread start and stop are inside the measurement, as in `bench micro`'s saturation figure.
    Benchmark(BenchmarkPolicy.name("group commit \(groupCommitEntries) entries of \(payloadBytes)B until durable"),
              configuration: BenchmarkPolicy.configuration(
                allocations: .within(percent: 25), slowdownPercent: diskSlowdownPercent,
                seconds: 2, iterations: 100, warmupIterations: 2)) { benchmark in
        let directory = freshDirectory("group")
        defer { removeDirectory(directory) }
        let writes = makeEntries(first: 1, count: groupCommitEntries)
        let log: WriteAheadLog
        do {
            log = try WriteAheadLog.open(directory: directory).log
        } catch {
            preconditionFailure("cannot open the log: \(error)")
        }
        benchmark.startMeasurement()
        log.start(onDurable: { _ in })
        var position = 0
        while position < writes.count {
            let end = min(position + 64, writes.count)
            log.submit(writes[position..<end])
            position = end
        }
        log.stop()
        benchmark.stopMeasurement()
        precondition(log.statistics.records == groupCommitEntries, "every entry was written")
    }
}
