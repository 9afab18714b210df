import Benchmark
import BenchmarkPolicy
import BenchCore
import Protocols

// The wire codec (BenchCore WireWriter/WireReader) on the messages the hot path carries.
// Every iteration handles `messagesPerIteration` messages, so per message = per iteration / 1000.
// Encoding into a reused writer must not allocate at all; decoding allocates exactly the arrays
// the decoded value owns (a put's value bytes, an AppendEntries' entries array and each entry's
// value) and nothing else. Both are pinned by exact allocation thresholds.

let messagesPerIteration = 1_000
/// Entries in the AppendEntries message: a leader's batch of client puts.
let entriesPerAppend = 16

/// A client's put of a 64-byte value, as a client session sends it.
let putRequest = ClientRequest(client: 7, seq: 42, command: .put(key: 99, value: Value(tag: 5, size: 64)))
/// A client's get: no variable-length field, so decoding it allocates nothing either.
let getRequest = ClientRequest(client: 7, seq: 43, command: .get(key: 99))

/// Builds a Raft message from its wire form: the message structs' memberwise initializers are
/// internal to Protocols, and going through the decoder also proves the bytes are well formed.
func decodeRaftMessage(_ build: (inout WireWriter) -> Void) -> Raft.Message {
    var writer = WireWriter()
    build(&writer)
    do {
        return try Raft.Message(decoding: writer.bytes)
    } catch {
        preconditionFailure("the hand-built Raft message does not decode: \(error)")
    }
}

/// Entry `i` of the AppendEntries below: a put of 64 bytes from one of four clients.
func appendedEntry(_ i: Int) -> LogEntry {
    let command = Command.put(key: UInt64(i), value: Value(tag: UInt64(i + 1), size: 64))
    let request = ClientRequest(client: ClientID(UInt64(i % 4 + 1)), seq: UInt64(i), command: command)
    return LogEntry(index: LogIndex(UInt64(1_001 + i)), term: Term(3), payload: .command(request))
}

/// AppendEntries from leader 1 in term 3 carrying `entriesPerAppend` puts of 64 bytes.
let appendEntries = decodeRaftMessage { w in
    w.write(UInt8(3)) // AppendEntries
    w.write(Term(3)); w.write(NodeID(1)); w.write(LogIndex(1_000)); w.write(Term(3))
    w.write(LogIndex(990)) // leaderCommit
    w.write((0..<entriesPerAppend).map(appendedEntry))
}

/// A follower's successful AppendResponse: fixed size, so decoding it allocates nothing.
let appendResponse = decodeRaftMessage { w in
    w.write(UInt8(4)) // AppendResponse
    w.write(Term(3)); w.write(true); w.write(LogIndex(1_016)); w.write(LogIndex(0))
    w.write(Optional<Term>.none); w.write(LogIndex(0))
}

/// Encodes `message` `messagesPerIteration` times into one reused writer.
@inline(never)
func encodeMany<M: WireCodable>(_ message: M, into writer: inout WireWriter) {
    for _ in 0..<messagesPerIteration {
        writer.removeAll()
        message.encode(to: &writer)
    }
}

/// Decodes `bytes` as an `M` `messagesPerIteration` times; traps if one fails to decode.
@inline(never)
func decodeMany<M: WireCodable>(_: M.Type, from bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        for _ in 0..<messagesPerIteration {
            var reader = WireReader(raw)
            do {
                blackHole(try M(from: &reader))
            } catch {
                preconditionFailure("decode failed: \(error)")
            }
        }
    }
}

func registerCodec<M: WireCodable>(_ label: String, _ message: M) {
    // The writer's buffer is reserved once, before measurement, large enough for the message.
    let size = message.encodedBytes().count
    Benchmark(BenchmarkPolicy.name("encode \(label) x\(messagesPerIteration)"),
              configuration: BenchmarkPolicy.configuration(allocations: .exact)) { benchmark in
        var writer = WireWriter(capacity: size)
        benchmark.startMeasurement()
        encodeMany(message, into: &writer)
        benchmark.stopMeasurement()
        precondition(writer.count == size, "encode wrote \(writer.count) bytes, expected \(size)")
    }
    let bytes = message.encodedBytes()
    Benchmark(BenchmarkPolicy.name("decode \(label) x\(messagesPerIteration)"),
              configuration: BenchmarkPolicy.configuration(allocations: .exact)) { _ in
        decodeMany(M.self, from: bytes)
    }
}

let benchmarks: @Sendable () -> Void = {
    registerCodec("ClientRequest put 64B", putRequest)
    registerCodec("ClientRequest get", getRequest)
    registerCodec("Raft AppendEntries \(entriesPerAppend) puts", appendEntries)
    registerCodec("Raft AppendResponse", appendResponse)
}
