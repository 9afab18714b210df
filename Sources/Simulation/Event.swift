import BenchCore

/// A scheduled happening in the simulated world, ordered by time and then by the order in which
/// it was scheduled (so equal times replay identically). The queue holds only this small, trivially
/// copyable key; what happens lives in a slot of `EventSlots`, so the heap never copies messages.
struct QueuedEvent: Comparable {
    var time: Instant
    var seq: UInt64
    var slot: Int32

    static func < (a: QueuedEvent, b: QueuedEvent) -> Bool { a.time < b.time || (a.time == b.time && a.seq < b.seq) }
    static func == (a: QueuedEvent, b: QueuedEvent) -> Bool { a.time == b.time && a.seq == b.seq }
}

/// Storage for the payloads of queued events, reused through a free list.
struct EventSlots<Message> {
    private var slots: [EventKind<Message>?] = []
    private var free: [Int32] = []

    mutating func store(_ kind: EventKind<Message>) -> Int32 {
        if let slot = free.popLast() {
            slots[Int(slot)] = kind
            return slot
        }
        slots.append(kind)
        return Int32(slots.count - 1)
    }

    mutating func take(_ slot: Int32) -> EventKind<Message> {
        let kind = slots[Int(slot)].take()!
        free.append(slot)
        return kind
    }
}

/// What an event does.
enum EventKind<Message> {
    case deliver(node: Int, from: NodeID, message: Message, size: Int, incarnation: UInt32)
    case request(node: Int, ClientRequest, size: Int)
    case process(node: Int, incarnation: UInt32)
    case timer(node: Int, TimerID, generation: UInt64, incarnation: UInt32)
    case diskDone(node: Int, incarnation: UInt32)
    case reply(client: Int, ClientReply)
    case clientWake(client: Int, token: UInt64)
    case fault(index: Int)
    case stopClients
}

/// FNV-1a, 64 bits: the trace hash.
struct TraceHasher {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func mix(_ x: UInt64) {
        var v = x
        for _ in 0..<8 {
            value ^= v & 0xff
            value = value &* 0x0000_0100_0000_01B3
            v >>= 8
        }
    }

    mutating func mix(_ x: Int) { mix(UInt64(bitPattern: Int64(x))) }
    mutating func mix(_ x: Instant) { mix(UInt64(bitPattern: x.nanoseconds)) }
}
