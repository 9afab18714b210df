import XCTest
import BenchCore
@testable import Protocols

/// The Paxos wire codec: every message survives a round trip, and bytes from a broken or hostile
/// peer (truncated, padded, unknown tags, random garbage, flipped bits) are refused with an error,
/// never a trap. A decoded buffer always re-encodes to exactly the same bytes.
final class MultiPaxosMessageCodecTests: XCTestCase {
    typealias P = MultiPaxos
    static let request = ClientRequest(client: 7, seq: 42, command: .put(key: 3, value: Value(tag: 99, size: 24)))
    static let b = P.Ballot(round: 12, node: 3)

    /// At least one sample of every case and of every optional or variable-length field.
    static let samples: [P.Message] = [
        .prepare(.init(ballot: b, fromSlot: 1)),
        .prepare(.init(ballot: P.Ballot(round: .max, node: NodeID(.max)), fromSlot: LogIndex(.max))),
        .promise(.init(ballot: b, fromSlot: 1, chosenThrough: 0, entries: [], nextSlot: 0)),
        .promise(.init(ballot: b, fromSlot: 5, chosenThrough: 6, entries: [
            LogEntry(index: 5, term: .zero, payload: .noop),
            LogEntry(index: 6, term: .zero, payload: .command(request)),
            LogEntry(index: 8, term: P.Ballot(round: 4, node: 2).term, payload: .command(
                ClientRequest(client: 2, seq: 9, command: .compareAndSet(key: 5, expected: nil, new: Value(tag: 1))))),
            LogEntry(index: 9, term: P.Ballot(round: 4, node: 2).term, payload: .record([1, 2, 3])),
        ], nextSlot: 10)),
        .accept(.init(ballot: b, firstSlot: 3, payloads: [], commit: 2)),
        .accept(.init(ballot: b, firstSlot: 3, payloads: [
            .noop, .command(request), .command(ClientRequest(client: 1, seq: 1, command: .get(key: 5))),
            .command(ClientRequest(client: 4, seq: 2, command: .acquireLock(lock: 1, lease: .milliseconds(5),
                                                                             stamp: Instant(nanoseconds: 77)))),
            .record([]),
        ], commit: 2)),
        .accepted(.init(ballot: b, firstSlot: 3, lastSlot: 7, learnedThrough: 2, commitSeen: 5)),
        .reject(.init(ballot: b, slot: 0, promised: P.Ballot(round: 13, node: 1))),
        .reject(.init(ballot: b, slot: 9, promised: P.Ballot(round: 20, node: 5))),
        .heartbeat(.init(ballot: b, commit: 0)),
        .heartbeat(.init(ballot: b, commit: LogIndex(.max))),
        .heartbeatAck(.init(ballot: b, learnedThrough: 4, commitSeen: 9)),
        .learn(.init(ballot: .zero, firstSlot: 1, payloads: [])),
        .learn(.init(ballot: b, firstSlot: 11, payloads: [.noop, .command(request)])),
        .status(.init(learnedThrough: 0, highestSlot: 0)),
        .status(.init(learnedThrough: 17, highestSlot: 40)),
    ]

    /// Which case a message is; the switch is exhaustive, so a new case fails to compile here
    /// until it has a tag, and `testSamplesCoverEveryCase` then asks for a sample of it.
    static func caseTag(_ message: P.Message) -> UInt8 {
        switch message {
        case .prepare: 1
        case .promise: 2
        case .accept: 3
        case .accepted: 4
        case .reject: 5
        case .heartbeat: 6
        case .heartbeatAck: 7
        case .learn: 8
        case .status: 9
        }
    }

    static let caseTags: Set<UInt8> = Set(1...9)

    func testSamplesCoverEveryCase() {
        XCTAssertEqual(Set(Self.samples.map(Self.caseTag)), Self.caseTags)
        for message in Self.samples {
            XCTAssertEqual(message.encodedBytes().first, Self.caseTag(message), "\(message)")
        }
    }

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            XCTAssertEqual(try P.Message(decoding: message.encodedBytes()), message)
        }
        XCTAssertEqual(Set(Self.samples.map { $0.encodedBytes() }).count, Self.samples.count)
    }

    func testEveryTruncationThrows() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try P.Message(decoding: bytes[0..<length]),
                                     "a \(length)-byte prefix of \(bytes.count) decoded: \(message)")
            }
        }
    }

    func testTrailingBytesThrow() {
        for message in Self.samples {
            XCTAssertThrowsError(try P.Message(decoding: message.encodedBytes() + [0])) { error in
                XCTAssertEqual(error as? WireError, .trailingBytes(1))
            }
        }
    }

    func testUnknownTagsThrow() {
        for tag in [UInt8(0)] + Array(10...255) {
            XCTAssertThrowsError(try P.Message(decoding: [tag] + [UInt8](repeating: 0, count: 64))) { error in
                XCTAssertEqual(error as? WireError, .invalidTag(tag, type: "MultiPaxos.Message"))
            }
        }
    }

    /// A count the buffer cannot hold is refused before anything is reserved for it.
    func testHugeCountsAreRefused() {
        var accept = WireWriter()
        accept.write(UInt8(3)); accept.write(Self.b); accept.write(LogIndex(1)); accept.write(LogIndex(0))
        accept.write(UInt32.max)
        XCTAssertThrowsError(try P.Message(decoding: accept.bytes))
        var promise = WireWriter()
        promise.write(UInt8(2)); promise.write(Self.b); promise.write(LogIndex(1)); promise.write(LogIndex(0))
        promise.write(LogIndex(0)); promise.write(UInt32(1_000))
        promise.write(UInt64(0))  // far fewer bytes than 1,000 entries need
        XCTAssertThrowsError(try P.Message(decoding: promise.bytes))
    }

    func testBallotOrderAndTermEncodingAgree() {
        let ballots = [P.Ballot.zero, P.Ballot(round: 0, node: 1), P.Ballot(round: 1, node: 1), P.Ballot(round: 1, node: 2),
                       P.Ballot(round: 2, node: 1), P.Ballot(round: (1 << 48) - 1, node: NodeID(0xFFFF))]
        for (x, y) in zip(ballots, ballots.dropFirst()) {
            XCTAssertLessThan(x, y)
            XCTAssertLessThan(x.term, y.term, "\(x) \(y)")
        }
        for ballot in ballots {
            XCTAssertEqual(P.Ballot(term: ballot.term), ballot)
            XCTAssertEqual(P.Ballot(hardState: ballot.hardState), ballot)
        }
        XCTAssertEqual(P.Ballot.zero.hardState, HardState.initial)
    }

    /// Random buffers, half of them starting with a valid tag so decoding gets past the first
    /// byte: each either throws or decodes to a message that re-encodes to the same bytes.
    func testRandomGarbageNeverTrapsAndDecodesCanonically() {
        var random = SeededGenerator(seed: 0x9a_c05)
        var decodedCount = 0
        for round in 0..<20_000 {
            let count = Int(random.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 2 == 0 && !bytes.isEmpty {
                bytes[0] = UInt8(1 + random.next() % 9)
                for i in 1..<bytes.count where random.next() % 4 != 0 { bytes[i] = UInt8(random.next() % 2) }
            }
            guard let message = try? P.Message(decoding: bytes) else { continue }
            decodedCount += 1
            XCTAssertEqual(message.encodedBytes(), bytes, "seed 0x9ac05 round \(round)")
        }
        XCTAssertGreaterThan(decodedCount, 0)
    }

    /// Every single-bit corruption of every sample either throws or decodes canonically.
    func testBitFlipsNeverTrap() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= UInt8(1) << (bit % 8)
                if let decoded = try? P.Message(decoding: flipped) {
                    XCTAssertEqual(decoded.encodedBytes(), flipped, "bit \(bit) of \(message)")
                    XCTAssertNotEqual(decoded, message, "bit \(bit) changed nothing")
                }
            }
        }
    }

    func testSettingsParseAndRefuseBadValues() throws {
        var settings = try P.Settings([("mode", "basic"), ("retry-timeout", "5ms"), ("inflight", "3"),
                                       ("unsafe-skip-recovery", "true")])
        XCTAssertEqual(settings.mode, .basic)
        XCTAssertEqual(settings.retryTimeout, .milliseconds(5))
        XCTAssertEqual(settings.inflightMax, 3)
        XCTAssertTrue(settings.unsafeSkipRecovery)
        XCTAssertThrowsError(try settings.set("mode", to: "fast"))
        XCTAssertThrowsError(try settings.set("retry-timeout", to: "0ms"))
        XCTAssertThrowsError(try settings.set("inflight", to: "0"))
        XCTAssertThrowsError(try settings.set("no-such-key", to: "1"))
        // Every reported parameter is a key `set` accepts, with a value it accepts.
        for (key, value) in P.Settings().parameters { XCTAssertNoThrow(try settings.set(key, to: value), key) }
    }
}
