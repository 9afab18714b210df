import BenchCore
@testable import Checker

// XCTest brings Foundation's `ClientOperation` (NSOperation) into scope; this module-level alias wins.

// Short constructors for hand-written histories. Times are in microseconds; keys default to 1.

func at(_ micros: Int64) -> Instant { Instant(nanoseconds: micros * 1_000) }

func write(_ client: UInt64, _ value: UInt64, _ invoke: Int64, _ complete: Int64, key: Key = 1,
           status: OperationStatus = .ok) -> ClientOperation {
    ClientOperation.write(ClientID(client), key: key, value: value, invoke: at(invoke), complete: at(complete), status: status)
}

func read(_ client: UInt64, _ observed: UInt64, _ invoke: Int64, _ complete: Int64, key: Key = 1,
          status: OperationStatus = .ok) -> ClientOperation {
    ClientOperation(client: ClientID(client), key: key, kind: .read, observed: observed, invoke: at(invoke),
              complete: at(complete), status: status)
}

/// A compare-and-set; `observed` defaults to `expected` when it swapped.
func compareAndSet(_ client: UInt64, expected: UInt64, written: UInt64, swapped: Bool, observed: UInt64? = nil,
                   _ invoke: Int64, _ complete: Int64, key: Key = 1, status: OperationStatus = .ok) -> ClientOperation {
    ClientOperation(client: ClientID(client), key: key, kind: .compareAndSet, written: written, expected: expected,
              observed: observed ?? (swapped ? expected : 0), swapped: swapped, invoke: at(invoke),
              complete: at(complete), status: status)
}

func verdict(_ operations: [ClientOperation], stepBudget: Int = Linearizability.defaultStepBudget) -> LinearizabilityVerdict {
    Linearizability.check(History(operations), stepBudget: stepBudget)
}
