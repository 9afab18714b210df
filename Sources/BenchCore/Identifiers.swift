/// Identifies one replica in a cluster. Node ids are small positive integers (1, 2, 3, ...).
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var rawValue: UInt32

    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(integerLiteral value: UInt32) { self.rawValue = value }

    @inlinable public static func < (a: NodeID, b: NodeID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "n\(rawValue)" }
}

/// Identifies one client session. The load generator packs the client process and the session
/// inside it into this number, so ids are unique across processes.
public struct ClientID: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var rawValue: UInt64

    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }

    @inlinable public static func < (a: ClientID, b: ClientID) -> Bool { a.rawValue < b.rawValue }

    /// The index of the node this client lives with when the network splits: a client reaches
    /// only the nodes on its home's side of a partition (the simulator and node processes agree
    /// on it, so availability on each side means the same in both modes).
    @inlinable public func homeIndex(nodes: Int) -> Int { Int((rawValue &- 1) % UInt64(max(nodes, 1))) }
    public var description: String { "c\(rawValue)" }
}

/// A leader's term (Raft), epoch (ZAB) or ballot round (Paxos): a number that only grows.
public struct Term: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var rawValue: UInt64

    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }

    public static let zero = Term(0)
    @inlinable public static func < (a: Term, b: Term) -> Bool { a.rawValue < b.rawValue }
    @inlinable public var next: Term { Term(rawValue + 1) }
    public var description: String { "t\(rawValue)" }
}

/// A position in a replicated log. Index 0 is the empty prefix; the first entry has index 1.
public struct LogIndex: Hashable, Comparable, Strideable, Sendable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var rawValue: UInt64

    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(integerLiteral value: UInt64) { self.rawValue = value }

    public static let zero = LogIndex(0)
    @inlinable public static func < (a: LogIndex, b: LogIndex) -> Bool { a.rawValue < b.rawValue }
    @inlinable public func distance(to other: LogIndex) -> Int64 { Int64(bitPattern: other.rawValue &- rawValue) }
    @inlinable public func advanced(by n: Int64) -> LogIndex { LogIndex(UInt64(bitPattern: Int64(bitPattern: rawValue) &+ n)) }
    @inlinable public var next: LogIndex { LogIndex(rawValue + 1) }
    @inlinable public var previous: LogIndex {
        precondition(rawValue > 0, "index 0 has no predecessor")
        return LogIndex(rawValue - 1)
    }
    public var description: String { "i\(rawValue)" }
}
