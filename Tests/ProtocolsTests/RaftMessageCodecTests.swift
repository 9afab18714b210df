import XCTest
import BenchCore
@testable import Protocols

/// The Raft wire codec: every message survives a round trip, and bytes from a broken or hostile
/// peer (truncated, padded, unknown tags, random garbage, flipped bits) are refused with an
/// error, never a trap. A decoded buffer always re-encodes to exactly the same bytes, so the
/// encoding is canonical and nothing is silently reinterpreted.
final class RaftMessageCodecTests: XCTestCase {
    static let request = ClientRequest(client: 7, seq: 42, command: .put(key: 3, value: Value(tag: 99, size: 24)))

    /// At least one sample of every case and of every optional or variable-length field.
    static let samples: [Raft.Message] = [
        .voteRequest(.init(term: 5, candidate: 2, lastLogIndex: 17, lastLogTerm: 4, preVote: false)),
        .voteRequest(.init(term: 6, candidate: 3, lastLogIndex: 0, lastLogTerm: 0, preVote: true)),
        .voteResponse(.init(term: 5, granted: true, preVote: false)),
        .voteResponse(.init(term: 9, granted: false, preVote: true)),
        .appendEntries(.init(term: 3, leader: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0)),
        .appendEntries(.init(term: 3, leader: 1, prevLogIndex: 10, prevLogTerm: 2, entries: [
            LogEntry(index: 11, term: 3, payload: .noop),
            LogEntry(index: 12, term: 3, payload: .command(request)),
            LogEntry(index: 13, term: 3, payload: .command(ClientRequest(client: 1, seq: 1, command: .get(key: 5)))),
            LogEntry(index: 14, term: 3, payload: .command(ClientRequest(
                client: 2, seq: 9, command: .compareAndSet(key: 5, expected: nil, new: Value(tag: 1))))),
            LogEntry(index: 15, term: 3, payload: .command(ClientRequest(
                client: 2, seq: 10, command: .compareAndSet(key: 5, expected: Value(tag: 1), new: Value(tag: 2))))),
            LogEntry(index: 16, term: 3, payload: .record([1, 2, 3])),
            LogEntry(index: 17, term: 3, payload: .record([])),
        ], leaderCommit: 9)),
        .appendResponse(.init(term: 3, success: true, matchIndex: 17, rejectedIndex: 0, conflictTerm: nil, conflictIndex: 0)),
        .appendResponse(.init(term: 3, success: false, matchIndex: 0, rejectedIndex: 8, conflictTerm: 2, conflictIndex: 5)),
        .appendResponse(.init(term: 3, success: false, matchIndex: 0, rejectedIndex: 8, conflictTerm: nil, conflictIndex: 4)),
        .heartbeat(.init(term: 4, leader: 2, commit: 12, readRound: 0)),
        .heartbeat(.init(term: 4, leader: 2, commit: 12, readRound: .max)),
        .heartbeatResponse(.init(term: 4, readRound: 0)),
        .heartbeatResponse(.init(term: .init(.max), readRound: 3)),
    ]

    /// Which case a message is; the switch is exhaustive, so a new case fails to compile here
    /// until it has a tag, and `testSamplesCoverEveryCase` then asks for a sample of it.
    static func caseTag(_ message: Raft.Message) -> UInt8 {
        switch message {
        case .voteRequest: 1
        case .voteResponse: 2
        case .appendEntries: 3
        case .appendResponse: 4
        case .heartbeat: 5
        case .heartbeatResponse: 6
        }
    }

    static let caseTags: Set<UInt8> = [1, 2, 3, 4, 5, 6]

    func testSamplesCoverEveryCase() {
        XCTAssertEqual(Set(Self.samples.map(Self.caseTag)), Self.caseTags)
        // The first byte on the wire is the case's tag.
        for message in Self.samples {
            XCTAssertEqual(message.encodedBytes().first, Self.caseTag(message), "\(message)")
        }
    }

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            XCTAssertEqual(try Raft.Message(decoding: bytes), message)
        }
        // Distinct messages never share an encoding.
        XCTAssertEqual(Set(Self.samples.map { $0.encodedBytes() }).count, Self.samples.count)
    }

    func testEveryTruncationThrows() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try Raft.Message(decoding: bytes[0..<length]),
                                     "a \(length)-byte prefix of \(bytes.count) decoded: \(message)")
            }
        }
    }

    func testTrailingBytesThrow() {
        for message in Self.samples {
            XCTAssertThrowsError(try Raft.Message(decoding: message.encodedBytes() + [0])) { error in
                XCTAssertEqual(error as? WireError, .trailingBytes(1))
            }
        }
    }

    func testUnknownTagsThrow() {
        for tag in [UInt8(0)] + Array(7...255) {
            XCTAssertThrowsError(try Raft.Message(decoding: [tag] + [UInt8](repeating: 0, count: 64))) { error in
                XCTAssertEqual(error as? WireError, .invalidTag(tag, type: "Raft.Message"))
            }
        }
    }

    /// A count the buffer cannot hold is refused before anything is reserved for it.
    func testHugeEntryCountIsRefused() {
        var writer = WireWriter()
        writer.write(UInt8(3))
        writer.write(Term(1)); writer.write(NodeID(1)); writer.write(LogIndex(0)); writer.write(Term(0)); writer.write(LogIndex(0))
        writer.write(UInt32.max)
        XCTAssertThrowsError(try Raft.Message(decoding: writer.bytes))
        writer.write(UInt32(0))  // a little padding changes nothing
        XCTAssertThrowsError(try Raft.Message(decoding: writer.bytes))
    }

    /// Bools and optionals accept only 0 and 1: other bytes would decode ambiguously.
    func testNonCanonicalBoolsAreRefused() throws {
        let vote = Raft.Message.voteResponse(.init(term: 1, granted: true, preVote: false)).encodedBytes()
        var bad = vote
        bad[9] = 2  // the `granted` byte, after the tag and the 8-byte term
        XCTAssertThrowsError(try Raft.Message(decoding: bad))
    }

    /// Random buffers, half of them starting with a valid tag so decoding gets past the first
    /// byte: each either throws or decodes to a message that re-encodes to the same bytes.
    func testRandomGarbageNeverTrapsAndDecodesCanonically() {
        var random = SeededGenerator(seed: 0x5eed_c0de)
        var decodedCount = 0
        for round in 0..<20_000 {
            let count = Int(random.next() % 80)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if round % 2 == 0 && !bytes.isEmpty {
                bytes[0] = UInt8(1 + random.next() % 6)
                // Small values in the rest make lengths, bools and optionals plausible.
                for i in 1..<bytes.count where random.next() % 4 != 0 { bytes[i] = UInt8(random.next() % 2) }
            }
            guard let message = try? Raft.Message(decoding: bytes) else { continue }
            decodedCount += 1
            XCTAssertEqual(message.encodedBytes(), bytes, "seed 0x5eedc0de round \(round)")
        }
        // The generator must reach the decoders' inner paths, not only the tag check.
        XCTAssertGreaterThan(decodedCount, 0)
    }

    /// Every single-bit corruption of every sample either throws or decodes canonically.
    func testBitFlipsNeverTrap() {
        for message in Self.samples {
            let bytes = message.encodedBytes()
            for bit in 0..<(bytes.count * 8) {
                var flipped = bytes
                flipped[bit / 8] ^= UInt8(1) << (bit % 8)
                if let decoded = try? Raft.Message(decoding: flipped) {
                    XCTAssertEqual(decoded.encodedBytes(), flipped, "bit \(bit) of \(message)")
                    XCTAssertNotEqual(decoded, message, "bit \(bit) changed nothing")
                }
            }
        }
    }
}
