import Foundation  // for pow only: BenchCore does no I/O

/// How keys are chosen.
public enum KeyDistribution: Hashable, Sendable, CustomStringConvertible {
    case uniform
    /// Zipfian with skew θ (YCSB uses 0.99); key 0 is the hottest.
    case zipf(theta: Double)
    /// `fraction` of the keys receive `probability` of the accesses.
    case hotspot(fraction: Double, probability: Double)

    public var description: String {
        switch self {
        case .uniform: "uniform"
        case let .zipf(theta): "zipf:\(theta)"
        case let .hotspot(fraction, probability): "hotspot:\(fraction):\(probability)"
        }
    }

    /// Parses `uniform`, `zipf`, `zipf:0.8`, `hotspot`, `hotspot:0.01:0.9`.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: ":").map(String.init)
        switch parts.first {
        case "uniform" where parts.count == 1: self = .uniform
        case "zipf":
            let theta = parts.count > 1 ? Double(parts[1]) : 0.99
            guard parts.count <= 2, let theta, theta > 0, theta < 1 else { return nil }
            self = .zipf(theta: theta)
        case "hotspot":
            let fraction = parts.count > 1 ? Double(parts[1]) : 0.01
            let probability = parts.count > 2 ? Double(parts[2]) : 0.9
            guard parts.count <= 3, let fraction, let probability, fraction > 0, fraction < 1,
                  probability >= 0, probability <= 1 else { return nil }
            self = .hotspot(fraction: fraction, probability: probability)
        default: return nil
        }
    }
}

/// Which kind of operations a workload issues.
public enum WorkloadKind: Hashable, Sendable, CustomStringConvertible {
    /// Gets and puts on keys (`readRatio` of them gets).
    case keyValue
    /// Bank transfers: each transaction moves money between `accountsPerTransaction` distinct
    /// accounts (the keys), so the bank's total never changes; `readRatio` of the operations read
    /// that many balances as one snapshot.
    case bank(accountsPerTransaction: Int)
    /// A lock service: each client acquires one of a few locks with a lease, renews it while it
    /// holds it and releases it (driven by `LockClient`; the keys are the locks).
    case locks(LockWorkload)

    public var description: String {
        switch self {
        case .keyValue: "kv"
        case let .bank(k): "bank:\(k)"
        case let .locks(workload): workload.description
        }
    }

    /// The lock workload's knobs, if this is one.
    public var lockWorkload: LockWorkload? {
        if case let .locks(workload) = self { return workload }
        return nil
    }

    /// Parses `kv`, `bank[:k]` or `locks[:count=N][:lease=D][:margin=D][:hold=D][:crash=P]`.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: ":")
        switch parts.first {
        case "kv" where parts.count == 1: self = .keyValue
        case "bank":
            let k = parts.count > 1 ? Int(parts[1]) : 2
            guard parts.count <= 2, let k, k >= 2, k <= 64 else { return nil }
            self = .bank(accountsPerTransaction: k)
        case "locks":
            guard let workload = LockWorkload(parsingFields: parts.dropFirst()) else { return nil }
            self = .locks(workload)
        default: return nil
        }
    }
}

/// What the clients ask for: the same description drives simulated and real clients.
public struct WorkloadSpec: Hashable, Sendable {
    public var kind: WorkloadKind = .keyValue
    public var keys: Int = 1_000
    public var distribution: KeyDistribution = .uniform
    /// The share of operations that are gets.
    public var readRatio: Double = 0.5
    public var valueSize: Int = 64

    public init(keys: Int = 1_000, distribution: KeyDistribution = .uniform, readRatio: Double = 0.5, valueSize: Int = 64,
                kind: WorkloadKind = .keyValue) {
        self.kind = kind
        self.keys = keys
        self.distribution = distribution
        self.readRatio = readRatio
        self.valueSize = valueSize
    }
}

/// Draws keys and commands for one client from a seeded generator.
public struct WorkloadGenerator: Sendable {
    public let spec: WorkloadSpec
    private let zipf: ZipfSampler?

    public init(spec: WorkloadSpec) {
        precondition(spec.keys >= 1, "a workload needs at least one key")
        precondition((0...1).contains(spec.readRatio), "read ratio is a probability")
        self.spec = spec
        if case let .zipf(theta) = spec.distribution {
            zipf = ZipfSampler(count: spec.keys, theta: theta)
        } else {
            zipf = nil
        }
    }

    public func nextKey(_ random: inout SeededGenerator) -> Key {
        let n = UInt64(spec.keys)
        switch spec.distribution {
        case .uniform:
            return random.next() % n
        case .zipf:
            return zipf!.sample(&random)
        case let .hotspot(fraction, probability):
            let hot = max(1, UInt64(Double(n) * fraction))
            if random.chance(probability) || hot >= n { return random.next() % hot }
            return hot + random.next() % (n - hot)
        }
    }

    /// The next command; a write carries a value tagged `tag` (unique per client operation).
    public func nextCommand(tag: UInt64, _ random: inout SeededGenerator) -> Command {
        switch spec.kind {
        case .keyValue:
            let key = nextKey(&random)
            if random.chance(spec.readRatio) { return .get(key: key) }
            return .put(key: key, value: Value(tag: tag, size: spec.valueSize))
        case let .bank(k):
            // k distinct accounts (fewer if the bank is smaller).
            var accounts: [Key] = []
            let wanted = min(k, spec.keys)
            while accounts.count < wanted {
                let account = nextKey(&random)
                if !accounts.contains(account) { accounts.append(account) }
            }
            if random.chance(spec.readRatio) { return .readBalances(accounts) }
            // One account pays each of the others the same small amount: the deltas sum to zero.
            let amount = Int64(1 + random.next() % 10)
            var deltas = [AccountDelta(account: accounts[0], amount: -amount * Int64(accounts.count - 1))]
            for account in accounts.dropFirst() { deltas.append(AccountDelta(account: account, amount: amount)) }
            return .transaction(deltas)
        case let .locks(workload):
            // Drivers that run the lock protocol ask a `LockClient`; this is a bare acquisition
            // for drivers that do not (and for tests of the command mix).
            return .acquireLock(lock: Key(random.next() % UInt64(workload.locks)), lease: workload.lease, stamp: .zero)
        }
    }
}

/// Zipfian sampler after Gray et al., "Quickly Generating Billion-Record Synthetic Databases"
/// (SIGMOD 1994), the method YCSB uses. O(n) set-up (the zeta sum), O(1) per sample.
public struct ZipfSampler: Sendable {
    let count: UInt64
    let theta: Double
    let alpha: Double
    let zetaN: Double
    let eta: Double
    let halfPowTheta: Double

    public init(count: Int, theta: Double) {
        precondition(count >= 1 && theta > 0 && theta < 1, "zipf needs count >= 1 and 0 < theta < 1")
        self.count = UInt64(count)
        self.theta = theta
        var zeta = 0.0
        for i in 1...count { zeta += 1 / pow(Double(i), theta) }
        let zeta2 = 1 + 1 / pow(2, theta)
        zetaN = zeta
        alpha = 1 / (1 - theta)
        eta = (1 - pow(2 / Double(count), 1 - theta)) / (1 - zeta2 / zeta)
        halfPowTheta = 1 + pow(0.5, theta)
    }

    public func sample(_ random: inout SeededGenerator) -> UInt64 {
        let u = random.nextUnit()
        let uz = u * zetaN
        if uz < 1 { return 0 }
        if uz < halfPowTheta { return min(1, count - 1) }
        let rank = UInt64(Double(count) * pow(eta * u - eta + 1, alpha))
        return min(rank, count - 1)
    }
}
