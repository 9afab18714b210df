import BenchCore
import XCTest
@testable import Checker

/// Differential tests: the search (with its memo and its register-specific shortcuts) must agree
/// with a brute-force checker written straight from the model's definition, on many small random
/// histories built to hit the corners: repeated tags, equal timestamps, unknown and failed outcomes.
final class ReferenceCheckerTests: XCTestCase {
    /// Tries every order of the operations that respects real time (x before y when x completed
    /// strictly before y was invoked). Written from the model's definition, not from the checker.
    static func bruteForceIsLinearizable(_ history: [ClientOperation]) -> Bool {
        let relevant = history.filter { $0.status != .failed && !($0.kind == .read && $0.status == .unknown) }
        func take(_ remaining: [ClientOperation], _ state: UInt64) -> Bool {
            if remaining.isEmpty { return true }
            for (position, operation) in remaining.enumerated() {
                // An operation may go next only if nothing left had to come before it.
                let mustWait = remaining.contains { $0.status == .ok && $0.complete < operation.invoke }
                if mustWait { continue }
                var after = remaining
                after.remove(at: position)
                switch (operation.kind, operation.status) {
                case (.read, _):
                    if state == operation.observed && take(after, state) { return true }
                case (.write, _):
                    if take(after, operation.written) { return true }
                case (.compareAndSet, .ok):
                    if operation.swapped {
                        if state == operation.expected && take(after, operation.written) { return true }
                    } else if state != operation.expected && state == operation.observed && take(after, state) {
                        return true
                    }
                case (.compareAndSet, _):
                    // Unknown outcome: swaps if it takes effect where the state is `expected`;
                    // elsewhere (or at the end, meaning never) it changes nothing.
                    if take(after, state == operation.expected ? operation.written : state) { return true }
                case (.transaction, _), (.lock, _), (.unlock, _):
                    // Not register operations: the reference model leaves the state alone.
                    if take(after, state) { return true }
                }
            }
            return false
        }
        return take(relevant, 0)
    }

    static func randomHistory(count: Int, using random: inout SeededGenerator) -> [ClientOperation] {
        (0..<count).map { _ in
            let invoke = Int64.random(in: 0...8, using: &random)
            let complete = invoke + Int64.random(in: 0...5, using: &random)
            let kind: OperationKind = [.read, .read, .write, .write, .compareAndSet].randomElement(using: &random)!
            let statusDraw = random.nextUnit()
            let status: OperationStatus = statusDraw < 0.7 ? .ok : statusDraw < 0.9 ? .unknown : .failed
            let swapped = random.chance(0.5)
            let expected = UInt64.random(in: 0...3, using: &random)
            return ClientOperation(client: ClientID(UInt64.random(in: 0...3, using: &random)), key: 1, kind: kind,
                             written: kind == .read ? 0 : UInt64.random(in: 1...4, using: &random),
                             expected: kind == .compareAndSet ? expected : 0,
                             observed: swapped && kind == .compareAndSet ? expected : UInt64.random(in: 0...4, using: &random),
                             swapped: kind == .compareAndSet && swapped,
                             invoke: Instant(nanoseconds: invoke), complete: Instant(nanoseconds: complete), status: status)
        }
    }

    func testSearchAgreesWithBruteForceOnRandomHistories() {
        var random = SeededGenerator(seed: 2024)
        var counts = (linearizable: 0, violation: 0)
        for trial in 0..<6_000 {
            let history = Self.randomHistory(count: Int.random(in: 1...7, using: &random), using: &random)
            let expected = Self.bruteForceIsLinearizable(history)
            let result = Linearizability.check(History(history))
            XCTAssertEqual(result.isLinearizable, expected, "trial \(trial): \(history)")
            if expected { counts.linearizable += 1 } else { counts.violation += 1 }
            if expected != result.isLinearizable { return }
        }
        // Both answers were exercised, so the agreement means something.
        XCTAssertGreaterThan(counts.linearizable, 1_000)
        XCTAssertGreaterThan(counts.violation, 1_000)
    }

    /// Longer histories, where the memo starts to matter: states reached again by another order.
    func testSearchAgreesWithBruteForceOnLongerHistories() {
        var random = SeededGenerator(seed: 31)
        for trial in 0..<1_500 {
            let history = Self.randomHistory(count: Int.random(in: 8...10, using: &random), using: &random)
            let expected = Self.bruteForceIsLinearizable(history)
            XCTAssertEqual(Linearizability.check(History(history)).isLinearizable, expected, "trial \(trial): \(history)")
            if expected != Linearizability.check(History(history)).isLinearizable { return }
        }
    }

    /// Small generated (linearizable) histories with one field changed: mostly near misses.
    func testSearchAgreesWithBruteForceOnMutatedGeneratedHistories() {
        var random = SeededGenerator(seed: 77)
        var violations = 0
        for trial in 0..<2_000 {
            var history = CheckerBenchmarks.generateLinearizableHistory(
                operations: 8, keys: 1, clients: 3, seed: UInt64(trial), unknownRate: 0.3).operations
            let victim = Int.random(in: 0..<history.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: history[victim].observed = UInt64.random(in: 0...9, using: &random)
            case 1: history[victim].swapped.toggle()
            case 2: history[victim].invoke = Instant(nanoseconds: max(0, history[victim].invoke.nanoseconds - 200_000))
            default: history[victim].status = [.ok, .failed, .unknown].randomElement(using: &random)!
            }
            if history[victim].status == .unknown { history[victim].complete = .distantFuture }
            let expected = Self.bruteForceIsLinearizable(history)
            let result = Linearizability.check(History(history))
            XCTAssertEqual(result.isLinearizable, expected, "trial \(trial): \(history)")
            if !expected { violations += 1 }
            if expected != result.isLinearizable { return }
        }
        XCTAssertGreaterThan(violations, 100)
    }

    /// Every counterexample fails by brute force, and (when minimal) removing any removable
    /// operation makes it pass by brute force.
    func testCounterexamplesAreMinimalByBruteForce() {
        var random = SeededGenerator(seed: 99)
        var checked = 0
        for _ in 0..<3_000 {
            let history = Self.randomHistory(count: Int.random(in: 2...7, using: &random), using: &random)
            guard let counterexample = Linearizability.check(History(history)).counterexample else { continue }
            checked += 1
            XCTAssertFalse(Self.bruteForceIsLinearizable(counterexample.operations), "\(counterexample)")
            XCTAssertTrue(counterexample.isMinimal)
            let reduced = Linearizability.reduce(counterexample.operations)
            for index in counterexample.operations.indices where CounterexampleSearch.isRemovable(index, from: reduced) {
                var rest = counterexample.operations
                rest.remove(at: index)
                XCTAssertTrue(Self.bruteForceIsLinearizable(rest), "not minimal: \(counterexample)")
            }
        }
        XCTAssertGreaterThan(checked, 500)
    }
}
