/// The replicated state machine: a map from keys to values with one session per client, so a
/// retried write (same client, same seq) is applied at most once and answered the same way again.
public struct KeyValueStore: Sendable {
    public private(set) var data: [Key: Value] = [:]
    /// Bank balances; an account never written holds `initialBalance`.
    public private(set) var balances: [Key: Int64] = [:]
    /// Lock table: holder and expiry (in the clock of the replica that ordered the grant).
    public private(set) var locks: [Key: (holder: ClientID, expiry: Instant)] = [:]
    private var sessions: [ClientID: Session] = [:]

    /// Every account starts with this balance, so the bank's total is known without a set-up phase.
    public static let initialBalance: Int64 = 1_000

    struct Session: Sendable {
        var lastSeq: UInt64
        var lastOutcome: Outcome
    }

    public init() {}

    /// Applies a command that was committed to the log. A request whose seq is not newer than the
    /// client's last applied one is not applied again: the same seq gets the remembered outcome,
    /// an older one (a retry the client already gave up on) is answered `.unknown`.
    public mutating func apply(_ request: ClientRequest) -> Outcome {
        if let session = sessions[request.client], request.seq <= session.lastSeq {
            return request.seq == session.lastSeq ? session.lastOutcome : .unknown
        }
        let outcome = execute(request.command, client: request.client)
        sessions[request.client] = Session(lastSeq: request.seq, lastOutcome: outcome)
        return outcome
    }

    /// Executes a command without session bookkeeping (reads served outside the log, and protocols
    /// that keep their own deduplication).
    public mutating func execute(_ command: Command, client: ClientID = ClientID(0)) -> Outcome {
        switch command {
        case let .get(key), let .readLocal(key):
            return .ok(data[key])
        case let .put(key, value):
            data[key] = value
            return .ok(nil)
        case let .compareAndSet(key, expected, new):
            let current = data[key]
            guard current == expected else { return .compareFailed(current: current) }
            data[key] = new
            return .ok(nil)
        case let .transaction(deltas):
            for delta in deltas where balance(delta.account) + delta.amount < 0 { return .aborted }
            for delta in deltas { balances[delta.account] = balance(delta.account) + delta.amount }
            return .ok(nil)
        case let .readBalances(keys):
            return .balances(keys.map(balance))
        case let .acquireLock(lock, lease, stamp):
            if let held = locks[lock], held.holder != client, stamp < held.expiry { return .lockHeld(until: held.expiry) }
            locks[lock] = (client, stamp + lease)
            return .ok(nil)
        case let .releaseLock(lock):
            if locks[lock]?.holder == client { locks[lock] = nil }
            return .ok(nil)
        }
    }

    /// An account's balance.
    @inlinable public func balance(_ account: Key) -> Int64 { balances[account] ?? Self.initialBalance }

    /// The value a linearizable read returns once the caller has established that this replica's
    /// applied state is current.
    @inlinable public func read(_ key: Key) -> Value? { data[key] }

    /// The number of keys stored.
    public var count: Int { data.count }
}
