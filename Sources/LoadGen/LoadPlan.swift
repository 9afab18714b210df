import BenchCore
import Runtime

/// When operations start.
public enum LoadPlan: Hashable, Sendable {
    /// Each session starts its next operation as soon as the last one ends.
    case closedLoop
    /// Operations start at a target rate (operations per second over the whole process), at
    /// constant intervals or as a Poisson process, whether or not earlier ones have finished.
    /// Latency counts from the intended start, so a stalled server cannot hide (no coordinated omission).
    case openLoop(rate: Double, poisson: Bool)
}

/// What the operations are.
public enum ClientWorkload: Hashable, Sendable {
    /// Random gets and puts per the spec.
    case mixed(WorkloadSpec)
    /// Put keys 0..<count once each, in order (spread over the sessions).
    case writeKeys(count: Int, valueSize: Int)
    /// Get keys 0..<count once each.
    case readKeys(count: Int)

    /// Parses `mixed`, `write-keys:N`, `read-keys:N` (mixed takes the spec given beside it).
    public static func parse(_ text: String, spec: WorkloadSpec) -> ClientWorkload? {
        let parts = text.split(separator: ":").map(String.init)
        switch parts.first {
        case "mixed" where parts.count == 1: return .mixed(spec)
        case "write-keys" where parts.count == 2: return Int(parts[1]).flatMap { $0 > 0 ? .writeKeys(count: $0, valueSize: spec.valueSize) : nil }
        case "read-keys" where parts.count == 2: return Int(parts[1]).flatMap { $0 > 0 ? .readKeys(count: $0) : nil }
        default: return nil
        }
    }

    /// The number of operations a scripted workload performs (nil: unbounded).
    var scriptedCount: Int? {
        switch self {
        case .mixed: nil
        case let .writeKeys(count, _), let .readKeys(count): count
        }
    }
}

/// One client process's run.
public struct ClientRunConfig: Sendable {
    /// The nodes' client endpoints, in node-id order.
    public var nodes: [Endpoint]
    public var clusterID: UInt32 = 1
    /// This process's number among the client processes (client ids embed it, so they are unique).
    public var processIndex: Int = 0
    /// A number shared by the client processes of one run and different between runs (12 bits
    /// used), so runs against the same cluster never reuse a client id.
    public var runNonce: UInt64 = UInt64.random(in: 0..<4_096)
    /// Concurrent sessions (closed loop), or the most sessions open loop may use.
    public var sessions: Int = 1
    public var plan: LoadPlan = .closedLoop
    public var workload: ClientWorkload = .mixed(WorkloadSpec())
    public var warmup: Duration = .zero
    /// Measurement length; nil when the run is bounded by `operations` or a scripted workload.
    public var duration: Duration? = .seconds(5)
    /// Stop after this many operations have started (nil: no limit).
    public var operations: Int?
    public var session = ClientSession.Settings()
    /// Retry back-off, retry budget, circuit breaker, rate limit, degraded reads.
    public var resilience = ResiliencePolicy() {
        didSet { session.backoff = resilience.backoff }
    }
    public var seed: UInt64 = 1
    /// When to begin (CLOCK_MONOTONIC); nil: at once. The orchestrator gives every client process
    /// of a cell the same start, so their windows and its fault schedule share one origin.
    public var startAt: Instant?
    /// Width of the time-series buckets.
    public var bucketWidth: Duration = .milliseconds(100)

    public init(nodes: [Endpoint]) { self.nodes = nodes }
}
