import BenchCore

extension Quorum {
    /// A put's version: a hybrid logical clock timestamp (physical time, logical counter) with the
    /// coordinating node as the tie-break, so versions are totally ordered and no two puts share
    /// one. The newest version of a key wins (last writer wins). `Version.zero` orders before every
    /// version a clock issues and stands for "absent".
    public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// The physical part: the coordinator's clock (ns), or a later time it had seen.
        public var wallNanos: Int64
        /// Orders versions with the same physical part.
        public var logical: UInt32
        /// The node that issued the version: distinct nodes never issue equal versions.
        public var node: NodeID

        public static let zero = Version(wallNanos: 0, logical: 0, node: NodeID(0))

        @inlinable public init(wallNanos: Int64, logical: UInt32, node: NodeID) {
            self.wallNanos = wallNanos
            self.logical = logical
            self.node = node
        }

        @inlinable public static func < (a: Version, b: Version) -> Bool {
            if a.wallNanos != b.wallNanos { return a.wallNanos < b.wallNanos }
            if a.logical != b.logical { return a.logical < b.logical }
            return a.node < b.node
        }

        public var description: String { "\(wallNanos).\(logical)@\(node.rawValue)" }
    }

    /// A hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical Clocks and Consistent
    /// Snapshots in Globally Distributed Databases", 2014). `tick` stamps a local event (a put this
    /// node coordinates); `observe` merges a version that arrived in a message. Every version
    /// `tick` returns is greater than every version this clock issued or observed before, and its
    /// physical part never falls behind the local clock.
    public struct HybridClock: Hashable, Sendable {
        public private(set) var wallNanos: Int64 = 0
        public private(set) var logical: UInt32 = 0
        public let node: NodeID

        public init(node: NodeID) { self.node = node }

        /// The clock's current reading as a version (not a new stamp).
        public var latest: Version { Version(wallNanos: wallNanos, logical: logical, node: node) }

        /// A new version for a local event at local time `now` (HLC send rule).
        public mutating func tick(now: Instant) -> Version {
            if now.nanoseconds > wallNanos {
                wallNanos = now.nanoseconds
                logical = 0
            } else {
                advanceLogical()
            }
            return latest
        }

        /// Merges a version received at local time `now` (HLC receive rule), so later stamps exceed it.
        public mutating func observe(_ version: Version, now: Instant) {
            let physical = max(wallNanos, version.wallNanos, now.nanoseconds)
            if physical == wallNanos && physical == version.wallNanos {
                logical = max(logical, version.logical)
                advanceLogical()
            } else if physical == wallNanos {
                advanceLogical()
            } else if physical == version.wallNanos {
                wallNanos = physical
                logical = version.logical
                advanceLogical()
            } else {
                wallNanos = physical
                logical = 0
            }
        }

        /// Raises the counter; when it would overflow, moves the physical part one nanosecond on
        /// instead (still monotonic: a version only compares by (wall, logical)).
        mutating func advanceLogical() {
            if logical == .max {
                wallNanos += 1
                logical = 0
            } else {
                logical += 1
            }
        }
    }
}

extension Quorum.Version: WireCodable {
    @inlinable public func encode(to writer: inout WireWriter) {
        writer.write(wallNanos); writer.write(logical); writer.write(node)
    }
    @inlinable public init(from reader: inout WireReader) throws {
        self.init(wallNanos: try reader.readInt64(), logical: try reader.readUInt32(), node: try reader.read(NodeID.self))
    }
}
