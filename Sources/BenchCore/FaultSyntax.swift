/// The readable fault syntax of the command line and sweep files, parsed into `FaultSchedule`:
///
///     --delay 1ms~0.5ms              extra one-way delay 1 ms, jitter ±0.5 ms
///     --crash leader@2s              crash the leader 2 s into the measurement (also follower, random, or a node id);
///                                    several: leader@2s,3@5s
///     --restart 4s                   restart each crashed node 4 s after its crash (@6s: at 6 s)
///     --partition minority@3s-8s     cut a random minority off from 3 s to 8 s; shapes: minority, leader
///                                    (the leader alone), leader-minority (the leader and a minority),
///                                    bridge, or explicit sides 1+2|3+4+5
///     --skew 50ms                    each node's clock off by a fixed offset within ±50 ms
///     --drift 100                    and running fast or slow by up to 100 parts per million
///     --slow-disk 2ms                every disk sync takes 2 ms longer
///
/// Times are measured from the start of the measurement window (after warm-up).
public enum FaultSyntax {
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    static func fail(_ message: String) -> ParseError { ParseError(message: message) }

    /// `1ms~0.5ms` or `1ms`.
    public static func delay(_ text: String) throws(ParseError) -> (delay: Duration, jitter: Duration) {
        let parts = text.split(separator: "~", omittingEmptySubsequences: false)
        guard parts.count <= 2, let delay = Duration(parsing: parts[0]) else { throw fail("--delay '\(text)': expected a duration like 1ms or 1ms~0.5ms") }
        var jitter = Duration.zero
        if parts.count == 2 {
            guard let j = Duration(parsing: parts[1]) else { throw fail("--delay '\(text)': the jitter after ~ is not a duration") }
            jitter = j
        }
        return (delay, jitter)
    }

    static func selector(_ text: Substring, option: String) throws(ParseError) -> NodeSelector {
        switch text {
        case "leader": return .leader
        case "follower": return .follower
        case "random", "any": return .random
        default:
            guard let id = UInt32(text), id >= 1 else { throw fail("--\(option): '\(text)' is not leader, follower, random or a node id") }
            return .node(NodeID(id))
        }
    }

    static func time(_ text: Substring, option: String) throws(ParseError) -> Duration {
        guard let d = Duration(parsing: text) else { throw fail("--\(option): '\(text)' is not a time like 2s") }
        return d
    }

    /// `leader@2s,3@5s` → crash events.
    public static func crashes(_ text: String) throws(ParseError) -> [TimedFault] {
        try text.split(separator: ",").map { item throws(ParseError) in
            let parts = item.split(separator: "@")
            guard parts.count == 2 else { throw fail("--crash '\(item)': expected target@time, like leader@2s") }
            return TimedFault(at: try time(parts[1], option: "crash"), .crash(try selector(parts[0], option: "crash")))
        }
    }

    /// `4s` (after each crash) or `@6s` (absolute) → restart events for the given crashes.
    public static func restarts(_ text: String, after crashes: [TimedFault]) throws(ParseError) -> [TimedFault] {
        if text.hasPrefix("@") {
            return [TimedFault(at: try time(text.dropFirst(), option: "restart"), .restartAll)]
        }
        let delay = try time(Substring(text), option: "restart")
        return crashes.map { TimedFault(at: $0.at + delay, .restart(.random)) }
    }

    /// `minority@3s-8s` → a partition and its heal.
    public static func partitions(_ text: String) throws(ParseError) -> [TimedFault] {
        var events: [TimedFault] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "@")
            guard parts.count == 2 else { throw fail("--partition '\(item)': expected shape@start-end, like minority@3s-8s") }
            let window = parts[1].split(separator: "-")
            guard window.count == 2 else { throw fail("--partition '\(item)': expected a window start-end, like 3s-8s") }
            let start = try time(window[0], option: "partition")
            let end = try time(window[1], option: "partition")
            guard end > start else { throw fail("--partition '\(item)': the window ends before it starts") }
            let shape: PartitionShape
            switch parts[0] {
            case "minority": shape = .minority
            case "leader": shape = .isolate(.leader)
            case "leader-minority", "majority": shape = .leaderInMinority
            case "bridge": shape = .bridge
            default:
                let sides = parts[0].split(separator: "|").map { side in side.split(separator: "+").compactMap { UInt32($0) }.map { NodeID($0) } }
                guard sides.count >= 2, sides.allSatisfy({ !$0.isEmpty }) else {
                    throw fail("--partition '\(parts[0])': expected minority, leader, leader-minority, bridge or sides like 1+2|3+4+5")
                }
                shape = .sides(sides)
            }
            events.append(TimedFault(at: start, .partition(shape)))
            events.append(TimedFault(at: end, .heal))
        }
        return events
    }

    /// Builds a schedule from the options' texts (nil: not given).
    public static func schedule(delay: String?, crash: String?, restart: String?, partition: String?,
                                skew: String?, drift: String?, slowDisk: String?) throws(ParseError) -> FaultSchedule {
        var schedule = FaultSchedule()
        if let delay {
            let parsed = try Self.delay(delay)
            schedule.extraDelay = parsed.delay
            schedule.extraDelayJitter = parsed.jitter
        }
        var events: [TimedFault] = []
        if let crash {
            let crashes = try crashes(crash)
            events += crashes
            if let restart { events += try restarts(restart, after: crashes) }
        } else if restart != nil {
            throw fail("--restart needs --crash")
        }
        if let partition { events += try partitions(partition) }
        if let skew {
            guard let d = Duration(parsing: skew) else { throw fail("--skew '\(skew)': expected a duration like 50ms") }
            schedule.clockSkewMax = d
        }
        if let drift {
            guard let ppm = Double(drift.hasSuffix("ppm") ? String(drift.dropLast(3)) : drift), ppm >= 0, ppm < 100_000 else {
                throw fail("--drift '\(drift)': expected parts per million, like 100")
            }
            schedule.clockDriftPPM = ppm
        }
        if let slowDisk {
            guard let d = Duration(parsing: slowDisk) else { throw fail("--slow-disk '\(slowDisk)': expected a duration like 2ms") }
            schedule.slowDisk = d
        }
        schedule.events = events.sorted { $0.at < $1.at }
        return schedule
    }
}

/// A fault schedule made concrete for one run: random choices (which minority, which random node,
/// each node's clock offset) drawn from the run's seed by a generator of their own, so the
/// simulator and a real run with the same schedule and seed inject the same faults. Choices that
/// depend on the run's state (the leader at that moment) stay symbolic until they fire.
public struct FaultPlan: Hashable, Sendable {
    public struct Step: Hashable, Sendable, CustomStringConvertible {
        /// From the start of the measurement window.
        public var at: Duration
        public var action: FaultAction
        public var description: String { "\(action)@\(at)" }
    }

    public var steps: [Step]
    /// Each node's clock offset (true time + offset), in node order.
    public var clockOffsets: [Duration]
    /// Each node's clock rate error in parts per million, in node order.
    public var clockDriftsPPM: [Double]

    public init(schedule: FaultSchedule, nodes: Int, seed: UInt64) {
        var random = SeededGenerator(seed: seed ^ 0xFA17_5EED)
        var steps: [Step] = []
        for event in schedule.events.sorted(by: { $0.at < $1.at }) {
            var action = event.action
            switch action {
            case .crash(.random): action = .crash(.node(NodeID(UInt32(1 + random.next() % UInt64(nodes)))))
            case .partition(.minority):
                let size = (nodes - 1) / 2
                var order = Array(1...max(nodes, 1))
                for k in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(k, Int(random.next() % UInt64(k + 1))) }
                let minority = order.prefix(size).sorted().map { NodeID(UInt32($0)) }
                action = size > 0 ? .partition(.sides([minority])) : .heal
            default: break
            }
            steps.append(Step(at: event.at, action: action))
        }
        self.steps = steps
        let skew = schedule.clockSkewMax.nanoseconds
        clockOffsets = (0..<nodes).map { _ in skew > 0 ? .nanoseconds(Int64(random.next() % UInt64(2 * skew + 1)) - skew) : .zero }
        clockDriftsPPM = (0..<nodes).map { _ in schedule.clockDriftPPM > 0 ? (random.nextUnit() * 2 - 1) * schedule.clockDriftPPM : 0 }
    }
}

/// A fault as it was carried out: what, when (from the start of the measurement window, in the
/// run's clock), and on which nodes. Both modes log these, so a test can compare them.
public struct InjectedFault: Hashable, Sendable, CustomStringConvertible {
    public var at: Duration
    public var action: String
    public var nodes: [NodeID]
    public init(at: Duration, action: String, nodes: [NodeID]) {
        self.at = at
        self.action = action
        self.nodes = nodes
    }
    public var description: String { "\(action)(\(nodes.map { "\($0.rawValue)" }.joined(separator: ",")))@\(at)" }
}

/// A partition as node groups, with the rule both modes use to decide who can talk to whom.
public struct PartitionSides: Hashable, Sendable {
    /// side[i]: node index i's side (0 = the main side).
    public var side: [Int]
    /// A node index that reaches every side (a bridge), if any.
    public var bridge: Int?

    /// The node indices cut off from the main side (for logs).
    public var cut: [Int] { side.indices.filter { side[$0] != 0 } }

    public func separated(_ i: Int, _ j: Int) -> Bool {
        side[i] != side[j] && i != bridge && j != bridge
    }
}

extension PartitionShape {
    /// The sides this shape makes of `nodes` nodes (indices 0..<nodes) given the current leader's
    /// index; nil when the shape cannot apply (no leader to isolate, too few nodes). `.minority`
    /// must have been made concrete by a `FaultPlan` (it is then `.sides`).
    public static func sides(of shape: PartitionShape, nodes n: Int, leader: Int?) -> PartitionSides? {
        var side = Array(repeating: 0, count: n)
        var bridge: Int?
        switch shape {
        case .minority:
            return nil
        case .leaderInMinority:
            guard let leader else { return nil }
            side[leader] = 1
            let others = (0..<n).filter { $0 != leader }
            for i in others.prefix(max(0, (n - 1) / 2 - 1)) { side[i] = 1 }
        case .isolate(.leader):
            guard let leader else { return nil }
            side[leader] = 1
        case let .isolate(.node(id)):
            let i = Int(id.rawValue) - 1
            guard (0..<n).contains(i) else { return nil }
            side[i] = 1
        case .isolate:
            // A follower or a random node: the lowest-id node that does not lead.
            guard let i = (0..<n).first(where: { $0 != leader }) else { return nil }
            side[i] = 1
        case .bridge:
            guard n >= 3 else { return nil }
            bridge = n - 1
            for i in 0..<(n - 1) { side[i] = i < (n - 1) / 2 ? 1 : 2 }
        case let .sides(groups):
            for (k, group) in groups.enumerated() {
                for id in group where (0..<n).contains(Int(id.rawValue) - 1) { side[Int(id.rawValue) - 1] = k + 1 }
            }
        }
        return PartitionSides(side: side, bridge: bridge)
    }
}
