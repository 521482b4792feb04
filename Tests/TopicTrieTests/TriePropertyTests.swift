import BrokerTestKit
import Testing
import TopicTrie


/// Random topics and filters over a small alphabet, so that collisions (and so matches) are frequent. The
/// alphabet has empty levels, `$` levels, and two spellings of "café" that only differ in their bytes.
struct TopicGenerator {
    var rng: SplitMix64
    static let words = ["a", "b", "", "$x", "caf\u{E9}", "cafe\u{301}"]

    mutating func topic() -> String {
        let count = Int.random(in: 1...4, using: &self.rng)
        return (0..<count).map { _ in Self.words.randomElement(using: &self.rng)! }.joined(separator: "/")
    }

    /// Mostly valid filters; one in twenty has a `#` in a non-final level, which the tries treat as a literal.
    mutating func filter() -> String {
        let count = Int.random(in: 1...4, using: &self.rng)
        var levels: [String] = []
        for index in 0..<count {
            switch Int.random(in: 0..<20, using: &self.rng) {
            case 0..<5: levels.append("+")
            case 5..<8 where index == count - 1: levels.append("#")
            case 8: levels.append("#")
            default: levels.append(Self.words.randomElement(using: &self.rng)!)
            }
        }
        return levels.joined(separator: "/")
    }
}

/// Byte-exact identity of a string: `String`'s `==` would merge the two "café"s ([MQTT-4.7.3-4]).
struct Bytes: Hashable, CustomStringConvertible {
    let bytes: [UInt8]
    init(_ string: String) { self.bytes = Array(string.utf8) }
    var description: String { String(decoding: self.bytes, as: UTF8.self).debugDescription }
}

/// Number of nodes a trie should have for these stored paths: the root plus every distinct non-empty prefix.
/// A final `#` of a filter is a slot, not a node.
func expectedNodeCount(_ paths: some Sequence<String>, dropTrailingHash: Bool) -> Int {
    var prefixes: Set<[Bytes]> = []
    for path in paths {
        var levels = path.split(separator: "/", omittingEmptySubsequences: false).map { Bytes(String($0)) }
        if dropTrailingHash && levels.last == Bytes("#") { levels.removeLast() }
        for length in stride(from: 1, through: levels.count, by: 1) { prefixes.insert(Array(levels[..<length])) }
    }
    return prefixes.count + 1
}

@Suite("Trie properties")
struct TriePropertyTests {
    static let seeds: [UInt64] = [1, 2, 3, 42, 0xF10_7111A, 0xDEAD_BEEF, 2_026, 65_535]

    struct Hit: Hashable {
        let filter: Bytes
        let key: Int
        let value: Int
    }

    @Test("SubscriptionTrie.match equals a brute-force scan with Topic.matches", arguments: seeds)
    func subscriptionTrieMatchesBruteForce(seed: UInt64) throws {
        var gen = TopicGenerator(rng: SplitMix64(seed: seed))
        var trie = SubscriptionTrie<Int, Int>()
        var model: [Hit: Int] = [:]  // (filter, key, 0) → value; the filter string as inserted is in `filters`
        var filters: [Bytes: String] = [:]
        for step in 0..<300 {
            let context = "seed \(seed), step \(step)"
            let filter = gen.filter()
            let key = Int.random(in: 0..<4, using: &gen.rng)
            let slot = Hit(filter: Bytes(filter), key: key, value: 0)
            if Int.random(in: 0..<10, using: &gen.rng) < 7 {
                let value = step
                let previous = trie.insert(filter: filter, key: key, value: value)
                try #require(previous == model[slot], "insert \(filter.debugDescription) key \(key); \(context)")
                model[slot] = value
                filters[Bytes(filter)] = filter
            } else {
                let removed = trie.remove(filter: filter, key: key)
                try #require(removed == model[slot], "remove \(filter.debugDescription) key \(key); \(context)")
                model[slot] = nil
            }
            try #require(trie.count == model.count, "count; \(context)")
            if step % 10 == 0 {
                let live = Set(model.keys.map(\.filter)).map { filters[$0]! }
                try #require(trie.nodeCount == expectedNodeCount(live, dropTrailingHash: true), "nodes; \(context)")
            }

            for _ in 0..<3 {
                let topic = gen.topic()
                var got: [Hit: Int] = [:]
                trie.match(topic: topic) { filter, key, value in
                    got[Hit(filter: Bytes(filter), key: key, value: value), default: 0] += 1
                }
                var want: [Hit: Int] = [:]
                for (slot, value) in model where Topic.matches(filter: filters[slot.filter]!, topic: topic) {
                    want[Hit(filter: slot.filter, key: slot.key, value: value)] = 1
                }
                try #require(got == want, "match \(topic.debugDescription); \(context)")
            }
        }
        for slot in model.keys { trie.remove(filter: filters[slot.filter]!, key: slot.key) }
        #expect(trie.count == 0, "seed \(seed)")
        #expect(trie.nodeCount == 1, "seed \(seed)")
    }

    @Test("TopicTree.forEachMatch equals a brute-force scan with Topic.matches", arguments: seeds)
    func topicTreeMatchesBruteForce(seed: UInt64) throws {
        var gen = TopicGenerator(rng: SplitMix64(seed: seed))
        var tree = TopicTree<Int>()
        var model: [Bytes: (topic: String, value: Int)] = [:]
        for step in 0..<300 {
            let context = "seed \(seed), step \(step)"
            let topic = gen.topic()
            if Int.random(in: 0..<10, using: &gen.rng) < 7 {
                tree[topic] = step
                model[Bytes(topic)] = (topic, step)
            } else {
                tree[topic] = nil
                model[Bytes(topic)] = nil
            }
            try #require(tree[topic] == model[Bytes(topic)]?.value, "get \(topic.debugDescription); \(context)")
            try #require(tree.count == model.count, "count; \(context)")
            if step % 10 == 0 {
                let live = model.values.map(\.topic)
                try #require(tree.nodeCount == expectedNodeCount(live, dropTrailingHash: false), "nodes; \(context)")
            }

            for _ in 0..<3 {
                let filter = gen.filter()
                var got: [Bytes: Int] = [:]
                tree.forEachMatch(filter: filter) { topic, value in
                    #expect(model[Bytes(topic)]?.value == value, "value of \(topic.debugDescription); \(context)")
                    got[Bytes(topic), default: 0] += 1
                }
                var want: [Bytes: Int] = [:]
                for (bytes, entry) in model where Topic.matches(filter: filter, topic: entry.topic) { want[bytes] = 1 }
                try #require(got == want, "forEachMatch \(filter.debugDescription); \(context)")
            }
        }
        for entry in model.values { tree[entry.topic] = nil }
        #expect(tree.count == 0, "seed \(seed)")
        #expect(tree.nodeCount == 1, "seed \(seed)")
    }
}
