import BenchCore

extension MultiPaxos {
    /// One single-decree Paxos run for one slot (basic mode), by the node that proposes in it.
    struct BasicInstance: Sendable {
        enum Phase: Sendable {
            case preparing, accepting, backingOff
        }

        var slot: LogIndex
        /// The command this node wants chosen (nil: a no-op filling a gap).
        var request: ClientRequest?
        var ballot: Ballot = .zero
        var phase: Phase = .backingOff
        /// Members that promised `ballot` (bit per member position; ours included).
        var promises: UInt64 = 0
        /// The highest-ballot value the promises reported as accepted.
        var highest: LogEntry?
        /// The value proposed in phase 2.
        var value: EntryPayload = .noop
        /// Members that accepted `value` under `ballot` (peers; our own acceptance is `selfDurable`).
        var acks: UInt64 = 0
        var selfDurable = false
        /// When to resend (preparing, accepting) or to try again with a higher ballot (backing off).
        var deadline: Instant
        var attempts = 0
    }

    /// Basic-mode proposer state.
    struct BasicState: Sendable {
        var instances: [BasicInstance] = []
        /// Commands waiting for a free proposer slot (bounded by `uncommittedEntriesMax`).
        var queue: [ClientRequest] = []
        /// Commands this node proposed that are chosen, by slot: answered when applied.
        var awaitingApply: [LogIndex: ClientRequest] = [:]
        var retryArmedAt: Instant?
        /// The commit index seen stuck below a slot known to be in use, and when to fill the gap.
        var stallIndex = LogIndex.zero
        var stallDeadline = Instant.distantFuture
        /// When this node last asked a peer for values out of turn (at most once per retry timeout).
        var pulledAt: Instant?
    }
}

// Basic mode: every command runs phase 1 and phase 2 for a slot of its own.
extension MultiPaxos.Instance {
    mutating func onBasicMessage(_ message: Message, from: NodeID, sender: Int, now: Instant, into out: inout Effects<Message>) {
        switch message {
        case let .prepare(m): onBasicPrepare(m, from: from, into: &out)
        case let .promise(m): onBasicPromise(m, sender: sender, now: now, into: &out)
        case let .accept(m): onBasicAccept(m, from: from, into: &out)
        case let .accepted(m): onBasicAccepted(m, sender: sender, into: &out)
        case let .reject(m): onBasicReject(m, now: now)
        case let .learn(m): onBasicLearn(m, from: from, now: now, into: &out)
        case let .status(m): onStatus(m, from: from, into: &out)
        case .heartbeat, .heartbeatAck: break  // multi mode only
        }
    }

    /// The promise that binds slot `slot` here: the recovered floor, the slot's own promise, and
    /// the ballot of the value accepted there (accepting a ballot implies promising it).
    func promisedFor(_ slot: LogIndex) -> MultiPaxos.Ballot {
        let state = slots[slot]
        var ballot = max(promised, state.promised)
        if let accepted = state.accepted { ballot = max(ballot, MultiPaxos.Ballot(term: accepted.term)) }
        return ballot
    }

    /// Promises `ballot` for `slot`. The hard state keeps the highest ballot promised for any
    /// slot: after a restart it stands for every slot, which refuses more than needed but never less.
    mutating func promiseSlot(_ slot: LogIndex, _ ballot: MultiPaxos.Ballot, into out: inout Effects<Message>) {
        slots.setPromised(slot, ballot)
        persistPromise(ballot, into: &out)
        if slot > highestSlotSeen { highestSlotSeen = slot }
    }

    func instanceIndex(slot: LogIndex) -> Int? { basic.instances.firstIndex { $0.slot == slot } }

    // MARK: Proposer

    mutating func onBasicRequest(_ request: ClientRequest, into out: inout Effects<Message>) {
        guard basic.queue.count + basic.instances.count < settings.uncommittedEntriesMax else {
            out.reply(ClientReply(to: request, .rejected(code: RejectCode.overloaded)))
            return
        }
        basic.queue.append(request)
    }

    mutating func onBasicFlush(now: Instant, into out: inout Effects<Message>) {
        while basic.instances.count < settings.inflightMax && !basic.queue.isEmpty {
            let request = basic.queue.removeFirst()
            // The next slot nobody is known to use; a proposer elsewhere may pick it too, and then
            // the ballots decide.
            let slot = max(highestSlotSeen, commitIndex, slots.lastIndex).next
            startInstance(slot: slot, request: request, now: now, into: &out)
        }
        armBasicRetry(now: now, into: &out)
    }

    mutating func startInstance(slot: LogIndex, request: ClientRequest?, now: Instant, into out: inout Effects<Message>) {
        precondition(instanceIndex(slot: slot) == nil, "one proposal per slot at a time")
        if slot > highestSlotSeen { highestSlotSeen = slot }
        basic.instances.append(MultiPaxos.BasicInstance(slot: slot, request: request, deadline: now))
        beginPhase1(basic.instances.count - 1, now: now, into: &out)
    }

    /// Phase 1a for one slot, with a ballot above every one seen.
    mutating func beginPhase1(_ i: Int, now: Instant, into out: inout Effects<Message>) {
        let slot = basic.instances[i].slot
        let round = nextOwnRound(after: max(maxRoundSeen, promisedFor(slot).round))
        guard round < MultiPaxos.Ballot.roundLimit else {
            if anomalies.count < Self.anomaliesMax { anomalies.append("\(id): ballot rounds exhausted") }
            return
        }
        maxRoundSeen = round
        let ballot = MultiPaxos.Ballot(round: round, node: id)
        statistics.phase1Rounds += 1
        // Our own acceptor promises first; the Prepares wait until that promise is on disk.
        promiseSlot(slot, ballot, into: &out)
        basic.instances[i].ballot = ballot
        basic.instances[i].phase = .preparing
        basic.instances[i].promises = bit(position)
        basic.instances[i].highest = slots[slot].accepted
        basic.instances[i].acks = 0
        basic.instances[i].selfDurable = false
        basic.instances[i].deadline = now + settings.retryTimeout
        for peer in peers { out.sendAfterDurable(.prepare(.init(ballot: ballot, fromSlot: slot)), to: peer) }
        if basic.instances[i].promises.nonzeroBitCount >= quorum { beginPhase2(i, now: now, into: &out) }
    }

    /// Phase 2a: propose the highest-ballot value the promises reported, or our own command.
    mutating func beginPhase2(_ i: Int, now: Instant, into out: inout Effects<Message>) {
        let instance = basic.instances[i]
        guard instance.ballot >= promisedFor(instance.slot) else {
            // Our own acceptor promised someone else meanwhile.
            backOff(i, now: now)
            return
        }
        var value = EntryPayload.noop
        if let highest = instance.highest, !settings.unsafeSkipRecovery {
            value = highest.payload
        } else if let request = instance.request {
            var stamped = request
            stamped.command = request.command.stamped(now)
            value = .command(stamped)
        }
        basic.instances[i].value = value
        basic.instances[i].phase = .accepting
        basic.instances[i].acks = 0
        basic.instances[i].selfDurable = false
        basic.instances[i].deadline = now + settings.retryTimeout
        acceptLocally(instance.slot, ballot: instance.ballot, payload: value, into: &out)
        let accept = MultiPaxos.Accept(ballot: instance.ballot, firstSlot: instance.slot, payloads: [value], commit: commitIndex)
        for peer in peers { out.send(.accept(accept), to: peer) }
    }

    /// Pre-empted: wait a random, growing time before trying the slot again with a higher ballot.
    mutating func backOff(_ i: Int, now: Instant) {
        basic.instances[i].phase = .backingOff
        basic.instances[i].attempts += 1
        let cap = settings.backoff.nanoseconds << Int64(min(basic.instances[i].attempts, 6))
        basic.instances[i].deadline = now + .nanoseconds(Int64(random.next() % UInt64(max(cap, 1))))
    }

    mutating func onBasicPromise(_ m: MultiPaxos.Promise, sender: Int, now: Instant, into out: inout Effects<Message>) {
        noteBallot(m.ballot)
        guard let i = instanceIndex(slot: m.fromSlot), basic.instances[i].ballot == m.ballot,
              basic.instances[i].phase == .preparing else { return }
        basic.instances[i].promises |= bit(sender)
        for entry in m.entries where entry.index == m.fromSlot && MultiPaxos.Ballot(term: entry.term) < m.ballot {
            if basic.instances[i].highest.map({ $0.term < entry.term }) ?? true { basic.instances[i].highest = entry }
        }
        if basic.instances[i].promises.nonzeroBitCount >= quorum { beginPhase2(i, now: now, into: &out) }
    }

    mutating func onBasicAccepted(_ m: MultiPaxos.Accepted, sender: Int, into out: inout Effects<Message>) {
        noteBallot(m.ballot)
        guard let i = basic.instances.firstIndex(where: { $0.slot >= m.firstSlot && $0.slot <= m.lastSlot && $0.ballot == m.ballot }),
              basic.instances[i].phase == .accepting else { return }
        basic.instances[i].acks |= bit(sender)
        checkBasicChosen(i, into: &out)
        advanceCommit(into: &out)
    }

    mutating func onBasicOwnAcceptDurable(_ write: MultiPaxos.OwnWrite, now: Instant, into out: inout Effects<Message>) {
        guard let i = instanceIndex(slot: write.slot), basic.instances[i].ballot.term == write.term,
              basic.instances[i].phase == .accepting else { return }
        basic.instances[i].selfDurable = true
        checkBasicChosen(i, into: &out)
    }

    /// A majority accepted: the value is chosen. Tell every learner, then learn it here.
    mutating func checkBasicChosen(_ i: Int, into out: inout Effects<Message>) {
        let instance = basic.instances[i]
        guard instance.acks.nonzeroBitCount + (instance.selfDurable ? 1 : 0) >= quorum else { return }
        let learn = MultiPaxos.Learn(ballot: instance.ballot, firstSlot: instance.slot, payloads: [instance.value])
        for peer in peers { out.send(.learn(learn), to: peer) }
        markChosen(instance.slot, instance.value, into: &out)
    }

    /// A slot became known as chosen (by this node's proposal or anyone's): the proposal for it ends.
    /// If the value is not this node's command, the command goes back to the queue for another slot.
    mutating func onBasicSlotChosen(_ slot: LogIndex, _ payload: EntryPayload) {
        guard let i = instanceIndex(slot: slot) else { return }
        let instance = basic.instances.remove(at: i)
        guard let request = instance.request else { return }
        if case let .command(chosen) = payload, chosen.client == request.client, chosen.seq == request.seq {
            basic.awaitingApply[slot] = request
        } else {
            basic.queue.insert(request, at: 0)
        }
    }

    mutating func onBasicReject(_ m: MultiPaxos.Reject, now: Instant) {
        noteBallot(m.promised)
        guard let i = instanceIndex(slot: m.slot), basic.instances[i].ballot == m.ballot,
              basic.instances[i].phase != .backingOff else { return }
        statistics.rejections += 1
        backOff(i, now: now)
    }

    /// Deadlines: resend to whoever has not answered, or start over after a back-off.
    mutating func onBasicRetry(now: Instant, into out: inout Effects<Message>) {
        for i in basic.instances.indices where basic.instances[i].deadline <= now {
            let instance = basic.instances[i]
            switch instance.phase {
            case .backingOff:
                beginPhase1(i, now: now, into: &out)
            case .preparing:
                for (position, member) in cluster.members.enumerated() where instance.promises & bit(position) == 0 {
                    out.sendAfterDurable(.prepare(.init(ballot: instance.ballot, fromSlot: instance.slot)), to: member)
                }
                basic.instances[i].deadline = now + settings.retryTimeout
            case .accepting:
                let accept = MultiPaxos.Accept(ballot: instance.ballot, firstSlot: instance.slot, payloads: [instance.value],
                                               commit: commitIndex)
                for (position, member) in cluster.members.enumerated() where member != id && instance.acks & bit(position) == 0 {
                    out.send(.accept(accept), to: member)
                    statistics.resends += 1
                }
                basic.instances[i].deadline = now + settings.retryTimeout
            }
        }
        armBasicRetry(now: now, into: &out)
    }

    mutating func armBasicRetry(now: Instant, into out: inout Effects<Message>) {
        var next: Instant?
        for instance in basic.instances where next == nil || instance.deadline < next! { next = instance.deadline }
        guard let next, basic.retryArmedAt != next else { return }
        basic.retryArmedAt = next
        out.setTimer(MultiPaxos.Timers.retry, at: max(next, now))
    }

    // MARK: Acceptor

    /// Phase 1b for one slot. An acceptor that already knows the slot's value says so instead.
    mutating func onBasicPrepare(_ m: MultiPaxos.Prepare, from: NodeID, into out: inout Effects<Message>) {
        let slot = m.fromSlot
        guard m.ballot.node == from, slot.rawValue >= 1, slot <= slotLimit else { return }
        noteBallot(m.ballot)
        if slot > highestSlotSeen { highestSlotSeen = slot }
        if let chosen = slots[slot].chosen {
            out.send(.learn(.init(ballot: .zero, firstSlot: slot, payloads: [chosen])), to: from)
            return
        }
        let bound = promisedFor(slot)
        guard m.ballot >= bound else {
            out.send(.reject(.init(ballot: m.ballot, slot: slot, promised: bound)), to: from)
            return
        }
        promiseSlot(slot, m.ballot, into: &out)
        let accepted = slots[slot].accepted.map { [$0] } ?? []
        out.sendAfterDurable(.promise(.init(ballot: m.ballot, fromSlot: slot, chosenThrough: .zero, entries: accepted,
                                            nextSlot: .zero)), to: from)
    }

    /// Phase 2b for each slot the Accept carries, while the promises allow.
    mutating func onBasicAccept(_ m: MultiPaxos.Accept, from: NodeID, into out: inout Effects<Message>) {
        guard m.ballot.node == from, m.firstSlot.rawValue >= 1, m.firstSlot <= slotLimit else { return }
        noteBallot(m.ballot)
        let limit = slotLimit
        var slot = m.firstSlot
        var last = LogIndex.zero
        for payload in m.payloads {
            guard slot <= limit else { break }
            let bound = promisedFor(slot)
            guard m.ballot >= bound else {
                out.send(.reject(.init(ballot: m.ballot, slot: slot, promised: bound)), to: from)
                break
            }
            if slots[slot].accepted?.term != m.ballot.term {
                acceptLocally(slot, ballot: m.ballot, payload: payload, into: &out)
            }
            last = slot
            slot = slot.next
        }
        if last >= m.firstSlot {
            out.sendAfterDurable(.accepted(.init(ballot: m.ballot, firstSlot: m.firstSlot, lastSlot: last,
                                                 learnedThrough: commitIndex, commitSeen: .zero)), to: from)
        }
    }

    // MARK: Learner

    /// Every heartbeat interval: tell peers how far this node has learned (they send what it
    /// lacks), and fill a gap that has stayed open too long with a no-op proposal (phase 1 finds
    /// any value already accepted there, so the no-op never overrides a chosen value).
    mutating func onBasicTick(now: Instant, into out: inout Effects<Message>) {
        let status = MultiPaxos.Status(learnedThrough: commitIndex, highestSlot: highestSlotSeen)
        for peer in peers { out.send(.status(status), to: peer) }
        if commitIndex < highestSlotSeen {
            if basic.stallIndex != commitIndex || basic.stallDeadline == .distantFuture {
                basic.stallIndex = commitIndex
                basic.stallDeadline = now + gapTimeout()
            } else if now >= basic.stallDeadline {
                let gap = commitIndex.next
                if instanceIndex(slot: gap) == nil && slots[gap].chosen == nil {
                    statistics.noopsProposed += 1
                    startInstance(slot: gap, request: nil, now: now, into: &out)
                    armBasicRetry(now: now, into: &out)
                }
                basic.stallDeadline = now + gapTimeout()
            }
        } else {
            basic.stallIndex = commitIndex
            basic.stallDeadline = .distantFuture
        }
        out.setTimer(MultiPaxos.Timers.heartbeat, at: now + settings.heartbeatInterval)
    }

    /// Two to four heartbeat intervals: long enough for the pull to fetch a missed value first,
    /// and random, so that nodes rarely fill the same gap at once.
    mutating func gapTimeout() -> Duration {
        let base = settings.heartbeatInterval.nanoseconds * 2
        return .nanoseconds(base + Int64(random.next() % UInt64(base)))
    }

    /// A decided value. If it leaves a gap behind it, ask the sender for what lies in between at
    /// once, rather than at the next tick.
    mutating func onBasicLearn(_ m: MultiPaxos.Learn, from: NodeID, now: Instant, into out: inout Effects<Message>) {
        let last = onLearn(m, into: &out)
        guard commitIndex < last else { return }
        if let pulledAt = basic.pulledAt, now - pulledAt < settings.retryTimeout { return }
        basic.pulledAt = now
        out.send(.status(.init(learnedThrough: commitIndex, highestSlot: highestSlotSeen)), to: from)
    }

    mutating func onStatus(_ m: MultiPaxos.Status, from: NodeID, into out: inout Effects<Message>) {
        let highest = min(m.highestSlot, slotLimit)
        if highest > highestSlotSeen { highestSlotSeen = highest }
        guard m.learnedThrough < commitIndex else { return }
        let first = m.learnedThrough.next
        let payloads = chosenValues(from: first)
        if !payloads.isEmpty { out.send(.learn(.init(ballot: .zero, firstSlot: first, payloads: payloads)), to: from) }
    }
}
