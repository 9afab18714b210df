import XCTest
import BenchCore
@testable import Protocols

/// The ZAB wire codec: every message survives a round trip, and bytes from a broken or hostile
/// peer (truncated, padded, unknown tags, random garbage, flipped bits) are refused with an error,
/// never a trap. A decoded buffer always re-encodes to exactly the same bytes.
final class ZABMessageCodecTests: XCTestCase {
    static let request = ClientRequest(client: 7, seq: 42, command: .put(key: 3, value: Value(tag: 99, size: 24)))
    static let zxid = ZAB.Zxid(epoch: 3, index: 17)

    /// At least one sample of every case and of every enum or variable-length field.
    static let samples: [ZAB.Message] = [
        .notification(.init(vote: .init(leader: 2, zxid: zxid, peerEpoch: 3, electionEpoch: 9), state: .looking)),
        .notification(.init(vote: .init(leader: 3, zxid: .zero, peerEpoch: 0, electionEpoch: 1), state: .following)),
        .notification(.init(vote: .init(leader: 1, zxid: ZAB.Zxid(epoch: Term(UInt64(UInt32.max)), index: LogIndex(UInt64(UInt32.max))),
                                        peerEpoch: 5, electionEpoch: .max), state: .leading)),
        .followerInfo(.init(connection: 0xdead_beef, acceptedEpoch: 4)),
        .newEpoch(.init(connection: 1, epoch: 5)),
        .ackEpoch(.init(connection: 1, epoch: 5, currentEpoch: 3, lastZxid: zxid)),
        .sync(.init(connection: 2, epoch: 5, mode: .diff, base: 17, commit: 12)),
        .sync(.init(connection: 2, epoch: 5, mode: .trunc, base: 9, commit: 0)),
        .sync(.init(connection: 2, epoch: 5, mode: .snap, base: 0, commit: 0)),
        .proposal(.init(connection: 3, epoch: 5, entries: [], commit: 4)),
        .proposal(.init(connection: 3, epoch: 5, entries: [
            LogEntry(index: 18, term: 5, payload: .command(request)),
            LogEntry(index: 19, term: 5, payload: .command(ClientRequest(client: 1, seq: 1, command: .get(key: 5)))),
            LogEntry(index: 20, term: 5, payload: .command(ClientRequest(
                client: 2, seq: 9, command: .acquireLock(lock: 5, lease: .milliseconds(10), stamp: Instant(nanoseconds: 77))))),
            LogEntry(index: 21, term: 5, payload: .noop),
            LogEntry(index: 22, term: 5, payload: .record([1, 2, 3])),
        ], commit: 17)),
        .ack(.init(connection: 3, epoch: 5, lastIndex: 22, gap: false)),
        .ack(.init(connection: 3, epoch: 5, lastIndex: 9, gap: true)),
        .newLeader(.init(connection: 4, epoch: 5, through: 17)),
        .ackNewLeader(.init(connection: 4, epoch: 5)),
        .upToDate(.init(connection: 4, epoch: 5, commit: 17)),
        .commit(.init(connection: 4, epoch: 5, commit: 21)),
        .ping(.init(connection: 4, epoch: 5, commit: 21, readRound: 3, upToDate: true)),
        .ping(.init(connection: 4, epoch: 0, commit: 0, readRound: 0, upToDate: false)),
        .pingAck(.init(connection: 4, epoch: 5, readRound: .max)),
    ]

    /// Which case a message is; the switch is exhaustive, so a new case fails to compile here until
    /// it has a tag, and `testSamplesCoverEveryCase` then asks for a sample of it.
    static func caseTag(_ message: ZAB.Message) -> UInt8 {
        switch message {
        case .notification: 1
        case .followerInfo: 2
        case .newEpoch: 3
        case .ackEpoch: 4
        case .sync: 5
        case .proposal: 6
        case .ack: 7
        case .newLeader: 8
        case .ackNewLeader: 9
        case .upToDate: 10
        case .commit: 11
        case .ping: 12
        case .pingAck: 13
        }
    }

    func testSamplesCoverEveryCase() {
        XCTAssertEqual(Set(Self.samples.map(Self.caseTag)), Set(1...13))
        for message in Self.samples {
            XCTAssertEqual(message.encodedBytes().first, Self.caseTag(message), "\(message)")
        }
    }

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            XCTAssertEqual(try ZAB.Message(decoding: message.encodedBytes()), message)
        }
        XCTAssertEqual(Set(Self.samples.map { $0.encodedBytes() }).count, Self.samples.count)
    }

    func testZxidPacksEpochHighAndPositionLow() {
        XCTAssertEqual(Self.zxid.rawValue, 3 << 32 | 17)
        XCTAssertEqual(ZAB.Zxid(rawValue: Self.zxid.rawValue), Self.zxid)
        // Order is (epoch, position): a later epoch wins whatever the position.
        XCTAssertLessThan(ZAB.Zxid(epoch: 2, index: 900), ZAB.Zxid(epoch: 3, index: 1))
        XCTAssertLessThan(ZAB.Zxid(epoch: 3, index: 1), ZAB.Zxid(epoch: 3, index: 2))
    }

    func testEveryTruncationThrows() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try ZAB.Message(decoding: bytes[0..<length]),
                                     "a \(length)-byte prefix of \(bytes.count) decoded: \(message)")
            }
        }
    }

    func testTrailingBytesThrow() {
        for message in Self.samples {
            XCTAssertThrowsError(try ZAB.Message(decoding: message.encodedBytes() + [0])) { error in
                XCTAssertEqual(error as? WireError, .trailingBytes(1))
            }
        }
    }

    func testUnknownTagsThrow() {
        for tag in [UInt8(0)] + Array(14...255) {
            XCTAssertThrowsError(try ZAB.Message(decoding: [tag] + [UInt8](repeating: 0, count: 64))) { error in
                XCTAssertEqual(error as? WireError, .invalidTag(tag, type: "ZAB.Message"))
            }
        }
    }

    /// Enumerations inside messages accept only their own values.
    func testUnknownStatesAndModesThrow() {
        var notification = Self.samples[0].encodedBytes()
        notification[notification.count - 1] = 4  // the state byte comes last
        XCTAssertThrowsError(try ZAB.Message(decoding: notification)) { error in
            XCTAssertEqual(error as? WireError, .invalidTag(4, type: "ZAB.PeerState"))
        }
        var sync = Self.samples[6].encodedBytes()
        sync[1 + 8 + 8] = 0  // after the tag, the connection and the epoch
        XCTAssertThrowsError(try ZAB.Message(decoding: sync)) { error in
            XCTAssertEqual(error as? WireError, .invalidTag(0, type: "ZAB.SyncMode"))
        }
    }

    /// A count the buffer cannot hold is refused before anything is reserved for it.
    func testHugeEntryCountIsRefused() {
        var writer = WireWriter()
        writer.write(UInt8(6))
        writer.write(UInt64(1)); writer.write(Term(1)); writer.write(LogIndex(0))
        writer.write(UInt32.max)
        XCTAssertThrowsError(try ZAB.Message(decoding: writer.bytes))
    }

    /// Random buffers, half of them starting with a valid tag so decoding gets past the first
    /// byte: each either throws or decodes to a message that re-encodes to the same bytes.
    func testRandomGarbageNeverTrapsAndDecodesCanonically() {
        var random = SeededGenerator(seed: 0x2ab_c0de)
        var decodedCount = 0
        for round in 0..<20_000 {
            let count = Int(random.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 2 == 0 && !bytes.isEmpty {
                bytes[0] = UInt8(1 + random.next() % 13)
                for i in 1..<bytes.count where random.next() % 4 != 0 { bytes[i] = UInt8(random.next() % 2) }
            }
            guard let message = try? ZAB.Message(decoding: bytes) else { continue }
            decodedCount += 1
            XCTAssertEqual(message.encodedBytes(), bytes, "seed 0x2abc0de round \(round)")
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
                if let decoded = try? ZAB.Message(decoding: flipped) {
                    XCTAssertEqual(decoded.encodedBytes(), flipped, "bit \(bit) of \(message)")
                    XCTAssertNotEqual(decoded, message, "bit \(bit) changed nothing")
                }
            }
        }
    }

    func testSettingsValidate() throws {
        var settings = ZAB.Settings()
        try settings.set("read-mode", to: "follower")
        XCTAssertEqual(settings.readMode, .follower)
        try settings.set("unsafe-skip-sync", to: "true")
        XCTAssertTrue(settings.unsafeSkipSync)
        XCTAssertThrowsError(try settings.set("read-mode", to: "lease"))
        XCTAssertThrowsError(try settings.set("no-such-key", to: "1"))
        XCTAssertThrowsError(try settings.set("tick-interval", to: "0ms"))
        XCTAssertThrowsError(try settings.set("inflight", to: "0"))
        // Every parameter reads back through `set`.
        var copy = ZAB.Settings()
        for (key, value) in settings.parameters { try copy.set(key, to: value) }
        XCTAssertEqual(copy.parameters.map(\.value), settings.parameters.map(\.value))
        XCTAssertTrue(ZAB.Settings().timingIsConsistent)
        var inconsistent = ZAB.Settings()
        try inconsistent.set("sync-limit", to: "1s")
        XCTAssertFalse(inconsistent.timingIsConsistent)
    }
}
