import Testing
import TopicTrie

@Suite("TopicTree")
struct TopicTreeTests {
    static func hits(_ tree: TopicTree<Int>, _ filter: String) -> [String] {
        var hits: [String] = []
        tree.forEachMatch(filter: filter) { topic, value in hits.append("\(topic)=\(value)") }
        return hits.sorted()
    }

    @Test("subscript stores, replaces and removes; removal prunes")
    func subscriptAndPrune() {
        var tree = TopicTree<Int>()
        #expect(tree.nodeCount == 1)
        tree["a/b/c"] = 1
        tree["a/b"] = 2
        tree["a/b/c"] = 3
        #expect(tree.count == 2)
        #expect(tree["a/b/c"] == 3)
        #expect(tree["a/b"] == 2)
        #expect(tree["a"] == nil)
        #expect(tree.nodeCount == 4)
        tree["a"] = nil  // not stored: a no-op
        #expect(tree.count == 2)
        tree["a/b"] = nil
        #expect(tree.nodeCount == 4)  // a/b still leads to a/b/c
        tree["a/b/c"] = nil
        #expect(tree.count == 0)
        #expect(tree.isEmpty)
        #expect(tree.nodeCount == 1)
    }

    @Test("forEachMatch walks by the filter, with the parent and $ rules")
    func forEachMatch() {
        var tree = TopicTree<Int>()
        for (i, topic) in ["a", "a/b", "a/b/c", "a/", "b", "$SYS/x", "$SYS", "/", "a/$x"].enumerated() {
            tree[topic] = i
        }
        #expect(Self.hits(tree, "#") == ["/=7", "a/$x=8", "a/=3", "a/b/c=2", "a/b=1", "a=0", "b=4"])
        #expect(Self.hits(tree, "a/#") == ["a/$x=8", "a/=3", "a/b/c=2", "a/b=1", "a=0"])
        #expect(Self.hits(tree, "a/+") == ["a/$x=8", "a/=3", "a/b=1"])
        #expect(Self.hits(tree, "+") == ["a=0", "b=4"])
        #expect(Self.hits(tree, "+/+") == ["/=7", "a/$x=8", "a/=3", "a/b=1"])
        #expect(Self.hits(tree, "$SYS/#") == ["$SYS/x=5", "$SYS=6"])
        #expect(Self.hits(tree, "a/b/c/#") == ["a/b/c=2"])
        #expect(Self.hits(tree, "c/#").isEmpty)
    }

    @Test("forEach and value semantics")
    func forEachAndCopies() {
        var tree = TopicTree<Int>()
        tree["x/y"] = 1
        tree["x"] = 2
        let snapshot = tree
        tree["x"] = nil
        tree["z"] = 3
        var all: [String] = []
        snapshot.forEach { topic, value in all.append("\(topic)=\(value)") }
        #expect(all.sorted() == ["x/y=1", "x=2"])
        all = []
        tree.forEach { topic, value in all.append("\(topic)=\(value)") }
        #expect(all.sorted() == ["x/y=1", "z=3"])
    }

    @Test("[MQTT-4.7.3-4] canonically equal but different topics are different entries")
    func noNormalization() {
        var tree = TopicTree<Int>()
        tree["caf\u{E9}"] = 1
        tree["cafe\u{301}"] = 2
        #expect(tree.count == 2)
        #expect(tree["caf\u{E9}"] == 1)
        #expect(tree["cafe\u{301}"] == 2)
        #expect(Self.hits(tree, "cafe\u{301}").count == 1)
    }
}
