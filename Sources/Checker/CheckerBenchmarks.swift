import BenchCore

/// Inputs for microbenchmarks, tests and the gate.
public enum CheckerBenchmarks {
    /// A linearizable history, the same for the same arguments on every platform.
    ///
    /// `clients` closed-loop clients each issue one operation at a time (`readFraction` reads,
    /// 10 % compare-and-sets, the rest writes) on a uniformly chosen key among `keys`, each lasting 20–500 µs with
    /// 0–50 µs between them, so about `clients` operations overlap at any time, spread over the keys.
    /// Every operation takes effect at a random instant inside its interval, and results come
    /// from applying them to a register per key in that order: the history is linearizable by
    /// construction. Written tags are unique (tag = 1 + the operation's position). With
    /// `unknownRate` > 0, that fraction of writes end with status unknown; half of those take effect
    /// (at a random instant up to 2 ms after invocation, possibly after the client moved on) and
    /// half never do.
    public static func generateLinearizableHistory(operations count: Int, keys: Int, clients: Int, seed: UInt64,
                                                   unknownRate: Double = 0, readFraction: Double = 0.5) -> History {
        precondition(count >= 0, "negative operation count")
        precondition(keys > 0, "no keys")
        precondition(clients > 0, "no clients")
        precondition(unknownRate >= 0 && unknownRate <= 1, "unknownRate outside [0, 1]")
        precondition(readFraction >= 0 && readFraction <= 0.9, "readFraction outside [0, 0.9]")
        var random = SeededGenerator(seed: seed)
        var clientFreeAt = (0..<clients).map { _ in Int64.random(in: 0..<50_000, using: &random) }
        var operations: [ClientOperation] = []
        operations.reserveCapacity(count)
        // (instant the operation takes effect, its position); operations that never take effect have none.
        var effects: [(at: Int64, index: Int)] = []
        effects.reserveCapacity(count)

        for index in 0..<count {
            // The client that is free first issues the next operation.
            var client = 0
            for candidate in 1..<clients where clientFreeAt[candidate] < clientFreeAt[client] { client = candidate }
            let invoke = clientFreeAt[client]
            let duration = Int64.random(in: 20_000...500_000, using: &random)
            let complete = invoke + duration
            let key = Key(Int.random(in: 0..<keys, using: &random))
            let draw = random.nextUnit()
            let kind: OperationKind = draw < readFraction ? .read : draw < 0.9 ? .write : .compareAndSet
            var status = OperationStatus.ok
            var effectAt: Int64? = Int64.random(in: invoke...complete, using: &random)
            if kind == .write && random.chance(unknownRate) {
                status = .unknown
                effectAt = random.chance(0.5) ? Int64.random(in: invoke...(invoke + 2_000_000), using: &random) : nil
            }
            operations.append(ClientOperation(client: ClientID(UInt64(client)), key: key, kind: kind,
                                        written: kind == .read ? 0 : UInt64(index + 1),
                                        invoke: Instant(nanoseconds: invoke), complete: Instant(nanoseconds: complete),
                                        status: status))
            if let effectAt { effects.append((effectAt, index)) }
            // A client whose write timed out moves on after the same wait.
            clientFreeAt[client] = complete + Int64.random(in: 0...50_000, using: &random)
        }

        // Apply in effect order; ties (same instant) in position order, which lies in both intervals.
        effects.sort { $0.at != $1.at ? $0.at < $1.at : $0.index < $1.index }
        var state: [Key: UInt64] = [:]
        var previousState: [Key: UInt64] = [:]
        for effect in effects {
            let key = operations[effect.index].key
            let current = state[key] ?? 0
            switch operations[effect.index].kind {
            case .read:
                operations[effect.index].observed = current
            case .write:
                previousState[key] = current
                state[key] = operations[effect.index].written
            case .compareAndSet:
                // Expect the current tag 60 % of the time; otherwise one the key held earlier (or a
                // tag never written), as a client with a stale view would.
                let earlier = previousState[key] ?? 0
                let expected = random.chance(0.6) ? current : (earlier != current ? earlier : current &+ (1 << 48))
                operations[effect.index].expected = expected
                operations[effect.index].observed = current
                operations[effect.index].swapped = current == expected
                if current == expected {
                    previousState[key] = current
                    state[key] = operations[effect.index].written
                }
            case .transaction, .lock, .unlock:
                break  // the generator makes register operations only
            }
        }
        return History(operations)
    }
}
