import Foundation

/// `manifest.json`: what ran, where, with what, and when — enough to reproduce a run.
public struct Manifest: Codable, Sendable {
    public var tool = "ConsensusBench"
    public var command: String
    public var gitSHA: String
    public var gitDirty: Bool
    public var machine: Machine
    public var swiftVersion: String
    public var allocator: String
    public var mode: String
    /// Every sweep parameter, as text.
    public var parameters: [String: String]
    public var seeds: [UInt64]
    public var cells: Int
    public var skipped: [String]
    public var started: String
    public var ended: String?
    /// True only once every cell has finished (or failed and was recorded).
    public var complete: Bool

    public struct Machine: Codable, Sendable {
        public var hostname: String
        public var os: String
        public var kernel: String
        public var cpus: Int
        public var memoryBytes: UInt64
        public var cpuModel: String
    }

    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Facts about this machine and build, read once per run.
public enum Environment {
    public static func machine() -> Manifest.Machine {
        let info = ProcessInfo.processInfo
        return Manifest.Machine(
            hostname: info.hostName,
            os: osRelease() ?? info.operatingSystemVersionString,
            kernel: (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown",
            cpus: info.activeProcessorCount,
            memoryBytes: info.physicalMemory,
            cpuModel: cpuModel() ?? "unknown")
    }

    static func osRelease() -> String? {
        guard let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            return line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }

    static func cpuModel() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Runs a command and returns its trimmed standard output, or nil if it fails.
    public static func capture(_ executable: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public static func gitSHA() -> (sha: String, dirty: Bool) {
        guard let sha = capture("git", ["rev-parse", "HEAD"]) else { return ("unknown", false) }
        let status = capture("git", ["status", "--porcelain", "--untracked-files=no"]) ?? ""
        return (sha, !status.isEmpty)
    }

    public static func swiftVersion() -> String {
        capture("swift", ["--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown"
    }
}
