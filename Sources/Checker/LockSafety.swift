import BenchCore

/// Checks a lock workload's history: no two clients may ever believe they hold the same lock at
/// the same instant, and measures how long a lock stays unusable after its holder crashed.
///
/// The beliefs must all be in one clock (the simulator's true time, or the one machine clock of a
/// real run); intervals are half-open, `[start, end)`, so one belief ending exactly when another
/// starts is no overlap.
public enum LockSafety {
    /// Two clients' beliefs about one lock that overlap in time.
    public struct Overlap: Hashable, Sendable, CustomStringConvertible {
        public var first: LockBelief
        public var second: LockBelief

        /// The instants both clients believed they held the lock.
        public var from: Instant { max(first.start, second.start) }
        public var to: Instant { min(first.end, second.end) }

        /// The counterexample in words.
        public var description: String {
            "lock \(first.lock): client \(first.client.rawValue) believed it held it during [\(first.start), \(first.end)) "
                + "(\(first.ending)) and client \(second.client.rawValue) during [\(second.start), \(second.end)) "
                + "(\(second.ending)): both from \(from) to \(to) (\(to - from))"
        }
    }

    public struct Report: Sendable {
        /// Belief intervals checked.
        public var beliefCount = 0
        /// Pairs of beliefs of different clients about one lock that overlap (0 for a safe lease).
        public var overlapCount = 0
        /// The first few overlaps, earliest first within each lock.
        public var overlaps: [Overlap] = []
        /// For every holder crash followed by another client's grant of the same lock: the time from
        /// the crash to that grant (≈ the lease, less the time since the holder's last renewal).
        public var unavailableAfterCrash: [Duration] = []
        /// Holder crashes that no other client's grant followed before the run ended.
        public var crashesUnresolved = 0
        /// For every belief that lapsed (its renewals did not come back, e.g. across a leader crash)
        /// followed by a grant of the same lock to anyone: the time from the lapse to that grant.
        public var unavailableAfterLapse: [Duration] = []

        public var isSafe: Bool { overlapCount == 0 }

        /// The mean of `unavailableAfterCrash`, in ms (nil when no crash was followed by a grant).
        public var unavailableAfterCrashMeanMs: Double? { Self.meanMs(unavailableAfterCrash) }
        public var unavailableAfterCrashMaxMs: Double? { unavailableAfterCrash.max().map(\.milliseconds) }
        public var unavailableAfterLapseMeanMs: Double? { Self.meanMs(unavailableAfterLapse) }

        static func meanMs(_ durations: [Duration]) -> Double? {
            guard !durations.isEmpty else { return nil }
            return durations.reduce(0.0) { $0 + $1.milliseconds } / Double(durations.count)
        }

        /// One line for logs and failing tests.
        public var summary: String {
            "beliefs=\(beliefCount) overlaps=\(overlapCount) crashes=\(unavailableAfterCrash.count + crashesUnresolved) "
                + "unavailable-after-crash=\(unavailableAfterCrashMeanMs.map { "\(($0 * 10).rounded() / 10)ms" } ?? "-") "
                + "lapses=\(unavailableAfterLapse.count)"
                + (overlaps.first.map { " first overlap: \($0)" } ?? "")
        }
    }

    /// How many overlaps a report keeps as examples.
    public static let examplesMax = 10

    public static func check(_ history: History) -> Report {
        var report = Report()
        report.beliefCount = history.lockBeliefs.count
        var byLock: [Key: [LockBelief]] = [:]
        for belief in history.lockBeliefs {
            precondition(belief.start <= belief.end, "a belief ends before it starts: \(belief)")
            byLock[belief.lock, default: []].append(belief)
        }
        // Sorted keys and a total order within each lock: the report does not depend on hashing.
        for lock in byLock.keys.sorted() {
            let beliefs = byLock[lock]!.sorted {
                ($0.start, $0.end, $0.client.rawValue) < ($1.start, $1.end, $1.client.rawValue)
            }
            findOverlaps(beliefs, into: &report)
            measureUnavailability(beliefs, into: &report)
        }
        return report
    }

    /// A sweep in start order: the beliefs still open when the next one starts are the ones it overlaps.
    static func findOverlaps(_ beliefs: [LockBelief], into report: inout Report) {
        var open: [LockBelief] = []
        for belief in beliefs {
            open.removeAll { $0.end <= belief.start }
            for earlier in open where earlier.client != belief.client && belief.start < belief.end {
                report.overlapCount += 1
                if report.overlaps.count < examplesMax { report.overlaps.append(Overlap(first: earlier, second: belief)) }
            }
            if belief.start < belief.end { open.append(belief) }
        }
    }

    static func measureUnavailability(_ beliefs: [LockBelief], into report: inout Report) {
        for (i, belief) in beliefs.enumerated() {
            switch belief.ending {
            case .crashed:
                // The next grant to another client; an overlapping one (a safety failure, counted
                // above) counts as no wait.
                if let next = beliefs[(i + 1)...].first(where: { $0.client != belief.client }) {
                    report.unavailableAfterCrash.append(max(.zero, next.start - belief.end))
                } else {
                    report.crashesUnresolved += 1
                }
            case .lapsed:
                if let next = beliefs[(i + 1)...].first(where: { $0.start >= belief.end }) {
                    report.unavailableAfterLapse.append(next.start - belief.end)
                }
            case .released, .refused, .runEnded:
                break
            }
        }
    }
}
