// swift-tools-version: 6.1
import PackageDescription

// The microbenchmark suite (ordo-one/benchmark), kept in its own package so that the main
// package's `swift build` / `swift test` never fetch or build the benchmark framework.
// Run from the repository root: `swift package --package-path Benchmarks benchmark` (README.md).

// The main package, whose library products the benchmarks import.
let consensusBench: Package.Dependency = .package(name: "ConsensusBench", path: "..")

// Only the malloc interposer trait: the framework's other default trait ("RuntimeInterposer",
// ARC counting on Linux with Swift 6.3) pulls in a package the local mirror does not have, and
// these benchmarks track time and mallocs, not retains.
let benchmarkFramework: Package.Dependency =
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"])

let package = Package(
    name: "ConsensusBenchBenchmarks",
    dependencies: [
        benchmarkFramework,
        consensusBench,
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        // Shared configuration: metrics, run lengths and the threshold policy (README.md).
        .target(
            name: "BenchmarkPolicy",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
            path: "Sources/BenchmarkPolicy"
        ),
    ]
)

/// One benchmark executable per subsystem, under Benchmarks/<name>/.
func benchmarkTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "benchmark"), "BenchmarkPolicy"] + dependencies,
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

package.targets += [
    benchmarkTarget("Rings", [
        .product(name: "RingBuffer", package: "ConsensusBench"),
        .product(name: "Atomics", package: "swift-atomics"),
    ]),
    benchmarkTarget("Codec", [
        .product(name: "BenchCore", package: "ConsensusBench"),
        .product(name: "Protocols", package: "ConsensusBench"),
    ]),
    benchmarkTarget("LogAppend", [
        .product(name: "BenchCore", package: "ConsensusBench"),
        .product(name: "LogStore", package: "ConsensusBench"),
    ]),
    benchmarkTarget("RaftStep", [
        .product(name: "BenchCore", package: "ConsensusBench"),
        .product(name: "Protocols", package: "ConsensusBench"),
    ]),
    benchmarkTarget("Simulator", [
        .product(name: "BenchCore", package: "ConsensusBench"),
        .product(name: "Protocols", package: "ConsensusBench"),
        .product(name: "Simulation", package: "ConsensusBench"),
    ]),
    benchmarkTarget("LinearizabilityChecker", [
        .product(name: "BenchCore", package: "ConsensusBench"),
        .product(name: "Checker", package: "ConsensusBench"),
    ]),
]
