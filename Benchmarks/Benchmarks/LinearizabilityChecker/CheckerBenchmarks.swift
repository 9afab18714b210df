import Benchmark
import BenchmarkPolicy
import BenchCore
import Checker

// Checker.Linearizability.check on a fixed, generated, linearizable history (the same input on
// every run and machine: CheckerBenchmarks.generateLinearizableHistory is seeded). The search
// is deterministic, so allocations get a small relative tolerance only for container growth.

let operations = 10_000
let keys = 100
let clients = 8

let benchmarks: @Sendable () -> Void = {
    let history = CheckerBenchmarks.generateLinearizableHistory(operations: operations, keys: keys, clients: clients, seed: 1)
    Benchmark(BenchmarkPolicy.name("check \(operations) ops \(keys) keys \(clients) clients"),
              configuration: BenchmarkPolicy.configuration(allocations: .within(percent: 5), seconds: 2, iterations: 200, warmupIterations: 1)) { _ in
        let verdict = Linearizability.check(history)
        precondition(verdict.isLinearizable, "the generated history is linearizable by construction")
        blackHole(verdict)
    }
}
