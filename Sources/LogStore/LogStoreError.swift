import Glibc

/// Why a log operation failed. I/O failures carry the system call, the path and `errno`, so a
/// node's log line says exactly what the disk refused.
public enum LogStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed.
    case system(call: String, path: String, errno: Int32)
    /// Another process (or another `WriteAheadLog` in this one) holds the directory's lock.
    case directoryLocked(path: String)
    /// A segment name the log itself would never write (two segments claim the same first sequence).
    case inconsistentSegments(String)

    public var description: String {
        switch self {
        case let .system(call, path, code):
            "\(call)(\(path)) failed: \(String(cString: strerror(code))) (errno \(code))"
        case let .directoryLocked(path):
            "the log directory \(path) is locked by another writer"
        case let .inconsistentSegments(what):
            "inconsistent segments: \(what)"
        }
    }
}
