import Testing
import TopicTrie

@Suite("SubscriptionTrie")
struct SubscriptionTrieTests {
    /// Collects `match` results as "filter|key=value", sorted.
    static func hits(_ trie: SubscriptionTrie<String, Int>, _ topic: String) -> [String] {
        var hits: [String] = []
        trie.match(topic: topic) { filter, key, value in hits.append("\(filter)|\(key)=\(value)") }
        return hits.sorted()
    }

    @Test("an empty trie matches nothing and has only its root")
    func empty() {
        let trie = SubscriptionTrie<String, Int>()
        #expect(trie.count == 0)
        #expect(trie.isEmpty)
        #expect(trie.nodeCount == 1)
        #expect(Self.hits(trie, "a/b").isEmpty)
    }

    @Test("insert counts (filter, key) entries and replaces the value of an existing one")
    func insertAndReplace() {
        var trie = SubscriptionTrie<String, Int>()
        #expect(trie.insert(filter: "a/+", key: "c1", value: 1) == nil)
        #expect(trie.insert(filter: "a/+", key: "c2", value: 2) == nil)
        #expect(trie.insert(filter: "a/#", key: "c1", value: 3) == nil)
        #expect(trie.count == 3)
        #expect(trie.insert(filter: "a/+", key: "c1", value: 10) == 1)
        #expect(trie.count == 3)
        #expect(trie.value(filter: "a/+", key: "c1") == 10)
        #expect(trie.value(filter: "a/#", key: "c1") == 3)
        #expect(trie.value(filter: "a/#", key: "c2") == nil)
        #expect(trie.value(filter: "a", key: "c1") == nil)
        #expect(Self.hits(trie, "a/b") == ["a/#|c1=3", "a/+|c1=10", "a/+|c2=2"])
    }

    @Test("each matching entry is reported exactly once, with the filter it was inserted with")
    func exactlyOnce() {
        var trie = SubscriptionTrie<String, Int>()
        for filter in ["#", "a/#", "a/b/#", "+/b/c", "a/+/c", "a/b/c", "+/+/+", "a/b/c/#", "+/#", "a/+/+/#"] {
            trie.insert(filter: filter, key: "c", value: 0)
        }
        #expect(
            Self.hits(trie, "a/b/c") == [
                "#|c=0", "+/#|c=0", "+/+/+|c=0", "+/b/c|c=0", "a/#|c=0", "a/+/+/#|c=0", "a/+/c|c=0", "a/b/#|c=0",
                "a/b/c/#|c=0", "a/b/c|c=0",
            ])
    }

    @Test("remove returns the value, leaves other keys, and prunes empty nodes")
    func removeAndPrune() {
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(filter: "a/b/c", key: "c1", value: 1)
        trie.insert(filter: "a/b/c", key: "c2", value: 2)
        trie.insert(filter: "a/+/#", key: "c1", value: 3)
        #expect(trie.nodeCount == 5)  // root, a, a/b, a/b/c, a/+
        #expect(trie.remove(filter: "a/b/c", key: "c3") == nil)
        #expect(trie.remove(filter: "a/b/x", key: "c1") == nil)
        #expect(trie.remove(filter: "a/b/c", key: "c1") == 1)
        #expect(trie.nodeCount == 5)
        #expect(trie.remove(filter: "a/b/c", key: "c2") == 2)
        #expect(trie.nodeCount == 3)  // root, a, a/+
        #expect(trie.remove(filter: "a/+", key: "c1") == nil)  // a/+ is a node, but a/+/# is another entry
        #expect(trie.remove(filter: "a/+/#", key: "c1") == 3)
        #expect(trie.count == 0)
        #expect(trie.nodeCount == 1)
        #expect(Self.hits(trie, "a/b/c").isEmpty)
    }

    @Test("removed nodes are reused")
    func reuse() {
        var trie = SubscriptionTrie<Int, Int>()
        for round in 0..<10 {
            for i in 0..<100 { trie.insert(filter: "r\(round)/\(i)/+", key: i, value: i) }
            for i in 0..<100 { trie.remove(filter: "r\(round)/\(i)/+", key: i) }
            #expect(trie.nodeCount == 1)
        }
        trie.insert(filter: "x", key: 0, value: 0)
        #expect(trie.nodeCount == 2)
    }

    @Test("a copy is independent of the original (value semantics)")
    func valueSemantics() {
        var original = SubscriptionTrie<String, Int>()
        original.insert(filter: "a/+", key: "c1", value: 1)
        var copy = original
        copy.insert(filter: "a/+", key: "c2", value: 2)
        copy.remove(filter: "a/+", key: "c1")
        copy.insert(filter: "#", key: "c3", value: 3)
        #expect(Self.hits(original, "a/b") == ["a/+|c1=1"])
        #expect(Self.hits(copy, "a/b") == ["#|c3=3", "a/+|c2=2"])
        #expect(original.count == 1)
        #expect(copy.count == 2)
    }

    @Test("[MQTT-4.7.3-4] canonically equal but different filters are different entries")
    func noNormalization() {
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(filter: "caf\u{E9}", key: "c", value: 1)
        trie.insert(filter: "cafe\u{301}", key: "c", value: 2)
        #expect(trie.count == 2)
        var values: [Int] = []
        trie.match(topic: "cafe\u{301}") { _, _, value in values.append(value) }
        #expect(values == [2])
    }

    @Test("forEach visits every entry once")
    func forEach() {
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(filter: "#", key: "a", value: 1)
        trie.insert(filter: "x/+", key: "b", value: 2)
        trie.insert(filter: "x/+", key: "c", value: 3)
        trie.insert(filter: "x", key: "d", value: 4)
        var all: [String] = []
        trie.forEach { filter, key, value in all.append("\(filter)|\(key)=\(value)") }
        #expect(all.sorted() == ["#|a=1", "x/+|b=2", "x/+|c=3", "x|d=4"])
    }

    @Test("a filter thousands of levels deep neither overflows the stack nor misses")
    func deepFilters() {
        let depth = 20_000
        var trie = SubscriptionTrie<Int, Int>()
        let plusses = Array(repeating: "+", count: depth).joined(separator: "/")
        trie.insert(filter: plusses, key: 1, value: 1)
        trie.insert(filter: plusses + "/#", key: 2, value: 2)
        let topic = Array(repeating: "a", count: depth).joined(separator: "/")
        var keys: [Int] = []
        trie.match(topic: topic) { _, key, _ in keys.append(key) }
        #expect(keys.sorted() == [1, 2])
        trie.remove(filter: plusses, key: 1)
        trie.remove(filter: plusses + "/#", key: 2)
        #expect(trie.nodeCount == 1)
    }
}
