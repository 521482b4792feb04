/// Topic names → values, for retained messages: find every stored topic matching a filter.
///
/// The mirror image of `SubscriptionTrie`: here the stored keys are concrete topic names and the query is a filter.
/// `forEachMatch` walks the tree along the filter instead of scanning every topic: a literal level follows one
/// child, `+` follows every child, and a final `#` reports the node it is reached at (the parent rule,
/// [MQTT-4.7.1-2]) and its whole subtree. At the root, `+` and `#` skip levels starting with `$` ([MQTT-4.7.2-1]).
/// Levels compare byte for byte ([MQTT-4.7.3-4]). Nodes live in an array with a free list, as in `SubscriptionTrie`.
public struct TopicTree<Value: Sendable>: Sendable {
    @usableFromInline
    struct Node: Sendable {
        /// The stored topic (as given to the setter) and its value, if a topic ends here.
        @usableFromInline var entry: (topic: String, value: Value)?
        @usableFromInline var children: [LevelKey: Int] = [:]

        @inlinable init() {}

        @inlinable var isEmpty: Bool { self.entry == nil && self.children.isEmpty }
    }

    /// Node arena; `nodes[Self.root]` is the root, which is never freed and never holds an entry.
    @usableFromInline var nodes: [Node] = [Node()]
    @usableFromInline var freeList: [Int] = []
    @usableFromInline var entryCount = 0

    @usableFromInline static var root: Int { 0 }

    @inlinable
    public init() {}

    /// Number of stored topics.
    @inlinable
    public var count: Int { self.entryCount }

    /// True when no topics are stored.
    @inlinable
    public var isEmpty: Bool { self.entryCount == 0 }

    /// Number of tree nodes in use, the root included (diagnostics and tests: an empty tree has 1).
    @inlinable
    public var nodeCount: Int { self.nodes.count - self.freeList.count }

    /// The value stored for exactly this topic. Setting nil removes it and prunes empty nodes.
    @inlinable
    public subscript(topic: String) -> Value? {
        get {
            var levels = TopicLevels(topic)
            var node = Self.root
            while let level = levels.next() {
                guard let child = self.nodes[node].children[LevelKey(level)] else { return nil }
                node = child
            }
            return self.nodes[node].entry?.value
        }
        set {
            if let newValue {
                self.store(newValue, topic: topic)
            } else {
                self.remove(topic: topic)
            }
        }
    }

    /// Calls `body(topic, value)` for every stored topic that `filter` (no `$share` prefix) matches ($-rule applies).
    ///
    /// Gives the same answers as testing every stored topic with `Topic.matches`, in no particular order.
    @inlinable
    public func forEachMatch(filter: String, _ body: (String, Value) -> Void) {
        // Nodes still to visit, and where the rest of the filter starts (nil: the filter is used up).
        var pending: [(node: Int, level: String.Index?)] = [(Self.root, filter.startIndex)]
        while let (node, start) = pending.popLast() {
            guard let start else {
                if let entry = self.nodes[node].entry { body(entry.topic, entry.value) }
                continue
            }
            let (level, next) = TopicLevels.level(of: filter, at: start)
            let atRoot = node == Self.root
            if next == nil && level.isMultiLevelWildcard {
                if let entry = self.nodes[node].entry { body(entry.topic, entry.value) }  // [MQTT-4.7.1-2] parent
                self.forEachBelow(node, skippingReserved: atRoot, body)
            } else if level.isSingleLevelWildcard {
                for (key, child) in self.nodes[node].children where !(atRoot && key.isReserved) {  // [MQTT-4.7.2-1]
                    pending.append((child, next))
                }
            } else if let child = self.nodes[node].children[LevelKey(level)] {
                pending.append((child, next))
            }
        }
    }

    /// All entries, in no particular order.
    @inlinable
    public func forEach(_ body: (String, Value) -> Void) {
        for node in self.nodes {
            if let entry = node.entry { body(entry.topic, entry.value) }
        }
    }

    // MARK: - Node management

    /// Reports every entry strictly below `node`; at the root, subtrees under a `$` level are skipped.
    @inlinable
    func forEachBelow(_ node: Int, skippingReserved: Bool, _ body: (String, Value) -> Void) {
        var pending: [Int] = []
        for (key, child) in self.nodes[node].children where !(skippingReserved && key.isReserved) {
            pending.append(child)
        }
        while let node = pending.popLast() {
            if let entry = self.nodes[node].entry { body(entry.topic, entry.value) }
            pending.append(contentsOf: self.nodes[node].children.values)
        }
    }

    @inlinable
    mutating func store(_ value: Value, topic: String) {
        var levels = TopicLevels(topic)
        var node = Self.root
        while let level = levels.next() {
            if let child = self.nodes[node].children[LevelKey(level)] {
                node = child
                continue
            }
            let created = self.allocate()
            self.nodes[node].children[LevelKey.owned(level)] = created
            node = created
        }
        if self.nodes[node].entry == nil { self.entryCount += 1 }
        self.nodes[node].entry = (topic, value)
    }

    @inlinable
    mutating func remove(topic: String) {
        var levels = TopicLevels(topic)
        var path: [(parent: Int, key: LevelKey)] = []
        var node = Self.root
        while let level = levels.next() {
            let key = LevelKey(level)
            guard let child = self.nodes[node].children[key] else { return }
            path.append((node, key))
            node = child
        }
        guard self.nodes[node].entry != nil else { return }
        self.nodes[node].entry = nil
        self.entryCount -= 1
        for (parent, key) in path.reversed() {
            guard self.nodes[node].isEmpty else { return }
            self.nodes[parent].children[key] = nil
            self.nodes[node] = Node()
            self.freeList.append(node)
            node = parent
        }
    }

    @inlinable
    mutating func allocate() -> Int {
        if let reused = self.freeList.popLast() { return reused }
        self.nodes.append(Node())
        return self.nodes.count - 1
    }
}
