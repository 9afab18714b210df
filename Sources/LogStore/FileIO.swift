import Glibc

/// Thin wrappers over the system calls the log uses. Each retries `EINTR` and turns a failure
/// into `LogStoreError.system` naming the call and the path.
enum FileIO {
    static func check(_ result: Int32, _ call: String, _ path: String) throws {
        if result != 0 { throw LogStoreError.system(call: call, path: path, errno: errno) }
    }

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno == EINTR { continue }
            throw LogStoreError.system(call: "open", path: path, errno: errno)
        }
    }

    /// Writes every byte of `buffer` at the file's current position. A short write continues
    /// where it stopped, so one call hands the kernel the whole batch in the common case.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        guard var pointer = buffer.baseAddress else { return }
        var remaining = buffer.count
        while remaining > 0 {
            let written = Glibc.write(fd, pointer, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                throw LogStoreError.system(call: "write", path: path, errno: errno)
            }
            precondition(written > 0 || remaining == 0, "write(2) returned 0 for a non-empty buffer")
            pointer += written
            remaining -= written
        }
    }

    /// Writes every byte of `first` and then of `second` at the file's current position with
    /// `writev`, continuing after a short write, so one call hands the kernel both in the common
    /// case (the two regions of a wrapped ring).
    static func writeAll(_ fd: Int32, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, path: String) throws {
        var parts = (iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
                     iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count))
        var remaining = first.count + second.count
        while remaining > 0 {
            let written = withUnsafeMutablePointer(to: &parts) { pair in
                pair.withMemoryRebound(to: iovec.self, capacity: 2) { vectors in
                    // Skip a drained first region: writev with it is fine, but this keeps the
                    // arithmetic below to one region at a time.
                    vectors[0].iov_len == 0 ? Glibc.writev(fd, vectors + 1, 1) : Glibc.writev(fd, vectors, 2)
                }
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw LogStoreError.system(call: "writev", path: path, errno: errno)
            }
            precondition(written > 0, "writev(2) returned 0 for a non-empty buffer")
            remaining -= written
            var advance = written
            let fromFirst = min(advance, parts.0.iov_len)
            parts.0.iov_base = parts.0.iov_base.map { $0 + fromFirst }
            parts.0.iov_len -= fromFirst
            advance -= fromFirst
            parts.1.iov_base = parts.1.iov_base.map { $0 + advance }
            parts.1.iov_len -= advance
        }
    }

    /// Reads the whole file (a segment is at most a few tens of MiB).
    static func readAll(_ path: String) throws -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { _ = Glibc.close(fd) }
        var status = stat()
        try check(fstat(fd, &status), "fstat", path)
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        try bytes.withUnsafeMutableBytes { raw in
            while filled < size {
                let got = Glibc.read(fd, raw.baseAddress! + filled, size - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    throw LogStoreError.system(call: "read", path: path, errno: errno)
                }
                if got == 0 { break } // The file shrank under us; what we have is what there is.
                filled += got
            }
        }
        if filled < size { bytes.removeSubrange(filled...) }
        return bytes
    }

    static func fileSize(_ path: String) throws -> Int {
        var status = stat()
        try check(stat(path, &status), "stat", path)
        return Int(status.st_size)
    }

    static func fdatasync(_ fd: Int32, path: String) throws {
        while Glibc.fdatasync(fd) != 0 {
            if errno == EINTR { continue }
            throw LogStoreError.system(call: "fdatasync", path: path, errno: errno)
        }
    }

    static func fsync(_ fd: Int32, path: String) throws {
        while Glibc.fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw LogStoreError.system(call: "fsync", path: path, errno: errno)
        }
    }

    static func truncate(_ path: String, toSize size: Int) throws {
        let fd = try open(path, flags: O_WRONLY)
        defer { _ = Glibc.close(fd) }
        try check(ftruncate(fd, off_t(size)), "ftruncate", path)
        // The shorter length must be durable before anything is appended after it.
        try fsync(fd, path: path)
    }

    static func unlink(_ path: String) throws {
        try check(Glibc.unlink(path), "unlink", path)
    }

    /// Seeks to the end and returns the file's size.
    static func seekToEnd(_ fd: Int32, path: String) throws -> Int {
        let end = lseek(fd, 0, SEEK_END)
        if end < 0 { throw LogStoreError.system(call: "lseek", path: path, errno: errno) }
        return Int(end)
    }

    /// `mkdir -p`: creates `path` and any missing parents (mode 0755).
    static func createDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw LogStoreError.system(call: "mkdir", path: prefix, errno: errno)
            }
            prefix += "/"
        }
    }

    /// The names in a directory, without "." and "..".
    static func directoryEntries(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else {
            throw LogStoreError.system(call: "opendir", path: path, errno: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 { throw LogStoreError.system(call: "readdir", path: path, errno: errno) }
                return names
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }

    /// Removes a directory that holds only files (a benchmark's scratch log); best effort.
    static func removeFlatDirectory(_ path: String) {
        for name in (try? directoryEntries(path)) ?? [] {
            _ = Glibc.unlink(path + "/" + name)
        }
        _ = rmdir(path)
    }

    /// Reads the monotonic clock (statistics only; nothing in the log's logic depends on time).
    static func monotonicNanos() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Sleeps for `nanoseconds`, resuming after signals until the whole time has passed.
    static func sleep(nanoseconds: Int64) {
        guard nanoseconds > 0 else { return }
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR {
            request = remaining
        }
    }
}

/// Segment file names: `wal-<first sequence number as 16 lowercase hex digits>.log`, so that
/// lexical order is sequence order and a segment's name says which write it starts with.
enum SegmentName {
    static let prefix = "wal-"
    static let suffix = ".log"
    static let digitCount = 16

    static func fileName(firstSequence: UInt64) -> String {
        let hex = String(firstSequence, radix: 16)
        return prefix + String(repeating: "0", count: digitCount - hex.count) + hex + suffix
    }

    /// The first sequence number a file name encodes, or nil for any other file (which the log
    /// leaves alone). Only the exact form `fileName` writes is accepted, so two names can never
    /// decode to the same number.
    static func firstSequence(of name: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.count == digitCount,
              digits.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }) else { return nil }
        return UInt64(digits, radix: 16)
    }
}
