import Benchmark
import BenchmarkPolicy
import BenchCore
import Protocols
import Simulation

// The deterministic simulator running Raft: event queue, network and disk models, client
// sessions and the protocol steps, for a short fixed run. The same seed gives the same run
// event for event, so the event count is checked exactly and the allocation count is nearly
// constant (a small relative tolerance absorbs hash-table and array growth differences).

/// Simulated run length: a 500 ms warm-up (election included) and 100 ms of measured client load.
let simulatedMilliseconds: Int64 = 600

func options(seed: UInt64) -> SimulationOptions {
    var options = SimulationOptions()
    options.seed = seed
    options.nodes = 3
    options.duration = .milliseconds(simulatedMilliseconds)
    options.checkEveryStep = false
    return options
}

/// The event count of the fixed run, taken once before measurement (a run is deterministic,
/// so every iteration must reproduce it).
final class ExpectedEvents: @unchecked Sendable {
    // @unchecked Sendable: set in setup, read by the iterations, on the runner's one thread.
    var count = 0
}

let benchmarks: @Sendable () -> Void = {
    let expected = ExpectedEvents()
    var configuration = BenchmarkPolicy.configuration(allocations: .within(percent: 5), seconds: 2, iterations: 20, warmupIterations: 1)
    configuration.setup = {
        expected.count = Simulator<Raft.Instance>(options: options(seed: 1), settings: .init()).run().events
    }
    Benchmark(BenchmarkPolicy.name("Raft 3 nodes 8 clients \(simulatedMilliseconds)ms simulated seed 1"), configuration: configuration) { benchmark in
        let simulator = Simulator<Raft.Instance>(options: options(seed: 1), settings: .init())
        benchmark.startMeasurement()
        let result = simulator.run()
        benchmark.stopMeasurement()
        precondition(result.events > 0 && result.events == expected.count,
                     "the seeded run is deterministic: \(result.events) events, expected \(expected.count)")
        precondition(result.opsOK > 0, "clients completed operations")
        blackHole(result)
    }
}
