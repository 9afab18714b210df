import XCTest
@testable import BenchCore

final class WireCodecTests: XCTestCase {
    static let samples: [ClientRequest] = [
        ClientRequest(client: 1, seq: 1, command: .get(key: 42)),
        ClientRequest(client: 7, seq: 99, command: .put(key: 3, value: Value(tag: 0xdead_beef, size: 100))),
        ClientRequest(client: ClientID(UInt64.max >> 1), seq: UInt64.max, command: .compareAndSet(key: 9, expected: nil, new: Value(tag: 5))),
        ClientRequest(client: 2, seq: 3, command: .compareAndSet(key: 9, expected: Value(tag: 4, size: 12), new: Value(tag: 5))),
    ]

    func testRequestsRoundTrip() throws {
        for request in Self.samples {
            XCTAssertEqual(try ClientRequest(decoding: request.encodedBytes()), request)
        }
    }

    func testRepliesRoundTrip() throws {
        let outcomes: [Outcome] = [.ok(nil), .ok(Value(tag: 77, size: 9)), .compareFailed(current: nil),
                                   .compareFailed(current: Value(tag: 1)), .notLeader(hint: nil), .notLeader(hint: 3),
                                   .unknown, .rejected(code: 1)]
        for outcome in outcomes {
            let reply = ClientReply(client: 5, seq: 6, outcome: outcome)
            XCTAssertEqual(try ClientReply(decoding: reply.encodedBytes()), reply)
        }
    }

    func testLogEntriesAndWritesRoundTrip() throws {
        let entries = [LogEntry(index: 1, term: 1, payload: .noop),
                       LogEntry(index: 2, term: 1, payload: .command(Self.samples[1])),
                       LogEntry(index: 3, term: 2, payload: .record([1, 2, 3]))]
        for entry in entries {
            XCTAssertEqual(try LogEntry(decoding: entry.encodedBytes()), entry)
            XCTAssertEqual(try StorageWrite(decoding: StorageWrite.entry(entry).encodedBytes()), .entry(entry))
        }
        let writes: [StorageWrite] = [.hardState(HardState(term: 4, vote: 2, auxiliary: 9)), .hardState(.initial), .truncate(from: 7)]
        for write in writes { XCTAssertEqual(try StorageWrite(decoding: write.encodedBytes()), write) }
    }

    /// The wire form of every command kind, byte by byte, written out by hand: the form is what
    /// nodes exchange and what logs on disk hold, so it must not drift when encoders change
    /// (round trips alone would not notice both sides changing together).
    func testCommandBytesAreTheDocumentedForm() {
        func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        let value: [UInt8] = [9, 8, 7]
        let cases: [(Command, [UInt8])] = [
            (.get(key: 5), [1] + le(5)),
            (.put(key: 6, value: Value(bytes: value)), [2] + le(6) + le32(3) + value),
            (.compareAndSet(key: 7, expected: nil, new: Value(bytes: value)), [3] + le(7) + [0] + le32(3) + value),
            (.compareAndSet(key: 7, expected: Value(bytes: [1]), new: Value(bytes: value)),
             [3] + le(7) + [1] + le32(1) + [1] + le32(3) + value),
            (.transaction([AccountDelta(account: 1, amount: -2), AccountDelta(account: 3, amount: 2)]),
             [4] + le32(2) + le(1) + le(UInt64(bitPattern: -2)) + le(3) + le(2)),
            (.readBalances([4, 5]), [5] + le32(2) + le(4) + le(5)),
            (.acquireLock(lock: 8, lease: .milliseconds(3), stamp: Instant(nanoseconds: 11)),
             [6] + le(8) + le(3_000_000) + le(11)),
            (.releaseLock(lock: 8), [7] + le(8)),
            (.readLocal(key: 9), [8] + le(9)),
        ]
        for (command, expected) in cases {
            XCTAssertEqual(command.encodedBytes(), expected, "\(command)")
            let request = ClientRequest(client: 2, seq: 3, command: command)
            XCTAssertEqual(request.encodedBytes(), le(2) + le(3) + expected)
            XCTAssertEqual(EntryPayload.command(request).encodedBytes(), [2] + le(2) + le(3) + expected)
            XCTAssertEqual(try Command(decoding: expected), command)
        }
        XCTAssertEqual(EntryPayload.record(value).encodedBytes(), [3] + le32(3) + value)
        XCTAssertEqual(EntryPayload.noop.encodedBytes(), [1])
    }

    /// Every truncation of a valid encoding is an error, never a crash and never a wrong value.
    func testEveryTruncationThrows() {
        for request in Self.samples {
            let bytes = request.encodedBytes()
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try ClientRequest(decoding: bytes.prefix(length)), "length \(length) of \(bytes.count)")
            }
        }
    }

    func testTrailingBytesAreAnError() {
        var bytes = Self.samples[0].encodedBytes()
        bytes.append(0)
        XCTAssertThrowsError(try ClientRequest(decoding: bytes)) { error in
            XCTAssertEqual(error as? WireError, .trailingBytes(1))
        }
    }

    func testBadTagsAreErrors() {
        XCTAssertThrowsError(try Command(decoding: [9])) { XCTAssertEqual($0 as? WireError, .invalidTag(9, type: "Command")) }
        XCTAssertThrowsError(try Outcome(decoding: [0])) { XCTAssertEqual($0 as? WireError, .invalidTag(0, type: "Outcome")) }
        XCTAssertThrowsError(try EntryPayload(decoding: [200]))
    }

    /// A huge length must be refused before anything is allocated.
    func testHostileLengthsAreRefused() {
        var writer = WireWriter()
        writer.write(UInt8(2))          // put
        writer.write(UInt64(1))         // key
        writer.write(UInt32.max)        // value length
        XCTAssertThrowsError(try Command(decoding: writer.bytes)) { error in
            guard case .lengthTooLarge = error as? WireError else { return XCTFail("\(error)") }
        }
    }

    /// Random garbage never crashes the decoders (it may, rarely, decode to something).
    func testGarbageNeverCrashes() {
        var random = SeededGenerator(seed: 1)
        for _ in 0..<20_000 {
            let count = Int(random.next() % 64)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = try? ClientRequest(decoding: bytes)
            _ = try? ClientReply(decoding: bytes)
            _ = try? StorageWrite(decoding: bytes)
            bytes.withUnsafeBytes { raw in
                var reader = WireReader(raw)
                _ = try? FrameHeader(from: &reader)
            }
        }
    }

    func testFrameHeaderRoundTrip() throws {
        var writer = WireWriter()
        writer.writeFrame(clusterID: 77, kind: .request, sender: 3) { Self.samples[1].encode(to: &$0) }
        try writer.bytes.withUnsafeBytes { raw in
            var reader = WireReader(raw)
            let header = try FrameHeader(from: &reader)
            XCTAssertEqual(header.clusterID, 77)
            XCTAssertEqual(header.kind, .request)
            XCTAssertEqual(header.sender, 3)
            XCTAssertEqual(header.bodySize, reader.remaining)
            XCTAssertEqual(try ClientRequest(from: &reader), Self.samples[1])
        }
    }

    func testFrameHeaderRefusesImpossibleLengths() throws {
        for length: UInt32 in [0, 8, UInt32(FrameHeader.lengthLimit + 1)] {
            var writer = WireWriter()
            writer.write(length); writer.write(UInt32(1)); writer.write(FrameKind.peer.rawValue); writer.write(UInt32(1))
            try writer.bytes.withUnsafeBytes { raw in
                var reader = WireReader(raw)
                XCTAssertThrowsError(try FrameHeader(from: &reader), "length \(length)")
            }
        }
    }

    func testValueTag() {
        XCTAssertEqual(Value(tag: 0x0102_0304_0506_0708, size: 32).tag, 0x0102_0304_0506_0708)
        XCTAssertEqual(Value(tag: 5, size: 32).size, 32)
        XCTAssertEqual(Value(tag: 5, size: 2).size, 8, "values are at least 8 bytes, to hold the tag")
    }
}
