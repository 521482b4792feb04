import Testing
import TopicTrie

/// One row of the match table: does `filter` match `topic`, and which rule says so.
struct MatchCase: CustomTestStringConvertible, Sendable {
    let filter: String
    let topic: String
    let matches: Bool
    let rule: String

    init(_ filter: String, _ topic: String, _ matches: Bool, _ rule: String) {
        self.filter = filter
        self.topic = topic
        self.matches = matches
        self.rule = rule
    }

    var testDescription: String {
        "\(self.rule): \(self.filter.debugDescription) \(self.matches ? "matches" : "does not match") "
            + self.topic.debugDescription
    }
}

/// The same table is run through `Topic.matches`, `SubscriptionTrie` and `TopicTree`.
@Suite("Matching")
struct TopicMatchTests {
    static let cases: [MatchCase] = [
        // Literal levels.
        MatchCase("a/b", "a/b", true, "literal levels match themselves"),
        MatchCase("a/b", "a/c", false, "literal levels"),
        MatchCase("a/b", "a", false, "a literal filter needs every level"),
        MatchCase("a/b", "a/b/c", false, "a literal filter matches no deeper level"),
        MatchCase("a/b", "a/b/", false, "a trailing separator adds an empty level"),
        MatchCase("A", "a", false, "[MQTT-4.7.3-4] case-sensitive"),
        MatchCase("caf\u{E9}", "caf\u{E9}", true, "[MQTT-4.7.3-4] same bytes"),
        MatchCase("caf\u{E9}", "cafe\u{301}", false, "[MQTT-4.7.3-4] no Unicode normalization"),
        MatchCase("cafe\u{301}/+", "caf\u{E9}/x", false, "[MQTT-4.7.3-4] no Unicode normalization"),
        // Empty levels.
        MatchCase("a//b", "a//b", true, "§4.7.1.1 adjacent separators make an empty level"),
        MatchCase("a//b", "a/b", false, "empty levels are levels"),
        MatchCase("/", "/", true, "two empty levels"),
        MatchCase("//", "/", false, "three levels against two"),
        MatchCase("/a", "a", false, "a leading separator adds an empty level"),
        // Single-level wildcard.
        MatchCase("a/+", "a/b", true, "[MQTT-4.7.1-3] + matches one level"),
        MatchCase("a/+", "a/", true, "[MQTT-4.7.1-3] + matches an empty level"),
        MatchCase("a/+", "a", false, "[MQTT-4.7.1-3] + needs a level"),
        MatchCase("a/+", "a/b/c", false, "[MQTT-4.7.1-3] + matches only one level"),
        MatchCase("+", "a", true, "[MQTT-4.7.1-3] + alone"),
        MatchCase("+", "/", false, "[MQTT-4.7.1-3] `/` has two levels"),
        MatchCase("+/+", "/", true, "[MQTT-4.7.1-3] + matches empty levels"),
        MatchCase("+/b", "/b", true, "[MQTT-4.7.1-3] + matches an empty first level"),
        MatchCase("a/+/c", "a//c", true, "[MQTT-4.7.1-3] + matches an empty middle level"),
        MatchCase("a/+/c", "a/b/c", true, "[MQTT-4.7.1-3] + in the middle"),
        MatchCase("a/+/c", "a/b/d", false, "[MQTT-4.7.1-3] the rest must still match"),
        MatchCase("+/+/+", "a/b", false, "[MQTT-4.7.1-3] one level per +"),
        MatchCase("a/+", "a/$x", true, "[MQTT-4.7.2-1] only the first level is special"),
        // Multi-level wildcard.
        MatchCase("a/#", "a", true, "[MQTT-4.7.1-2] # matches the parent level"),
        MatchCase("a/#", "a/", true, "[MQTT-4.7.1-2] # matches an empty child level"),
        MatchCase("a/#", "a/b", true, "[MQTT-4.7.1-2] # matches a child level"),
        MatchCase("a/#", "a/b/c", true, "[MQTT-4.7.1-2] # matches any number of levels"),
        MatchCase("a/#", "b", false, "[MQTT-4.7.1-2] the levels before # must match"),
        MatchCase("a/#", "ab", false, "[MQTT-4.7.1-2] levels are not prefixes"),
        MatchCase("a/b/#", "a", false, "[MQTT-4.7.1-2] only the immediate parent"),
        MatchCase("a/#", "a/$x", true, "[MQTT-4.7.2-1] only the first level is special"),
        MatchCase("#", "a", true, "[MQTT-4.7.1-2] # alone matches everything"),
        MatchCase("#", "/", true, "[MQTT-4.7.1-2] # alone matches empty levels"),
        MatchCase("#", "a/b/c", true, "[MQTT-4.7.1-2] # alone matches everything"),
        MatchCase("#", "a$", true, "[MQTT-4.7.2-1] only a leading $ is special"),
        MatchCase("/#", "/", true, "[MQTT-4.7.1-2] # after an empty level"),
        MatchCase("/#", "a", false, "[MQTT-4.7.1-2] the empty level must be there"),
        MatchCase("a/+/#", "a/b", true, "[MQTT-4.7.1-2] + then the parent rule"),
        MatchCase("a/+/#", "a", false, "[MQTT-4.7.1-2] + still needs its level"),
        MatchCase("+/#", "a", true, "[MQTT-4.7.1-2] + then the parent rule"),
        // Topics starting with $.
        MatchCase("#", "$SYS", false, "[MQTT-4.7.2-1] # does not match $-topics"),
        MatchCase("#", "$SYS/broker/load", false, "[MQTT-4.7.2-1]"),
        MatchCase("+", "$SYS", false, "[MQTT-4.7.2-1] + does not match a leading $-level"),
        MatchCase("+/x", "$aws/x", false, "[MQTT-4.7.2-1]"),
        MatchCase("+/#", "$SYS/x", false, "[MQTT-4.7.2-1]"),
        MatchCase("$SYS/#", "$SYS/x", true, "§4.7.2 a literal $-level matches"),
        MatchCase("$SYS/#", "$SYS", true, "§4.7.2 with the parent rule"),
        MatchCase("$SYS/+", "$SYS/x", true, "§4.7.2"),
        MatchCase("$SYS", "$SYS", true, "§4.7.2"),
        MatchCase("$aws/things/+/shadow/#", "$aws/things/t1/shadow/update", true, "§4.7.2"),
    ]

    @Test("Topic.matches", arguments: cases)
    func reference(_ row: MatchCase) {
        #expect(Topic.matches(filter: row.filter, topic: row.topic) == row.matches)
    }

    @Test("SubscriptionTrie.match", arguments: cases)
    func subscriptionTrie(_ row: MatchCase) {
        var trie = SubscriptionTrie<String, Int>()
        trie.insert(filter: row.filter, key: "c1", value: 1)
        trie.insert(filter: "unrelated/x", key: "c1", value: 2)
        var hits: [String] = []
        trie.match(topic: row.topic) { filter, key, value in
            #expect(key == "c1")
            #expect(value == 1)
            hits.append(filter)
        }
        #expect(hits.count == (row.matches ? 1 : 0))
        #expect(hits.allSatisfy { $0.utf8.elementsEqual(row.filter.utf8) })
    }

    @Test("TopicTree.forEachMatch", arguments: cases)
    func topicTree(_ row: MatchCase) {
        var tree = TopicTree<Int>()
        tree[row.topic] = 1
        tree["$decoy/x"] = 2  // no filter in the table matches it
        var hits: [String] = []
        tree.forEachMatch(filter: row.filter) { topic, value in
            #expect(value == 1)
            hits.append(topic)
        }
        #expect(hits.count == (row.matches ? 1 : 0))
        #expect(hits.allSatisfy { $0.utf8.elementsEqual(row.topic.utf8) })
    }
}
