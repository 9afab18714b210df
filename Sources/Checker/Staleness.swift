import BenchCore

/// How often and how far reads lagged behind writes, for protocols that promise only eventual
/// consistency (NWR quorums with R + W ≤ N, gossip), where a linearizability verdict would only say "no".
public struct StalenessReport: Hashable, Sendable {
    /// Reads with status ok.
    public var readCount: Int
    /// Reads that returned a value some completed write had already replaced (see `Staleness`).
    public var staleReadCount: Int
    /// Reads that returned a tag no write (ok or of unknown outcome) stored: not stale, wrong.
    public var phantomReadCount: Int
    /// Over the stale reads, how long before the read began the newer write had completed (the
    /// latest such write): the lower median and the maximum. 0 when there are no stale reads.
    public var staleAgeP50Nanos: Int64
    public var staleAgeMaxNanos: Int64

    public init(readCount: Int, staleReadCount: Int, phantomReadCount: Int, staleAgeP50Nanos: Int64,
                staleAgeMaxNanos: Int64) {
        self.readCount = readCount
        self.staleReadCount = staleReadCount
        self.phantomReadCount = phantomReadCount
        self.staleAgeP50Nanos = staleAgeP50Nanos
        self.staleAgeMaxNanos = staleAgeMaxNanos
    }

    /// Stale reads per read, in [0, 1]; 0 when there were no reads.
    public var staleReadRate: Double {
        readCount == 0 ? 0 : Double(staleReadCount) / Double(readCount)
    }
}

/// Stale-read measurement.
///
/// A read r of key k (status ok) that returned tag v is stale when some write w' to k with status
/// ok (a plain write, or a compare-and-set that swapped) completed before r was invoked, and either
/// v is 0 (absent) or every write of v completed before w' was invoked: w' then certainly follows
/// v's write in real time, so a linearizable store could not have returned v. A write whose outcome
/// is unknown never completes, so a value it may have stored is never called stale. A read of a
/// non-zero tag that no write (ok or unknown) stored is a phantom read, counted apart. Times compare
/// strictly, as in the linearizability checker: touching intervals prove no order.
public enum Staleness {
    public static func measure(_ history: History) -> StalenessReport {
        var readCount = 0
        var phantomReadCount = 0
        var staleAges: [Int64] = []
        let operationsByKey = Dictionary(grouping: history.operations, by: \.key)
        for key in operationsByKey.keys.sorted() {
            let operations = operationsByKey[key]!
            // Completed writes by completion time, and when each tag was last possibly stored.
            var completedWrites: [(invoke: Int64, complete: Int64, tag: UInt64)] = []
            var lastStoreByTag: [UInt64: Int64] = [:]
            for operation in operations where operation.status != .failed {
                let stores = operation.kind == .write
                    || (operation.kind == .compareAndSet && (operation.swapped || operation.status == .unknown))
                guard stores else { continue }
                let stored = operation.status == .ok ? operation.complete.nanoseconds : Instant.distantFuture.nanoseconds
                lastStoreByTag[operation.written] = max(lastStoreByTag[operation.written] ?? stored, stored)
                if operation.status == .ok {
                    completedWrites.append((operation.invoke.nanoseconds, operation.complete.nanoseconds, operation.written))
                }
            }
            completedWrites.sort { $0.complete < $1.complete }

            for read in operations where read.kind == .read && read.status == .ok {
                readCount += 1
                let seen = read.observed
                let seenStored: Int64?  // nil: absent, superseded by any write
                if seen == 0 {
                    seenStored = nil
                } else if let stored = lastStoreByTag[seen] {
                    seenStored = stored
                } else {
                    phantomReadCount += 1
                    continue
                }
                let readInvoke = read.invoke.nanoseconds
                // Writes completed before the read began are completedWrites[..<end]. Scan back
                // from the latest; a write that completed by the time `seen` was stored was also
                // invoked by then, so neither it nor any earlier one can supersede `seen`.
                var end = 0
                var upper = completedWrites.count
                while end < upper {
                    let middle = (end + upper) / 2
                    if completedWrites[middle].complete < readInvoke { end = middle + 1 } else { upper = middle }
                }
                var index = end - 1
                while index >= 0 {
                    let write = completedWrites[index]
                    if let seenStored, write.complete <= seenStored { break }
                    if write.tag != seen, seenStored.map({ write.invoke > $0 }) ?? true {
                        staleAges.append(readInvoke - write.complete)
                        break
                    }
                    index -= 1
                }
            }
        }
        staleAges.sort()
        return StalenessReport(readCount: readCount, staleReadCount: staleAges.count, phantomReadCount: phantomReadCount,
                               staleAgeP50Nanos: staleAges.isEmpty ? 0 : staleAges[(staleAges.count - 1) / 2],
                               staleAgeMaxNanos: staleAges.last ?? 0)
    }
}
