import BenchCore

/// A simulated closed-loop client: a `ClientSession` (the same retry logic the real load
/// generator uses) plus its own random stream and a token that invalidates stale wake-ups.
struct SimClient {
    var session: ClientSession
    var random: SeededGenerator
    /// Wake-ups carry a token; one whose token is stale is ignored.
    var token: UInt64 = 0
    var stopped = false

    init(index: Int, random: inout SeededGenerator, nodes: Int, settings: ClientSession.Settings) {
        var own = SeededGenerator(from: &random)
        let first = Int(own.next() % UInt64(nodes))
        self.random = own
        self.session = ClientSession(id: ClientID(UInt64(index + 1)), nodeCount: nodes, firstTarget: first, settings: settings)
    }
}
