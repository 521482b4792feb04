import Testing
import TopicTrie

/// Scale smoke tests. Correctness only: timings belong to the benchmarks package (STYLE C11).
@Suite("Trie scale")
struct TrieScaleTests {
    static let filterCount = 100_000

    /// A fleet-shaped filter set: per-device literal, `+` and `#` filters, per-fleet `+` filters, and a few `#`.
    static func filter(_ i: Int) -> String {
        if i % 25_000 == 0 { return "#" }
        switch i % 5 {
        case 0: return "fleet/\(i % 97)/device-\(i)/telemetry"
        case 1: return "fleet/\(i % 97)/device-\(i)/+"
        case 2: return "fleet/\(i % 97)/device-\(i)/#"
        case 3: return "fleet/\(i % 97)/+/alerts"
        default: return "fleet/+/device-\(i)/telemetry"
        }
    }

    /// Topics for device `i`, each matching some filters, and topics no filter (not even `#`) matches.
    static let topics = [
        "fleet/\(407 % 97)/device-407/telemetry", "fleet/\(1203 % 97)/device-1203/alerts",
        "fleet/\(99_999 % 97)/device-99999/telemetry", "fleet/\(5 % 97)/device-5/x/y", "other/x",
    ]

    @Test("100,000 filters can be inserted, matched and removed")
    func hundredThousandFilters() {
        let filters = (0..<Self.filterCount).map(Self.filter)
        var trie = SubscriptionTrie<Int, Int>()
        for (i, filter) in filters.enumerated() { trie.insert(filter: filter, key: i, value: i) }
        #expect(trie.count == Self.filterCount)

        for topic in Self.topics + ["$SYS/fleet/1"] {
            var got: [Int] = []
            trie.match(topic: topic) { _, key, value in
                #expect(key == value)
                got.append(key)
            }
            let want = filters.indices.filter { Topic.matches(filter: filters[$0], topic: topic) }
            #expect(got.sorted() == want, "topic \(topic)")
            #expect(want.isEmpty == topic.hasPrefix("$"), "topic \(topic) should match some filters")
        }

        for (i, filter) in filters.enumerated() { trie.remove(filter: filter, key: i) }
        #expect(trie.count == 0)
        #expect(trie.nodeCount == 1)
    }
}
