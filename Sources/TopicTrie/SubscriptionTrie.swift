/// Filters → subscribers (STUB). Many subscribers (keys) per filter; one value per (filter, key).
public struct SubscriptionTrie<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public init() {}
    /// Number of (filter, key) entries.
    public var count: Int { fatalError("not implemented") }
    /// Inserts or replaces; returns the previous value for (filter, key), if any.
    @discardableResult
    public mutating func insert(filter: String, key: Key, value: Value) -> Value? { fatalError("not implemented") }
    /// Removes; returns the removed value. Empty nodes are pruned.
    @discardableResult
    public mutating func remove(filter: String, key: Key) -> Value? { fatalError("not implemented") }
    /// Calls `body(filter, key, value)` for every entry whose filter matches `topic` ($-rule applies).
    public func match(topic: String, _ body: (String, Key, Value) -> Void) { fatalError("not implemented") }
}

/// Topic names → values (STUB), for retained messages: find every stored topic matching a filter.
public struct TopicTree<Value: Sendable>: Sendable {
    public init() {}
    public var count: Int { fatalError("not implemented") }
    public subscript(topic: String) -> Value? {
        get { fatalError("not implemented") }
        set { fatalError("not implemented") }
    }
    /// Calls `body(topic, value)` for every stored topic that `filter` (no `$share` prefix) matches ($-rule applies).
    public func forEachMatch(filter: String, _ body: (String, Value) -> Void) { fatalError("not implemented") }
    /// All entries, in no particular order.
    public func forEach(_ body: (String, Value) -> Void) { fatalError("not implemented") }
}
