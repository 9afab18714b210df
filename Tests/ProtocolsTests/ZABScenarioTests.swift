import XCTest
import BenchCore
@testable import Protocols

/// A small deterministic ZAB cluster for scripted scenarios: messages are delivered in the order
/// they were sent, disks are instant, and time moves only when a scenario says so. Servers cut off
/// by `isolate` neither send nor receive.
struct ZABScriptCluster {
    let settings: ZAB.Settings
    let config: ClusterConfig
    var servers: [ZAB.Instance?]
    var disks: [DurableState]
    var timers: [[TimerID: Instant]]
    var queue: [(from: NodeID, to: NodeID, message: ZAB.Message)] = []
    var replies: [ClientReply] = []
    var isolated: Set<NodeID> = []
    var now = Instant.zero
    var random = SeededGenerator(seed: 0x2ab)

    init(size: Int, settings: ZAB.Settings = ZAB.Settings(), disks: [DurableState]? = nil) {
        self.settings = settings
        config = ClusterConfig(size: size)
        servers = Array(repeating: nil, count: size)
        self.disks = disks ?? Array(repeating: .empty, count: size)
        timers = Array(repeating: [:], count: size)
    }

    static func i(_ id: NodeID) -> Int { Int(id.rawValue) - 1 }

    func server(_ id: NodeID) -> ZAB.Instance { servers[Self.i(id)]! }

    /// The established leader, if exactly one server is one.
    var leader: NodeID? {
        let leaders = servers.compactMap { $0 }.filter { $0.status.role == .leader }
        return leaders.count == 1 ? leaders[0].id : nil
    }

    mutating func start(_ ids: NodeID...) {
        for id in ids {
            servers[Self.i(id)] = ZAB.Instance(id: id, cluster: config, settings: settings, recovered: disks[Self.i(id)],
                                               random: &random)
            timers[Self.i(id)] = [:]
            input(.start, to: id)
        }
    }

    mutating func crash(_ id: NodeID) {
        servers[Self.i(id)] = nil
        timers[Self.i(id)] = [:]
    }

    mutating func request(_ request: ClientRequest, to id: NodeID) { input(.request(request), to: id) }

    /// One input and the batch's flush; carries out the effects (the disk first, as it is instant).
    mutating func input(_ input: Input<ZAB.Message>, to id: NodeID) {
        guard var server = servers[Self.i(id)] else { return }
        var out = Effects<ZAB.Message>()
        server.handle(input, now: now, into: &out)
        server.handle(.flush, now: now, into: &out)
        servers[Self.i(id)] = server
        var lastEntry: LogEntry?
        for write in out.writes {
            disks[Self.i(id)].apply(write)
            if case let .entry(entry) = write { lastEntry = entry }
        }
        if !isolated.contains(id) {
            for envelope in out.messages + out.messagesAfterDurable { queue.append((id, envelope.to, envelope.message)) }
        }
        replies += out.replies
        for timer in out.timers {
            switch timer {
            case let .set(timer, at): timers[Self.i(id)][timer] = at
            case let .cancel(timer): timers[Self.i(id)][timer] = nil
            }
        }
        if let lastEntry { self.input(.persisted(through: lastEntry.index, term: lastEntry.term), to: id) }
    }

    /// Delivers queued messages until none is left (bounded).
    mutating func stabilize() {
        var steps = 0
        while !queue.isEmpty {
            steps += 1
            precondition(steps < 100_000, "the cluster does not settle")
            let (from, to, message) = queue.removeFirst()
            if isolated.contains(to) || isolated.contains(from) { continue }
            input(.message(from: from, message), to: to)
        }
    }

    /// Lets `duration` pass: messages settle, then timers fire in time order.
    mutating func run(for duration: Duration) {
        let end = now + duration
        var steps = 0
        while true {
            stabilize()
            var next: (id: NodeID, timer: TimerID, at: Instant)?
            for (k, table) in timers.enumerated() where servers[k] != nil {
                for (timer, at) in table.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where at <= end {
                    if next == nil || at < next!.at { next = (NodeID(UInt32(k + 1)), timer, at) }
                }
            }
            guard let next else { break }
            steps += 1
            precondition(steps < 100_000, "timers never stop")
            now = max(now, next.at)
            timers[Self.i(next.id)][next.timer] = nil
            input(.timer(next.timer), to: next.id)
        }
        now = end
    }

    func outcome(client: ClientID, seq: UInt64) -> Outcome? {
        replies.last { $0.client == client && $0.seq == seq }?.outcome
    }
}

/// Scripted ZAB scenarios that read as the protocol does: who gets elected, how a leader brings
/// each follower in line (DIFF, TRUNC, SNAP), and what a cut-off leader may no longer do.
final class ZABScenarioTests: XCTestCase {
    static func entries(_ epochs: [UInt64]) -> [LogEntry] {
        epochs.enumerated().map { position, epoch in
            LogEntry(index: LogIndex(UInt64(position + 1)), term: Term(epoch),
                     payload: .command(ClientRequest(client: 99, seq: UInt64(position + 1),
                                                     command: .put(key: 1, value: Value(tag: UInt64(100 * epoch) + UInt64(position + 1))))))
        }
    }

    /// A disk with `currentEpoch` (accepted too) and proposals of the given epochs at positions 1, 2, ...
    static func disk(currentEpoch: UInt64, _ epochs: [UInt64]) -> DurableState {
        DurableState(hardState: HardState(term: Term(currentEpoch), vote: nil, auxiliary: currentEpoch), entries: entries(epochs))
    }

    static func put(_ seq: UInt64, tag: UInt64) -> ClientRequest {
        ClientRequest(client: 1, seq: seq, command: .put(key: 7, value: Value(tag: tag)))
    }

    func assertSameHistories(_ cluster: ZABScriptCluster, _ ids: [NodeID], file: StaticString = #filePath, line: UInt = #line) {
        guard let first = ids.first else { return }
        for id in ids {
            XCTAssertEqual(cluster.server(id).history.entries, cluster.server(first).history.entries, "\(id) vs \(first)",
                           file: file, line: line)
            XCTAssertEqual(cluster.disks[ZABScriptCluster.i(id)].entries, cluster.server(id).history.entries,
                           "\(id): disk and memory differ", file: file, line: line)
            XCTAssertNil(cluster.server(id).invariants(), file: file, line: line)
        }
    }

    func testFreshClusterElectsTheHighestIdAndEstablishesEpochOne() {
        var cluster = ZABScriptCluster(size: 3)
        cluster.start(1, 2, 3)
        cluster.run(for: .milliseconds(500))
        XCTAssertEqual(cluster.leader, 3, "equal histories: FLE breaks the tie by id")
        for id: NodeID in [1, 2, 3] {
            XCTAssertEqual(cluster.server(id).currentEpoch, 1)
            XCTAssertEqual(cluster.disks[ZABScriptCluster.i(id)].hardState.term, 1, "currentEpoch is durable")
        }
    }

    func testTheMostUpToDateHistoryWinsAndIsCommittedEverywhere() {
        var cluster = ZABScriptCluster(size: 3, disks: [
            Self.disk(currentEpoch: 1, [1]), Self.disk(currentEpoch: 1, [1, 1]), Self.disk(currentEpoch: 1, [1]),
        ])
        cluster.start(1, 2, 3)
        cluster.run(for: .milliseconds(500))
        XCTAssertEqual(cluster.leader, 2, "n2 holds the highest zxid")
        XCTAssertEqual(cluster.server(2).currentEpoch, 2, "e' = highest acceptedEpoch + 1")
        assertSameHistories(cluster, [1, 2, 3])
        for id: NodeID in [1, 2, 3] { XCTAssertEqual(cluster.server(id).commitIndex, 2, "\(id) delivered I(e')") }
        XCTAssertEqual(cluster.server(2).statistics.syncsDiff, 2)
    }

    func testAFollowerWithProposalsTheLeaderLacksIsTruncated() {
        // n3 followed epoch 1 and logged proposals 4 and 5 that never reached anyone else; n1 and
        // n2 went on to epoch 2 without it.
        var cluster = ZABScriptCluster(size: 3, disks: [
            Self.disk(currentEpoch: 2, [1, 1, 1, 2]), Self.disk(currentEpoch: 2, [1, 1, 1, 2]),
            Self.disk(currentEpoch: 1, [1, 1, 1, 1, 1]),
        ])
        cluster.start(1, 2, 3)
        cluster.run(for: .milliseconds(500))
        XCTAssertEqual(cluster.leader, 2, "currentEpoch ranks before zxid; then the id breaks the tie")
        XCTAssertEqual(cluster.server(2).statistics.syncsTrunc, 1)
        XCTAssertEqual(cluster.server(2).statistics.syncsDiff, 1)
        assertSameHistories(cluster, [1, 2, 3])
        XCTAssertEqual(cluster.server(3).history.lastZxid, ZAB.Zxid(epoch: 2, index: 4))
    }

    func testAnOldLeaderRejoiningGetsASnapshot() {
        // n1 led epoch 3 and logged proposal 3 alone before it crashed; n2 and n3 hold I(3) only.
        var cluster = ZABScriptCluster(size: 3, disks: [
            Self.disk(currentEpoch: 3, [1, 1, 3]), Self.disk(currentEpoch: 3, [1, 1]), Self.disk(currentEpoch: 3, [1, 1]),
        ])
        cluster.start(2, 3)
        cluster.run(for: .milliseconds(500))
        XCTAssertEqual(cluster.leader, 3)
        XCTAssertEqual(cluster.server(3).currentEpoch, 4)
        cluster.request(Self.put(1, tag: 4001), to: 3)
        cluster.run(for: .milliseconds(100))
        XCTAssertEqual(cluster.outcome(client: 1, seq: 1), .ok(nil))

        cluster.start(1)
        cluster.run(for: .milliseconds(500))
        XCTAssertEqual(cluster.server(1).status.role, .follower, "n1 joins the established leader")
        XCTAssertEqual(cluster.server(3).statistics.syncsSnap, 1, "no proposal of epoch 3 survives: nothing to diff from")
        assertSameHistories(cluster, [1, 2, 3])
        XCTAssertEqual(cluster.server(1).history.epoch(at: 3), 4, "n1's uncommitted proposal of epoch 3 is gone")
        XCTAssertEqual(cluster.server(1).store.read(7), Value(tag: 4001))
    }

    func testACutOffLeaderCommitsNothingAndStepsDown() {
        var cluster = ZABScriptCluster(size: 3)
        cluster.start(1, 2, 3)
        cluster.run(for: .milliseconds(500))
        let old = try! XCTUnwrap(cluster.leader)
        cluster.request(Self.put(1, tag: 1), to: old)
        cluster.run(for: .milliseconds(50))
        XCTAssertEqual(cluster.outcome(client: 1, seq: 1), .ok(nil))

        cluster.isolated = [old]
        cluster.request(Self.put(2, tag: 2), to: old)
        cluster.request(ClientRequest(client: 1, seq: 3, command: .get(key: 7)), to: old)
        cluster.run(for: .milliseconds(200))
        XCTAssertNil(cluster.outcome(client: 1, seq: 2), "no quorum acknowledged the write")
        XCTAssertNil(cluster.outcome(client: 1, seq: 3), "no quorum confirmed the leadership a read needs")
        cluster.run(for: .milliseconds(800))
        XCTAssertNotEqual(cluster.server(old).status.role, .leader, "syncLimit passed without a quorum")
        XCTAssertEqual(cluster.outcome(client: 1, seq: 2), .unknown)
        XCTAssertEqual(cluster.outcome(client: 1, seq: 3), .notLeader(hint: nil))
        let new = try! XCTUnwrap(cluster.leader)
        XCTAssertNotEqual(new, old)

        cluster.isolated = []
        cluster.run(for: .milliseconds(800))
        XCTAssertEqual(cluster.leader, new)
        XCTAssertEqual(cluster.server(old).status.leader, new, "the old leader follows the new one")
        assertSameHistories(cluster, [1, 2, 3])
        XCTAssertFalse(cluster.server(old).history.entries.contains { $0.payload == .command(Self.put(2, tag: 2)) },
                       "the cut-off leader's uncommitted proposal was truncated when it rejoined")
    }

    func testFollowerReadsAnswerFromTheAppliedState() {
        var settings = ZAB.Settings()
        settings.readMode = .follower
        var cluster = ZABScriptCluster(size: 3, settings: settings)
        cluster.start(1, 2, 3)
        cluster.run(for: .milliseconds(500))
        let leader = try! XCTUnwrap(cluster.leader)
        let follower: NodeID = leader == 1 ? 2 : 1
        cluster.request(Self.put(1, tag: 55), to: leader)
        cluster.request(ClientRequest(client: 2, seq: 1, command: .put(key: 8, value: Value(tag: 1))), to: follower)
        cluster.run(for: .milliseconds(100))
        XCTAssertEqual(cluster.outcome(client: 2, seq: 1), .notLeader(hint: leader), "writes go to the leader")
        cluster.request(ClientRequest(client: 2, seq: 2, command: .get(key: 7)), to: follower)
        XCTAssertEqual(cluster.outcome(client: 2, seq: 2), .ok(Value(tag: 55)))
        XCTAssertEqual(cluster.server(follower).statistics.localReads, 1)
    }
}
