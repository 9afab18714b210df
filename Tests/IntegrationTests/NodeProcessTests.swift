import BenchCore
import Checker
import Experiment
import Foundation
import Glibc
import LoadGen
import Runtime
import XCTest

/// Runs the built `bench` binary as real processes on loopback.
final class NodeProcessTests: XCTestCase {
    /// The `bench` executable SwiftPM built next to this test bundle.
    static var benchExecutable: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var candidate = bundle.appendingPathComponent("bench").path
        if !FileManager.default.isExecutableFile(atPath: candidate) {
            candidate = bundle.deletingLastPathComponent().appendingPathComponent("bench").path
        }
        return candidate
    }

    func makeCluster(_ name: String, nodes: Int = 3) throws -> LocalCluster {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cb-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        var options = LocalCluster.Options(nodes: nodes, protocolName: "raft", directory: directory)
        options.executable = Self.benchExecutable
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: options.executable), "bench not built at \(options.executable)")
        let cluster = try LocalCluster(options: options)
        addTeardownBlock { cluster.stop(); cluster.removeData() }
        return cluster
    }

    /// Runs `bench client` with `arguments`, returning its process (started) and result file.
    func startClient(_ cluster: LocalCluster, _ arguments: [String], name: String) throws -> (Process, URL) {
        let out = cluster.options.directory.appendingPathComponent("\(name).result")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.benchExecutable)
        process.arguments = ["client", "--nodes", cluster.clientAddressList, "--cluster-id", "\(cluster.options.clusterID)",
                             "--out", out.path] + arguments
        let log = cluster.options.directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = process.standardOutput
        try process.run()
        return (process, out)
    }

    func waitFor(_ process: Process, seconds: TimeInterval) {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    func load(_ url: URL) throws -> ClientResult {
        try ClientResult(decoding: Data(contentsOf: url))
    }

    /// Step 2's acceptance test: write 10,000 keys, kill -9 the leader mid-stream, keep writing,
    /// restart it, read every key back. The history is linearizable and no acknowledged write is lost.
    func testLeaderCrashLosesNoAcknowledgedWrite() throws {
        let cluster = try makeCluster("crash")
        try cluster.start()
        try cluster.waitUntilReady(needLeader: true)
        let keys = 10_000
        let (writer, writes) = try startClient(cluster, ["--workload", "write-keys:\(keys)", "--sessions", "8",
                                                         "--deadline", "10s", "--process-index", "1"], name: "writes")
        // Mid-stream: once a few thousand entries have committed, crash the leader.
        var victim: Int?
        let deadline = Date().addingTimeInterval(60)
        while victim == nil && Date() < deadline && writer.isRunning {
            if let leader = cluster.leader(), let report = cluster.report(leader), report.status.commitIndex.rawValue >= 3_000 {
                victim = leader
            } else {
                usleep(10_000)
            }
        }
        let crashed = try XCTUnwrap(victim, "the writer finished or stalled before the crash point")
        cluster.kill(crashed, signal: SIGKILL)
        usleep(500_000)
        try cluster.startNode(crashed)
        waitFor(writer, seconds: 120)
        XCTAssertEqual(writer.terminationStatus, 0, "writer failed")

        // The restarted node recovers from its log and catches up with the others.
        try cluster.waitUntilReady(needLeader: true)
        let leader = try XCTUnwrap(cluster.leader())
        let target = try XCTUnwrap(cluster.report(leader)).status.commitIndex
        var caughtUp = false
        for _ in 0..<500 where !caughtUp {
            caughtUp = (cluster.report(crashed)?.status.commitIndex ?? .zero) >= target
            if !caughtUp { usleep(20_000) }
        }
        XCTAssertTrue(caughtUp, "node \(crashed) did not catch up after restart")

        let (reader, reads) = try startClient(cluster, ["--workload", "read-keys:\(keys)", "--sessions", "8",
                                                        "--deadline", "10s", "--process-index", "2"], name: "reads")
        waitFor(reader, seconds: 120)
        XCTAssertEqual(reader.terminationStatus, 0, "reader failed")

        let writeResult = try load(writes)
        let readResult = try load(reads)
        var history = writeResult.history
        history.append(contentsOf: readResult.history)
        XCTAssertTrue(Linearizability.check(history).isLinearizable, "history not linearizable")

        // Every acknowledged write is read back.
        var acknowledged: [Key: UInt64] = [:]
        for op in writeResult.history.operations where op.kind == .write && op.status == .ok { acknowledged[op.key] = op.written }
        var readBack: [Key: UInt64] = [:]
        for op in readResult.history.operations where op.kind == .read && op.status == .ok { readBack[op.key] = op.observed }
        XCTAssertGreaterThan(acknowledged.count, keys * 9 / 10, "most writes should be acknowledged")
        XCTAssertEqual(readBack.count, keys, "every key read")
        var lost = 0
        for (key, tag) in acknowledged where readBack[key] != tag { lost += 1 }
        XCTAssertEqual(lost, 0, "acknowledged writes lost")
        XCTAssertTrue(cluster.unexpectedExits().isEmpty, cluster.unexpectedExits().joined(separator: "\n"))
    }

    /// A frame that does not decode, or carries another cluster's id, closes that connection and is
    /// counted; the node lives on.
    func testBadFramesCloseTheConnectionNotTheNode() throws {
        let cluster = try makeCluster("frames", nodes: 1)
        try cluster.start()
        try cluster.waitUntilReady(needLeader: true)
        let endpoint = cluster.clientEndpoints[0]

        // Garbage: an impossible length.
        XCTAssertTrue(try sendRaw([0xFF, 0xFF, 0xFF, 0x7F] + [UInt8](repeating: 0xAB, count: 20), to: endpoint))
        // A well-formed request from another cluster.
        var frame = WireWriter()
        frame.writeFrame(clusterID: cluster.options.clusterID &+ 1, kind: .request, sender: NodeID(0)) {
            ClientRequest(client: 1, seq: 1, command: .get(key: 1)).encode(to: &$0)
        }
        XCTAssertTrue(try sendRaw(frame.bytes, to: endpoint))
        // A request whose body is truncated.
        var truncated = WireWriter()
        truncated.writeFrame(clusterID: cluster.options.clusterID, kind: .request, sender: NodeID(0)) { $0.write(UInt8(2)) }
        XCTAssertTrue(try sendRaw(truncated.bytes, to: endpoint))

        let report = try XCTUnwrap(cluster.report(1))
        XCTAssertEqual(report.badFrames, 3)
        XCTAssertEqual(report.status.role, .leader, "the node still serves")
        XCTAssertTrue(cluster.unexpectedExits().isEmpty)
    }

    /// Sends bytes on a new connection; returns true when the node closed the connection.
    func sendRaw(_ bytes: [UInt8], to endpoint: Endpoint) throws -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(endpoint.port).bigEndian
        address.sin_addr.s_addr = inet_addr(endpoint.host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw NodeError("connect failed") }
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n == 0
    }
}
