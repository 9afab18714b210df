import CLogSupport
import Glibc

/// A long-lived pthread running one closure (the protocol thread): plain pthreads keep Dispatch
/// and Foundation's machinery off the hot path (DESIGN.md, "Swift notes").
final class ProtocolThreadHandle: @unchecked Sendable {
    private var handle = pthread_t()

    init(name: String, body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; let name: String; init(_ b: @escaping @Sendable () -> Void, _ n: String) { body = b; name = n } }
        let box = Unmanaged.passRetained(Box(body, name)).toOpaque()
        let result = pthread_create(&handle, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            _ = clog_set_current_thread_name(box.name)
            box.body()
            return nil
        }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
    }

    func join() { pthread_join(handle, nil) }
}

/// Process-wide resource use, for node reports.
public enum ResourceUsage {
    /// User plus system CPU time of this process, in nanoseconds.
    static func cpuNanos() -> UInt64 {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func ns(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1_000 }
        return ns(usage.ru_utime) + ns(usage.ru_stime)
    }

    /// The largest resident set this process has had, in bytes.
    static func peakRSSBytes() -> UInt64 {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return UInt64(usage.ru_maxrss) * 1_024
    }

    /// Which allocator this process actually runs on: jemalloc when its library is mapped.
    public static func allocatorInUse() -> String {
        guard let maps = readProcFile("/proc/self/maps") else { return "unknown" }
        return maps.contains("libjemalloc") ? "jemalloc" : "system"
    }

    /// Reads a /proc file to its end. (/proc files report size 0, so readers that trust the size,
    /// like `String(contentsOfFile:)`, see nothing.)
    public static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

import Foundation

import BenchCore
import LogStore
