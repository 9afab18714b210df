import XCTest
import BenchCore
@testable import Protocols

/// The primary-backup wire codec: every message survives a round trip, and bytes from a broken or
/// hostile peer (truncated, padded, unknown tags, random garbage, flipped bits) are refused with an
/// error, never a trap; a decoded buffer re-encodes to exactly the same bytes.
final class PrimaryBackupMessageCodecTests: XCTestCase {
    typealias Message = PrimaryBackup.Message
    static let request = ClientRequest(client: 7, seq: 42, command: .put(key: 3, value: Value(tag: 99, size: 24)))

    /// At least one sample of every case and of every variable-length field.
    static let samples: [Message] = [
        .append(.init(group: 0, epoch: 1, sentAt: Instant(nanoseconds: 0), prevSeq: 0, prevEpoch: 0, commit: 0,
                      inSync: false, entries: [])),
        .append(.init(group: 1, epoch: 7, sentAt: Instant(nanoseconds: -5), prevSeq: 10, prevEpoch: 6, commit: 9,
                      inSync: true, entries: [
                          LogEntry(index: 11, term: 7, payload: .noop),
                          LogEntry(index: 12, term: 7, payload: .command(request)),
                          LogEntry(index: 13, term: 7, payload: .command(ClientRequest(
                              client: 2, seq: 10, command: .acquireLock(lock: 4, lease: .milliseconds(50),
                                                                       stamp: Instant(nanoseconds: 123))))),
                          LogEntry(index: 14, term: 7, payload: .command(ClientRequest(
                              client: 3, seq: 1, command: .transaction([AccountDelta(account: 1, amount: -5),
                                                                        AccountDelta(account: 3, amount: 5)])))),
                      ])),
        .ack(.init(group: 0, epoch: 3, echo: Instant(nanoseconds: 1_000), success: true, matched: 17, rejectedPrev: 0, hint: 0)),
        .ack(.init(group: 2, epoch: 3, echo: Instant(nanoseconds: .max), success: false, matched: 0, rejectedPrev: 8, hint: 5)),
        .epochNotice(.init(group: 0, epoch: 4)),
        .epochNotice(.init(group: .max, epoch: Term(.max))),
        .relinquish(.init(group: 1, epoch: 2)),
    ]

    static func caseTag(_ message: Message) -> UInt8 {
        switch message {
        case .append: 1
        case .ack: 2
        case .epochNotice: 3
        case .relinquish: 4
        }
    }

    func testSamplesCoverEveryCase() {
        XCTAssertEqual(Set(Self.samples.map(Self.caseTag)), [1, 2, 3, 4])
        for message in Self.samples {
            XCTAssertEqual(message.encodedBytes().first, Self.caseTag(message), "\(message)")
        }
    }

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            XCTAssertEqual(try Message(decoding: message.encodedBytes()), message)
            XCTAssertEqual(message.group, try Message(decoding: message.encodedBytes()).group)
        }
        XCTAssertEqual(Set(Self.samples.map { $0.encodedBytes() }).count, Self.samples.count)
    }

    func testEveryTruncationThrows() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try Message(decoding: bytes[0..<length]), "a \(length)-byte prefix decoded: \(message)")
            }
        }
    }

    func testTrailingBytesThrow() {
        for message in Self.samples {
            XCTAssertThrowsError(try Message(decoding: message.encodedBytes() + [0])) { error in
                XCTAssertEqual(error as? WireError, .trailingBytes(1))
            }
        }
    }

    func testUnknownTagsThrow() {
        for tag in [UInt8(0)] + Array(5...255) {
            XCTAssertThrowsError(try Message(decoding: [tag] + [UInt8](repeating: 0, count: 64))) { error in
                XCTAssertEqual(error as? WireError, .invalidTag(tag, type: "PrimaryBackup.Message"))
            }
        }
    }

    /// An entry count the buffer cannot hold, or above the limit, is refused before anything is reserved.
    func testHugeEntryCountIsRefused() {
        var writer = WireWriter()
        writer.write(UInt8(1)); writer.write(UInt32(0)); writer.write(Term(1)); writer.write(Instant.zero)
        writer.write(LogIndex(0)); writer.write(Term(0)); writer.write(LogIndex(0)); writer.write(false)
        var huge = writer
        huge.write(UInt32.max)
        XCTAssertThrowsError(try Message(decoding: huge.bytes))
        var overLimit = writer
        overLimit.write(UInt32(Message.entriesLimit + 1))
        overLimit.bytes += [UInt8](repeating: 0, count: 17 * (Message.entriesLimit + 1))
        XCTAssertThrowsError(try Message(decoding: overLimit.bytes)) { error in
            XCTAssertEqual(error as? WireError, .lengthTooLarge(Message.entriesLimit + 1, limit: Message.entriesLimit))
        }
    }

    func testNonCanonicalBoolsAreRefused() {
        var bytes = Message.ack(.init(group: 0, epoch: 1, echo: .zero, success: true, matched: 1, rejectedPrev: 0, hint: 0)).encodedBytes()
        bytes[1 + 4 + 8 + 8] = 2  // the `success` byte, after tag, group, epoch and echo
        XCTAssertThrowsError(try Message(decoding: bytes))
    }

    func testRandomGarbageNeverTrapsAndDecodesCanonically() {
        var random = SeededGenerator(seed: 0xb4c_0de)
        var decodedCount = 0
        for round in 0..<20_000 {
            let count = Int(random.next() % 96)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 2 == 0 && !bytes.isEmpty {
                bytes[0] = UInt8(1 + random.next() % 4)
                for i in 1..<bytes.count where random.next() % 4 != 0 { bytes[i] = UInt8(random.next() % 2) }
            }
            guard let message = try? Message(decoding: bytes) else { continue }
            decodedCount += 1
            XCTAssertEqual(message.encodedBytes(), bytes, "seed 0xb4c0de round \(round)")
        }
        XCTAssertGreaterThan(decodedCount, 0)
    }

    func testBitFlipsNeverTrap() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= UInt8(1) << (bit % 8)
                if let decoded = try? Message(decoding: flipped) {
                    XCTAssertEqual(decoded.encodedBytes(), flipped, "bit \(bit) of \(message)")
                    XCTAssertNotEqual(decoded, message, "bit \(bit) changed nothing")
                }
            }
        }
    }
}
