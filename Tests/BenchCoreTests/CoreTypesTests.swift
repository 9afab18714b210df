import XCTest
@testable import BenchCore

final class CoreTypesTests: XCTestCase {
    func testDurationParsingAndPrinting() {
        XCTAssertEqual(Duration(parsing: "250ms"), .milliseconds(250))
        XCTAssertEqual(Duration(parsing: "2s"), .seconds(2))
        XCTAssertEqual(Duration(parsing: "1.5s"), .milliseconds(1_500))
        XCTAssertEqual(Duration(parsing: "40us"), .microseconds(40))
        XCTAssertEqual(Duration(parsing: "3"), .seconds(3))
        XCTAssertEqual(Duration(parsing: "1m"), .seconds(60))
        XCTAssertNil(Duration(parsing: "-1s"))
        XCTAssertNil(Duration(parsing: "fast"))
        XCTAssertEqual(Duration.milliseconds(250).description, "250ms")
        XCTAssertEqual(Duration.milliseconds(1_500).description, "1.5s")
    }

    func testDurableStateReplaysWrites() {
        var state = DurableState.empty
        let e = { (i: UInt64, t: UInt64) in LogEntry(index: LogIndex(i), term: Term(t), payload: .noop) }
        state.apply([.entry(e(1, 1)), .entry(e(2, 1)), .entry(e(3, 1)), .hardState(HardState(term: 2, vote: 3))])
        XCTAssertEqual(state.entries.map(\.index), [1, 2, 3])
        state.apply([.truncate(from: 2), .entry(e(2, 2))])
        XCTAssertEqual(state.entries, [e(1, 1), e(2, 2)])
        XCTAssertEqual(state.hardState, HardState(term: 2, vote: 3))
        // A Paxos acceptor's log has gaps and overwrites.
        state.apply([.entry(e(5, 3)), .entry(e(4, 3)), .entry(e(5, 4))])
        XCTAssertEqual(state.entries.map(\.index), [1, 2, 4, 5])
        XCTAssertEqual(state.entry(at: 5)?.term, 4)
        XCTAssertNil(state.entry(at: 3))
    }

    func testKeyValueStoreAppliesEachRequestOnce() {
        var store = KeyValueStore()
        let put = ClientRequest(client: 1, seq: 1, command: .put(key: 1, value: Value(tag: 10)))
        XCTAssertEqual(store.apply(put), .ok(nil))
        let overwrite = ClientRequest(client: 2, seq: 1, command: .put(key: 1, value: Value(tag: 20)))
        XCTAssertEqual(store.apply(overwrite), .ok(nil))
        // The retry of client 1's first put must not bring value 10 back.
        XCTAssertEqual(store.apply(put), .ok(nil))
        XCTAssertEqual(store.read(1)?.tag, 20)
        // An older seq than the last applied one is not applied either.
        _ = store.apply(ClientRequest(client: 1, seq: 2, command: .get(key: 1)))
        XCTAssertEqual(store.apply(ClientRequest(client: 1, seq: 1, command: .put(key: 1, value: Value(tag: 30)))), .unknown)
        XCTAssertEqual(store.apply(ClientRequest(client: 1, seq: 0, command: .put(key: 1, value: Value(tag: 31)))), .unknown)
        XCTAssertEqual(store.read(1)?.tag, 20)
    }

    func testCompareAndSet() {
        var store = KeyValueStore()
        XCTAssertEqual(store.execute(.compareAndSet(key: 1, expected: nil, new: Value(tag: 1))), .ok(nil))
        XCTAssertEqual(store.execute(.compareAndSet(key: 1, expected: nil, new: Value(tag: 2))), .compareFailed(current: Value(tag: 1)))
        XCTAssertEqual(store.execute(.compareAndSet(key: 1, expected: Value(tag: 1), new: Value(tag: 2))), .ok(nil))
        XCTAssertEqual(store.read(1), Value(tag: 2))
    }

    func testSeededGeneratorIsDeterministic() {
        var a = SeededGenerator(seed: 9)
        var b = SeededGenerator(seed: 9)
        var c = SeededGenerator(seed: 10)
        let sa = (0..<100).map { _ in a.next() }
        XCTAssertEqual(sa, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(sa, (0..<100).map { _ in c.next() })
        var u = SeededGenerator(seed: 3)
        for _ in 0..<10_000 { XCTAssert((0..<1).contains(u.nextUnit())) }
    }

    func testWorkloadDistributions() {
        var random = SeededGenerator(seed: 5)
        let zipf = WorkloadGenerator(spec: WorkloadSpec(keys: 1_000, distribution: .zipf(theta: 0.99)))
        var counts = [Int](repeating: 0, count: 1_000)
        for _ in 0..<100_000 { counts[Int(zipf.nextKey(&random))] += 1 }
        // Key 0 is the hottest; the hottest 1 % of keys draw far more than 1 % of accesses.
        XCTAssertEqual(counts.firstIndex(of: counts.max()!), 0)
        XCTAssertGreaterThan(counts.prefix(10).reduce(0, +), 20_000)

        let hotspot = WorkloadGenerator(spec: WorkloadSpec(keys: 1_000, distribution: .hotspot(fraction: 0.01, probability: 0.9)))
        var hot = 0
        for _ in 0..<100_000 where hotspot.nextKey(&random) < 10 { hot += 1 }
        XCTAssertEqual(Double(hot) / 100_000, 0.9, accuracy: 0.01)

        let uniform = WorkloadGenerator(spec: WorkloadSpec(keys: 10, distribution: .uniform, readRatio: 0.25))
        var reads = 0
        for i in 0..<100_000 {
            if case .get = uniform.nextCommand(tag: UInt64(i), &random) { reads += 1 }
        }
        XCTAssertEqual(Double(reads) / 100_000, 0.25, accuracy: 0.01)
        XCTAssertEqual(KeyDistribution(parsing: "zipf:0.8"), .zipf(theta: 0.8))
        XCTAssertNil(KeyDistribution(parsing: "zipf:2"))
        XCTAssertNil(KeyDistribution(parsing: "gaussian"))
    }
}
