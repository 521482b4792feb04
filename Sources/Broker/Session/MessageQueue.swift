/// A FIFO with amortised O(1) push and pop (array plus head index, compacted when half is consumed).
public struct MessageQueue<Element: Sendable>: Sendable {
    private var storage: [Element] = []
    private var head = 0

    public init() {}
    public var count: Int { storage.count - head }
    public var isEmpty: Bool { count == 0 }

    public mutating func append(_ e: Element) { storage.append(e) }

    public mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let e = storage[head]
        head += 1
        if head >= 64 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return e
    }

    public var elements: ArraySlice<Element> { storage[head...] }
}

extension MessageQueue: Equatable where Element: Equatable {
    public static func == (a: Self, b: Self) -> Bool { a.elements.elementsEqual(b.elements) }
}
