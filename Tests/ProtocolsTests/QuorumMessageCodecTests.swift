import XCTest
import BenchCore
@testable import Protocols

/// The NWR wire codec, its durable records and its inspection form: every message round-trips,
/// and bytes from a broken or hostile peer (truncated, padded, unknown tags, random garbage,
/// flipped bits) are refused with an error, never a trap. A decoded buffer re-encodes to the same
/// bytes, so the encoding is canonical.
final class QuorumMessageCodecTests: XCTestCase {
    static let v1 = Quorum.Version(wallNanos: 1_000_000, logical: 0, node: 1)
    static let v2 = Quorum.Version(wallNanos: 1_000_000, logical: 7, node: 3)
    static let record = Quorum.Record(key: 42, version: v2, value: Value(tag: 99, size: 24))
    static let empty = Quorum.Record(key: 0, version: .zero, value: Value(bytes: []))

    /// At least one sample of every case and of every optional or variable-length field.
    static let samples: [Quorum.Message] = [
        .write(.init(op: 1, record: record, hintFor: nil)),
        .write(.init(op: .max, record: empty, hintFor: 4)),
        .writeAck(.init(op: 9, key: 42, version: v2)),
        .read(.init(op: 10, key: .max)),
        .readReply(.init(op: 10, key: 42, record: record)),
        .readReply(.init(op: 11, key: 5, record: nil)),
        .push([]),
        .push([record, empty, Quorum.Record(key: 7, version: v1, value: Value(tag: 3))]),
        .digest(.init(from: 0, through: .max, stamps: [])),
        .digest(.init(from: 3, through: 50, stamps: [.init(key: 3, version: v1), .init(key: 42, version: v2)])),
        .digestReply(.init(newer: [], wanted: [])),
        .digestReply(.init(newer: [record], wanted: [1, 2, .max])),
    ]

    static func caseTag(_ message: Quorum.Message) -> UInt8 {
        switch message {
        case .write: 1
        case .writeAck: 2
        case .read: 3
        case .readReply: 4
        case .push: 5
        case .digest: 6
        case .digestReply: 7
        }
    }

    static let caseTags: Set<UInt8> = [1, 2, 3, 4, 5, 6, 7]

    func testSamplesCoverEveryCase() {
        XCTAssertEqual(Set(Self.samples.map(Self.caseTag)), Self.caseTags)
        for message in Self.samples {
            XCTAssertEqual(message.encodedBytes().first, Self.caseTag(message), "\(message)")
        }
    }

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            XCTAssertEqual(try Quorum.Message(decoding: message.encodedBytes()), message)
        }
        XCTAssertEqual(Set(Self.samples.map { $0.encodedBytes() }).count, Self.samples.count)
    }

    func testEveryTruncationThrows() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try Quorum.Message(decoding: bytes[0..<length]),
                                     "a \(length)-byte prefix of \(bytes.count) decoded: \(message)")
            }
        }
    }

    func testTrailingBytesThrow() {
        for message in Self.samples {
            XCTAssertThrowsError(try Quorum.Message(decoding: message.encodedBytes() + [0])) { error in
                XCTAssertEqual(error as? WireError, .trailingBytes(1))
            }
        }
    }

    func testUnknownTagsThrow() {
        for tag in [UInt8(0)] + Array(8...255) {
            XCTAssertThrowsError(try Quorum.Message(decoding: [tag] + [UInt8](repeating: 0, count: 64))) { error in
                XCTAssertEqual(error as? WireError, .invalidTag(tag, type: "Quorum.Message"))
            }
        }
    }

    /// Semantic checks the decoder makes: a read reply about another key, an empty digest range.
    func testInconsistentMessagesAreRefused() {
        var writer = WireWriter()
        writer.write(UInt8(4)); writer.write(UInt64(1)); writer.write(UInt64(5)); writer.write(Self.record as Quorum.Record?)
        XCTAssertThrowsError(try Quorum.Message(decoding: writer.bytes))
        writer.removeAll()
        writer.write(UInt8(6)); writer.write(UInt64(9)); writer.write(UInt64(8)); writer.write(UInt32(0))
        XCTAssertThrowsError(try Quorum.Message(decoding: writer.bytes))
    }

    /// A count the buffer cannot hold is refused before anything is reserved for it.
    func testHugeCountsAreRefused() {
        for tag in [UInt8(5), 7] {
            var writer = WireWriter()
            writer.write(tag)
            writer.write(UInt32.max)
            XCTAssertThrowsError(try Quorum.Message(decoding: writer.bytes + [UInt8](repeating: 0, count: 64)))
        }
        var writer = WireWriter()
        writer.write(UInt8(6)); writer.write(UInt64(0)); writer.write(UInt64(1)); writer.write(UInt32(1 << 20))
        XCTAssertThrowsError(try Quorum.Message(decoding: writer.bytes))
    }

    func testNonCanonicalOptionalsAreRefused() {
        var bytes = Quorum.Message.readReply(.init(op: 1, key: 2, record: nil)).encodedBytes()
        bytes[17] = 2  // the optional's presence byte, after the tag, op and key
        XCTAssertThrowsError(try Quorum.Message(decoding: bytes))
    }

    /// Random buffers, half of them starting with a valid tag: each throws or decodes canonically.
    func testRandomGarbageNeverTrapsAndDecodesCanonically() {
        var random = SeededGenerator(seed: 0x5eed_0a0b)
        var decodedCount = 0
        for round in 0..<20_000 {
            let count = Int(random.next() % 96)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 2 == 0 && !bytes.isEmpty {
                bytes[0] = UInt8(1 + random.next() % 7)
                for i in 1..<bytes.count where random.next() % 4 != 0 { bytes[i] = UInt8(random.next() % 2) }
            }
            guard let message = try? Quorum.Message(decoding: bytes) else { continue }
            decodedCount += 1
            XCTAssertEqual(message.encodedBytes(), bytes, "seed 0x5eed0a0b round \(round)")
        }
        XCTAssertGreaterThan(decodedCount, 0)
    }

    func testBitFlipsNeverTrap() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= UInt8(1) << (bit % 8)
                if let decoded = try? Quorum.Message(decoding: flipped) {
                    XCTAssertEqual(decoded.encodedBytes(), flipped, "bit \(bit) of \(message)")
                    XCTAssertNotEqual(decoded, message, "bit \(bit) changed nothing")
                }
            }
        }
    }

    // MARK: Durable records and inspections

    static let durableSamples: [Quorum.DurableRecord] = [
        .stored(record, storedAt: Instant(nanoseconds: 123)),
        .stored(empty, storedAt: .zero),
        .hint(home: 2, record),
        .hintDelivered(home: 5, key: 42, version: v2),
    ]

    func testDurableRecordsRoundTripAndRefuseGarbage() throws {
        for sample in Self.durableSamples {
            let bytes = sample.encodedBytes()
            XCTAssertEqual(try Quorum.DurableRecord(decoding: bytes), sample)
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try Quorum.DurableRecord(decoding: bytes[0..<length]))
            }
            XCTAssertThrowsError(try Quorum.DurableRecord(decoding: bytes + [0]))
        }
        XCTAssertThrowsError(try Quorum.DurableRecord(decoding: [4] + [UInt8](repeating: 0, count: 60)))
    }

    func testInspectionRoundTripsAndRefusesNonsense() throws {
        let inspection = Quorum.Inspection(
            node: 2, members: [1, 2, 3], n: 3, virtualNodes: 32, hintCount: 4,
            records: [.init(key: 1, version: Self.v1, valueTag: 7, storedAt: Instant(nanoseconds: 5)),
                      .init(key: 9, version: Self.v2, valueTag: 0, storedAt: Instant(nanoseconds: 6))])
        let bytes = inspection.encodedBytes()
        XCTAssertEqual(try Quorum.Inspection(decoding: bytes), inspection)
        for length in 0..<bytes.count { XCTAssertThrowsError(try Quorum.Inspection(decoding: bytes[0..<length])) }
        var bad = inspection
        bad.n = 4  // more replicas per key than members
        XCTAssertThrowsError(try Quorum.Inspection(decoding: bad.encodedBytes()))
        bad = inspection
        bad.members = [3, 1, 2]
        XCTAssertThrowsError(try Quorum.Inspection(decoding: bad.encodedBytes()))
        bad = inspection
        bad.node = 7
        XCTAssertThrowsError(try Quorum.Inspection(decoding: bad.encodedBytes()))
    }
}
