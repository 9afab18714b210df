import BenchCore
import Checker

/// What one client process measured. Merged across processes exactly: histograms by adding
/// counts, counters by adding, histories by concatenation.
public struct ClientResult: Sendable {
    /// Latency from the intended start (open loop) or the start (closed loop), µs.
    public var latency = LatencyHistogram()
    /// Service time from the actual send, µs (differs from `latency` only in open loop).
    public var serviceTime = LatencyHistogram()
    public var history = History()
    /// Operations in the measurement window: started there, and how the ones that ended there ended.
    public var attempted = 0
    public var succeeded = 0
    public var failed = 0
    public var unknown = 0
    /// Operations that ended with a definite answer after more than one attempt.
    public var retried = 0
    /// Transactions the system certainly aborted (counted in `failed` too).
    public var aborted = 0
    /// Reads answered from a replica's local state while the leader was unreachable (not in `succeeded`).
    public var degraded = 0
    /// Operations refused by the client's own rate limiter (counted in `failed` too).
    public var shed = 0
    /// Retry attempts sent (beyond each operation's first).
    public var retries = 0
    /// Operations the retry budget or an open circuit breaker ended early (counted in failed/unknown).
    public var cutShort = 0
    /// When the measurement window began and ended (monotonic clock).
    public var windowStart: Instant = .zero
    public var windowEnd: Instant = .zero
    /// Per-bucket completions and failures from the start of the run (for time series).
    public var buckets: [Bucket] = []
    public var runStart: Instant = .zero

    public struct Bucket: Sendable, Equatable {
        public var succeeded: UInt64 = 0
        public var failed: UInt64 = 0
        public var latency = LatencyHistogram()

        public static func == (a: Bucket, b: Bucket) -> Bool {
            a.succeeded == b.succeeded && a.failed == b.failed && a.latency.count == b.latency.count
        }
    }

    public init() {}

    public mutating func merge(_ other: ClientResult) {
        latency.merge(other.latency)
        serviceTime.merge(other.serviceTime)
        history.append(contentsOf: other.history)
        attempted += other.attempted
        succeeded += other.succeeded
        failed += other.failed
        unknown += other.unknown
        retried += other.retried
        aborted += other.aborted
        degraded += other.degraded
        shed += other.shed
        retries += other.retries
        cutShort += other.cutShort
        windowStart = windowStart == .zero ? other.windowStart : min(windowStart, other.windowStart)
        windowEnd = max(windowEnd, other.windowEnd)
        runStart = runStart == .zero ? other.runStart : min(runStart, other.runStart)
        if buckets.count < other.buckets.count { buckets += Array(repeating: Bucket(), count: other.buckets.count - buckets.count) }
        for (i, bucket) in other.buckets.enumerated() {
            buckets[i].succeeded += bucket.succeeded
            buckets[i].failed += bucket.failed
            buckets[i].latency.merge(bucket.latency)
        }
    }

    public var window: Duration { windowEnd - windowStart }
    public var throughput: Double { window.nanoseconds > 0 ? Double(succeeded) / window.seconds : 0 }
}

extension ClientResult: WireCodable {
    static let magic: UInt32 = 0x4342_4352  // "CBCR"

    public func encode(to w: inout WireWriter) {
        w.write(Self.magic)
        w.write(latency); w.write(serviceTime); w.write(history)
        for v in [attempted, succeeded, failed, unknown, retried, aborted, degraded, shed, retries, cutShort] { w.write(UInt64(v)) }
        w.write(windowStart); w.write(windowEnd); w.write(runStart)
        w.write(UInt32(buckets.count))
        for b in buckets { w.write(b.succeeded); w.write(b.failed); w.write(b.latency) }
    }

    public init(from r: inout WireReader) throws {
        guard try r.readUInt32() == Self.magic else { throw WireError.invalidValue("not a client result") }
        self.init()
        latency = try r.read(LatencyHistogram.self)
        serviceTime = try r.read(LatencyHistogram.self)
        history = try r.read(History.self)
        attempted = Int(try r.readUInt64()); succeeded = Int(try r.readUInt64()); failed = Int(try r.readUInt64())
        unknown = Int(try r.readUInt64()); retried = Int(try r.readUInt64()); aborted = Int(try r.readUInt64())
        degraded = Int(try r.readUInt64()); shed = Int(try r.readUInt64()); retries = Int(try r.readUInt64())
        cutShort = Int(try r.readUInt64())
        windowStart = try r.read(Instant.self); windowEnd = try r.read(Instant.self); runStart = try r.read(Instant.self)
        let count = Int(try r.readUInt32())
        guard count <= 1_000_000 else { throw WireError.lengthTooLarge(count, limit: 1_000_000) }
        for _ in 0..<count {
            var b = Bucket()
            b.succeeded = try r.readUInt64(); b.failed = try r.readUInt64(); b.latency = try r.read(LatencyHistogram.self)
            buckets.append(b)
        }
    }
}
