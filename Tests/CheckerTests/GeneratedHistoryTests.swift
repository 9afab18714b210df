import BenchCore
import XCTest
@testable import Checker

final class GeneratedHistoryTests: XCTestCase {
    func testGeneratorIsDeterministic() {
        let a = CheckerBenchmarks.generateLinearizableHistory(operations: 300, keys: 5, clients: 4, seed: 9)
        let b = CheckerBenchmarks.generateLinearizableHistory(operations: 300, keys: 5, clients: 4, seed: 9)
        let c = CheckerBenchmarks.generateLinearizableHistory(operations: 300, keys: 5, clients: 4, seed: 10)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertEqual(a.count, 300)
        let kinds = Set(a.operations.map(\.kind))
        XCTAssertEqual(kinds, [.read, .write, .compareAndSet])
        XCTAssertTrue(a.operations.contains { $0.kind == .compareAndSet && $0.swapped })
        XCTAssertTrue(a.operations.contains { $0.kind == .compareAndSet && !$0.swapped })
    }

    /// 10,000 operations over 100 keys, 8 clients.
    func testTenThousandOperationsOverOneHundredKeysAreLinearizable() {
        let history = CheckerBenchmarks.generateLinearizableHistory(operations: 10_000, keys: 100, clients: 8, seed: 1)
        XCTAssertEqual(Linearizability.check(history), .linearizable)
    }

    /// One hot key with 2,000 operations from 6 clients, some writes of unknown outcome.
    func testHotKeyIsLinearizable() {
        let history = CheckerBenchmarks.generateLinearizableHistory(operations: 2_000, keys: 1, clients: 6, seed: 2)
        XCTAssertEqual(Linearizability.check(history), .linearizable)
        let withUnknowns = CheckerBenchmarks.generateLinearizableHistory(operations: 2_000, keys: 1, clients: 6, seed: 3,
                                                                         unknownRate: 0.02)
        XCTAssertTrue(withUnknowns.operations.contains { $0.status == .unknown })
        XCTAssertEqual(Linearizability.check(withUnknowns), .linearizable)
    }

    /// The checker is not just saying yes: mutating one read of a hot-key history into a tag the
    /// key never held is found, and shrunk to that read alone (early in the history, so that the
    /// failing prefix is short enough to shrink).
    func testMutatedHotKeyHistoryFails() throws {
        var history = CheckerBenchmarks.generateLinearizableHistory(operations: 2_000, keys: 1, clients: 6, seed: 4)
        let index = try XCTUnwrap(history.operations.indices.last { history.operations[$0].kind == .read && $0 < 200 })
        history.operations[index].observed = 1_000_000
        let counterexample = try XCTUnwrap(Linearizability.check(history).counterexample)
        XCTAssertTrue(counterexample.isMinimal)
        XCTAssertEqual(counterexample.operations.count, 1)
        XCTAssertEqual(counterexample.operations.first, history.operations[index])
    }
}
