/// Which node a fault applies to, resolved when the fault fires (the leader at that moment, say).
public enum NodeSelector: Hashable, Sendable, CustomStringConvertible {
    case node(NodeID)
    case leader
    /// Some follower (a node that is up and not the leader), chosen by the run's seeded generator.
    case follower
    /// Any node that is up, chosen by the run's seeded generator.
    case random

    public var description: String {
        switch self {
        case let .node(id): "\(id.rawValue)"
        case .leader: "leader"
        case .follower: "follower"
        case .random: "random"
        }
    }
}

/// How a partition splits the cluster. Nodes on different sides cannot exchange messages.
public enum PartitionShape: Hashable, Sendable, CustomStringConvertible {
    /// A random minority (at most (n-1)/2 nodes) is cut off from the rest.
    case minority
    /// The leader and a minority around it are cut off: the majority side must elect anew.
    case leaderInMinority
    /// The selected node alone is cut off.
    case isolate(NodeSelector)
    /// Two halves that can both talk to one bridge node but not to each other.
    case bridge
    /// Explicit sides; nodes not listed form one more side.
    case sides([[NodeID]])

    public var description: String {
        switch self {
        case .minority: "minority"
        case .leaderInMinority: "leader-minority"
        case let .isolate(selector): "isolate-\(selector)"
        case .bridge: "bridge"
        case let .sides(sides): sides.map { $0.map { "\($0.rawValue)" }.joined(separator: "+") }.joined(separator: "|")
        }
    }
}

/// One scheduled fault.
public enum FaultAction: Hashable, Sendable, CustomStringConvertible {
    case crash(NodeSelector)
    /// Restart a crashed node (`.random`/`.leader` mean "the node crashed longest ago").
    case restart(NodeSelector)
    case restartAll
    case partition(PartitionShape)
    case heal

    public var description: String {
        switch self {
        case let .crash(s): "crash \(s)"
        case let .restart(s): "restart \(s)"
        case .restartAll: "restart all"
        case let .partition(shape): "partition \(shape)"
        case .heal: "heal"
        }
    }
}

/// A fault at a time measured from the start of the run.
public struct TimedFault: Hashable, Sendable, CustomStringConvertible {
    public var at: Duration
    public var action: FaultAction
    public init(at: Duration, _ action: FaultAction) {
        self.at = at
        self.action = action
    }
    public var description: String { "\(action)@\(at)" }
}

/// The faults of one run, as data shared by the simulator and real runs: the same schedule means
/// the same faults in both. Probabilities apply to every peer message; events fire at their times.
public struct FaultSchedule: Hashable, Sendable, CustomStringConvertible {
    public var dropProbability: Double = 0
    public var duplicateProbability: Double = 0
    /// The probability that a message is held back by up to `reorderWindow`, so later ones overtake it.
    public var reorderProbability: Double = 0
    public var reorderWindow: Duration = .milliseconds(5)
    /// Extra one-way delay and its jitter (uniform in ±jitter) on every peer message.
    public var extraDelay: Duration = .zero
    public var extraDelayJitter: Duration = .zero
    /// Each node's clock runs off true time by a fixed offset within ±clockSkewMax and a rate within
    /// ±clockDriftPPM parts per million.
    public var clockSkewMax: Duration = .zero
    public var clockDriftPPM: Double = 0
    /// Extra time before each disk sync completes (a slow disk).
    public var slowDisk: Duration = .zero
    public var events: [TimedFault] = []

    public init() {}

    public static let none = FaultSchedule()

    public var isFaultFree: Bool {
        dropProbability == 0 && duplicateProbability == 0 && reorderProbability == 0 && events.isEmpty
            && extraDelay == .zero && slowDisk == .zero && clockSkewMax == .zero && clockDriftPPM == 0
    }

    /// The time after which no more scheduled events fire.
    public var lastEventTime: Duration { events.map(\.at).max() ?? .zero }

    public var description: String {
        var parts: [String] = []
        if dropProbability > 0 { parts.append("drop=\(dropProbability)") }
        if duplicateProbability > 0 { parts.append("dup=\(duplicateProbability)") }
        if reorderProbability > 0 { parts.append("reorder=\(reorderProbability)") }
        if extraDelay > .zero || extraDelayJitter > .zero { parts.append("delay=\(extraDelay)~\(extraDelayJitter)") }
        if clockSkewMax > .zero { parts.append("skew=\(clockSkewMax)") }
        if clockDriftPPM > 0 { parts.append("drift=\(clockDriftPPM)ppm") }
        if slowDisk > .zero { parts.append("slow-disk=\(slowDisk)") }
        parts.append(contentsOf: events.map(\.description))
        return parts.isEmpty ? "none" : parts.joined(separator: " ")
    }

    /// A random schedule for simulation tests: crashes and restarts of a minority, partitions of a
    /// minority or of the leader, all within `[0, until)`, followed by a heal and restart of everyone
    /// at `until` so a liveness phase can follow.
    public static func random(nodes: Int, until: Duration, faultCount: Int, random: inout SeededGenerator) -> [TimedFault] {
        precondition(nodes >= 1 && faultCount >= 0 && until > .zero, "bad random schedule parameters")
        var events: [TimedFault] = []
        let span = UInt64(until.nanoseconds)
        for _ in 0..<faultCount {
            let start = Duration(nanoseconds: Int64(random.next() % span))
            let length = Duration(nanoseconds: Int64(random.next() % max(1, span / 4)))
            let end = min(start + length, until)
            switch random.next() % 4 {
            case 0:
                events.append(TimedFault(at: start, .crash(.random)))
                events.append(TimedFault(at: end, .restart(.random)))
            case 1:
                events.append(TimedFault(at: start, .crash(.leader)))
                events.append(TimedFault(at: end, .restart(.random)))
            case 2:
                events.append(TimedFault(at: start, .partition(.minority)))
                events.append(TimedFault(at: end, .heal))
            default:
                events.append(TimedFault(at: start, .partition(.isolate(.leader))))
                events.append(TimedFault(at: end, .heal))
            }
        }
        events.append(TimedFault(at: until, .heal))
        events.append(TimedFault(at: until, .restartAll))
        return events.sorted { $0.at < $1.at }
    }
}
