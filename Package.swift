// swift-tools-version: 6.1
import PackageDescription

// Module rules (DESIGN.md): BenchCore, Protocols, Checker and Simulation are pure — no sockets,
// files, threads or wall clock. Only Runtime, LogStore, LoadGen and Experiment do I/O; only
// `bench` parses arguments. Tests/ArchitectureTests checks the imports.
// The simulator is generic over the replica type and runs in other modules (tests, Experiment):
// without cross-module optimization every step goes through unspecialized generic code.
let crossModule: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "ConsensusBench",
    products: [
        .executable(name: "bench", targets: ["bench"]),
        // For Benchmarks/, a package of its own that depends on this one by path.
        .library(name: "BenchCore", targets: ["BenchCore"]),
        .library(name: "Protocols", targets: ["Protocols"]),
        .library(name: "Checker", targets: ["Checker"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "RingBuffer", targets: ["RingBuffer"]),
        .library(name: "LogStore", targets: ["LogStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(name: "BenchCore", swiftSettings: crossModule),
        .target(name: "Protocols", dependencies: ["BenchCore"], swiftSettings: crossModule),
        .target(name: "Checker", dependencies: ["BenchCore"]),
        .target(name: "Simulation", dependencies: [
            "BenchCore", "Checker",
            .product(name: "HeapModule", package: "swift-collections"),
        ], swiftSettings: crossModule),
        .target(name: "RingBuffer", dependencies: [.product(name: "Atomics", package: "swift-atomics")]),
        .target(name: "CReference"),
        .target(name: "CLogSupport"),
        .target(name: "CProcessSupport"),
        .target(name: "LogStore", dependencies: ["BenchCore", "RingBuffer", "CLogSupport"]),
        .target(name: "Runtime", dependencies: [
            "BenchCore", "RingBuffer", "LogStore", "CLogSupport",
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .target(name: "LoadGen", dependencies: [
            "BenchCore", "Checker", "Runtime",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .target(name: "Experiment", dependencies: [
            "BenchCore", "Protocols", "Checker", "Simulation", "LoadGen", "Runtime", "LogStore", "CProcessSupport",
            "RingBuffer", "CReference",
            .product(name: "Yams", package: "Yams"),
        ]),
        .executableTarget(name: "bench", dependencies: [
            "Experiment", "BenchCore", "Checker", "LoadGen", "Runtime", "LogStore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
        .testTarget(name: "CheckerTests", dependencies: ["Checker", "BenchCore"]),
        .testTarget(name: "ProtocolsTests", dependencies: ["BenchCore", "Protocols"], resources: [.copy("testdata")]),
        .testTarget(name: "LogStoreTests", dependencies: ["LogStore", "BenchCore"]),
        .testTarget(name: "RingBufferTests", dependencies: ["RingBuffer", "CReference"]),
        .testTarget(name: "SimulationTests", dependencies: ["BenchCore", "Protocols", "Checker", "Simulation"]),
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "ExperimentTests", dependencies: ["Experiment", "BenchCore"]),
        .testTarget(name: "LoadGenTests", dependencies: ["LoadGen", "BenchCore", "Checker"]),
        .testTarget(name: "IntegrationTests", dependencies: ["Experiment", "Runtime", "LoadGen", "Checker", "BenchCore"]),
    ]
)
