import BenchCore

extension MultiPaxos {
    /// What one node knows about one slot, as acceptor and as learner.
    struct Slot: Sendable {
        /// The acceptor's accepted value, its ballot in `term` (`Ballot.term`). Mirrors the disk.
        var accepted: LogEntry?
        /// Basic mode: the ballot promised for this slot alone (multi mode promises for all slots at once).
        var promised: Ballot = .zero
        /// The learner's knowledge: the value chosen here, once known. Volatile: relearned after a restart.
        var chosen: EntryPayload?
    }

    /// Slots 1...lastIndex, dense (a slot nothing is known about is an empty `Slot`). Acceptors may
    /// hold gaps and overwrite values with higher ballots, so this is not an append-only log. Without
    /// snapshots it is never compacted; a run is bounded in time, so this is bounded too.
    struct SlotLog: Sendable {
        private var slots: [Slot] = []

        /// The highest slot with any state.
        var lastIndex: LogIndex { LogIndex(UInt64(slots.count)) }

        subscript(index: LogIndex) -> Slot {
            guard index.rawValue >= 1, index.rawValue <= UInt64(slots.count) else { return Slot() }
            return slots[Int(index.rawValue - 1)]
        }

        private mutating func position(growingTo index: LogIndex) -> Int {
            precondition(index.rawValue >= 1, "slot 0 holds nothing")
            while UInt64(slots.count) < index.rawValue { slots.append(Slot()) }
            return Int(index.rawValue - 1)
        }

        mutating func setAccepted(_ entry: LogEntry) {
            slots[position(growingTo: entry.index)].accepted = entry
        }

        mutating func setPromised(_ index: LogIndex, _ ballot: Ballot) {
            slots[position(growingTo: index)].promised = ballot
        }

        mutating func setChosen(_ index: LogIndex, _ payload: EntryPayload) {
            slots[position(growingTo: index)].chosen = payload
        }
    }

    /// One entry write this node issued, waiting for `.persisted` (in issue order).
    struct OwnWrite: Sendable, Equatable {
        var slot: LogIndex
        var term: Term
    }

    /// What the current leader (of `ballot`) has said is chosen, so a follower can learn the
    /// values it accepted under that ballot without being sent them again.
    struct CommitNotice: Sendable {
        var ballot: Ballot = .zero
        /// Every slot up to here is chosen (the highest commit index heard under `ballot`); every
        /// slot up to here that this node accepted under `ballot` has been marked chosen.
        var index: LogIndex = .zero
    }
}
