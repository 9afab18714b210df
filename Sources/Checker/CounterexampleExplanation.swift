import BenchCore

/// One line saying why a failing set of operations on one key fails, in the words of the
/// operations. It tries the patterns that explain most real violations (a value nobody wrote, a
/// stale read, a register that went back to an older value) and falls back to naming the last
/// operation to complete. Each pattern's sentence is only used when the sentence is true of the
/// whole key history, not just of the set.
enum CounterexampleExplanation {
    static func reason(_ failing: [ClientOperation], keyHistory: [ClientOperation]) -> String {
        precondition(!failing.isEmpty, "nothing to explain")
        // When each tag was last possibly stored: ok writes and swaps when they completed, writes
        // and compare-and-sets of unknown outcome never (they may land at any time).
        var lastStoreByTag: [UInt64: Instant] = [:]
        for operation in keyHistory {
            guard let tag = storedTag(operation) else { continue }
            let stored = operation.status == .ok ? operation.complete : Instant.distantFuture
            lastStoreByTag[tag] = max(lastStoreByTag[tag] ?? stored, stored)
        }
        let readers = failing.filter { observedTag($0) != nil }
        let zeroIsWritten = lastStoreByTag[0] != nil

        // A value nobody wrote.
        for operation in failing {
            guard let tag = dependedTag(operation), tag != 0, lastStoreByTag[tag] == nil else { continue }
            return "\(describe(operation)), but no operation wrote \(tagText(tag))"
        }

        // The sentences below name a later reader; the one that exposes a violation completes
        // near the end of the set (the set ends at the shortest failing prefix), so only the
        // last few are tried, which bounds the work on a long unshrunk prefix.
        let laterReaders = readers.sorted { $0.complete < $1.complete }.suffix(64).reversed()

        // A read older than a write that completed before it began, when every write of what it
        // saw had completed before that write began.
        for reader in laterReaders {
            let seen = observedTag(reader)!
            var latest: ClientOperation?
            for writer in failing where writer.status == .ok {
                guard let stored = storedTag(writer), stored != seen, writer.complete < reader.invoke else { continue }
                let supersedes = seen == 0 ? !zeroIsWritten : lastStoreByTag[seen].map { $0 < writer.invoke } ?? false
                if supersedes && (latest.map { writer.complete > $0.complete } ?? true) { latest = writer }
            }
            guard let newer = latest else { continue }
            let newerText = "\(tagText(storedTag(newer)!)) was written by \(newer.client) (completed \(newer.complete))"
            if seen == 0 {
                return "\(describe(reader)), but \(newerText) before it began"
            }
            return "\(describe(reader)), but \(newerText) after every write of \(tagText(seen)) had completed (\(lastStoreByTag[seen]!))"
        }

        // A register that went back: an earlier read saw a newer value than a later one.
        for later in laterReaders {
            let older = observedTag(later)!
            for earlier in readers where earlier.complete < later.invoke {
                let newer = observedTag(earlier)!
                guard newer != older, newer != 0 else { continue }
                let olderWasDone = older == 0 ? !zeroIsWritten : lastStoreByTag[older].map { $0 < earlier.invoke } ?? false
                guard olderWasDone else { continue }
                let because = older == 0
                    ? "and nothing makes a key absent again"
                    : "and every write of \(tagText(older)) had completed (\(lastStoreByTag[older]!)) before that began"
                return "\(describe(later)), but an earlier \(verb(earlier)) by \(earlier.client) (completed \(earlier.complete)) had already seen \(tagText(newer)), \(because)"
            }
        }

        // A value that came back although only one operation stores it: seen, then replaced, then seen again.
        var storeCountByTag: [UInt64: Int] = [:]
        for operation in keyHistory {
            if let tag = storedTag(operation) { storeCountByTag[tag, default: 0] += 1 }
        }
        var firstReaderByTag: [UInt64: ClientOperation] = [:]
        for reader in readers {
            let tag = observedTag(reader)!
            if firstReaderByTag[tag].map({ reader.complete < $0.complete }) ?? true { firstReaderByTag[tag] = reader }
        }
        for later in laterReaders {
            let tag = observedTag(later)!
            guard tag != 0, storeCountByTag[tag] == 1, let first = firstReaderByTag[tag] else { continue }
            let between = readers.first {
                observedTag($0)! != tag && $0.invoke > first.complete && $0.complete < later.invoke
            }
            guard let between else { continue }
            return "\(describe(later)), but only one operation writes \(tagText(tag)) and the key had moved on: "
                + "a \(verb(first)) by \(first.client) (completed \(first.complete)) saw \(tagText(tag)), "
                + "then a \(verb(between)) by \(between.client) [\(between.invoke), \(between.complete)] saw \(tagText(observedTag(between)!))"
        }

        let completed = failing.filter { $0.status == .ok }
        let last = (completed.isEmpty ? failing : completed).max { $0.complete < $1.complete }!
        return "no order of these \(failing.count) operations fits real time and what they returned; the last to complete: \(describe(last))"
    }

    /// "read by c3 [1.2ms, 1.3ms] returned v7" and the like.
    static func describe(_ operation: ClientOperation) -> String {
        let interval = operation.status == .unknown
            ? "[\(operation.invoke), ?]" : "[\(operation.invoke), \(operation.complete)]"
        let who = "by \(operation.client) \(interval)"
        let outcome = operation.status == .unknown ? " (outcome unknown)" : operation.status == .failed ? " (failed)" : ""
        switch operation.kind {
        case .read:
            return "read \(who) returned \(tagText(operation.observed))\(outcome)"
        case .write:
            return "write of \(tagText(operation.written)) \(who)\(outcome)"
        case .compareAndSet:
            let swap = "compare-and-set \(tagText(operation.expected))→\(tagText(operation.written)) \(who)"
            if operation.status != .ok { return swap + outcome }
            return operation.swapped ? "\(swap) swapped" : "\(swap) was refused and saw \(tagText(operation.observed))"
        case .transaction, .lock, .unlock:
            return "\(operation.kind) \(who)\(outcome)"
        }
    }

    static func tagText(_ tag: UInt64) -> String { tag == 0 ? "absent" : "v\(tag)" }

    private static func verb(_ operation: ClientOperation) -> String {
        operation.kind == .read ? "read" : "compare-and-set"
    }

    /// The tag an operation may have stored (failed operations store nothing).
    private static func storedTag(_ operation: ClientOperation) -> UInt64? {
        switch (operation.status, operation.kind) {
        case (.failed, _), (_, .read): return nil
        case (_, .write): return operation.written
        case (.ok, .compareAndSet): return operation.swapped ? operation.written : nil
        case (.unknown, .compareAndSet): return operation.written
        case (_, .transaction), (_, .lock), (_, .unlock): return nil
        }
    }

    /// The tag a completed operation saw as the register's state.
    private static func observedTag(_ operation: ClientOperation) -> UInt64? {
        guard operation.status == .ok else { return nil }
        switch operation.kind {
        case .read: return operation.observed
        case .compareAndSet: return operation.swapped ? operation.expected : operation.observed
        case .write, .transaction, .lock, .unlock: return nil
        }
    }

    /// The tag a completed operation's answer shows was stored before it.
    private static func dependedTag(_ operation: ClientOperation) -> UInt64? { observedTag(operation) }
}
