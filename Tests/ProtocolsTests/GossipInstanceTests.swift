import XCTest
import BenchCore
@testable import Protocols

/// Scripted tests of one gossip node and small hand-driven clusters: each reads as the rule it
/// checks (answer puts once durable, exchange digests then entries, last writer wins, lose
/// interest in a rumor after k unnecessary contacts, recover the store from disk).
final class GossipInstanceTests: XCTestCase {
    /// A hand-driven cluster: messages queue until `deliverAll`, writes reach the disk at once and
    /// are reported durable only when `persistAll` says so.
    struct Cluster {
        var nodes: [Gossip.Instance]
        var disks: [DurableState]
        var unsynced: [[LogEntry]]
        var queue: [(from: NodeID, envelope: Envelope<Gossip.Message>)] = []
        var replies: [ClientReply] = []
        var timers: [[TimerRequest]]
        var now = Instant.zero + .seconds(1)

        init(size: Int, settings: Gossip.Settings = .init()) {
            let config = ClusterConfig(size: size)
            var random = SeededGenerator(seed: 1)
            nodes = config.members.map { Gossip.Instance(id: $0, cluster: config, settings: settings, recovered: .empty, random: &random) }
            disks = Array(repeating: .empty, count: size)
            unsynced = Array(repeating: [], count: size)
            timers = Array(repeating: [], count: size)
        }

        mutating func step(_ node: Int, _ input: Input<Gossip.Message>) {
            var out = Effects<Gossip.Message>()
            nodes[node].handle(input, now: now, into: &out)
            nodes[node].handle(.flush, now: now, into: &out)
            for write in out.writes {
                disks[node].apply(write)
                if case let .entry(entry) = write { unsynced[node].append(entry) }
            }
            for envelope in out.messages { queue.append((nodes[node].id, envelope)) }
            XCTAssertTrue(out.messagesAfterDurable.isEmpty, "gossip never waits on the disk to send")
            replies += out.replies
            timers[node] += out.timers
            XCTAssertNil(nodes[node].invariants())
        }

        /// The node's writes so far are durable.
        mutating func persistAll(_ node: Int) {
            guard let last = unsynced[node].last else { return }
            unsynced[node] = []
            step(node, .persisted(through: last.index, term: last.term))
        }

        /// Delivers queued messages (and what they cause) until none are left; returns how many.
        @discardableResult
        mutating func deliverAll(limit: Int = 1_000) -> Int {
            var delivered = 0
            while !queue.isEmpty && delivered < limit {
                let (from, envelope) = queue.removeFirst()
                step(Int(envelope.to.rawValue) - 1, .message(from: from, envelope.message))
                delivered += 1
            }
            return delivered
        }

        mutating func put(_ node: Int, key: Key, tag: UInt64, seq: UInt64 = 1) {
            step(node, .request(ClientRequest(client: ClientID(UInt64(node + 1)), seq: seq, command: .put(key: key, value: Value(tag: tag)))))
        }

        func held(_ node: Int, _ key: Key) -> UInt64? { nodes[node].store[key]?.value.tag }
    }

    func testPutIsAnsweredOnceDurableAndGetsAreLocal() {
        var cluster = Cluster(size: 3)
        cluster.put(0, key: 1, tag: 11)
        XCTAssertEqual(cluster.replies, [], "a put is not acknowledged before its write is durable")
        XCTAssertEqual(cluster.held(0, 1), 11, "but it is applied at once")
        cluster.persistAll(0)
        XCTAssertEqual(cluster.replies, [ClientReply(client: 1, seq: 1, outcome: .ok(nil))])
        cluster.step(0, .request(ClientRequest(client: 9, seq: 1, command: .get(key: 1))))
        cluster.step(1, .request(ClientRequest(client: 9, seq: 2, command: .get(key: 1))))
        XCTAssertEqual(cluster.replies.suffix(2), [ClientReply(client: 9, seq: 1, outcome: .ok(Value(tag: 11))),
                                                   ClientReply(client: 9, seq: 2, outcome: .ok(nil))],
                       "gets are served locally: node 2 has not heard of the put yet (a stale read)")
        XCTAssertEqual(cluster.nodes[1].status.role, .peer)
        XCTAssertNil(cluster.nodes[1].status.leader)
    }

    func testCommandsNeedingAgreementAreRefused() {
        var cluster = Cluster(size: 3)
        let commands: [Command] = [
            .compareAndSet(key: 1, expected: nil, new: Value(tag: 1)), .transaction([AccountDelta(account: 1, amount: 0)]),
            .readBalances([1]), .acquireLock(lock: 1, lease: .seconds(1), stamp: .zero), .releaseLock(lock: 1),
        ]
        for (seq, command) in commands.enumerated() {
            cluster.step(0, .request(ClientRequest(client: 1, seq: UInt64(seq + 1), command: command)))
        }
        XCTAssertEqual(cluster.replies.map(\.outcome), Array(repeating: .rejected(code: RejectCode.unsupported), count: commands.count))
        XCTAssertEqual(cluster.nodes[0].store.count, 0)
    }

    /// Push-pull anti-entropy: one digest, and both nodes end with the newer of each key.
    func testPushPullExchangeReconcilesBothWays() {
        var cluster = Cluster(size: 2)
        cluster.put(0, key: 1, tag: 11)
        cluster.now += .milliseconds(1)
        cluster.put(1, key: 2, tag: 22)
        cluster.now += .milliseconds(1)
        cluster.put(1, key: 1, tag: 12)  // later, so it wins over node 1's write of key 1
        cluster.step(0, .timer(Gossip.Timers.round))
        guard case let .digest(digest)? = cluster.queue.first?.envelope.message else { return XCTFail("no digest sent") }
        XCTAssertTrue(digest.push && digest.pull)
        XCTAssertEqual(digest.versions.map(\.key), [1])
        // digest → updates (pull leg) and request (push leg, nothing: node 2 is newer on key 1).
        XCTAssertGreaterThan(cluster.deliverAll(), 1)
        for node in 0..<2 {
            XCTAssertEqual(cluster.held(node, 1), 12, "node \(node + 1): last writer wins")
            XCTAssertEqual(cluster.held(node, 2), 22, "node \(node + 1)")
        }
        XCTAssertEqual(cluster.nodes[0].store.entries, cluster.nodes[1].store.entries)
    }

    func testPushOnlyAndPullOnlyMoveDataOneWay() {
        for mode in [Gossip.Mode.push, .pull] {
            var settings = Gossip.Settings()
            settings.mode = mode
            var cluster = Cluster(size: 2, settings: settings)
            cluster.put(0, key: 1, tag: 11)
            cluster.put(1, key: 2, tag: 22)
            cluster.step(0, .timer(Gossip.Timers.round))
            cluster.deliverAll()
            if mode == .push {
                XCTAssertEqual(cluster.held(1, 1), 11, "push: the initiator's update reached the peer")
                XCTAssertNil(cluster.held(0, 2), "push: nothing came back")
            } else {
                XCTAssertEqual(cluster.held(0, 2), 22, "pull: the peer's update reached the initiator")
                XCTAssertNil(cluster.held(1, 1), "pull: nothing went out")
            }
        }
    }

    /// Digests cover successive key ranges that tile the key space, a bounded number of keys each.
    func testDigestsWalkTheKeySpaceInBoundedRanges() {
        var settings = Gossip.Settings()
        settings.digestKeysMax = 2
        var cluster = Cluster(size: 2, settings: settings)
        for key: Key in [10, 20, 30, 40, 50] { cluster.put(0, key: key, tag: key) }
        var ranges: [(Key, Key, [Key])] = []
        for _ in 0..<4 {
            cluster.queue = []
            cluster.step(0, .timer(Gossip.Timers.round))
            guard case let .digest(digest)? = cluster.queue.first?.envelope.message else { return XCTFail("no digest") }
            ranges.append((digest.low, digest.high, digest.versions.map(\.key)))
        }
        XCTAssertEqual(ranges.map(\.0), [0, 30, 50, 0])
        XCTAssertEqual(ranges.map(\.1), [29, 49, .max, 29])
        XCTAssertEqual(ranges.map(\.2), [[10, 20], [30, 40], [50], [10, 20]])
        // Three rounds carry everything to the peer.
        cluster.queue = []
        for _ in 0..<3 {
            cluster.step(0, .timer(Gossip.Timers.round))
            cluster.deliverAll()
        }
        XCTAssertEqual(cluster.nodes[1].store.keys, [10, 20, 30, 40, 50])
    }

    /// Demers §1.4, counter with feedback: a node stops spreading a rumor after k contacts that already knew it.
    func testRumorCounterStopsAfterKUnnecessaryContacts() {
        var settings = Gossip.Settings()
        settings.mode = .rumor
        settings.fanout = 1
        settings.rumorK = 2
        var cluster = Cluster(size: 2, settings: settings)
        cluster.put(0, key: 1, tag: 11)
        XCTAssertEqual(cluster.nodes[0].activeRumorCount, 1)
        var rounds = 0
        while cluster.nodes[0].activeRumorCount > 0 && rounds < 10 {
            cluster.step(0, .timer(Gossip.Timers.round))
            cluster.deliverAll()
            rounds += 1
        }
        // Round 1 informs node 2 (which makes it hot there too); rounds 2 and 3 are unnecessary contacts.
        XCTAssertEqual(rounds, 3)
        XCTAssertEqual(cluster.held(1, 1), 11)
        XCTAssertEqual(cluster.nodes[1].activeRumorCount, 1, "node 2 learned it as a new rumor")
        cluster.step(0, .timer(Gossip.Timers.round))
        XCTAssertTrue(cluster.queue.isEmpty, "a retired rumor is not sent again")
    }

    func testRumorCoinWithKOneStopsAtTheFirstUnnecessaryContact() {
        var settings = Gossip.Settings()
        settings.mode = .rumor
        settings.rumorStop = .coin
        settings.rumorK = 1
        var cluster = Cluster(size: 2, settings: settings)
        cluster.put(0, key: 1, tag: 11)
        cluster.step(1, .message(from: 1, .rumor([Gossip.Update(key: 1, version: cluster.nodes[0].store[1]!.version, value: Value(tag: 11))])))
        cluster.queue = []
        cluster.step(0, .timer(Gossip.Timers.round))
        cluster.deliverAll()
        XCTAssertEqual(cluster.nodes[0].activeRumorCount, 0)
    }

    /// The broken variant: what a node learned from a peer it never passes on.
    func testNoForwardNodesKeepLearnedUpdatesToThemselves() {
        for unsafe in [false, true] {
            var settings = Gossip.Settings()
            settings.mode = .pull
            settings.unsafeNoForward = unsafe
            var cluster = Cluster(size: 3, settings: settings)
            cluster.put(0, key: 1, tag: 11)
            let update = Gossip.Update(key: 1, version: cluster.nodes[0].store[1]!.version, value: Value(tag: 11))
            cluster.step(1, .message(from: 1, .updates([update])))
            XCTAssertEqual(cluster.held(1, 1), 11)
            // Node 3 pulls from node 2.
            cluster.queue = []
            cluster.step(1, .message(from: 3, .digest(Gossip.Digest(low: 0, high: .max, push: false, pull: true, versions: []))))
            cluster.deliverAll()
            XCTAssertEqual(cluster.held(2, 1), unsafe ? nil : 11, "unsafe-no-forward=\(unsafe)")
        }
    }

    /// A restarted node recovers its store from disk, and its clock continues above what it held.
    func testRecoveryRestoresTheStoreAndTheClock() {
        var cluster = Cluster(size: 2)
        cluster.put(0, key: 1, tag: 11)
        cluster.put(0, key: 2, tag: 12, seq: 2)
        cluster.put(0, key: 1, tag: 13, seq: 3)
        XCTAssertEqual(cluster.disks[0].entries.count, 2, "one entry per key: a newer version replaces the older in place")
        var random = SeededGenerator(seed: 9)
        var restarted = Gossip.Instance(id: 1, cluster: ClusterConfig(size: 2), settings: .init(), recovered: cluster.disks[0], random: &random)
        XCTAssertEqual(restarted.store.entries, cluster.nodes[0].store.entries)
        XCTAssertEqual(restarted.recentlyApplied.count, 2, "what was recovered is reported to observers")
        XCTAssertEqual(restarted.writeSequence, 3)
        var out = Effects<Gossip.Message>()
        // Even with a clock reading behind the recovered versions, a new write wins.
        restarted.handle(.request(ClientRequest(client: 1, seq: 4, command: .put(key: 1, value: Value(tag: 14)))), now: .zero, into: &out)
        XCTAssertEqual(restarted.store[1]?.value.tag, 14)
        XCTAssertGreaterThan(restarted.store[1]!.version, cluster.nodes[0].store[1]!.version)
        XCTAssertNil(restarted.invariants())
    }

    /// Updates naming a node outside the cluster, and stale or duplicate ones, change nothing.
    func testStaleDuplicateAndForeignUpdatesAreIgnored() {
        var cluster = Cluster(size: 2)
        cluster.put(0, key: 1, tag: 11)
        let held = cluster.nodes[0].store[1]!
        let before = cluster.disks[0].entries
        cluster.step(0, .message(from: 2, .updates([
            Gossip.Update(key: 1, version: held.version, value: Value(tag: 99)),
            Gossip.Update(key: 1, version: Gossip.Version(time: held.version.time - 1, origin: 2), value: Value(tag: 98)),
            Gossip.Update(key: 2, version: Gossip.Version(time: 1, origin: 77), value: Value(tag: 97)),
        ])))
        XCTAssertEqual(cluster.held(0, 1), 11)
        XCTAssertNil(cluster.held(0, 2))
        XCTAssertEqual(cluster.disks[0].entries, before)
    }
}
