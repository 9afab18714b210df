import BenchCore

/// How one search ended.
enum RegisterSearchResult: Hashable, Sendable {
    case linearizable
    case violation
    /// The step budget ran out first.
    case exhausted
}

/// The Wing & Gong linearizability search with Lowe's memoisation, as the Porcupine checker
/// implements it, for one key's register.
///
/// Calls and returns are kept, in time order, in a doubly linked list. The search walks the list:
/// at a call, it tries to linearize that operation now (the model allows it in the current state
/// and the pair (set of linearized operations, state) has not been tried before), and if so lifts
/// the call and its return out of the list and starts again from the front. Reaching a return
/// means the operation that returns there cannot be linearized after everything tried so far, so
/// the search undoes the most recent linearization and tries the next call after it. An empty list
/// is a linearization; undoing with nothing left to undo proves there is none.
///
/// Four register-specific refinements keep histories with many concurrent clients fast; each
/// keeps the answer exact (see `simplify` and the loop's comments):
/// - A read (or refused compare-and-set) that is legal now is linearized now, without branching:
///   it changes nothing, and nothing that is still a candidate must precede it.
/// - A move that replaces the state t while some operation still needs to see t, and nothing left
///   can store t again, is refused at once rather than discovered when that operation returns.
/// - A write takes along every candidate write of a tag nobody reads, instead of branching over them.
/// - Tags nobody reads are merged into one state, writes of unknown outcome that nobody reads are
///   dropped, and those that someone reads must land before the first such read completes.
///
/// Equal times: a call at time t is placed before a return at time t, so two operations that touch
/// (one returns at t, the other is invoked at t) count as concurrent. Timestamps have a finite
/// resolution and different processes read different clocks, so equal times prove no order; the
/// checker only relies on real-time order that the timestamps strictly prove, and so never reports
/// a violation that a tie in the clock could have produced.
enum RegisterSearch {
    /// Searches for a linearization of `operations` starting from `initial` (0: the key is absent).
    /// Spends at most `budget` steps (one step: one list entry visited) and subtracts what it spent.
    static func run(_ operations: [RegisterOperation], initial: UInt64 = 0, budget: inout Int) -> RegisterSearchResult {
        precondition(budget >= 0, "negative step budget")
        let simplified = simplify(operations, initial: initial)
        let initial = simplified.initial
        let unread = simplified.unread
        var operations = simplified.operations
        // Numbered by invocation, the linearized set is nearly a prefix: see `LinearizedSet`.
        operations.sort { ($0.invoke, $0.complete) < ($1.invoke, $1.complete) }
        let count = operations.count
        if count == 0 { return .linearizable }
        precondition(count < Int(Int32.max) / 2, "too many operations for one key")

        // Tags some operation must see, densely numbered; for each, how many operations that must
        // see it, and how many that may store it, are not linearized yet.
        var requiredIDs: [UInt64: Int32] = [:]
        for operation in operations {
            if let tag = operation.requiredTag, requiredIDs[tag] == nil { requiredIDs[tag] = Int32(requiredIDs.count) }
        }
        var pendingRequirers = [Int32](repeating: 0, count: requiredIDs.count)
        var pendingStorers = [Int32](repeating: 0, count: requiredIDs.count)
        let requiredID = operations.map { $0.requiredTag.flatMap { requiredIDs[$0] } ?? -1 }
        let storedID = operations.map { $0.storedTag.flatMap { requiredIDs[$0] } ?? -1 }
        for index in 0..<count {
            if requiredID[index] >= 0 { pendingRequirers[Int(requiredID[index])] += 1 }
            if storedID[index] >= 0 { pendingStorers[Int(storedID[index])] += 1 }
        }
        // A tag required but never stored, and not the initial state: that operation can never take effect.
        for (tag, id) in requiredIDs where pendingStorers[Int(id)] == 0 && tag != initial {
            return .violation
        }
        let isUnreadWrite = operations.map { $0.effect == .write && $0.written == unread }
        let hasUnreadWrites = isUnreadWrite.contains(true)

        var list = EventList(operations)
        var linearized = LinearizedSet(capacity: count)
        var cache = LinearizedStateCache()
        var undo: [UndoEntry] = []
        undo.reserveCapacity(count)
        var absorbing: [Int] = []
        var state = initial
        var stateID = requiredIDs[initial] ?? -1

        /// Walking the candidates for a legal read first (true), or branching over the rest (false).
        var scanningForReads = true
        var entry = list.first
        search: while !list.isEmpty {
            if budget == 0 { return .exhausted }
            budget -= 1
            // Every call's return follows it in the list, so a walk from the head meets a return
            // before it could wrap around to the head.
            assert(entry != 0, "walked off the end of the list")

            if list.isCall[entry] {
                let index = list.operation(at: entry)
                let operation = operations[index]
                let keepsState = operation.effect == .read || operation.effect == .refusedSwap
                if scanningForReads != keepsState {
                    // Reads are only taken in the scan; in the branching walk the scan has already
                    // found every candidate read illegal in this state.
                    entry = list.next(entry)
                    continue search
                }
                guard let newState = operation.apply(to: state) else {
                    entry = list.next(entry)
                    continue search
                }
                if newState != state && stateID >= 0 {
                    // Replacing a state some pending operation must still see, when nothing
                    // pending can store it again, cannot lead to a linearization.
                    let requirers = pendingRequirers[Int(stateID)] - (requiredID[index] == stateID ? 1 : 0)
                    let storers = pendingStorers[Int(stateID)] - (storedID[index] == stateID ? 1 : 0)
                    if requirers > 0 && storers == 0 {
                        entry = list.next(entry)
                        continue search
                    }
                }
                // Before a plain write, take along every candidate write of an unread tag: a
                // linearization that starts with this write still works with them moved right
                // before it (they are overwritten at once), and branching over which of them come
                // now and which later would only multiply the states to explore.
                absorbing.removeAll(keepingCapacity: true)
                if operation.effect == .write && hasUnreadWrites {
                    var node = list.first
                    while list.isCall[node] {
                        if node != entry && isUnreadWrite[list.operation(at: node)] { absorbing.append(node) }
                        node = list.next(node)
                        budget -= budget > 0 ? 1 : 0
                    }
                }
                for node in absorbing { linearized.insert(list.operation(at: node)) }
                linearized.insert(index)
                if cache.insert(linearized, state: newState) {
                    for node in absorbing {
                        undo.append(UndoEntry(node: Int32(node), state: state, stateID: stateID, forced: true, absorbed: 0))
                        list.lift(node)
                    }
                    undo.append(UndoEntry(node: Int32(entry), state: state, stateID: stateID, forced: keepsState,
                                          absorbed: Int32(absorbing.count)))
                    if newState != state { stateID = storedID[index] }
                    state = newState
                    if requiredID[index] >= 0 { pendingRequirers[Int(requiredID[index])] -= 1 }
                    if storedID[index] >= 0 { pendingStorers[Int(storedID[index])] -= 1 }
                    list.lift(entry)
                    entry = list.first
                    scanningForReads = true
                    continue search
                }
                for node in absorbing { linearized.remove(list.operation(at: node)) }
                linearized.remove(index)
                // A read is taken without branching, so if what follows it was already explored,
                // so was everything from here: a dead end. Otherwise try the next candidate.
                if !keepsState {
                    entry = list.next(entry)
                    continue search
                }
            } else if scanningForReads {
                // No candidate read is legal: branch over the other candidates.
                scanningForReads = false
                entry = list.first
                continue search
            }

            // Dead end: undo linearizations back to the most recent branching one, and try the
            // candidate after it. Reads taken without branching are undone on the way: any
            // linearization from before such a read could have taken it first. Writes taken along
            // with a branching one are undone with it.
            while true {
                guard let top = undo.popLast() else { return .violation }
                var last = top
                var remaining = 1 + Int(top.absorbed)
                while true {
                    let call = Int(last.node)
                    let index = list.operation(at: call)
                    state = last.state
                    stateID = last.stateID
                    linearized.remove(index)
                    if requiredID[index] >= 0 { pendingRequirers[Int(requiredID[index])] += 1 }
                    if storedID[index] >= 0 { pendingStorers[Int(storedID[index])] += 1 }
                    list.unlift(call)
                    remaining -= 1
                    if remaining == 0 { break }
                    last = undo.removeLast()
                }
                if !top.forced {
                    entry = list.next(Int(top.node))
                    scanningForReads = false
                    continue search
                }
            }
        }
        return .linearizable
    }

    /// One linearization the search may have to undo: the call lifted and the state before it.
    struct UndoEntry {
        var node: Int32
        var state: UInt64
        var stateID: Int32
        /// Taken without branching (a read): undoing it means the state before it is a dead end too.
        var forced: Bool
        /// How many entries just below this one were taken along with it and are undone with it.
        var absorbed: Int32
    }

    /// An equivalent, easier history: linearizable iff `operations` is.
    ///
    /// - Tags no operation requires or compares against ("unread") only ever make the state one
    ///   in which reads and swaps fail, whichever of them it is, so they are all replaced by one
    ///   unread value and the memo sees one state instead of many.
    /// - A write or compare-and-set of unknown outcome that stores an unread tag is dropped:
    ///   after it, only writes and compare-and-sets that do nothing can follow before the next
    ///   write, so a linearization that has it take effect still works with it (and those
    ///   no-op compare-and-sets of unknown outcome) moved to the end, where taking effect means nothing.
    /// - A write or compare-and-set of unknown outcome that is the only one to store a tag some
    ///   completed operation requires must have taken effect before that operation completed:
    ///   it gets that completion time (a compare-and-set becomes one that swapped).
    static func simplify(_ operations: [RegisterOperation], initial: UInt64)
        -> (operations: [RegisterOperation], initial: UInt64, unread: UInt64) {
        var mentioned = Set<UInt64>()
        var requiredBy: [UInt64: Int64] = [:]  // tag → earliest completion of an operation requiring it
        for operation in operations {
            switch operation.effect {
            case .read: mentioned.insert(operation.observed)
            case .refusedSwap: mentioned.insert(operation.observed); mentioned.insert(operation.expected)
            case .swap, .maybeSwap: mentioned.insert(operation.expected)
            case .write: break
            }
            if let tag = operation.requiredTag {
                requiredBy[tag] = min(requiredBy[tag] ?? operation.complete, operation.complete)
            }
        }
        var unread = UInt64.max
        while mentioned.contains(unread) { unread -= 1 }

        var storers: [UInt64: Int] = [:]
        for operation in operations {
            if let tag = operation.storedTag { storers[tag, default: 0] += 1 }
        }
        var result: [RegisterOperation] = []
        result.reserveCapacity(operations.count)
        for var operation in operations {
            if let tag = operation.storedTag {
                if !mentioned.contains(tag) {
                    if operation.complete == RegisterOperation.never { continue }
                    operation.written = unread
                } else if operation.complete == RegisterOperation.never, tag != initial, storers[tag] == 1,
                          let deadline = requiredBy[tag], deadline >= operation.invoke {
                    operation.complete = deadline
                    if operation.effect == .maybeSwap { operation.effect = .swap }
                }
            }
            result.append(operation)
        }
        return (result, mentioned.contains(initial) ? initial : unread, unread)
    }
}

/// The calls and returns of one key's operations in time order, as a doubly linked list whose
/// node 0 is the head. Lifting a call removes it and its return; unlifting in the reverse order of
/// lifting restores them (the removed nodes keep their neighbours: Knuth's dancing links).
struct EventList {
    private var nextNode: [Int32]
    private var previousNode: [Int32]
    private let operationOfNode: [Int32]
    let isCall: [Bool]
    private let returnOfCall: [Int32]

    init(_ operations: [RegisterOperation]) {
        let count = operations.count
        var events: [(time: Int64, isReturn: Bool, operation: Int32)] = []
        events.reserveCapacity(2 * count)
        for (index, operation) in operations.enumerated() {
            events.append((operation.invoke, false, Int32(index)))
            events.append((operation.complete, true, Int32(index)))
        }
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isReturn != b.isReturn { return !a.isReturn }  // calls first: see `RegisterSearch`
            return a.operation < b.operation
        }
        let nodeCount = 2 * count + 1
        var operationOfNode = [Int32](repeating: -1, count: nodeCount)
        var isCall = [Bool](repeating: false, count: nodeCount)
        var returnNode = [Int32](repeating: 0, count: count)
        for (position, event) in events.enumerated() {
            operationOfNode[position + 1] = event.operation
            isCall[position + 1] = !event.isReturn
            if event.isReturn { returnNode[Int(event.operation)] = Int32(position + 1) }
        }
        var returnOfCall = [Int32](repeating: 0, count: nodeCount)
        for node in 1..<nodeCount where isCall[node] {
            returnOfCall[node] = returnNode[Int(operationOfNode[node])]
        }
        self.nextNode = (0..<nodeCount).map { Int32(($0 + 1) % nodeCount) }
        self.previousNode = (0..<nodeCount).map { Int32(($0 + nodeCount - 1) % nodeCount) }
        self.operationOfNode = operationOfNode
        self.isCall = isCall
        self.returnOfCall = returnOfCall
    }

    var isEmpty: Bool { nextNode[0] == 0 }
    var first: Int { Int(nextNode[0]) }
    @inline(__always) func next(_ node: Int) -> Int { Int(nextNode[node]) }
    @inline(__always) func operation(at node: Int) -> Int { Int(operationOfNode[node]) }

    @inline(__always) mutating func lift(_ call: Int) {
        assert(isCall[call], "lifting a return")
        remove(call)
        remove(Int(returnOfCall[call]))
    }

    @inline(__always) mutating func unlift(_ call: Int) {
        restore(Int(returnOfCall[call]))
        restore(call)
    }

    @inline(__always) private mutating func remove(_ node: Int) {
        nextNode[Int(previousNode[node])] = nextNode[node]
        previousNode[Int(nextNode[node])] = previousNode[node]
    }

    @inline(__always) private mutating func restore(_ node: Int) {
        nextNode[Int(previousNode[node])] = Int32(node)
        previousNode[Int(nextNode[node])] = Int32(node)
    }
}
