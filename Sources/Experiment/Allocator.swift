import Foundation
import Runtime

/// Which allocator node and client processes run on. jemalloc is the default and is loaded with
/// LD_PRELOAD when Debian's libjemalloc is installed, so the package needs no link-time
/// dependency: a machine without it still builds and runs, on the system allocator, and says so once.
public enum AllocatorChoice: String, Sendable, CaseIterable {
    case jemalloc, system
}

public enum Allocators {
    static let jemallocCandidates = [
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
        "/usr/lib64/libjemalloc.so.2", "/usr/lib/libjemalloc.so.2", "/usr/local/lib/libjemalloc.so.2",
    ]

    /// The jemalloc shared library on this machine, if any.
    public static func jemallocPath() -> String? {
        jemallocCandidates.first { FileManager.default.isReadableFile(atPath: $0) }
    }

    /// The environment a child process gets for `choice`, and the allocator it will actually use.
    public static func environment(for choice: AllocatorChoice,
                                   base: [String: String] = ProcessInfo.processInfo.environment) -> (environment: [String: String], allocator: String) {
        var environment = base
        environment["LD_PRELOAD"] = (environment["LD_PRELOAD"] ?? "").split(separator: ":")
            .filter { !$0.contains("jemalloc") }.joined(separator: ":")
        if environment["LD_PRELOAD"]?.isEmpty == true { environment["LD_PRELOAD"] = nil }
        guard choice == .jemalloc, let path = jemallocPath() else { return (environment, "system") }
        environment["LD_PRELOAD"] = [path, environment["LD_PRELOAD"]].compactMap { $0 }.joined(separator: ":")
        return (environment, "jemalloc")
    }

    nonisolated(unsafe) static var warned = false

    /// The one-line note printed when jemalloc was asked for but is not installed.
    public static func fallbackNote(for choice: AllocatorChoice) -> String? {
        guard choice == .jemalloc, jemallocPath() == nil, !warned else { return nil }
        warned = true
        return "note: jemalloc not found (apt-get install libjemalloc-dev); processes run on the system allocator"
    }

    /// For a process started by hand (`bench node`): when jemalloc is wanted, present, and not yet
    /// loaded, replace this process with itself under LD_PRELOAD. Returns if nothing needs doing.
    public static func reexecIfNeeded(_ choice: AllocatorChoice) {
        let loaded = ResourceUsage.allocatorInUse() == "jemalloc"
        guard choice == .jemalloc, !loaded, let path = jemallocPath(),
              ProcessInfo.processInfo.environment["CONSENSUSBENCH_REEXEC"] == nil else { return }
        setenv("LD_PRELOAD", path, 1)
        setenv("CONSENSUSBENCH_REEXEC", "1", 1)
        let arguments = CommandLine.arguments
        let argv = arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", argv)
        // execv returned: carry on without jemalloc.
    }
}

/// A child process started by the orchestrator dies with it: `bench node` and `bench client` call
/// this first thing, so an orchestrator killed outright still leaves no process behind.
public enum ParentWatch {
    public static func adoptParentIfOrchestrated() {
        guard let text = ProcessInfo.processInfo.environment["CONSENSUSBENCH_PARENT_PID"], let parent = Int32(text) else { return }
        if cps_die_with_parent(SIGKILL, parent) != 0 { exit(1) }
    }
}

import CProcessSupport
