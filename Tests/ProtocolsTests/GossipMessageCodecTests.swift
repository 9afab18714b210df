import XCTest
import BenchCore
@testable import Protocols

/// The gossip wire codec: every message survives a round trip, and bytes from a broken or hostile
/// peer (truncated, padded, unknown tags, unsorted digests, random garbage, flipped bits) are
/// refused with an error, never a trap. A decoded buffer always re-encodes to the same bytes.
final class GossipMessageCodecTests: XCTestCase {
    static func version(_ time: UInt64, _ origin: UInt32) -> Gossip.Version { Gossip.Version(time: time, origin: NodeID(origin)) }

    /// At least one sample of every case and of every variable-length field.
    static let samples: [Gossip.Message] = [
        .digest(Gossip.Digest(low: 0, high: .max, push: true, pull: true, versions: [])),
        .digest(Gossip.Digest(low: 5, high: 99, push: false, pull: true, versions: [
            Gossip.KeyVersion(key: 5, version: version(1, 1)),
            Gossip.KeyVersion(key: 6, version: version(.max, 3)),
            Gossip.KeyVersion(key: 99, version: version(1_234_567, 2)),
        ])),
        .digest(Gossip.Digest(low: 7, high: 7, push: true, pull: false, versions: [Gossip.KeyVersion(key: 7, version: .zero)])),
        .request(keys: []),
        .request(keys: [1, 2, .max]),
        .updates([]),
        .updates([Gossip.Update(key: 3, version: version(10, 2), value: Value(tag: 99, size: 24)),
                  Gossip.Update(key: 4, version: version(11, 1), value: Value(bytes: []))]),
        .rumor([Gossip.Update(key: 0, version: version(1, 1), value: Value(tag: 1))]),
        .rumor([]),
        .rumorFeedback([Gossip.KeyVersion(key: 8, version: version(5, 4))]),
        .rumorFeedback([]),
    ]

    static func caseTag(_ message: Gossip.Message) -> UInt8 {
        switch message {
        case .digest: 1
        case .request: 2
        case .updates: 3
        case .rumor: 4
        case .rumorFeedback: 5
        }
    }

    func testSamplesCoverEveryCase() {
        XCTAssertEqual(Set(Self.samples.map(Self.caseTag)), [1, 2, 3, 4, 5])
        for message in Self.samples { XCTAssertEqual(message.encodedBytes().first, Self.caseTag(message), "\(message)") }
    }

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            XCTAssertEqual(try Gossip.Message(decoding: message.encodedBytes()), message)
        }
        XCTAssertEqual(Set(Self.samples.map { $0.encodedBytes() }).count, Self.samples.count)
    }

    func testEveryTruncationThrows() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try Gossip.Message(decoding: bytes[0..<length]), "\(length) of \(bytes.count): \(message)")
            }
        }
    }

    func testTrailingBytesThrow() {
        for message in Self.samples {
            XCTAssertThrowsError(try Gossip.Message(decoding: message.encodedBytes() + [0])) { error in
                XCTAssertEqual(error as? WireError, .trailingBytes(1))
            }
        }
    }

    func testUnknownTagsThrow() {
        for tag in [UInt8(0)] + Array(6...255) {
            XCTAssertThrowsError(try Gossip.Message(decoding: [tag] + [UInt8](repeating: 0, count: 64))) { error in
                XCTAssertEqual(error as? WireError, .invalidTag(tag, type: "Gossip.Message"))
            }
        }
    }

    /// The receiver merges a digest with its own sorted keys, so a digest whose keys are out of
    /// order, repeated, or outside its range, or whose range is empty, is refused.
    func testMalformedDigestsAreRefused() {
        func digest(_ low: Key, _ high: Key, _ keys: [Key]) -> [UInt8] {
            Gossip.Message.digest(Gossip.Digest(low: low, high: high, push: true, pull: true,
                                                versions: keys.map { Gossip.KeyVersion(key: $0, version: .zero) })).encodedBytes()
        }
        XCTAssertNoThrow(try Gossip.Message(decoding: digest(1, 9, [1, 5, 9])))
        XCTAssertThrowsError(try Gossip.Message(decoding: digest(1, 9, [5, 1])))
        XCTAssertThrowsError(try Gossip.Message(decoding: digest(1, 9, [5, 5])))
        XCTAssertThrowsError(try Gossip.Message(decoding: digest(2, 9, [1, 5])))
        XCTAssertThrowsError(try Gossip.Message(decoding: digest(1, 9, [5, 10])))
        XCTAssertThrowsError(try Gossip.Message(decoding: digest(9, 1, [])))
    }

    func testHugeCountsAreRefused() {
        for tag in UInt8(1)...5 {
            var writer = WireWriter()
            writer.write(tag)
            if tag == 1 { writer.write(UInt64(0)); writer.write(UInt64.max); writer.write(true); writer.write(true) }
            writer.write(UInt32.max)
            XCTAssertThrowsError(try Gossip.Message(decoding: writer.bytes), "tag \(tag)")
        }
    }

    func testNonCanonicalBoolsAreRefused() {
        var bytes = Gossip.Message.digest(Gossip.Digest(low: 0, high: 1, push: true, pull: false, versions: [])).encodedBytes()
        bytes[17] = 2  // the push flag, after the tag and two 8-byte keys
        XCTAssertThrowsError(try Gossip.Message(decoding: bytes))
    }

    func testRandomGarbageNeverTrapsAndDecodesCanonically() {
        var random = SeededGenerator(seed: 0x9055_1b)
        var decodedCount = 0
        for round in 0..<20_000 {
            let count = Int(random.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 2 == 0 && !bytes.isEmpty {
                bytes[0] = UInt8(1 + random.next() % 5)
                for i in 1..<bytes.count where random.next() % 4 != 0 { bytes[i] = UInt8(random.next() % 2) }
            }
            guard let message = try? Gossip.Message(decoding: bytes) else { continue }
            decodedCount += 1
            XCTAssertEqual(message.encodedBytes(), bytes, "round \(round)")
        }
        XCTAssertGreaterThan(decodedCount, 0)
    }

    func testBitFlipsNeverTrap() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= UInt8(1) << (bit % 8)
                if let decoded = try? Gossip.Message(decoding: flipped) {
                    XCTAssertEqual(decoded.encodedBytes(), flipped, "bit \(bit) of \(message)")
                    XCTAssertNotEqual(decoded, message, "bit \(bit) changed nothing")
                }
            }
        }
    }

    /// The end-of-run inspection round-trips and refuses garbage too.
    func testInspectionRoundTripsAndSummarizes() throws {
        let a = Gossip.Inspection(node: 1, messagesSent: 10, updatesOriginated: 2, held: [
            .init(key: 1, version: Self.version(5, 1), tag: 7), .init(key: 2, version: Self.version(6, 2), tag: 8)])
        var b = a
        b.node = 2
        b.messagesSent = 30
        b.updatesOriginated = 3
        b.held[1].version = Self.version(9, 3)
        XCTAssertEqual(try Gossip.Inspection(decoding: a.encodedBytes()), a)
        let bytes = a.encodedBytes()
        for length in 0..<bytes.count { XCTAssertThrowsError(try Gossip.Inspection(decoding: bytes[0..<length])) }
        let summary = Gossip.Inspection.summarize([a.encodedBytes(), nil, b.encodedBytes(), [9, 9]])
        XCTAssertEqual(summary.metrics["diverged_keys"], 1)
        XCTAssertEqual(summary.metrics["inspected_nodes"], 2)
        XCTAssertEqual(summary.metrics["messages_per_update"], 8)
        XCTAssertEqual(summary.problems.count, 1)
        XCTAssertEqual(Gossip.Inspection.summarize([a.encodedBytes(), a.encodedBytes()]).metrics["diverged_keys"], 0)
    }

    func testSettingsParseAndValidate() throws {
        var settings = Gossip.Settings()
        for (key, value) in settings.parameters { try settings.set(key, to: value) }
        try settings.set("mode", to: "rumor")
        try settings.set("rumor-stop", to: "coin")
        try settings.set("anti-entropy-period", to: "0")
        try settings.set("period", to: "5ms")
        XCTAssertEqual(settings.mode, .rumor)
        XCTAssertEqual(settings.rumorStop, .coin)
        XCTAssertEqual(settings.antiEntropyPeriod, .zero)
        XCTAssertEqual(settings.period, .milliseconds(5))
        for (key, value) in [("mode", "flood"), ("fanout", "0"), ("fanout", "65"), ("period", "0"), ("rumor-k", "0"),
                             ("anti-entropy-period", "10us"), ("rumor-stop", "never"), ("unsafe-no-forward", "maybe"),
                             ("no-such-setting", "1")] {
            XCTAssertThrowsError(try settings.set(key, to: value), "\(key)=\(value)")
        }
        // `parameters` names every setting `set` accepts, so a manifest replays exactly.
        var copy = Gossip.Settings()
        for (key, value) in settings.parameters { try copy.set(key, to: value) }
        XCTAssertEqual(copy.parameters.map { "\($0.key)=\($0.value)" }, settings.parameters.map { "\($0.key)=\($0.value)" })
    }
}
