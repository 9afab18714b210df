import BenchCore
import Checker

/// A simulated closed-loop client session: one operation outstanding, retried with the same seq
/// against other replicas until it succeeds or its deadline passes.
struct SimClient {
    let index: Int
    let id: ClientID
    var random: SeededGenerator
    var seq: UInt64 = 0
    /// The replica this client believes leads (an index into the node array).
    var target: Int
    var current: Pending?
    /// Wake-ups carry a token; a wake-up whose token is stale is ignored.
    var token: UInt64 = 0
    var stopped = false

    struct Pending {
        var request: ClientRequest
        var invoke: Instant
        var deadline: Instant
        /// Set when the operation may have taken effect (a timeout, or an `.unknown` answer).
        var uncertain = false
    }

    init(index: Int, random: inout SeededGenerator, nodes: Int) {
        self.index = index
        self.id = ClientID(UInt64(index + 1))
        self.random = SeededGenerator(from: &random)
        self.target = Int(self.random.next() % UInt64(nodes))
    }

    /// The value tag for this client's `seq`: unique across the run.
    func tag(for seq: UInt64) -> UInt64 { id.rawValue << 32 | seq }

    /// The history record for a finished operation.
    static func operation(for pending: Pending, client: ClientID, outcome: Outcome?, at now: Instant) -> ClientOperation? {
        let request = pending.request
        let status: OperationStatus
        switch outcome {
        case .some(let o) where o.isApplied: status = .ok
        case .some, .none: status = pending.uncertain ? .unknown : .failed
        }
        switch request.command {
        case let .get(key):
            guard status == .ok, case let .ok(value) = outcome else { return nil }
            return .read(client, key: key, observed: value?.tag ?? 0, invoke: pending.invoke, complete: now)
        case let .put(key, value):
            return .write(client, key: key, value: value.tag, invoke: pending.invoke, complete: now, status: status)
        case let .compareAndSet(key, expected, new):
            var observed: UInt64 = 0
            var swapped = false
            if case .ok = outcome { swapped = true }
            if case let .compareFailed(current) = outcome { observed = current?.tag ?? 0 }
            return ClientOperation(client: client, key: key, kind: .compareAndSet, written: new.tag, expected: expected?.tag ?? 0,
                             observed: observed, swapped: swapped, invoke: pending.invoke, complete: now, status: status)
        }
    }
}
