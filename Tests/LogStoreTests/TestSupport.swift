import BenchCore
import Foundation
import Synchronization
@testable import LogStore

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String = #function) {
        let name = "logstore-\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
        path = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The segment files, in sequence order.
    func segments() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { SegmentName.firstSequence(of: $0) != nil }.sorted()
    }

    func filePath(_ name: String) -> String { path + "/" + name }

    func read(_ name: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: filePath(name)) ?? Data())
    }

    func write(_ name: String, _ bytes: [UInt8]) {
        let written = FileManager.default.createFile(atPath: filePath(name), contents: Data(bytes))
        precondition(written, "cannot write \(name)")
    }
}

/// A replica-like stream of writes: mostly appends at the next index, with new terms (hard
/// states), conflict truncations, overwrites of existing indexes and, now and then, a gap.
struct WorkloadGenerator {
    var random: SeededGenerator
    var lastIndex: UInt64 = 0
    var term: UInt64 = 1
    var counter: UInt64 = 0

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    mutating func next() -> StorageWrite {
        counter += 1
        switch random.next() % 100 {
        case 0..<5:
            term += 1
            let vote: NodeID? = random.next() % 2 == 0 ? NodeID(UInt32(random.next() % 5 + 1)) : nil
            return .hardState(HardState(term: Term(term), vote: vote, auxiliary: random.next()))
        case 5..<8 where lastIndex > 0:
            let from = lastIndex - random.next() % min(lastIndex, 5)
            lastIndex = from - 1
            return .truncate(from: LogIndex(from))
        case 8..<10 where lastIndex > 0:
            // Overwrite an existing index (a Paxos acceptor accepting a higher ballot).
            return .entry(makeEntry(index: lastIndex - random.next() % min(lastIndex, 3)))
        case 10..<12:
            // Leave a gap (a Paxos acceptor learning a later slot first).
            lastIndex += 2
            return .entry(makeEntry(index: lastIndex))
        default:
            lastIndex += 1
            return .entry(makeEntry(index: lastIndex))
        }
    }

    mutating func next(_ count: Int) -> [StorageWrite] {
        (0..<count).map { _ in next() }
    }

    mutating func makeEntry(index: UInt64) -> LogEntry {
        let payload: EntryPayload
        switch random.next() % 4 {
        case 0:
            payload = .noop
        case 1:
            payload = .record((0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
        case 2:
            let value = Value(tag: counter, size: Int(random.next() % 120) + 8)
            payload = .command(ClientRequest(client: ClientID(random.next() % 9), seq: counter,
                                             command: .put(key: random.next() % 100, value: value)))
        default:
            payload = .command(ClientRequest(client: 3, seq: counter,
                                             command: .compareAndSet(key: 7, expected: nil, new: Value(tag: counter))))
        }
        return LogEntry(index: LogIndex(index), term: Term(term), payload: payload)
    }
}

extension DurableState {
    /// The state that applying `writes` to an empty log gives: the oracle recovery must match.
    static func replaying(_ writes: some Sequence<StorageWrite>) -> DurableState {
        var state = DurableState.empty
        state.apply(writes)
        return state
    }
}

/// The encoded size of each write, in order: where each record starts in a segment.
func recordOffsets(_ writes: [StorageWrite]) -> [Int] {
    var writer = WireWriter()
    var offsets: [Int] = []
    for write in writes {
        offsets.append(writer.count)
        RecordFormat.append(write, to: &writer)
    }
    offsets.append(writer.count)
    return offsets
}

/// Collects the appender's reports (they arrive on its thread).
final class ReportCollector: Sendable {
    private let reports = Mutex<[WriteAheadLog.DurabilityReport]>([])

    var handler: @Sendable (WriteAheadLog.DurabilityReport) -> Void {
        { report in self.reports.withLock { $0.append(report) } }
    }

    var all: [WriteAheadLog.DurabilityReport] { reports.withLock { $0 } }
}
