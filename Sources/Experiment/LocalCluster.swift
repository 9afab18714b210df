import BenchCore
import Foundation
import Glibc
import Runtime

/// Free TCP ports on 127.0.0.1, chosen by the kernel: every port is held open until all are
/// chosen, so they are distinct, and two sweeps on one machine never pick the same ones.
public enum PortAllocator {
    public static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw NodeError("socket: errno \(errno)") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw NodeError("bind: errno \(errno)") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}

/// A cluster of node processes on this machine: started, inspected, crashed, restarted and
/// stopped by the orchestrator and by integration tests. Every process it starts is reaped by
/// `stop()`, and dies with the orchestrator if the orchestrator dies (PR_SET_PDEATHSIG).
public final class LocalCluster {
    public struct Options: Sendable {
        public var nodes: Int
        public var protocolName: String
        public var settings: [(String, String)] = []
        public var clusterID: UInt32 = UInt32.random(in: 1...UInt32.max)
        public var allocator: AllocatorChoice = .jemalloc
        public var syncMode = "fdatasync"
        /// Where node data directories and logs go (created; removed by `removeData()`).
        public var directory: URL
        /// The `bench` executable (default: this process's own binary).
        public var executable: String = LocalCluster.ownExecutable

        public init(nodes: Int, protocolName: String, directory: URL) {
            self.nodes = nodes
            self.protocolName = protocolName
            self.directory = directory
        }
    }

    /// The `bench` binary that node and client processes run: this process's own, unless
    /// CONSENSUSBENCH_EXECUTABLE names another (tests, which run inside the XCTest runner).
    public static var ownExecutable: String {
        if let path = ProcessInfo.processInfo.environment["CONSENSUSBENCH_EXECUTABLE"] { return path }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public let options: Options
    public let peerEndpoints: [Endpoint]
    public let clientEndpoints: [Endpoint]
    public let allocator: String
    var processes: [Process?]
    /// Nodes this cluster killed on purpose (their exits are not failures).
    var expectedDown: Set<Int> = []

    public init(options: Options) throws {
        precondition(options.nodes >= 1, "a cluster has nodes")
        self.options = options
        let ports = try PortAllocator.freePorts(options.nodes * 2)
        peerEndpoints = ports[0..<options.nodes].map { Endpoint(host: "127.0.0.1", port: $0) }
        clientEndpoints = ports[options.nodes...].map { Endpoint(host: "127.0.0.1", port: $0) }
        allocator = Allocators.environment(for: options.allocator).allocator
        processes = Array(repeating: nil, count: options.nodes)
        try FileManager.default.createDirectory(at: options.directory, withIntermediateDirectories: true)
    }

    deinit { stop() }

    public func dataDirectory(_ node: Int) -> URL { options.directory.appendingPathComponent("n\(node)") }
    public func logFile(_ node: Int) -> URL { options.directory.appendingPathComponent("n\(node).log") }
    public var clientAddressList: String { clientEndpoints.map(\.description).joined(separator: ",") }

    public func start() throws {
        for node in 1...options.nodes { try startNode(node) }
    }

    /// Starts (or restarts, recovering from its data directory) node `node` (1-based).
    public func startNode(_ node: Int) throws {
        precondition((1...options.nodes).contains(node), "no node \(node)")
        if let running = processes[node - 1], running.isRunning { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: options.executable)
        var arguments = ["node", "--id", "\(node)", "--peers", peerEndpoints.map(\.description).joined(separator: ","),
                         "--client-port", "\(clientEndpoints[node - 1].port)", "--data", dataDirectory(node).path,
                         "--protocol", options.protocolName, "--cluster-id", "\(options.clusterID)",
                         "--allocator", options.allocator.rawValue, "--sync", options.syncMode]
        for (key, value) in options.settings { arguments += ["--set", "\(key)=\(value)"] }
        process.arguments = arguments
        var environment = Allocators.environment(for: options.allocator).environment
        environment["CONSENSUSBENCH_PARENT_PID"] = "\(getpid())"
        environment["CONSENSUSBENCH_REEXEC"] = "1"
        process.environment = environment
        if !FileManager.default.fileExists(atPath: logFile(node).path) {
            _ = FileManager.default.createFile(atPath: logFile(node).path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile(node))
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        processes[node - 1] = process
        expectedDown.remove(node)
        ChildProcesses.register(process.processIdentifier)
    }

    /// Kills node `node` with `signal` (SIGKILL: a crash; SIGTERM: a graceful stop) and reaps it.
    public func kill(_ node: Int, signal: Int32 = SIGKILL) {
        guard let process = processes[node - 1] else { return }
        expectedDown.insert(node)
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        ChildProcesses.unregister(process.processIdentifier)
    }

    /// The pid of node `node`'s process (0 if it was never started).
    public func processIdentifier(_ node: Int) -> Int32 { processes[node - 1]?.processIdentifier ?? 0 }

    public func isRunning(_ node: Int) -> Bool { processes[node - 1]?.isRunning ?? false }

    /// Nodes that exited without being told to, with their exit status and last log line.
    public func unexpectedExits() -> [String] {
        var exits: [String] = []
        for node in 1...options.nodes where !expectedDown.contains(node) {
            guard let process = processes[node - 1], !process.isRunning else { continue }
            let last = (try? String(contentsOf: logFile(node), encoding: .utf8))?
                .split(separator: "\n").last.map(String.init) ?? ""
            exits.append("node \(node) exited (status \(process.terminationStatus)): \(last)")
        }
        return exits
    }

    public func report(_ node: Int, timeout: BenchCore.Duration = .milliseconds(500)) -> NodeReport? {
        ControlClient.report(clientEndpoints[node - 1], clusterID: options.clusterID, timeout: timeout)
    }

    public func reports() -> [NodeReport?] { (1...options.nodes).map { report($0) } }

    /// The node every live node agrees leads (the highest term wins), if any.
    public func leader() -> Int? {
        var best: (node: Int, term: Term)?
        for node in 1...options.nodes where isRunning(node) {
            guard let r = report(node), r.status.role == .leader else { continue }
            if best == nil || r.status.term > best!.term { best = (node, r.status.term) }
        }
        return best?.node
    }

    /// Waits until every running node answers and, if `needLeader`, one leads. Throws on timeout
    /// or when a node died.
    public func waitUntilReady(needLeader: Bool, timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let exits = unexpectedExits()
            if !exits.isEmpty { throw NodeError(exits.joined(separator: "; ")) }
            let answering = (1...options.nodes).filter { isRunning($0) }.allSatisfy { report($0, timeout: .milliseconds(200)) != nil }
            if answering && (!needLeader || leader() != nil) { return }
            usleep(50_000)
        }
        throw NodeError(needLeader ? "no leader within \(Int(timeout))s" : "nodes did not answer within \(Int(timeout))s")
    }

    public func send(_ request: ControlRequest, to node: Int) throws -> ControlReply {
        try ControlClient.send(request, to: clientEndpoints[node - 1], clusterID: options.clusterID)
    }

    /// Stops every node (SIGTERM, then SIGKILL after 3 s) and reaps them. Idempotent.
    public func stop() {
        for (i, process) in processes.enumerated() {
            guard let process else { continue }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGTERM) }
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            ChildProcesses.unregister(process.processIdentifier)
            expectedDown.insert(i + 1)
        }
    }

    public func removeData() {
        try? FileManager.default.removeItem(at: options.directory)
    }
}

/// The pids of every child process alive, so a signal handler can kill them (kill(2) is
/// async-signal-safe; anything that allocates is not, hence the fixed table).
public enum ChildProcesses {
    nonisolated(unsafe) static var table = [Int32](repeating: 0, count: 1_024)
    static let lock = NSLock()

    public static func register(_ pid: Int32) {
        lock.lock(); defer { lock.unlock() }
        if let slot = table.firstIndex(of: 0) { table[slot] = pid }
    }

    public static func unregister(_ pid: Int32) {
        lock.lock(); defer { lock.unlock() }
        if let slot = table.firstIndex(of: pid) { table[slot] = 0 }
    }

    /// Kills every registered child (from a signal handler: no allocation, no locks).
    public static func killAll(_ signal: Int32) {
        table.withUnsafeBufferPointer { pids in
            for pid in pids where pid > 0 { Glibc.kill(pid, signal) }
        }
    }
}
