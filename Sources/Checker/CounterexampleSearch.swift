import BenchCore

/// Turns one key's non-linearizable operations into a small counterexample: first the shortest
/// failing time-prefix, then (if that is short enough) delta-debugging down to a set from which no
/// single operation can be removed without the rest becoming linearizable.
enum CounterexampleSearch {
    /// `operations`: every operation of `key`, at least one search of which found a violation.
    /// Spends at most `stepBudget` search steps; when they run out it returns the smallest failing
    /// set found so far.
    static func find(key: Key, operations: [ClientOperation], stepBudget: Int) -> Counterexample {
        precondition(stepBudget > 0, "the step budget must be positive")
        let reduced = Linearizability.reduce(operations)
        precondition(!reduced.isEmpty, "an empty history cannot fail")
        var budget = stepBudget

        // 1. The shortest failing prefix. Cuts fall where an answer arrived: a prefix fails only
        // because of some answer in it. Cutting later keeps every constraint of an earlier cut (see
        // `RegisterOperation.cut`), so failure is monotone in the cut and a binary search finds the
        // first failing one. A cut whose search runs out of steps counts as passing: the answer stays
        // a set that is known to fail.
        let cuts = Set(reduced.lazy.map(\.complete).filter { $0 != RegisterOperation.never }).sorted()
        var low = 0
        var high = cuts.count  // cuts.count stands for the whole history, which fails
        while low < high {
            let middle = (low + high) / 2
            let prefix = reduced.compactMap { $0.cut(at: cuts[middle]) }
            if RegisterSearch.run(prefix, budget: &budget) == .violation {
                high = middle
            } else {
                low = middle + 1
            }
        }
        let cutTime: Int64? = high < cuts.count ? cuts[high] : nil
        // Shrink the prefix's operations in their recorded form: the recorded form constrains the
        // register at least as much as the cut form, so the set still fails (and a reader can check
        // the counterexample with `Linearizability.check` as it is printed).
        var failing = cutTime.map { cut in reduced.filter { $0.cut(at: cut) != nil } } ?? reduced
        let prefixCount = failing.count

        // 2. Delta debugging, one operation at a time, until a whole pass removes nothing.
        var shrunk = false
        if prefixCount <= Linearizability.shrinkOperationCountMax {
            shrunk = true
            var changed = true
            passes: while changed {
                changed = false
                var index = 0
                while index < failing.count {
                    if isRemovable(index, from: failing) {
                        var candidate = failing
                        candidate.remove(at: index)
                        switch RegisterSearch.run(candidate, budget: &budget) {
                        case .violation:
                            failing = candidate
                            changed = true
                            continue  // the next operation now sits at `index`
                        case .exhausted:
                            shrunk = false
                            break passes
                        case .linearizable:
                            break
                        }
                    }
                    index += 1
                }
            }
        }

        let result = failing.map { operations[$0.source] }.sorted(by: ClientOperation.byInvocation)
        let reason = CounterexampleExplanation.reason(result, keyHistory: operations)
        var provenance = "key \(key): "
        let cutText = cutTime.map { "cut at \(Instant(nanoseconds: $0))" } ?? "the whole history"
        if shrunk {
            provenance += "\(result.count) operation(s), each needed, shrunk from the shortest failing prefix (\(prefixCount) of \(reduced.count) operations, \(cutText))"
        } else if prefixCount > Linearizability.shrinkOperationCountMax {
            provenance += "the shortest failing prefix, \(prefixCount) of \(reduced.count) operations (\(cutText)); too long to shrink"
        } else {
            provenance += "\(result.count) operation(s) of the shortest failing prefix (\(prefixCount) of \(reduced.count) operations, \(cutText)); shrinking ran out of steps"
        }
        return Counterexample(key: key, operations: result, explanation: reason + "\n" + provenance, isMinimal: shrunk)
    }

    /// Whether operation `index` may be dropped while shrinking: not if it is the only one in the
    /// set that stores a tag another operation in the set depends on. Dropping it would turn that
    /// dependent into "saw a value nobody wrote", a different and misleading failure.
    static func isRemovable(_ index: Int, from operations: [RegisterOperation]) -> Bool {
        guard let tag = operations[index].storedTag, tag != 0 else { return true }
        var dependedOn = false
        for other in operations.indices where other != index {
            if operations[other].storedTag == tag { return true }
            if operations[other].dependedTag == tag { dependedOn = true }
        }
        return !dependedOn
    }
}

extension ClientOperation {
    /// Invocation order, ties broken by completion and client, so reports are deterministic.
    static func byInvocation(_ a: ClientOperation, _ b: ClientOperation) -> Bool {
        if a.invoke != b.invoke { return a.invoke < b.invoke }
        if a.complete != b.complete { return a.complete < b.complete }
        return a.client < b.client
    }
}
