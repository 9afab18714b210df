import BenchCore
import Glibc

/// Sends one control command to a node's client port and waits for the answer, over a short
/// blocking socket (a cold path: the orchestrator and `bench ctl` use it, never the hot path).
public enum ControlClient {
    public static func send(_ request: ControlRequest, to endpoint: Endpoint, clusterID: UInt32 = 1,
                            timeout: Duration = .seconds(2)) throws -> ControlReply {
        let fd = try connect(to: endpoint, timeout: timeout)
        defer { close(fd) }
        var frame = WireWriter(capacity: 64)
        frame.writeFrame(clusterID: clusterID, kind: .control, sender: NodeID(0)) { request.encode(to: &$0) }
        try writeAll(fd, frame.bytes)
        let header = try readExactly(fd, FrameHeader.size)
        let parsed = try header.withUnsafeBytes { raw -> FrameHeader in
            var reader = WireReader(raw)
            return try FrameHeader(from: &reader)
        }
        guard parsed.kind == .controlReply else { throw NodeError("\(endpoint) answered with a \(parsed.kind) frame") }
        let body = try readExactly(fd, parsed.bodySize)
        return try ControlReply(decoding: body)
    }

    /// The node's report, or nil if it does not answer.
    public static func report(_ endpoint: Endpoint, clusterID: UInt32 = 1, timeout: Duration = .seconds(1)) -> NodeReport? {
        guard case let .report(report)? = try? send(.status, to: endpoint, clusterID: clusterID, timeout: timeout) else { return nil }
        return report
    }

    static func connect(to endpoint: Endpoint, timeout: Duration) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(endpoint.host, "\(endpoint.port)", &hints, &result) == 0, let info = result else {
            throw NodeError("cannot resolve \(endpoint.host)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw NodeError("socket: errno \(errno)") }
        var tv = timeval(tv_sec: Int(timeout.nanoseconds / 1_000_000_000), tv_usec: Int(timeout.nanoseconds % 1_000_000_000 / 1_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            close(fd)
            throw NodeError("cannot connect to \(endpoint): \(String(cString: strerror(code)))")
        }
        return fd
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw NodeError("write failed: errno \(errno)") }
            offset += n
        }
    }

    static func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = bytes[offset...].withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw NodeError("no answer (connection closed or timed out)") }
            offset += n
        }
        return bytes
    }
}
