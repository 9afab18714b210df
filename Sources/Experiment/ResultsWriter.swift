import Foundation
import LoadGen

/// The files of one run under `results/<run-id>/`: `summary.csv` (a row appended and synced as
/// each cell finishes, so a crash loses nothing already measured), `histograms/<cell>.hgrm`, and
/// `manifest.json` (rewritten atomically; `complete` turns true only when the sweep ends).
public final class ResultsWriter {
    public let directory: URL
    public let runID: String
    private let summary: FileHandle
    public private(set) var manifest: Manifest

    /// Creates the run directory. Call only after the input was validated: a directory is never
    /// created for a sweep that cannot run.
    public init(root: URL, runID: String, manifest: Manifest) throws {
        self.runID = runID
        self.directory = root.appendingPathComponent(runID, isDirectory: true)
        self.manifest = manifest
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.path) {
            throw SweepError("results directory \(directory.path) already exists")
        }
        try fm.createDirectory(at: directory.appendingPathComponent("histograms"), withIntermediateDirectories: true)
        let summaryURL = directory.appendingPathComponent("summary.csv")
        guard fm.createFile(atPath: summaryURL.path, contents: Data((Columns.header + "\n").utf8)) else {
            throw SweepError("cannot create \(summaryURL.path)")
        }
        summary = try FileHandle(forWritingTo: summaryURL)
        try summary.seekToEnd()
        try writeManifest()
    }

    deinit { try? summary.close() }

    /// Appends one row and syncs it to disk.
    public func append(_ row: ResultRow) throws {
        try summary.write(contentsOf: Data((row.csvLine + "\n").utf8))
        try summary.synchronize()
    }

    public func writeHistogram(_ histogram: LatencyHistogram, cell: String) throws {
        let url = directory.appendingPathComponent("histograms").appendingPathComponent("\(cell).hgrm")
        try Data(histogram.percentileDistribution.utf8).write(to: url, options: .atomic)
    }

    /// Writes an extra file in the run directory (aggregates, time series), atomically.
    public func writeFile(_ name: String, contents: String) throws {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url, options: .atomic)
    }

    public func updateManifest(_ change: (inout Manifest) -> Void) throws {
        change(&manifest)
        try writeManifest()
    }

    private func writeManifest() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(manifest)
        try data.write(to: directory.appendingPathComponent("manifest.json"), options: .atomic)
    }

    /// A run id that sorts by time and does not collide with a concurrent run: UTC time, mode, pid.
    public static func makeRunID(mode: RunMode, now: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(formatter.string(from: now))-\(mode.rawValue)-\(ProcessInfo.processInfo.processIdentifier)"
    }
}
