import BenchCore

extension Quorum {
    /// The consistent-hash ring (Dynamo §4.2): each node owns `virtualNodes` positions (tokens); a
    /// key's replicas are the first distinct nodes met walking clockwise from the key's position.
    ///
    /// The hash is a fixed 64-bit mixer (the SplitMix64 finaliser), not Swift's `Hasher`, whose seed
    /// changes with every process: every node, every run and every checker must compute the same
    /// preference lists from the same members.
    public struct Ring: Hashable, Sendable {
        public let members: [NodeID]
        public let virtualNodes: Int
        /// Tokens sorted by position (ties, vanishingly rare, by node id).
        let tokens: [(position: UInt64, node: NodeID)]

        public static func == (a: Ring, b: Ring) -> Bool { a.members == b.members && a.virtualNodes == b.virtualNodes }
        public func hash(into hasher: inout Hasher) {
            hasher.combine(members)
            hasher.combine(virtualNodes)
        }

        public init(members: [NodeID], virtualNodes: Int) {
            precondition(!members.isEmpty, "a ring needs a node")
            precondition(virtualNodes >= 1, "each node needs a position on the ring")
            self.members = members.sorted()
            self.virtualNodes = virtualNodes
            var tokens: [(position: UInt64, node: NodeID)] = []
            tokens.reserveCapacity(members.count * virtualNodes)
            for node in self.members {
                for v in 0..<virtualNodes {
                    tokens.append((Self.mix(UInt64(node.rawValue) << 32 | UInt64(v), salt: 0x7269_6E67_746F_6B6E), node))
                }
            }
            tokens.sort { $0.position != $1.position ? $0.position < $1.position : $0.node < $1.node }
            self.tokens = tokens
        }

        /// SplitMix64's finaliser over `value ^ salt`: a fixed, well-mixed 64-bit hash.
        @inlinable static func mix(_ value: UInt64, salt: UInt64) -> UInt64 {
            var z = (value ^ salt) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }

        /// Where `key` sits on the ring.
        @inlinable public static func position(of key: Key) -> UInt64 { mix(key, salt: 0x6B65_7973_6B65_7973) }

        /// The first `count` distinct nodes clockwise from `key` (all members when `count` is larger):
        /// the first N are the key's preference list, the rest its fallbacks in order (§4.6).
        public func walk(from key: Key, count: Int) -> [NodeID] {
            let wanted = min(count, members.count)
            var found: [NodeID] = []
            found.reserveCapacity(wanted)
            let position = Self.position(of: key)
            // The first token at or after the key's position (binary search), wrapping at the end.
            var low = 0
            var high = tokens.count
            while low < high {
                let middle = (low + high) / 2
                if tokens[middle].position < position { low = middle + 1 } else { high = middle }
            }
            var step = 0
            // Every node appears among the tokens, so one lap finds `wanted` distinct nodes.
            while found.count < wanted && step < tokens.count {
                let node = tokens[(low + step) % tokens.count].node
                if !found.contains(node) { found.append(node) }
                step += 1
            }
            precondition(found.count == wanted, "one lap of the ring meets every member")
            return found
        }

        /// The key's N replicas.
        @inlinable public func preferenceList(for key: Key, n: Int) -> [NodeID] { walk(from: key, count: n) }

        /// Whether `node` is one of the key's N replicas.
        public func replicates(_ key: Key, node: NodeID, n: Int) -> Bool { preferenceList(for: key, n: n).contains(node) }
    }
}
