import BenchCore

/// What the linearizability checker concluded about a history.
public enum LinearizabilityVerdict: Hashable, Sendable {
    /// Every key's operations have a linearization in the register model.
    case linearizable
    /// Some key's operations have none; the counterexample shows a small set of them that has none.
    case violation(Counterexample)
    /// No violation was found, but some key could not be decided within the step budget.
    case undecided(reason: String)

    public var isLinearizable: Bool {
        if case .linearizable = self { return true }
        return false
    }

    public var counterexample: Counterexample? {
        if case let .violation(counterexample) = self { return counterexample }
        return nil
    }
}

/// A set of operations on one key that no order consistent with real time explains.
public struct Counterexample: Hashable, Sendable {
    public var key: Key
    /// The operations as recorded (original status and times), sorted by invocation. Checked on
    /// their own they are not linearizable.
    public var operations: [ClientOperation]
    /// One or two lines a person can read: what went wrong, and how the set was found.
    public var explanation: String
    /// True when the set was shrunk until removing any one operation makes it linearizable (an
    /// operation that wrote a tag a remaining operation observed is never removed, so the set never
    /// gains a "value nobody wrote" that the history did not have). False when the failing prefix
    /// was too long to shrink or the shrinking ran out of steps: `operations` is then the shortest
    /// failing prefix.
    public var isMinimal: Bool

    public init(key: Key, operations: [ClientOperation], explanation: String, isMinimal: Bool) {
        self.key = key
        self.operations = operations
        self.explanation = explanation
        self.isMinimal = isMinimal
    }
}

/// Linearizability of a key-value history, checked one key at a time.
///
/// Model: each key is a register holding a tag (0: absent). A read must see the state; a write
/// sets it; a compare-and-set that swapped needs the state to equal `expected` and then sets
/// `written`; one that did not swap needs the state to differ from `expected` and equal `observed`.
/// Failed operations are dropped (they certainly did not take effect), and so are reads whose
/// outcome is unknown (a read has no effect). Writes and compare-and-sets whose outcome is unknown
/// may take effect at any point after their invocation, or never.
///
/// A history is linearizable iff each key's sub-history is (a register is a local object:
/// Herlihy & Wing's locality, the P-compositionality Porcupine exploits), so keys are searched
/// independently, in ascending key order.
public enum Linearizability {
    /// Search steps one key may take before the checker gives up on it: about 1.3 s in a release
    /// build on this box (~15 M steps/s). Histories from real runs need a few steps per operation.
    public static let defaultStepBudget = 20_000_000

    /// The longest failing prefix the checker shrinks to a minimal counterexample; longer ones are
    /// returned as they are (shrinking costs up to one search per operation per pass).
    public static let shrinkOperationCountMax = 300

    /// Checks `history`. Each key may take up to `stepBudget` search steps, and shrinking a
    /// violation to a counterexample up to `stepBudget` more, so the time spent is bounded by
    /// (keys + 1) × `stepBudget` steps. A violation on any key is reported even if another key ran
    /// out of steps; the first violating key in key order is the one reported.
    public static func check(_ history: History, stepBudget: Int = defaultStepBudget) -> LinearizabilityVerdict {
        precondition(stepBudget > 0, "the step budget must be positive")
        if let malformed = history.operations.first(where: { $0.status != .unknown && $0.complete < $0.invoke }) {
            return .undecided(reason: "malformed history: \(CounterexampleExplanation.describe(malformed)) completed before it was invoked")
        }
        let operationsByKey = Dictionary(grouping: history.operations.indices, by: { history.operations[$0].key })
        var undecidedKeys: [Key] = []
        for key in operationsByKey.keys.sorted() {
            let indices = operationsByKey[key]!
            let keyOperations = indices.map { history.operations[$0] }
            let reduced = reduce(keyOperations)
            var budget = stepBudget
            switch RegisterSearch.run(reduced, budget: &budget) {
            case .linearizable:
                continue
            case .exhausted:
                undecidedKeys.append(key)
            case .violation:
                return .violation(CounterexampleSearch.find(key: key, operations: keyOperations, stepBudget: stepBudget))
            }
        }
        if undecidedKeys.isEmpty { return .linearizable }
        let listed = undecidedKeys.prefix(5).map { "\($0)" }.joined(separator: ", ")
        let more = undecidedKeys.count > 5 ? " and \(undecidedKeys.count - 5) more" : ""
        return .undecided(reason: "timeout: no violation found, but \(undecidedKeys.count) key(s) exceeded the step budget of \(stepBudget) (key \(listed)\(more))")
    }

    /// The operations of one key that constrain the register, each remembering its position in `operations`.
    static func reduce(_ operations: [ClientOperation]) -> [RegisterOperation] {
        operations.indices.compactMap { RegisterOperation(operations[$0], source: $0) }
    }
}
