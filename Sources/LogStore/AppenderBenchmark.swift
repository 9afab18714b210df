import BenchCore
import Glibc

/// Throughput of the appender beside its physical reference, measured on the same disk in the
/// same run. Both write the same records (an entry with a `.record` payload of `payloadBytes`).
///
/// - `saturate`: one producer submits `appends` entries as fast as the ring takes them, in
///   submits of `submitRecords`; the appender batches whatever accumulates (group commit).
/// - `rawWriteSync`: a plain loop of one `write` of `batch` pre-encoded records and one
///   `fdatasync`, with no ring, thread, encoding or checksum: the most the disk gives at that
///   batch size. Compare `saturate` with `rawWriteSync(batch:)` at the batch size `saturate`
///   reached (its mean batch); the appender's target is at least 0.9x. It returns appends per
///   second (a plain `Double`: Swift has no one-element labelled tuple).
///
/// Each run works in a fresh subdirectory of `directory` and removes it afterwards.
public enum AppenderBenchmark {
    /// Records per `submit` call in `saturate` (a protocol step typically yields a few to a few
    /// dozen writes).
    public static let submitRecords = 64

    public static func saturate(
        directory: String, appends: Int, payloadBytes: Int, options: LogOptions = LogOptions()
    ) throws -> (appendsPerSecond: Double, syncs: Int, meanBatch: Double, maxBatch: Int) {
        precondition(appends > 0, "appends must be positive")
        precondition(payloadBytes >= 0, "payloadBytes must not be negative")
        let workDirectory = try scratchDirectory(in: directory, label: "saturate")
        defer { FileIO.removeFlatDirectory(workDirectory) }
        // Built before the clock starts: the producer's cost in a node is the protocol's, not the
        // log's. Each entry has its own payload array, as entries built from client requests do
        // (one array shared by all would make both threads contend on its reference count).
        let writes = (0..<appends).map { position in
            let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: position), count: payloadBytes)
            return StorageWrite.entry(LogEntry(index: LogIndex(UInt64(position + 1)), term: 1, payload: .record(payload)))
        }
        let (log, _) = try WriteAheadLog.open(directory: workDirectory, options: options)
        let start = FileIO.monotonicNanos()
        log.start(onDurable: { _ in })
        var position = 0
        while position < writes.count {
            let end = min(position + submitRecords, writes.count)
            log.submit(writes[position..<end])
            position = end
        }
        log.stop() // Drains and syncs the rest: the clock covers every append becoming durable.
        let elapsedNanos = FileIO.monotonicNanos() - start
        let statistics = log.statistics
        precondition(statistics.records == appends, "every append was written")
        return (Double(appends) / (Double(elapsedNanos) / 1e9), statistics.batches,
                statistics.batchRecordsMean, statistics.batchRecordsMax)
    }

    public static func rawWriteSync(
        directory: String, appends: Int, payloadBytes: Int, batch: Int
    ) throws -> Double {
        precondition(appends > 0, "appends must be positive")
        precondition(batch > 0, "batch must be positive")
        let workDirectory = try scratchDirectory(in: directory, label: "raw")
        defer { FileIO.removeFlatDirectory(workDirectory) }
        let path = workDirectory + "/raw.log"
        let fd = try FileIO.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { _ = Glibc.close(fd) }
        var writer = WireWriter(capacity: batch * (payloadBytes + 64))
        let payload = [UInt8](repeating: 0xA5, count: payloadBytes)
        for position in 0..<batch {
            RecordFormat.append(.entry(LogEntry(index: LogIndex(UInt64(position + 1)), term: 1, payload: .record(payload))), to: &writer)
        }
        let recordSize = writer.count / batch
        let start = FileIO.monotonicNanos()
        var written = 0
        try writer.bytes.withUnsafeBytes { whole in
            while written < appends {
                let count = min(batch, appends - written)
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: whole[..<(count * recordSize)]), path: path)
                try FileIO.fdatasync(fd, path: path)
                written += count
            }
        }
        let elapsedNanos = FileIO.monotonicNanos() - start
        return Double(appends) / (Double(elapsedNanos) / 1e9)
    }

    private static func scratchDirectory(in directory: String, label: String) throws -> String {
        let path = directory + "/appender-\(label)-\(getpid())-\(FileIO.monotonicNanos())"
        try FileIO.createDirectory(path)
        return path
    }
}
