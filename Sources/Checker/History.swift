import BenchCore

/// What a client operation did, as far as the checker needs to know. Values are identified by
/// their tags (`Value.tag`); tag 0 means "absent".
public enum OperationKind: UInt8, Hashable, Sendable {
    case read = 1
    case write = 2
    case compareAndSet = 3
    /// A bank transaction or balance read (`written` = 1 for a read-only snapshot).
    case transaction = 4
    /// A lock acquisition: `written` = the lease in nanoseconds, `swapped` = granted.
    case lock = 5
    /// A lock release.
    case unlock = 6
}

/// How an operation ended, from the client's side.
public enum OperationStatus: UInt8, Hashable, Sendable {
    /// The client got an answer: the operation took effect (for a failed compare-and-set,
    /// it took effect as a read that saw `observed`).
    case ok = 1
    /// The operation certainly did not take effect (the replica refused it before accepting it).
    case failed = 2
    /// The client does not know: it timed out or the replica lost authority. The operation may
    /// take effect at any time after its invocation, or never.
    case unknown = 3
}

/// One client operation in a history.
public struct ClientOperation: Hashable, Sendable {
    public var client: ClientID
    public var key: Key
    public var kind: OperationKind
    /// The tag written (write; compare-and-set's new value). 0 for a read.
    public var written: UInt64
    /// Compare-and-set's expected tag (0: expects the key absent).
    public var expected: UInt64
    /// The tag a read returned, or the current tag a failed compare-and-set reported (0: absent).
    public var observed: UInt64
    /// For an ok compare-and-set: whether it swapped.
    public var swapped: Bool
    public var invoke: Instant
    /// When the client got its answer; `Instant.distantFuture` when the status is unknown.
    public var complete: Instant
    public var status: OperationStatus

    public init(client: ClientID, key: Key, kind: OperationKind, written: UInt64 = 0, expected: UInt64 = 0,
                observed: UInt64 = 0, swapped: Bool = false, invoke: Instant, complete: Instant,
                status: OperationStatus) {
        self.client = client
        self.key = key
        self.kind = kind
        self.written = written
        self.expected = expected
        self.observed = observed
        self.swapped = swapped
        self.invoke = invoke
        self.complete = status == .unknown ? .distantFuture : complete
        self.status = status
    }

    /// A completed read.
    public static func read(_ client: ClientID, key: Key, observed: UInt64, invoke: Instant, complete: Instant) -> ClientOperation {
        ClientOperation(client: client, key: key, kind: .read, observed: observed, invoke: invoke, complete: complete, status: .ok)
    }

    /// A write that completed (`status: .ok`), failed, or whose outcome is unknown.
    public static func write(_ client: ClientID, key: Key, value: UInt64, invoke: Instant, complete: Instant,
                             status: OperationStatus = .ok) -> ClientOperation {
        ClientOperation(client: client, key: key, kind: .write, written: value, invoke: invoke, complete: complete, status: status)
    }
}

/// Every operation of a run, in no particular order. Clients append; the checker sorts what it needs.
public struct History: Hashable, Sendable {
    public var operations: [ClientOperation]
    /// Lock workloads: every stretch of time a client believed it held a lock (`LockSafety` checks
    /// that no two clients' beliefs about one lock overlap). Empty for other workloads.
    public var lockBeliefs: [LockBelief] = []

    public init(_ operations: [ClientOperation] = [], lockBeliefs: [LockBelief] = []) {
        self.operations = operations
        self.lockBeliefs = lockBeliefs
    }

    public mutating func append(_ operation: ClientOperation) { operations.append(operation) }
    public mutating func append(contentsOf other: History) {
        operations.append(contentsOf: other.operations)
        lockBeliefs.append(contentsOf: other.lockBeliefs)
    }
    public var count: Int { operations.count }
}

extension ClientOperation {
    /// The history record of a finished client operation, or nil for one that leaves no trace
    /// (a read that did not complete has no effect to check).
    public init?(_ finished: FinishedOperation) {
        let status: OperationStatus
        if finished.succeeded { status = .ok } else { status = finished.uncertain ? .unknown : .failed }
        let client = finished.request.client
        // The operation was invoked when it was first sent; an open-loop client's intended start
        // (earlier) is for latency, not for real-time order.
        let invoke = finished.firstSent
        let complete = finished.complete
        switch finished.request.command {
        case .readLocal:
            // Degraded reads may be stale by design: counted apart, never checked as reads.
            return nil
        case let .get(key):
            guard status == .ok, case let .ok(value) = finished.outcome else { return nil }
            self = .read(client, key: key, observed: value?.tag ?? 0, invoke: invoke, complete: complete)
        case let .put(key, value):
            self = .write(client, key: key, value: value.tag, invoke: invoke, complete: complete, status: status)
        case let .compareAndSet(key, expected, new):
            var observed: UInt64 = 0
            var swapped = false
            if case .ok = finished.outcome { swapped = true }
            if case let .compareFailed(current) = finished.outcome { observed = current?.tag ?? 0 }
            self.init(client: client, key: key, kind: .compareAndSet, written: new.tag, expected: expected?.tag ?? 0,
                      observed: observed, swapped: swapped, invoke: invoke, complete: complete, status: status)
        case .transaction, .readBalances:
            let readOnly = finished.request.command.isReadOnly
            let status: OperationStatus = finished.aborted ? .failed : status
            self.init(client: client, key: finished.request.command.key, kind: .transaction, written: readOnly ? 1 : 0,
                      invoke: invoke, complete: complete, status: status)
        case let .acquireLock(lock, lease, _):
            var granted = false
            if case .ok = finished.outcome { granted = true }
            self.init(client: client, key: lock, kind: .lock, written: UInt64(max(0, lease.nanoseconds)), swapped: granted,
                      invoke: invoke, complete: complete, status: status)
        case let .releaseLock(lock):
            self.init(client: client, key: lock, kind: .unlock, invoke: invoke, complete: complete, status: status)
        }
    }
}
