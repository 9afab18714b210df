import BenchCore

extension Gossip.Instance {
    /// Checks what must hold of one node after every step; returns the first violation. Anomalies
    /// the node noticed itself are reported here rather than trapping. Cheap (constant work plus
    /// a full pass only over small stores), because the simulator runs it after every step of
    /// every node, 1,000 nodes included.
    public func invariants() -> String? {
        if let anomaly = anomalies.first { return anomaly }
        if store.keys.count != store.entries.count {
            return "\(id): \(store.keys.count) sorted keys for \(store.entries.count) entries"
        }
        if durableSequence > writeSequence { return "\(id): durable write \(durableSequence) beyond issued \(writeSequence)" }
        if pendingHead > pendingReplies.count { return "\(id): pending head \(pendingHead) beyond \(pendingReplies.count)" }
        if pendingReplies.count - pendingHead > settings.pendingRepliesMax {
            return "\(id): \(pendingReplies.count - pendingHead) puts pending, limit \(settings.pendingRepliesMax)"
        }
        if let last = pendingReplies.last, pendingHead < pendingReplies.count, last.sequence > writeSequence {
            return "\(id): a put waits for write \(last.sequence), never issued (last \(writeSequence))"
        }
        if hot.count > settings.rumorsMax { return "\(id): \(hot.count) hot rumors, limit \(settings.rumorsMax)" }
        if retiredCount < 0 || retiredCount > hot.count { return "\(id): \(retiredCount) retired of \(hot.count) rumors" }
        if hotPosition.count != hot.count { return "\(id): \(hotPosition.count) rumor positions for \(hot.count) rumors" }
        if settings.mode != .rumor && !hot.isEmpty { return "\(id): hot rumors in \(settings.mode.rawValue) mode" }
        for update in recentlyApplied where update.version.time > clock {
            return "\(id): applied version \(update.version) ahead of the clock \(clock)"
        }
        if store.count <= 64 {
            for (a, b) in zip(store.keys, store.keys.dropFirst()) where a >= b { return "\(id): keys out of order \(a), \(b)" }
            for key in store.keys {
                guard let entry = store[key] else { return "\(id): sorted key \(key) has no entry" }
                if entry.version.time > clock { return "\(id): key \(key) holds \(entry.version) ahead of the clock \(clock)" }
            }
            for rumor in hot where !rumor.retired {
                guard let entry = store[rumor.key], entry.version >= rumor.version else {
                    return "\(id): rumor \(rumor.key)@\(rumor.version) newer than the store"
                }
            }
        }
        return nil
    }

    /// Counters for the results; real runs sum them over nodes.
    public var metrics: [String: Double] {
        ["messages_sent": Double(statistics.messagesSent),
         "updates_originated": Double(statistics.updatesOriginated),
         "updates_learned": Double(statistics.updatesLearned),
         "rumors_active": Double(activeRumorCount),
         "rumors_retired": Double(statistics.rumorsRetired)]
    }

    /// The versions this node holds, for convergence checks of real runs (`Gossip.Inspection`).
    public func inspection() -> [UInt8] {
        Gossip.Inspection(node: id, messagesSent: UInt64(statistics.messagesSent),
                          updatesOriginated: UInt64(statistics.updatesOriginated),
                          held: store.keys.map { key in
                              let entry = store[key]!
                              return Gossip.Inspection.Held(key: key, version: entry.version, tag: entry.value.tag)
                          }).encodedBytes()
    }
}

extension Gossip {
    /// What a node reports about itself at the end of a real run: per key, the version it holds
    /// and the value's tag, with its message and update counters.
    public struct Inspection: Hashable, Sendable, WireCodable {
        public struct Held: Hashable, Sendable {
            public var key: Key
            public var version: Version
            public var tag: UInt64
            public init(key: Key, version: Version, tag: UInt64) {
                self.key = key
                self.version = version
                self.tag = tag
            }
        }

        public var node: NodeID
        public var messagesSent: UInt64
        public var updatesOriginated: UInt64
        /// Sorted by key.
        public var held: [Held]

        public init(node: NodeID, messagesSent: UInt64, updatesOriginated: UInt64, held: [Held]) {
            self.node = node
            self.messagesSent = messagesSent
            self.updatesOriginated = updatesOriginated
            self.held = held
        }

        static let formatVersion: UInt8 = 1

        public func encode(to w: inout WireWriter) {
            w.write(Self.formatVersion); w.write(node); w.write(messagesSent); w.write(updatesOriginated)
            w.write(UInt32(held.count))
            for line in held { w.write(line.key); w.write(line.version); w.write(line.tag) }
        }

        public init(from r: inout WireReader) throws {
            let format = try r.readUInt8()
            guard format == Self.formatVersion else { throw WireError.invalidTag(format, type: "Gossip.Inspection") }
            node = try r.read(NodeID.self)
            messagesSent = try r.readUInt64()
            updatesOriginated = try r.readUInt64()
            let count = Int(try r.readUInt32())
            guard count * 28 <= r.remaining else { throw WireError.truncated(needed: count * 28, available: r.remaining) }
            held = []
            held.reserveCapacity(count)
            for _ in 0..<count {
                held.append(Held(key: try r.readUInt64(), version: try r.read(Version.self), tag: try r.readUInt64()))
            }
        }

        /// Figures over the inspections of every node of a real run (nil: the node did not
        /// answer): `diverged_keys` (keys on which the answering nodes did not all hold the same
        /// version at the end — in-flight writes make a few expected), `messages_per_update`,
        /// `inspected_nodes`; and a line per inspection that did not decode.
        public static func summarize(_ inspections: [[UInt8]?]) -> (metrics: [String: Double], problems: [String]) {
            var decoded: [Inspection] = []
            var problems: [String] = []
            for (position, bytes) in inspections.enumerated() {
                guard let bytes else { continue }
                do { decoded.append(try Inspection(decoding: bytes)) } catch {
                    problems.append("node #\(position + 1): inspection does not decode (\(error))")
                }
            }
            var versions: [Key: Version] = [:]
            var diverged: Set<Key> = []
            var keyCount: [Key: Int] = [:]
            for inspection in decoded {
                for line in inspection.held {
                    keyCount[line.key, default: 0] += 1
                    if let seen = versions[line.key], seen != line.version { diverged.insert(line.key) }
                    versions[line.key] = versions[line.key] ?? line.version
                }
            }
            // A key some node lacks entirely has diverged too.
            for (key, count) in keyCount where count < decoded.count { diverged.insert(key) }
            let messages = decoded.reduce(0) { $0 + $1.messagesSent }
            let updates = decoded.reduce(0) { $0 + $1.updatesOriginated }
            return (["diverged_keys": Double(diverged.count),
                     "messages_per_update": updates == 0 ? 0 : Double(messages) / Double(updates),
                     "inspected_nodes": Double(decoded.count)], problems)
        }
    }
}
