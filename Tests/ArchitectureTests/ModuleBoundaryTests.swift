import Foundation
import XCTest

/// DESIGN.md's module rules, checked by reading the sources (as TigerBeetle's tidy.zig does):
/// pure modules import no I/O module, read no clock and use no unseeded randomness.
final class ModuleBoundaryTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let pureModules = ["BenchCore", "Protocols", "Checker", "Simulation"]
    static let ioModules = ["NIO", "NIOCore", "NIOPosix", "Glibc", "Musl", "Dispatch", "SystemPackage", "System",
                            "Runtime", "LogStore", "RingBuffer", "LoadGen", "Experiment"]
    static let forbiddenCalls = ["Date()", "DispatchTime.now", "clock_gettime", "ContinuousClock()", "SystemRandomNumberGenerator",
                                 "Thread.sleep", "usleep(", "FileManager", "FileHandle", "fopen(", ".random(in:"]

    func sources(of module: String) throws -> [(String, String)] {
        let dir = Self.root.appendingPathComponent("Sources").appendingPathComponent(module)
        guard let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else { return [] }
        return try files.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            .map { ($0.lastPathComponent, try String(contentsOf: $0, encoding: .utf8)) }
    }

    func testPureModulesImportNoIOModule() throws {
        for module in Self.pureModules {
            let files = try sources(of: module)
            XCTAssertFalse(files.isEmpty, "no sources found for \(module)")
            for (name, text) in files {
                for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("@testable import ") {
                    let imported = line.split(separator: " ").last.map(String.init) ?? ""
                    XCTAssertFalse(Self.ioModules.contains(imported), "\(module)/\(name) imports \(imported)")
                }
            }
        }
    }

    func testPureModulesReadNoClockAndUseNoUnseededRandomness() throws {
        for module in Self.pureModules {
            for (name, text) in try sources(of: module) {
                // A call that names its generator (`using:`) is seeded.
                for line in text.split(separator: "\n") where !line.contains("using:") {
                    for call in Self.forbiddenCalls where line.contains(call) {
                        XCTFail("\(module)/\(name) uses \(call): pass time and randomness in")
                    }
                }
            }
        }
    }

    func testProtocolsImportOnlyBenchCore() throws {
        for (name, text) in try sources(of: "Protocols") {
            for line in text.split(separator: "\n") where line.hasPrefix("import ") {
                XCTAssertEqual(line, "import BenchCore", "Protocols/\(name): protocols import BenchCore only")
            }
        }
    }

    /// Only the `bench` executable parses arguments.
    func testOnlyBenchImportsArgumentParser() throws {
        for module in Self.pureModules + ["Experiment", "LoadGen", "Runtime", "LogStore", "RingBuffer"] {
            for (name, text) in try sources(of: module) where text.contains("import ArgumentParser") {
                XCTFail("\(module)/\(name) imports ArgumentParser")
            }
        }
    }
}
