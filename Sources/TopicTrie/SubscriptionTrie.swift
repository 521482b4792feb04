// Subscription matching: which (filter, subscriber) entries does a published topic reach?
//
// Matching rules (MQTT 3.1.1 §4.7 and MQTT 5 §4.7; not AWS IoT's documented deviations):
//   - Topics and filters are split on `/`. Empty levels are levels: `a//b` has three, `a/` has two.
//   - Levels compare byte for byte, with no Unicode normalization [MQTT-4.7.3-4].
//   - `+` matches exactly one level, including an empty one: `a/+` matches `a/b` and `a/`, not `a` or `a/b/c`.
//   - `#` (last level only) matches its parent and everything below: `a/#` matches `a`, `a/`, `a/b`, `a/b/c`
//     [MQTT-4.7.1-2]. `#` alone matches every topic, except as below.
//   - A filter whose FIRST level is `+` or `#` never matches a topic starting with `$` [MQTT-4.7.2-1]:
//     `#` and `+/x` do not match `$SYS/x`; `$SYS/#` and `$SYS/+` do.
//   - Any other level, including `#` in a non-final position of an (invalid) filter, is literal. This keeps the
//     trie total and in agreement with `Topic.matches`; validation belongs to `Topic.parseFilter`.
//
//     valid and matching:       a/b ~ a/b   a/+ ~ a/   +/+ ~ /   a/# ~ a   # ~ a/b   $SYS/# ~ $SYS   +/b ~ /b
//     valid, never matching:    a/+ ≁ a   a/+ ≁ a/b/c   a/b ≁ a/b/   # ≁ $SYS   +/x ≁ $aws/x   a ≁ A
//
// Representation. Each node is one filter prefix. It holds a dictionary key → value for the filters that end there
// (`exact`), a `#` slot for the filters that end with `/#` below it (`multiLevel`; at the root that is the filter
// `#`), literal children by level, and one `+` child. Each slot keeps the filter string it was inserted with, so
// matching reports filters without building strings. Nodes live in an array (an arena) and point at each other by
// index; removed nodes go on a free list and are reused. The trie is a value type: copying it is O(1), and the
// first mutation of a shared copy copies the arena, O(nodes).
//
// Search. `match` walks the topic's levels once, left to right, never allocating per level: each level is a
// `Substring` of the topic, and look-ups hash its UTF-8 bytes. At a node, the `#` slot matches (whatever remains of
// the topic, possibly nothing); at the end of the topic the `exact` slot matches; otherwise the walk follows the
// literal child for the next level and, separately, the `+` child. The `+` branches are kept on a small explicit
// stack (allocated only if a `+` child is met), so deep filters cannot exhaust the call stack.
//
// Complexity, for N stored filters, a topic of L levels and M reported entries:
//   - insert / remove: O(L) hash operations on the filter's levels (amortized; remove prunes empty nodes).
//   - match: a node at depth d is visited only if its path matches the topic's first d levels, and each level of a
//     path is either literal or `+`, so at most min(2^d, nodes at depth d) nodes are visited at depth d. In total
//     O(min(2^(L+1), N·L)) hash look-ups + M. With AWS's 7-slash limit that is at most 511 look-ups, however large
//     N is; the brute-force alternative (test every filter) is O(N·L). Each entry is reported exactly once,
//     because one filter is one (node, slot) and each node is reached along at most one path.

/// Filters → subscribers. Many subscribers (keys) per filter; one value per (filter, key).
///
/// Filters are stored as given: pass the filter part of a `$share/{group}/{filter}` subscription
/// (`TopicFilter.filter`), with the share group folded into `Key` if needed. See the top of this file for the
/// matching rules and costs.
public struct SubscriptionTrie<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    @usableFromInline
    struct Node: Sendable {
        /// Entries whose filter ends at this node.
        @usableFromInline var exact: [Key: Value] = [:]
        /// The filter of the `exact` entries, as inserted; empty when there are none.
        @usableFromInline var exactFilter = ""
        /// Entries whose filter is this node's path followed by `#`.
        @usableFromInline var multiLevel: [Key: Value] = [:]
        /// The filter of the `multiLevel` entries, as inserted; empty when there are none.
        @usableFromInline var multiLevelFilter = ""
        /// Literal children by level.
        @usableFromInline var children: [LevelKey: Int] = [:]
        /// The `+` child.
        @usableFromInline var singleLevel: Int?

        @inlinable init() {}

        @inlinable var isEmpty: Bool {
            self.exact.isEmpty && self.multiLevel.isEmpty && self.children.isEmpty && self.singleLevel == nil
        }
    }

    /// How a node hangs off its parent.
    @usableFromInline
    enum Edge {
        case literal(LevelKey)
        case singleLevel
    }

    /// Node arena; `nodes[Self.root]` is the root, which is never freed.
    @usableFromInline var nodes: [Node] = [Node()]
    /// Indices of unused slots in `nodes`.
    @usableFromInline var freeList: [Int] = []
    @usableFromInline var entryCount = 0

    @usableFromInline static var root: Int { 0 }

    @inlinable
    public init() {}

    /// Number of (filter, key) entries.
    @inlinable
    public var count: Int { self.entryCount }

    /// True when no entries are stored.
    @inlinable
    public var isEmpty: Bool { self.entryCount == 0 }

    /// Number of trie nodes in use, the root included (diagnostics and tests: an empty trie has 1).
    @inlinable
    public var nodeCount: Int { self.nodes.count - self.freeList.count }

    // MARK: - Insert and remove

    /// Inserts or replaces; returns the previous value for (filter, key), if any.
    @inlinable
    @discardableResult
    public mutating func insert(filter: String, key: Key, value: Value) -> Value? {
        var levels = TopicLevels(filter)
        var node = Self.root
        while let level = levels.next() {
            if levels.isAtEnd && level.isMultiLevelWildcard {
                return self.store(value, key: key, filter: filter, in: node, multiLevel: true)
            }
            node = self.child(of: node, for: level)
        }
        return self.store(value, key: key, filter: filter, in: node, multiLevel: false)
    }

    /// Removes; returns the removed value. Empty nodes are pruned.
    @inlinable
    @discardableResult
    public mutating func remove(filter: String, key: Key) -> Value? {
        var levels = TopicLevels(filter)
        var path: [(parent: Int, edge: Edge)] = []
        var node = Self.root
        var multiLevel = false
        while let level = levels.next() {
            if levels.isAtEnd && level.isMultiLevelWildcard {
                multiLevel = true
                break
            }
            guard let (next, edge) = self.existingChild(of: node, for: level) else { return nil }
            path.append((node, edge))
            node = next
        }
        let removed: Value?
        if multiLevel {
            removed = self.nodes[node].multiLevel.removeValue(forKey: key)
            if self.nodes[node].multiLevel.isEmpty { self.nodes[node].multiLevelFilter = "" }
        } else {
            removed = self.nodes[node].exact.removeValue(forKey: key)
            if self.nodes[node].exact.isEmpty { self.nodes[node].exactFilter = "" }
        }
        guard removed != nil else { return nil }
        self.entryCount -= 1
        self.prune(node, path: path)
        return removed
    }

    /// The value stored for (filter, key), if any.
    @inlinable
    public func value(filter: String, key: Key) -> Value? {
        var levels = TopicLevels(filter)
        var node = Self.root
        while let level = levels.next() {
            if levels.isAtEnd && level.isMultiLevelWildcard { return self.nodes[node].multiLevel[key] }
            guard let (next, _) = self.existingChild(of: node, for: level) else { return nil }
            node = next
        }
        return self.nodes[node].exact[key]
    }

    // MARK: - Match

    /// Calls `body(filter, key, value)` for every entry whose filter matches `topic` ($-rule applies).
    ///
    /// Each entry is reported exactly once, in no particular order. `filter` is the string given to `insert`.
    @inlinable
    public func match(topic: String, _ body: (String, Key, Value) -> Void) {
        // [MQTT-4.7.2-1]: wildcards at the root (filters `#` and `+/…`) do not match topics starting with `$`.
        let reserved = topic.utf8.first == .dollar
        var branches: [(node: Int, level: String.Index?)] = []  // `+` children still to walk
        var node = Self.root
        var level: String.Index? = topic.startIndex  // start of the next topic level; nil once all are consumed
        while true {
            let wildcardsApply = node != Self.root || !reserved
            if wildcardsApply && !self.nodes[node].multiLevel.isEmpty {
                // [MQTT-4.7.1-2]: `…/#` matches what remains of the topic, including nothing (its parent).
                let filter = self.nodes[node].multiLevelFilter
                for (key, value) in self.nodes[node].multiLevel { body(filter, key, value) }
            }
            if let start = level {
                let (text, next) = TopicLevels.level(of: topic, at: start)
                if wildcardsApply, let plus = self.nodes[node].singleLevel {
                    branches.append((plus, next))
                }
                if let child = self.nodes[node].children[LevelKey(text)] {
                    node = child
                    level = next
                    continue
                }
            } else if !self.nodes[node].exact.isEmpty {
                let filter = self.nodes[node].exactFilter
                for (key, value) in self.nodes[node].exact { body(filter, key, value) }
            }
            guard let branch = branches.popLast() else { return }
            (node, level) = branch
        }
    }

    /// Calls `body(filter, key, value)` for every entry, in no particular order.
    @inlinable
    public func forEach(_ body: (String, Key, Value) -> Void) {
        for node in self.nodes {
            for (key, value) in node.exact { body(node.exactFilter, key, value) }
            for (key, value) in node.multiLevel { body(node.multiLevelFilter, key, value) }
        }
    }

    // MARK: - Node management

    /// The child of `node` for a filter level, created if missing.
    @inlinable
    mutating func child(of node: Int, for level: Substring) -> Int {
        if level.isSingleLevelWildcard {
            if let existing = self.nodes[node].singleLevel { return existing }
            let created = self.allocate()
            self.nodes[node].singleLevel = created
            return created
        }
        if let existing = self.nodes[node].children[LevelKey(level)] { return existing }
        let created = self.allocate()
        self.nodes[node].children[LevelKey.owned(level)] = created
        return created
    }

    /// The child of `node` for a filter level, and the edge to it; nil if there is none.
    @inlinable
    func existingChild(of node: Int, for level: Substring) -> (Int, Edge)? {
        if level.isSingleLevelWildcard {
            return self.nodes[node].singleLevel.map { ($0, .singleLevel) }
        }
        let key = LevelKey(level)
        return self.nodes[node].children[key].map { ($0, .literal(key)) }
    }

    @inlinable
    mutating func store(_ value: Value, key: Key, filter: String, in node: Int, multiLevel: Bool) -> Value? {
        let previous: Value?
        if multiLevel {
            previous = self.nodes[node].multiLevel.updateValue(value, forKey: key)
            if previous == nil && self.nodes[node].multiLevel.count == 1 { self.nodes[node].multiLevelFilter = filter }
        } else {
            previous = self.nodes[node].exact.updateValue(value, forKey: key)
            if previous == nil && self.nodes[node].exact.count == 1 { self.nodes[node].exactFilter = filter }
        }
        if previous == nil { self.entryCount += 1 }
        return previous
    }

    @inlinable
    mutating func allocate() -> Int {
        if let reused = self.freeList.popLast() { return reused }
        self.nodes.append(Node())
        return self.nodes.count - 1
    }

    /// Frees `node` and then its ancestors, bottom-up, while they are empty. `path` leads from the root to `node`.
    @inlinable
    mutating func prune(_ node: Int, path: [(parent: Int, edge: Edge)]) {
        var node = node
        for (parent, edge) in path.reversed() {
            guard self.nodes[node].isEmpty else { return }
            switch edge {
            case .literal(let key): self.nodes[parent].children[key] = nil
            case .singleLevel: self.nodes[parent].singleLevel = nil
            }
            self.nodes[node] = Node()
            self.freeList.append(node)
            node = parent
        }
    }
}
