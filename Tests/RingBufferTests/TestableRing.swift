import RingBuffer

/// The API SPSCRing and MPSCRing share, so that one test body checks both rings.
protocol TestableRing<Element>: AnyObject, Sendable {
    associatedtype Element
    init(capacity: Int)
    var capacity: Int { get }
    var isEmpty: Bool { get }
    func tryPush(_ element: Element) -> Bool
    func push(_ element: Element)
    func pushWaiting(_ element: Element)
    func pushWaiting(_ element: Element, deadlineNanos: UInt64?) -> Bool
    func tryPush<C: Collection>(contentsOf elements: C) -> Int where C.Element == Element
    func waitForSpace(deadlineNanos: UInt64?) -> Bool
    func tryPop() -> Element?
    func drain(maxCount: Int, _ body: (Element) throws -> Void) rethrows -> Int
    func waitForItems(deadlineNanos: UInt64?) -> Bool
    func wake()
    var _consumerParkCount: Int { get }
    var _producerParkCount: Int { get }
}

extension SPSCRing: TestableRing {}
extension MPSCRing: TestableRing {}

extension TestableRing {
    /// Pops everything currently available, bounded by capacity.
    func popAll() -> [Element] {
        var popped: [Element] = []
        for _ in 0..<capacity {
            guard let element = tryPop() else { break }
            popped.append(element)
        }
        return popped
    }
}
