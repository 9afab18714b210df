import BenchCore
import XCTest
@testable import Checker

final class CounterexampleTests: XCTestCase {
    /// Checks what `Counterexample.isMinimal` promises: the set fails, and removing any one
    /// operation the shrinker may remove makes it pass.
    func assertOneMinimal(_ counterexample: Counterexample, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(counterexample.isMinimal, file: file, line: line)
        let operations = counterexample.operations
        XCTAssertNotNil(verdict(operations).counterexample, "the counterexample passes on its own", file: file, line: line)
        let reduced = Linearizability.reduce(operations)
        XCTAssertEqual(reduced.count, operations.count, "a counterexample holds only operations that constrain the register")
        for index in operations.indices where CounterexampleSearch.isRemovable(index, from: reduced) {
            var rest = operations
            rest.remove(at: index)
            XCTAssertTrue(verdict(rest).isLinearizable, "still fails without operation \(index): \(operations[index])",
                          file: file, line: line)
        }
    }

    /// A generated linearizable history, with one read changed to return a value that a later
    /// completed write had replaced before the read began.
    func plantedStaleRead(seed: UInt64) throws -> (history: History, planted: ClientOperation, key: Key) {
        var history = CheckerBenchmarks.generateLinearizableHistory(operations: 2_000, keys: 10, clients: 8, seed: seed)
        let key: Key = 3
        let onKey = history.operations.indices.filter { history.operations[$0].key == key }
            .sorted { ClientOperation.byInvocation(history.operations[$0], history.operations[$1]) }
        let completedWrites = onKey.map { history.operations[$0] }.filter { $0.kind == .write && $0.status == .ok }
        // A read in the middle of the key's operations, with two completed writes ordered before it.
        for position in (onKey.count / 2)..<onKey.count {
            let readIndex = onKey[position]
            let target = history.operations[readIndex]
            guard target.kind == .read else { continue }
            guard let newer = completedWrites.filter({ $0.complete < target.invoke }).max(by: { $0.complete < $1.complete }),
                  let older = completedWrites.filter({ $0.complete < newer.invoke }).max(by: { $0.complete < $1.complete }),
                  older.written != target.observed else { continue }
            history.operations[readIndex].observed = older.written
            return (history, history.operations[readIndex], key)
        }
        throw XCTSkip("no read to plant on")
    }

    func testPlantedStaleReadGivesASmallCounterexampleContainingIt() throws {
        for seed: UInt64 in [1, 2, 3] {
            let (history, planted, key) = try plantedStaleRead(seed: seed)
            let counterexample = try XCTUnwrap(Linearizability.check(history).counterexample, "seed \(seed)")
            XCTAssertEqual(counterexample.key, key)
            XCTAssertTrue(counterexample.operations.contains(planted), "seed \(seed): \(counterexample.operations)")
            XCTAssertLessThanOrEqual(counterexample.operations.count, 4, "seed \(seed): \(counterexample.explanation)")
            XCTAssertTrue(counterexample.explanation.contains(CounterexampleExplanation.describe(planted)),
                          counterexample.explanation)
            assertOneMinimal(counterexample)
        }
    }

    func testUnplantedHistoriesPass() {
        for seed: UInt64 in [1, 2, 3] {
            let history = CheckerBenchmarks.generateLinearizableHistory(operations: 2_000, keys: 10, clients: 8, seed: seed)
            XCTAssertTrue(Linearizability.check(history).isLinearizable, "seed \(seed)")
        }
    }

    func testHandWrittenCounterexamplesAreMinimal() throws {
        let cases: [[ClientOperation]] = [
            [write(1, 1, 0, 10), read(9, 1, 5, 8), write(1, 2, 20, 30), read(2, 2, 35, 38), read(2, 1, 40, 50)],
            [write(1, 1, 0, 100), write(2, 2, 0, 100), read(4, 0, 0, 5), read(3, 2, 110, 120), read(3, 1, 130, 140)],
            [write(1, 1, 0, 10), compareAndSet(2, expected: 1, written: 2, swapped: true, 20, 40),
             compareAndSet(3, expected: 1, written: 3, swapped: true, 20, 40), read(4, 3, 50, 60)],
        ]
        for operations in cases {
            let counterexample = try XCTUnwrap(verdict(operations).counterexample, "\(operations)")
            assertOneMinimal(counterexample)
        }
    }

    func testLongFailingPrefixIsReturnedUnshrunk() throws {
        // One key, a sequential run of 400 write-then-read pairs; the last read is stale.
        var operations: [ClientOperation] = []
        for step in 0..<400 {
            let time = Int64(step) * 100
            operations.append(write(1, UInt64(step + 1), time, time + 10))
            operations.append(read(2, UInt64(step + 1), time + 20, time + 30))
        }
        operations[operations.count - 1].observed = 1
        let counterexample = try XCTUnwrap(verdict(operations).counterexample)
        XCTAssertFalse(counterexample.isMinimal)
        XCTAssertEqual(counterexample.operations.count, 800, "the failing prefix ends with the stale read")
        XCTAssertTrue(counterexample.explanation.contains("too long to shrink"), counterexample.explanation)
        XCTAssertTrue(counterexample.explanation.contains("read by c2 [39.92ms, 39.93ms] returned v1, but v400 was written"),
                      counterexample.explanation)
    }

    func testShortestPrefixDropsLaterOperations() throws {
        // The violation is complete at 50 µs; everything after must not appear.
        var operations = [write(1, 1, 0, 10), write(1, 2, 20, 30), read(2, 1, 40, 50)]
        for step in 0..<20 {
            operations.append(write(3, UInt64(100 + step), 1_000 + Int64(step) * 10, 1_005 + Int64(step) * 10))
        }
        let counterexample = try XCTUnwrap(verdict(operations).counterexample)
        XCTAssertEqual(counterexample.operations, Array(operations[0..<3]))
        XCTAssertTrue(counterexample.explanation.contains("3 of 23 operations, cut at 50us"), counterexample.explanation)
    }
}
