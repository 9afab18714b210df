import XCTest
import BenchCore
@testable import Protocols

/// Scripted NWR scenarios on a hand-driven cluster: every message, disk sync and tick is delivered
/// by the test, so each step of the protocol (quorum counting, durability before acks, read repair,
/// anti-entropy, hinted handoff, recovery) can be asserted on its own.
final class QuorumInstanceTests: XCTestCase {
    /// A cluster the test drives by hand.
    struct Cluster {
        var nodes: [Quorum.Instance]
        var durable: [DurableState]
        /// Writes issued but not yet synced, per node.
        var unsynced: [[StorageWrite]]
        /// Messages waiting for their node's next sync.
        var held: [[Envelope<Quorum.Message>]]
        var inflight: [(from: NodeID, to: NodeID, message: Quorum.Message)] = []
        var replies: [ClientReply] = []
        /// Messages from or to these nodes are lost.
        var isolated: Set<NodeID> = []
        var now = Instant(nanoseconds: 1_000_000_000)
        let settings: Quorum.Settings
        let config: ClusterConfig

        init(size: Int, settings: Quorum.Settings) {
            self.settings = settings
            self.config = ClusterConfig(size: size)
            var random = SeededGenerator(seed: 7)
            let config = ClusterConfig(size: size)
            var built: [Quorum.Instance] = []
            for id in config.members {
                built.append(Quorum.Instance(id: id, cluster: config, settings: settings, recovered: .empty, random: &random))
            }
            nodes = built
            durable = Array(repeating: .empty, count: size)
            unsynced = Array(repeating: [], count: size)
            held = Array(repeating: [], count: size)
            for id in config.members { step(id, .start) }
        }

        subscript(id: NodeID) -> Quorum.Instance { nodes[Int(id.rawValue) - 1] }

        mutating func step(_ id: NodeID, _ input: Input<Quorum.Message>) {
            let i = Int(id.rawValue) - 1
            var out = Effects<Quorum.Message>()
            nodes[i].handle(input, now: now, into: &out)
            XCTAssertNil(nodes[i].invariants())
            unsynced[i] += out.writes
            for envelope in out.messages { inflight.append((id, envelope.to, envelope.message)) }
            if unsynced[i].isEmpty {
                for envelope in out.messagesAfterDurable { inflight.append((id, envelope.to, envelope.message)) }
            } else {
                held[i] += out.messagesAfterDurable
            }
            replies += out.replies
        }

        /// Node `id`'s disk catches up: its writes are durable, the messages waiting on them go.
        mutating func sync(_ id: NodeID) {
            let i = Int(id.rawValue) - 1
            guard !unsynced[i].isEmpty else { return }
            var last: LogEntry?
            for write in unsynced[i] {
                durable[i].apply(write)
                if case let .entry(entry) = write { last = entry }
            }
            unsynced[i] = []
            for envelope in held[i] { inflight.append((id, envelope.to, envelope.message)) }
            held[i] = []
            if let last { step(id, .persisted(through: last.index, term: last.term)) }
        }

        /// Delivers every message in flight (and those they cause), syncing disks as it goes.
        mutating func stabilize() {
            for _ in 0..<1_000 {
                for id in config.members { sync(id) }
                guard !inflight.isEmpty else { return }
                let batch = inflight
                inflight = []
                for m in batch where !isolated.contains(m.from) && !isolated.contains(m.to) {
                    step(m.to, .message(from: m.from, m.message))
                }
            }
            XCTFail("the cluster did not settle in 1,000 rounds")
        }

        /// Moves time on by `duration` in ticks, delivering everything after each.
        mutating func advance(_ duration: Duration) {
            let end = now + duration
            while now < end {
                now = now + settings.tickInterval
                for id in config.members { step(id, .timer(Quorum.Timers.tick)) }
                stabilize()
            }
        }

        mutating func request(_ id: NodeID, seq: UInt64, _ command: Command) {
            step(id, .request(ClientRequest(client: 1, seq: seq, command: command)))
        }

        func reply(seq: UInt64) -> Outcome? { replies.last { $0.seq == seq }?.outcome }
    }

    static func settings(n: Int = 3, w: Int = 2, r: Int = 2, _ more: [(String, String)] = []) throws -> Quorum.Settings {
        try Quorum.Settings([("n", "\(n)"), ("w", "\(w)"), ("r", "\(r)")] + more)
    }

    // MARK: The ring

    /// The ring is the same in every process and run (no per-process hash seed): these preference
    /// lists are pinned, so a change of hash function fails here instead of silently moving data.
    func testRingIsDeterministicAndSpreadsKeys() {
        let ring = Quorum.Ring(members: [1, 2, 3, 4, 5], virtualNodes: 32)
        XCTAssertEqual((0..<6).map { ring.preferenceList(for: Key($0), n: 3) }, Self.pinnedPreferenceLists)
        var primaries = [Int](repeating: 0, count: 5)
        for key in 0..<10_000 {
            let list = ring.walk(from: Key(key), count: 5)
            XCTAssertEqual(Set(list).count, 5)
            primaries[Int(list[0].rawValue) - 1] += 1
        }
        // 32 virtual nodes each: every node is first for 10–30 % of the keys.
        for count in primaries { XCTAssert((1_000...3_000).contains(count), "\(primaries)") }
        XCTAssertEqual(Quorum.Ring(members: [3, 1], virtualNodes: 4).walk(from: 9, count: 9).count, 2)
    }

    static let pinnedPreferenceLists: [[NodeID]] = [[5, 4, 1], [5, 4, 1], [1, 2, 3], [3, 2, 1], [4, 3, 5], [2, 5, 1]]

    // MARK: Versions

    func testHybridClockOrdersEveryStampAfterWhatItSaw() {
        var clock = Quorum.HybridClock(node: 2)
        let t = Instant(nanoseconds: 500)
        let a = clock.tick(now: t)
        let b = clock.tick(now: t)  // the physical clock did not move
        XCTAssertLessThan(a, b)
        let future = Quorum.Version(wallNanos: 9_000, logical: 4, node: 3)
        clock.observe(future, now: t)
        let c = clock.tick(now: t)
        XCTAssertGreaterThan(c, future)
        XCTAssertEqual(c.node, 2)
        let d = clock.tick(now: Instant(nanoseconds: 20_000))
        XCTAssertEqual(d, Quorum.Version(wallNanos: 20_000, logical: 0, node: 2))
        // Equal physical and logical parts order by node.
        XCTAssertLessThan(Quorum.Version(wallNanos: 1, logical: 1, node: 1), Quorum.Version(wallNanos: 1, logical: 1, node: 2))
    }

    // MARK: Quorums

    func testPutIsAnsweredOnlyOnceWReplicasHoldItDurably() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 2))
        cluster.request(1, seq: 1, .put(key: 5, value: Value(tag: 11)))
        XCTAssertNil(cluster.reply(seq: 1))
        cluster.sync(1)  // the coordinator's own copy: one of two
        XCTAssertNil(cluster.reply(seq: 1))
        // The replicas store it, but hold their acks until their disks have it.
        let writes = cluster.inflight
        cluster.inflight = []
        for m in writes { cluster.step(m.to, .message(from: m.from, m.message)) }
        XCTAssertTrue(cluster.inflight.isEmpty, "an ack went out before the write was durable")
        cluster.sync(3)
        let acks = cluster.inflight
        cluster.inflight = []
        XCTAssertEqual(acks.count, 1)
        cluster.step(acks[0].to, .message(from: acks[0].from, acks[0].message))
        XCTAssertEqual(cluster.reply(seq: 1), .ok(nil))
        cluster.stabilize()
        for id: NodeID in [1, 2, 3] { XCTAssertEqual(cluster[id].storedRecord(for: 5)?.value.tag, 11) }
        XCTAssertEqual(cluster[1].pendingOperationCount, 0, "the put lingers after every replica acknowledged")
    }

    func testGetAnswersTheNewestOfRAndRepairsTheStaleReplica() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 2, r: 2))
        cluster.request(1, seq: 1, .put(key: 5, value: Value(tag: 11)))
        cluster.stabilize()
        cluster.isolated = [3]
        cluster.request(1, seq: 2, .put(key: 5, value: Value(tag: 12)))
        cluster.stabilize()
        XCTAssertEqual(cluster.reply(seq: 2), .ok(nil))
        XCTAssertEqual(cluster[3].storedRecord(for: 5)?.value.tag, 11)
        cluster.isolated = []
        // Node 3 coordinates: its own copy is old, node 1 or 2 has the new one.
        cluster.request(3, seq: 3, .get(key: 5))
        cluster.stabilize()
        XCTAssertEqual(cluster.reply(seq: 3), .ok(Value(tag: 12)))
        // Read repair brought node 3 up to date.
        XCTAssertEqual(cluster[3].storedRecord(for: 5)?.value.tag, 12)
        XCTAssertEqual(cluster[3].metrics["read_repairs"], 1)
    }

    func testReadFirstVariantAnswersStale() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 2, r: 2, [("unsafe-read-first", "true")]))
        cluster.request(1, seq: 1, .put(key: 5, value: Value(tag: 11)))
        cluster.stabilize()
        cluster.isolated = [3]
        cluster.request(1, seq: 2, .put(key: 5, value: Value(tag: 12)))
        cluster.stabilize()
        cluster.isolated = []
        cluster.request(3, seq: 3, .get(key: 5))
        cluster.stabilize()
        XCTAssertEqual(cluster.reply(seq: 3), .ok(Value(tag: 11)), "the broken variant answers its own stale copy")
    }

    func testQuorumThatNeverFormsIsAnsweredUnknown() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 3, r: 1))
        cluster.isolated = [3]
        cluster.request(1, seq: 1, .put(key: 5, value: Value(tag: 11)))
        cluster.stabilize()
        XCTAssertNil(cluster.reply(seq: 1))
        cluster.advance(cluster.settings.requestTimeout + cluster.settings.tickInterval)
        XCTAssertEqual(cluster.reply(seq: 1), .unknown)
        XCTAssertEqual(cluster[1].pendingOperationCount, 0)
        XCTAssertGreaterThan(cluster[1].metrics["resends"] ?? 0, 0)
    }

    func testConditionalCommandsAreUnsupported() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings())
        cluster.request(2, seq: 1, .compareAndSet(key: 1, expected: nil, new: Value(tag: 1)))
        cluster.request(2, seq: 2, .transaction([AccountDelta(account: 1, amount: -1), AccountDelta(account: 2, amount: 1)]))
        cluster.request(2, seq: 3, .acquireLock(lock: 1, lease: .seconds(1), stamp: .zero))
        for seq: UInt64 in 1...3 { XCTAssertEqual(cluster.reply(seq: seq), .rejected(code: RejectCode.unsupported)) }
    }

    func testOverloadedCoordinatorRefuses() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 3, r: 3, [("pending-max", "2")]))
        cluster.isolated = [2, 3]
        for seq: UInt64 in 1...3 { cluster.request(1, seq: seq, .get(key: seq)) }
        XCTAssertEqual(cluster.reply(seq: 3), .rejected(code: RejectCode.overloaded))
        XCTAssertEqual(cluster[1].pendingOperationCount, 2)
    }

    // MARK: Background repair

    func testAntiEntropyConvergesReplicasThatMissedWrites() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 2, r: 2, [("read-repair", "false")]))
        cluster.isolated = [3]
        for key: Key in 0..<20 { cluster.request(1, seq: key + 1, .put(key: key, value: Value(tag: 100 + key))) }
        cluster.advance(.milliseconds(100))  // the puts time out on node 3 and stop resending
        XCTAssertEqual(cluster[3].metrics["keys_stored"], 0)
        cluster.isolated = []
        cluster.advance(.milliseconds(400))
        let report = Quorum.convergence(cluster.nodes.map { $0.inspected })
        XCTAssertEqual(report.keyCount, 20)
        XCTAssertEqual(report.divergentKeys, [])
        XCTAssertEqual(report.converged.count, 20)
        XCTAssertGreaterThan(cluster[3].metrics["keys_stored"] ?? 0, 19)
    }

    func testConvergenceReportFindsDivergentKeys() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings(w: 1, r: 1, [("anti-entropy-interval", "0")]))
        cluster.isolated = [2, 3]
        cluster.request(1, seq: 1, .put(key: 8, value: Value(tag: 1)))
        cluster.stabilize()
        XCTAssertEqual(cluster.reply(seq: 1), .ok(nil))
        let report = Quorum.convergence(cluster.nodes.map { $0.inspected })
        XCTAssertEqual(report.divergentKeys, [8])
        XCTAssertFalse(report.isConverged)
        // A replica that cannot be inspected leaves its keys unchecked, not divergent.
        let partial = Quorum.convergence([cluster[1].inspected, nil, cluster[3].inspected])
        XCTAssertEqual(partial.uncheckedKeyCount, 1)
        XCTAssertTrue(partial.isConverged)
    }

    func testSloppyQuorumWritesToAFallbackAndHandsTheHintOff() throws {
        var cluster = Cluster(size: 5, settings: try Self.settings(n: 3, w: 3, r: 1, [("sloppy", "true")]))
        let ring = cluster[1].ring
        // A key whose coordinator is a home replica, and whose other two homes we cut off.
        let key = (0..<100).map(Key.init).first { ring.preferenceList(for: $0, n: 3).first == 1 }!
        let order = ring.walk(from: key, count: 5)
        cluster.isolated = [order[1], order[2]]
        cluster.request(1, seq: 1, .put(key: key, value: Value(tag: 77)))
        cluster.advance(.milliseconds(30))  // past hint-after: fallbacks order[3] and order[4] stand in
        XCTAssertEqual(cluster.reply(seq: 1), .ok(nil))
        XCTAssertEqual(cluster[order[3]].metrics["hints_pending"], 1)
        XCTAssertNil(cluster[order[3]].storedRecord(for: key), "a hint is not a stored copy")
        cluster.isolated = []
        cluster.advance(.milliseconds(200))
        for home in order.prefix(3) { XCTAssertEqual(cluster[home].storedRecord(for: key)?.value.tag, 77) }
        XCTAssertEqual(cluster[order[3]].metrics["hints_pending"], 0)
        XCTAssertEqual(cluster[order[3]].metrics["hints_delivered"], 1)
    }

    // MARK: Recovery and settings

    func testRecoveryRebuildsTheStoreAndKeepsVersionsGrowing() throws {
        var cluster = Cluster(size: 3, settings: try Self.settings())
        cluster.request(1, seq: 1, .put(key: 5, value: Value(tag: 11)))
        cluster.stabilize()
        let before = try XCTUnwrap(cluster[1].storedRecord(for: 5))
        var random = SeededGenerator(seed: 1)
        var restarted = Quorum.Instance(id: 1, cluster: cluster.config, settings: cluster.settings,
                                        recovered: cluster.durable[0], random: &random)
        XCTAssertNil(restarted.invariants())
        XCTAssertEqual(restarted.storedRecord(for: 5), before)
        // Even with a clock that reads earlier than before the crash, a new put orders later.
        var out = Effects<Quorum.Message>()
        restarted.handle(.request(ClientRequest(client: 1, seq: 2, command: .put(key: 5, value: Value(tag: 12)))),
                         now: Instant(nanoseconds: 1), into: &out)
        XCTAssertGreaterThan(try XCTUnwrap(restarted.storedRecord(for: 5)).version, before.version)
    }

    func testUndecodableRecoveredRecordIsReported() {
        var state = DurableState.empty
        state.apply(.entry(LogEntry(index: 1, term: 0, payload: .record([9, 9]))))
        var random = SeededGenerator(seed: 1)
        let replica = Quorum.Instance(id: 1, cluster: ClusterConfig(size: 3), settings: .init(), recovered: state, random: &random)
        XCTAssertNotNil(replica.invariants())
    }

    func testSettingsAreValidated() throws {
        XCTAssertThrowsError(try Quorum.Settings([("x", "1")]))
        XCTAssertThrowsError(try Quorum.Settings([("w", "0")]))
        XCTAssertThrowsError(try Quorum.Settings([("request-timeout", "0ms")]))
        XCTAssertThrowsError(try Quorum.Settings([("sloppy", "maybe")]))
        let settings = try Quorum.Settings([("n", "5"), ("w", "6"), ("r", "1")])
        XCTAssertEqual(settings.problems(clusterSize: 3).count, 2)
        XCTAssertEqual(try Self.settings().problems(clusterSize: 3), [])
        var random = SeededGenerator(seed: 1)
        let replica = Quorum.Instance(id: 1, cluster: ClusterConfig(size: 3), settings: settings, recovered: .empty, random: &random)
        XCTAssertEqual([replica.n, replica.w, replica.r], [3, 3, 1])
        XCTAssertNotNil(replica.invariants(), "clamped settings must be reported")
        // Every parameter reads back as it was set.
        let defaults = Quorum.Settings()
        XCTAssertEqual(try Quorum.Settings(defaults.parameters.map { ($0.key, $0.value) }).parameters.map(\.value),
                       defaults.parameters.map(\.value))
    }
}
