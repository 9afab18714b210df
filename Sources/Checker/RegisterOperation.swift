import BenchCore

/// One operation on one key, reduced to what the register model needs to decide whether it may
/// take effect in a given state.
struct RegisterOperation: Hashable, Sendable {
    enum Effect: UInt8, Hashable, Sendable {
        /// Legal iff the state is `observed`; leaves it unchanged.
        case read
        /// Always legal; the state becomes `written`.
        case write
        /// A compare-and-set that swapped: legal iff the state is `expected`; it becomes `written`.
        case swap
        /// A compare-and-set that did not swap: legal iff the state is not `expected` and is `observed`.
        case refusedSwap
        /// A compare-and-set whose outcome is unknown: always legal; swaps iff the state is `expected`.
        /// (Taking effect where the state differs from `expected` is the same as never taking effect.)
        case maybeSwap
    }

    var effect: Effect
    var written: UInt64
    var expected: UInt64
    var observed: UInt64
    /// Nanoseconds; see `Instant`.
    var invoke: Int64
    /// Nanoseconds; `RegisterOperation.never` when the client never learned the outcome.
    var complete: Int64
    /// The position of the original `ClientOperation` in the caller's array.
    var source: Int

    /// The completion time of an operation whose outcome is unknown: after every real event, so it
    /// may linearize anywhere after its invocation, including after everything else (= never).
    static let never = Int64.max

    /// Reduces a history operation; nil for operations that cannot constrain the register
    /// (failed operations, and reads whose answer never arrived).
    init?(_ operation: ClientOperation, source: Int) {
        self.written = operation.written
        self.expected = operation.expected
        self.observed = operation.observed
        self.invoke = operation.invoke.nanoseconds
        self.complete = operation.complete.nanoseconds
        self.source = source
        switch (operation.status, operation.kind) {
        case (.failed, _), (.unknown, .read), (_, .transaction), (_, .lock), (_, .unlock):
            // Transactions and locks are checked by their own checkers, not as registers.
            return nil
        case (.ok, .read):
            effect = .read
        case (.ok, .write):
            effect = .write
        case (.ok, .compareAndSet):
            effect = operation.swapped ? .swap : .refusedSwap
        case (.unknown, .write):
            effect = .write
            complete = RegisterOperation.never
        case (.unknown, .compareAndSet):
            effect = .maybeSwap
            complete = RegisterOperation.never
        }
        precondition(complete >= invoke, "an operation completes before it is invoked")
    }

    /// This operation as seen by a history cut at `cut` (ns): nil if it was invoked after the cut
    /// or is a read still pending at the cut; an operation pending at the cut becomes one whose
    /// outcome is unknown. A cut history admits every behaviour the full history admits, so a
    /// cut that is not linearizable proves the full history is not.
    func cut(at cut: Int64) -> RegisterOperation? {
        if invoke > cut { return nil }
        if complete <= cut { return self }
        var pending = self
        pending.complete = RegisterOperation.never
        switch effect {
        case .read: return nil
        case .write, .maybeSwap: break
        case .swap, .refusedSwap: pending.effect = .maybeSwap
        }
        return pending
    }

    /// The state after this operation takes effect in `state`, or nil if it cannot take effect there.
    @inline(__always) func apply(to state: UInt64) -> UInt64? {
        switch effect {
        case .read: return state == observed ? state : nil
        case .write: return written
        case .swap: return state == expected ? written : nil
        case .refusedSwap: return state != expected && state == observed ? state : nil
        case .maybeSwap: return state == expected ? written : state
        }
    }

    /// The tag this operation may store, if any.
    var storedTag: UInt64? {
        switch effect {
        case .read, .refusedSwap: return nil
        case .write, .swap, .maybeSwap: return written
        }
    }

    /// The tag the state must hold for this operation to take effect, if any (a compare-and-set of
    /// unknown outcome requires nothing: it may do nothing).
    var requiredTag: UInt64? {
        switch effect {
        case .read, .refusedSwap: return observed
        case .swap: return expected
        case .write, .maybeSwap: return nil
        }
    }

    /// The tag this operation's outcome may depend on having been stored before it, if any.
    var dependedTag: UInt64? {
        switch effect {
        case .read, .refusedSwap: return observed
        case .swap, .maybeSwap: return expected
        case .write: return nil
        }
    }
}
