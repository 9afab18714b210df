/// The replicated state machine: a map from keys to values with one session per client, so a
/// retried write (same client, same seq) is applied at most once and answered the same way again.
public struct KeyValueStore: Sendable {
    public private(set) var data: [Key: Value] = [:]
    private var sessions: [ClientID: Session] = [:]

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
        let outcome = execute(request.command)
        sessions[request.client] = Session(lastSeq: request.seq, lastOutcome: outcome)
        return outcome
    }

    /// Executes a command without session bookkeeping (reads served outside the log, and protocols
    /// that keep their own deduplication).
    public mutating func execute(_ command: Command) -> Outcome {
        switch command {
        case let .get(key):
            return .ok(data[key])
        case let .put(key, value):
            data[key] = value
            return .ok(nil)
        case let .compareAndSet(key, expected, new):
            let current = data[key]
            guard current == expected else { return .compareFailed(current: current) }
            data[key] = new
            return .ok(nil)
        }
    }

    /// The value a linearizable read returns once the caller has established that this replica's
    /// applied state is current.
    @inlinable public func read(_ key: Key) -> Value? { data[key] }

    /// The number of keys stored.
    public var count: Int { data.count }
}
