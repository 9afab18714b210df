/// Parsers for setting values, shared by every protocol's `Settings.set(_:to:)`.
public enum SettingValue {
    public static func duration(_ key: String, _ text: String) throws(SettingError) -> Duration {
        guard let d = Duration(parsing: text) else { throw .invalid(key, text, expected: "a duration like 150ms") }
        return d
    }

    public static func int(_ key: String, _ text: String, in range: ClosedRange<Int> = 0...Int.max) throws(SettingError) -> Int {
        guard let v = Int(text), range.contains(v) else {
            throw .invalid(key, text, expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    public static func double(_ key: String, _ text: String, in range: ClosedRange<Double>) throws(SettingError) -> Double {
        guard let v = Double(text), range.contains(v) else {
            throw .invalid(key, text, expected: "a number in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    public static func bool(_ key: String, _ text: String) throws(SettingError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw .invalid(key, text, expected: "true or false")
        }
    }
}
