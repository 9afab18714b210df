import BenchCore
import Glibc

/// Throughput of the appender beside its physical reference, measured on the same disk in the
/// same run. Both write the same records (an entry with a `.record` payload of `payloadBytes`).
///
/// - `saturate`: one producer builds and submits `appends` entries as fast as the log takes them,
///   in submits of `submitRecords` (encoding them, as `submit` does); the appender writes
///   whatever accumulates as one batch, and each sync covers every batch written before it
///   (group commit).
/// - `encodeOnly`: the producer's share alone, in nanoseconds per record.
/// - `rawWriteSync`: a plain serial loop of `writesPerSync` `write`s of `batch` pre-encoded
///   records each, then one `fdatasync`, with no ring, thread, encoding or checksum. With one
///   write per sync and `batch` the records per sync `saturate` reached, it is the most a serial
///   loop gets from the disk for the same number of syncs: the appender's target is at least
///   0.9x of that. With `saturate`'s own write size and writes per sync, it is the serial
///   equivalent of exactly the syscalls the appender made. It returns appends per second (a
///   plain `Double`: Swift has no one-element labelled tuple).
///
/// Each run works in a fresh subdirectory of `directory` and removes it afterwards.
public enum AppenderBenchmark {
    /// Records per `submit` call in `saturate` (a protocol step typically yields a few to a few
    /// dozen writes).
    public static let submitRecords = 64

    public static func saturate(
        directory: String, appends: Int, payloadBytes: Int, options: LogOptions = LogOptions()
    ) throws -> (appendsPerSecond: Double, syncs: Int, recordsPerSync: Double, batches: Int, maxBatch: Int) {
        precondition(appends > 0, "appends must be positive")
        precondition(payloadBytes >= 0, "payloadBytes must not be negative")
        let workDirectory = try scratchDirectory(in: directory, label: "saturate")
        defer { FileIO.removeFlatDirectory(workDirectory) }
        let producer = SubmitProducer(appends: appends, payloadBytes: payloadBytes)
        let (log, _) = try WriteAheadLog.open(directory: workDirectory, options: options)
        let start = FileIO.monotonicNanos()
        log.start(onDurable: { _ in })
        producer.run { log.submit($0) }
        log.stop() // Drains and syncs the rest: the clock covers every append becoming durable.
        let elapsedNanos = FileIO.monotonicNanos() - start
        let statistics = log.statistics
        precondition(statistics.records == appends, "every append was written")
        return (Double(appends) / (Double(elapsedNanos) / 1e9), statistics.syncs, statistics.syncRecordsMean,
                statistics.batches, statistics.batchRecordsMax)
    }

    /// What `submit` costs the protocol thread per record: encoding and checksumming `appends`
    /// records of `payloadBytes` into chunks, with no appender and no I/O. Returns nanoseconds per
    /// record; at saturation the appender cannot go faster than one record per this long.
    public static func encodeOnly(appends: Int, payloadBytes: Int, options: LogOptions = LogOptions()) -> Double {
        precondition(appends > 0, "appends must be positive")
        let producer = SubmitProducer(appends: appends, payloadBytes: payloadBytes)
        var encoder = ChunkEncoder(bytesMax: options.chunkBytesMax, recordsMax: options.maxBatchRecords)
        var checksum = 0
        let start = FileIO.monotonicNanos()
        producer.run { writes in
            encoder.add(contentsOf: writes) { full in
                checksum &+= full.byteCount
                full.removeAll()
            }
            checksum &+= encoder.byteCount
            encoder.removeAll()
        }
        let elapsedNanos = FileIO.monotonicNanos() - start
        precondition(checksum > appends * RecordFormat.headerSize, "every record was encoded")
        return Double(elapsedNanos) / Double(appends)
    }

    public static func rawWriteSync(
        directory: String, appends: Int, payloadBytes: Int, batch: Int, writesPerSync: Int = 1
    ) throws -> Double {
        precondition(appends > 0, "appends must be positive")
        precondition(batch > 0, "batch must be positive")
        precondition(writesPerSync > 0, "writesPerSync must be positive")
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
        var writesSinceSync = 0
        try writer.bytes.withUnsafeBytes { whole in
            while written < appends {
                let count = min(batch, appends - written)
                try FileIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: whole[..<(count * recordSize)]), path: path)
                written += count
                writesSinceSync += 1
                if writesSinceSync == writesPerSync || written == appends {
                    try FileIO.fdatasync(fd, path: path)
                    writesSinceSync = 0
                }
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

/// The benchmark's protocol thread. Its entries are built before the clock starts (building them
/// is the protocol's cost, not the log's) and share a small pool of payloads: a replica encodes
/// entries it has just built, so their bytes are in its cache; a fresh array per entry would make
/// every record a cache miss, a cost no node pays. (Sharing is safe for the measurement: only
/// this thread touches the entries; the appender sees encoded bytes.)
struct SubmitProducer {
    let writes: [StorageWrite]

    init(appends: Int, payloadBytes: Int) {
        precondition(payloadBytes >= 0, "payloadBytes must not be negative")
        let payloads = (0..<AppenderBenchmark.submitRecords).map { position in
            [UInt8](repeating: UInt8(truncatingIfNeeded: position), count: payloadBytes)
        }
        writes = (1...appends).map { index in
            .entry(LogEntry(index: LogIndex(UInt64(index)), term: 1, payload: .record(payloads[index % payloads.count])))
        }
    }

    /// Calls `submit` with the entries in order, `AppenderBenchmark.submitRecords` at a time.
    func run(_ submit: (ArraySlice<StorageWrite>) -> Void) {
        var position = 0
        while position < writes.count {
            let end = min(position + AppenderBenchmark.submitRecords, writes.count)
            submit(writes[position..<end])
            position = end
        }
    }
}
