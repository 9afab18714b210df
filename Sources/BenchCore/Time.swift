/// A point in time, in nanoseconds since an arbitrary origin (the simulator's start, or a
/// process's monotonic clock). Protocols receive it as an argument and never read a clock.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)
    /// Later than any instant a run reaches; used for "never" deadlines.
    public static let distantFuture = Instant(nanoseconds: Int64.max / 2)

    @inlinable public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: Instant, d: Duration) -> Instant { Instant(nanoseconds: a.nanoseconds + d.nanoseconds) }
    @inlinable public static func - (a: Instant, d: Duration) -> Instant { Instant(nanoseconds: a.nanoseconds - d.nanoseconds) }
    @inlinable public static func - (a: Instant, b: Instant) -> Duration { Duration(nanoseconds: a.nanoseconds - b.nanoseconds) }
    @inlinable public static func += (a: inout Instant, d: Duration) { a.nanoseconds += d.nanoseconds }

    public var description: String { Duration(nanoseconds: nanoseconds).description }
}

/// A length of time in nanoseconds. Plain integer arithmetic: no floating point, no clock.
public struct Duration: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = Duration(nanoseconds: 0)
    @inlinable public static func nanoseconds(_ n: Int64) -> Duration { Duration(nanoseconds: n) }
    @inlinable public static func microseconds(_ n: Int64) -> Duration { Duration(nanoseconds: n * 1_000) }
    @inlinable public static func milliseconds(_ n: Int64) -> Duration { Duration(nanoseconds: n * 1_000_000) }
    @inlinable public static func seconds(_ n: Int64) -> Duration { Duration(nanoseconds: n * 1_000_000_000) }
    @inlinable public init(seconds s: Double) { self.nanoseconds = Int64((s * 1e9).rounded()) }

    @inlinable public var microseconds: Double { Double(nanoseconds) / 1e3 }
    @inlinable public var milliseconds: Double { Double(nanoseconds) / 1e6 }
    @inlinable public var seconds: Double { Double(nanoseconds) / 1e9 }

    @inlinable public static func < (a: Duration, b: Duration) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: Duration, b: Duration) -> Duration { Duration(nanoseconds: a.nanoseconds + b.nanoseconds) }
    @inlinable public static func - (a: Duration, b: Duration) -> Duration { Duration(nanoseconds: a.nanoseconds - b.nanoseconds) }
    @inlinable public static func * (a: Duration, k: Int64) -> Duration { Duration(nanoseconds: a.nanoseconds * k) }
    @inlinable public static func / (a: Duration, k: Int64) -> Duration { Duration(nanoseconds: a.nanoseconds / k) }

    /// Renders the largest unit that keeps the number readable: `1.5s`, `250ms`, `40us`, `12ns`.
    public var description: String {
        let n = nanoseconds
        let magnitude = n.magnitude
        func fmt(_ value: Int64, _ unit: Int64, _ suffix: String) -> String {
            if value % unit == 0 { return "\(value / unit)\(suffix)" }
            let x = Double(value) / Double(unit)
            return "\((x * 1000).rounded() / 1000)\(suffix)"
        }
        if magnitude >= 1_000_000_000 { return fmt(n, 1_000_000_000, "s") }
        if magnitude >= 1_000_000 { return fmt(n, 1_000_000, "ms") }
        if magnitude >= 1_000 { return fmt(n, 1_000, "us") }
        return "\(n)ns"
    }

    /// Parses `250ms`, `2s`, `1.5s`, `40us`, `100ns`, `1m`. A bare number is seconds.
    public init?(parsing text: Substring) {
        let text = text.trimmingSpaces
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9)]
        var number = text
        var scale = 1e9
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale < 9e18 else { return nil }
        self.nanoseconds = Int64((value * scale).rounded())
    }

    public init?(parsing text: String) { self.init(parsing: Substring(text)) }
}

extension Substring {
    @usableFromInline var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
