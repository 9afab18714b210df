import Foundation
import Yams

/// A sweep file: YAML whose keys are the long names of the sweep options and whose values are a
/// scalar or a list (`nodes: [3, 5, 7]`, `drop: 0.01`, `set: {read-mode: [log, readindex]}`).
/// Values come back as the text the command line would take, so one parser serves both.
public enum SweepFile {
    public static let keys: Set<String> = [
        "protocols", "nodes", "n", "w", "r", "clients", "rate", "arrival", "client-processes", "read-ratio", "value-size",
        "keys", "distribution", "drop", "duplicate", "set", "repeat", "duration", "warmup", "seed", "allocator",
        "resilience", "workload", "crash", "restart", "partition", "delay", "skew", "drift", "slow-disk",
    ]

    public static func load(_ path: String) throws(SweepError) -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SweepError("cannot read sweep file \(path): \((error as NSError).localizedDescription)")
        }
        return try parse(text, name: path)
    }

    public static func parse(_ text: String, name: String = "sweep file") throws(SweepError) -> [String: String] {
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw SweepError("\(name) is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let mapping = node as? [String: Any] else { throw SweepError("\(name): expected a mapping of option names to values") }
        var values: [String: String] = [:]
        for (key, value) in mapping {
            guard keys.contains(key) else { throw SweepError("\(name): unknown key '\(key)'") }
            if key == "set" {
                guard let settings = value as? [String: Any] else { throw SweepError("\(name): 'set' must map setting names to values") }
                values["set"] = try settings.keys.sorted().map { k throws(SweepError) in "\(k)=\(try SweepFile.text(of: settings[k]!, key: "set.\(k)", in: name))" }
                    .joined(separator: ";")
            } else {
                values[key] = try SweepFile.text(of: value, key: key, in: name)
            }
        }
        return values
    }

    static func text(of value: Any, key: String, in name: String) throws(SweepError) -> String {
        if let list = value as? [Any] {
            guard !list.isEmpty else { throw SweepError("\(name): '\(key)' is an empty list") }
            return try list.map { item throws(SweepError) in try scalar(item, key: key, in: name) }.joined(separator: ",")
        }
        return try scalar(value, key: key, in: name)
    }

    static func scalar(_ value: Any, key: String, in name: String) throws(SweepError) -> String {
        switch value {
        case let v as String: return v
        case let v as Int: return "\(v)"
        case let v as Double: return "\(v)"
        case let v as Bool: return "\(v)"
        default: throw SweepError("\(name): '\(key)' must be a scalar or a list of scalars")
        }
    }
}
