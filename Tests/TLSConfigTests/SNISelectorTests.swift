import Testing

@testable import TLSConfig

@Suite struct SNISelectorTests {
    func selector(_ fallback: SNISelector<String>.Fallback) -> SNISelector<String> {
        var s = SNISelector<String>(fallback: fallback)
        do { let ok = s.add("a.example.test", "A"); #expect(ok) }
        do { let ok = s.add("B.Example.Test.", "B"); #expect(ok) }
        do { let ok = s.add("*.example.test", "WILD"); #expect(ok) }
        do { let ok = s.add("*.tenant2.example.test", "T2"); #expect(ok) }
        return s
    }

    @Test("exact first, then a single-label wildcard, case-insensitive, trailing dot ignored", arguments: [
        ("a.example.test", "A"),
        ("A.EXAMPLE.TEST", "A"),
        ("a.example.test.", "A"),
        ("b.example.test", "B"),
        ("c.example.test", "WILD"),
        ("x.tenant2.example.test", "T2"),
        ("tenant2.example.test", "WILD"),
    ])
    func test_select_matches(name: String, expected: String) {
        guard case .matched(let e) = selector(.reject).select(name) else {
            Issue.record("\(name) did not match")
            return
        }
        #expect(e == expected)
    }

    @Test("no match, no SNI or a bad name fall back", arguments: [
        "example.test", "y.x.example.test", "other.test", "", ".", "a..example.test", "*.example.test",
        "a.example.test..",
    ] as [String?] + [nil])
    func test_select_fallback(name: String?) {
        #expect(selector(.reject).select(name).entry == nil)
        guard case .fallback(let e) = selector(.default("DEF")).select(name) else {
            Issue.record("\(String(describing: name)) did not fall back")
            return
        }
        #expect(e == "DEF")
    }

    @Test func test_add_rejectsMalformedPatterns() {
        var s = SNISelector<String>(fallback: .reject)
        do { let ok = s.add("", "X"); #expect(!ok) }
        do { let ok = s.add("*.", "X"); #expect(!ok) }
        do { let ok = s.add("a.*.example.test", "X"); #expect(!ok) }
        do { let ok = s.add("*.*.example.test", "X"); #expect(!ok) }
        do { let ok = s.add("foo*.example.test", "X"); #expect(!ok) }
        #expect(s.select("a.b.example.test").entry == nil)
    }

    @Test func test_add_replacesAnEntry() {
        var s = SNISelector<String>(fallback: .reject)
        s.add("a.example.test", "old")
        s.add("A.example.test", "new")
        #expect(s.select("a.example.test").entry == "new")
    }
}
