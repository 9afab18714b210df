import BenchCore

extension Quorum {
    /// One key as a replica stores it, for end-of-run checks.
    public struct InspectedRecord: Hashable, Sendable {
        public var key: Key
        public var version: Version
        /// The stored value's tag (`Value.tag`): which client write it came from.
        public var valueTag: UInt64
        /// When the version arrived at this replica (its local clock).
        public var storedAt: Instant

        public init(key: Key, version: Version, valueTag: UInt64, storedAt: Instant) {
            self.key = key
            self.version = version
            self.valueTag = valueTag
            self.storedAt = storedAt
        }
    }

    /// What one replica stores, with what a checker needs to recompute every key's replicas (the
    /// ring's members, virtual nodes and N). A node's `inspection()` bytes decode to this.
    public struct Inspection: Hashable, Sendable {
        public var node: NodeID
        public var members: [NodeID]
        public var n: Int
        public var virtualNodes: Int
        public var hintCount: Int
        /// Sorted by key.
        public var records: [InspectedRecord]

        public init(node: NodeID, members: [NodeID], n: Int, virtualNodes: Int, hintCount: Int, records: [InspectedRecord]) {
            self.node = node
            self.members = members
            self.n = n
            self.virtualNodes = virtualNodes
            self.hintCount = hintCount
            self.records = records
        }
    }

    /// Whether the replicas of every key agree, from the replicas' own stores.
    public struct ConvergenceReport: Hashable, Sendable {
        /// A key whose N replicas all hold the same version.
        public struct ConvergedKey: Hashable, Sendable {
            public var key: Key
            public var version: Version
            public var valueTag: UInt64
            /// When the last of its replicas stored that version (local clocks).
            public var lastStoredAt: Instant
        }

        /// Keys some replica stores.
        public var keyCount = 0
        public var converged: [ConvergedKey] = []
        /// Keys whose replicas disagree (a replica lacks the key or holds another version), sorted.
        public var divergentKeys: [Key] = []
        /// Keys with a replica that could not be inspected (down, or did not answer).
        public var uncheckedKeyCount = 0
        /// Hints still waiting for their home replicas (sloppy quorums).
        public var hintsPending = 0

        /// True when every checked key's replicas agree.
        public var isConverged: Bool { divergentKeys.isEmpty }

        /// How long each converged key's final version took to reach its last replica: from the
        /// completion of the client write that carried its tag when `completedAt` knows it, or else
        /// from the version's creation at its coordinator (the version's physical time). Never negative.
        public func lags(completedAt: (UInt64) -> Instant?) -> [Duration] {
            converged.compactMap { key -> Duration? in
                guard key.version > .zero else { return nil }
                let start = completedAt(key.valueTag) ?? Instant(nanoseconds: key.version.wallNanos)
                return max(.zero, key.lastStoredAt - start)
            }.sorted()
        }
    }

    /// Checks convergence over the replicas at the end of a run (nil: a replica that could not be
    /// inspected): for every key any replica stores, whether all of its N replicas (recomputed
    /// from the ring, so a checker trusts no replica's idea of who replicates what) hold the same
    /// version. Hints are not stores: a key is converged only once its home replicas agree.
    public static func convergence(_ inspections: [Inspection?]) -> ConvergenceReport {
        var report = ConvergenceReport()
        let present = inspections.compactMap { $0 }
        guard let reference = present.first else { return report }
        let ring = Ring(members: reference.members, virtualNodes: reference.virtualNodes)
        var byNode: [NodeID: [Key: InspectedRecord]] = [:]
        var allKeys = Set<Key>()
        for inspection in present {
            var records: [Key: InspectedRecord] = [:]
            for record in inspection.records {
                records[record.key] = record
                allKeys.insert(record.key)
            }
            byNode[inspection.node] = records
            report.hintsPending += inspection.hintCount
        }
        report.keyCount = allKeys.count
        for key in allKeys.sorted() {
            let homes = ring.preferenceList(for: key, n: reference.n)
            guard homes.allSatisfy({ byNode[$0] != nil }) else {
                report.uncheckedKeyCount += 1
                continue
            }
            let copies = homes.map { byNode[$0]![key] }
            guard let first = copies[0], copies.allSatisfy({ $0?.version == first.version }) else {
                report.divergentKeys.append(key)
                continue
            }
            let lastStoredAt = copies.compactMap { $0?.storedAt }.max()!
            report.converged.append(.init(key: key, version: first.version, valueTag: first.valueTag, lastStoredAt: lastStoredAt))
        }
        return report
    }

    /// Convergence figures for the results: `convergence_p50_ms` and `convergence_max_ms` (over the
    /// keys whose replicas agree, see `ConvergenceReport.lags`), `divergent_keys`, `unchecked_keys`.
    public static func convergenceMetrics(_ inspections: [Inspection?], completedAt: (UInt64) -> Instant?) -> [String: Double] {
        let report = convergence(inspections)
        let lags = report.lags(completedAt: completedAt)
        var metrics: [String: Double] = [
            "divergent_keys": Double(report.divergentKeys.count),
            "unchecked_keys": Double(report.uncheckedKeyCount),
        ]
        if !lags.isEmpty {
            metrics["convergence_p50_ms"] = lags[(lags.count - 1) / 2].milliseconds
            metrics["convergence_max_ms"] = lags.last!.milliseconds
        }
        return metrics
    }
}

extension Quorum.InspectedRecord: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.write(key); writer.write(version); writer.write(valueTag); writer.write(storedAt)
    }
    public init(from reader: inout WireReader) throws {
        self.init(key: try reader.readUInt64(), version: try reader.read(Quorum.Version.self), valueTag: try reader.readUInt64(),
                  storedAt: try reader.read(Instant.self))
    }
}

extension Quorum.Inspection: WireCodable {
    static let formatVersion: UInt8 = 1

    public func encode(to writer: inout WireWriter) {
        writer.write(Self.formatVersion)
        writer.write(node)
        writer.write(UInt32(n)); writer.write(UInt32(virtualNodes)); writer.write(UInt32(hintCount))
        writer.write(members)
        writer.write(records)
    }

    public init(from reader: inout WireReader) throws {
        let format = try reader.readUInt8()
        guard format == Self.formatVersion else { throw WireError.invalidTag(format, type: "Quorum.Inspection") }
        let node = try reader.read(NodeID.self)
        let n = Int(try reader.readUInt32())
        let virtualNodes = Int(try reader.readUInt32())
        let hintCount = Int(try reader.readUInt32())
        let members = try reader.readArray(NodeID.self, minimumSize: 4, limit: 1 << 16)
        guard !members.isEmpty, zip(members, members.dropFirst()).allSatisfy({ $0 < $1 }), members.contains(node) else {
            throw WireError.invalidValue("inspection members must be sorted, distinct and include the node")
        }
        guard (1...members.count).contains(n), (1...1_024).contains(virtualNodes) else {
            throw WireError.invalidValue("inspection n=\(n) vnodes=\(virtualNodes) for \(members.count) members")
        }
        let records = try reader.readArray(Quorum.InspectedRecord.self, minimumSize: 40, limit: 1 << 24)
        self.init(node: node, members: members, n: n, virtualNodes: virtualNodes, hintCount: hintCount, records: records)
    }
}
