import BenchCore

/// How a `WriteAheadLog` writes. Every field has a default suitable for a node process.
public struct LogOptions: Sendable, Hashable {
    /// Whether a batch is forced to the disk before it is reported durable.
    public enum SyncMode: String, Sendable, Hashable, CaseIterable {
        /// A batch is reported durable only after an `fdatasync` that started once it was written
        /// (and an `fsync` of the directory per new segment): a write reported durable survives a
        /// power failure.
        case fdatasync
        /// No syncs at all: a batch is reported durable once it is written (after any
        /// `extraSyncDelay`), so it survives a process crash but not a machine crash. For
        /// measuring what durability costs.
        case none
    }

    /// A segment that has reached this size takes no more batches; the next batch starts a new
    /// segment. Batches are never split, so a segment can exceed this by one batch.
    public var segmentSizeBytes: Int
    public var syncMode: SyncMode
    /// Added after every sync (also in `.none` mode, where it stands in for the sync): injects a
    /// slow disk.
    public var extraSyncDelay: Duration
    /// A batch (one `writev`) takes at most this many records...
    public var maxBatchRecords: Int
    /// ...and stops taking records once its encoded size reaches this many bytes. It grows by
    /// whole submitted chunks, and the chunk that reaches the budget is included; a `submit` is cut
    /// into chunks of at most `chunkBytesMax` bytes plus the record that reaches it, so a batch
    /// overshoots the budget by at most one chunk.
    public var maxBatchBytes: Int
    /// Submitted chunks the descriptor ring between the protocol thread and the appender holds
    /// (a `submit` is one chunk unless it reaches `maxBatchRecords` or `chunkBytesMax` records'
    /// bytes); rounded up to a power of two. When it is full, `submit` waits for the appender.
    public var ringCapacity: Int
    /// Bytes of encoded records the arena between the protocol thread and the appender holds;
    /// rounded up to a power of two. The appender writes them to the file straight from there,
    /// and when it is full `submit` waits for the appender. A chunk larger than this (one huge
    /// record) goes to the appender in its own buffer instead.
    public var ringBytes: Int

    /// A `submit` is cut into chunks of at most this many encoded bytes (plus the record that
    /// reaches it), so the byte budget of a batch holds at record granularity and a chunk never
    /// needs more than a quarter of the arena.
    var chunkBytesMax: Int { min(maxBatchBytes, max(1, ringBytes / 4)) }

    public init(
        segmentSizeBytes: Int = 64 << 20,
        syncMode: SyncMode = .fdatasync,
        extraSyncDelay: Duration = .zero,
        maxBatchRecords: Int = 4096,
        maxBatchBytes: Int = 8 << 20,
        ringCapacity: Int = 16384,
        ringBytes: Int = 4 << 20
    ) {
        precondition(segmentSizeBytes > 0, "segmentSizeBytes must be positive")
        precondition(extraSyncDelay >= .zero, "extraSyncDelay must not be negative")
        precondition(maxBatchRecords > 0, "maxBatchRecords must be positive")
        precondition(maxBatchBytes > 0, "maxBatchBytes must be positive")
        precondition(ringCapacity >= 2, "ringCapacity must be at least 2")
        precondition(ringBytes >= 2, "ringBytes must be at least 2")
        self.segmentSizeBytes = segmentSizeBytes
        self.syncMode = syncMode
        self.extraSyncDelay = extraSyncDelay
        self.maxBatchRecords = maxBatchRecords
        self.maxBatchBytes = maxBatchBytes
        self.ringCapacity = ringCapacity
        self.ringBytes = ringBytes
    }
}

/// Counters of a log's work since it was opened. A batch is one `writev`; a sync (in `.fdatasync`
/// mode, one `fdatasync`) covers every batch written before it began and is reported with one
/// durability callback.
public struct LogStatistics: Sendable, Hashable, CustomStringConvertible {
    /// Histogram buckets: bucket `k` counts batches of `2^k ..< 2^(k+1)` records.
    public static let histogramBucketCount = 32

    /// Batches written, each with one `writev`.
    public var batches: Int = 0
    /// `fdatasync` calls on segments (0 in `.none` mode). One sync covers every batch written
    /// before it started, so at saturation a sync covers several batches (see `SyncStage`).
    public var syncs: Int = 0
    public var records: Int = 0
    /// Bytes written to segments (records, including their length and crc fields).
    public var bytes: Int = 0
    public var segmentsCreated: Int = 0
    public var batchRecordsMax: Int = 0
    /// `batchRecordsHistogram[k]`: batches of `2^k ..< 2^(k+1)` records.
    public var batchRecordsHistogram: [Int] = Array(repeating: 0, count: LogStatistics.histogramBucketCount)
    /// Time the appender spent gathering batches from its rings before their I/O (0 for
    /// `appendAndSync`). Encoding and checksumming happen on the submitting thread, not here.
    public var collectTimeTotal: Duration = .zero
    /// Time spent in `write` calls.
    public var writeTimeTotal: Duration = .zero
    /// Time spent in `fdatasync` calls plus any `extraSyncDelay`.
    public var syncTimeTotal: Duration = .zero
    public var syncTimeMax: Duration = .zero

    public init() {}

    public var batchRecordsMean: Double { batches == 0 ? 0 : Double(records) / Double(batches) }
    /// Records made durable per `fdatasync`, once every written batch is synced (after `stop`):
    /// the group-commit size (0 in `.none` mode).
    public var syncRecordsMean: Double { syncs == 0 ? 0 : Double(records) / Double(syncs) }

    mutating func recordWrite(records count: Int, bytes size: Int, collectTime: Duration, writeTime: Duration) {
        precondition(count > 0, "a batch holds at least one record")
        batches += 1
        records += count
        bytes += size
        batchRecordsMax = max(batchRecordsMax, count)
        let bucket = min(Int.bitWidth - 1 - count.leadingZeroBitCount, Self.histogramBucketCount - 1)
        batchRecordsHistogram[bucket] += 1
        collectTimeTotal = collectTimeTotal + collectTime
        writeTimeTotal = writeTimeTotal + writeTime
    }

    mutating func recordSync(synced: Bool, syncTime: Duration) {
        if synced { syncs += 1 }
        syncTimeTotal = syncTimeTotal + syncTime
        syncTimeMax = max(syncTimeMax, syncTime)
    }

    public var description: String {
        let buckets = batchRecordsHistogram.enumerated()
            .filter { $0.element > 0 }
            .map { "\(1 << $0.offset)+:\($0.element)" }
            .joined(separator: " ")
        return "\(records) records, \(bytes) bytes in \(batches) batches (\(syncs) syncs, \(segmentsCreated) new segments); "
            + "batch records mean \((batchRecordsMean * 10).rounded() / 10) max \(batchRecordsMax) [\(buckets)]; "
            + "collect \(collectTimeTotal), write \(writeTimeTotal), sync \(syncTimeTotal) (max \(syncTimeMax))"
    }
}
