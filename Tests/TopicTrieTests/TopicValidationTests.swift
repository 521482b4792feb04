import Testing
import TopicTrie

/// One row of a validation table: the input, the expected outcome, and the spec statement it checks.
struct ValidationCase: CustomTestStringConvertible, Sendable {
    let input: String
    let expected: Result<Void, TopicError>
    let rule: String
    let limits: TopicLimits

    /// A row that must be accepted.
    init(_ input: String, _ rule: String, limits: TopicLimits = TopicLimits()) {
        self.input = input
        self.expected = .success(())
        self.rule = rule
        self.limits = limits
    }

    /// A row that must be rejected with `error`.
    init(_ input: String, _ error: TopicError, _ rule: String, limits: TopicLimits = TopicLimits()) {
        self.input = input
        self.expected = .failure(error)
        self.rule = rule
        self.limits = limits
    }

    var testDescription: String {
        let shown =
            self.input.utf8.count > 40 ? "\(self.input.prefix(20))…(\(self.input.utf8.count) bytes)" : self.input
        switch self.expected {
        case .success: return "\(self.rule) valid: \(shown.debugDescription)"
        case .failure(let error): return "\(self.rule) \(error): \(shown.debugDescription)"
        }
    }
}

/// `count` copies of `level` joined by `/` (count - 1 slashes).
func levels(_ count: Int, _ level: String = "a") -> String {
    Array(repeating: level, count: count).joined(separator: "/")
}

@Suite("Topic names")
struct TopicNameValidationTests {
    static let cases: [ValidationCase] = [
        ValidationCase("a", "[MQTT-4.7.3-1] one character is enough"),
        ValidationCase("/", "[MQTT-4.7.3-1] a lone separator is two empty levels"),
        ValidationCase("a//b", "[MQTT-4.7.3-1] empty levels are allowed"),
        ValidationCase("/a/", "[MQTT-4.7.3-1] leading and trailing separators are allowed"),
        ValidationCase(" ", "[MQTT-4.7.3-1] spaces are ordinary characters"),
        ValidationCase("caf\u{E9}/\u{1F680}", "[MQTT-4.7.3-3] any UTF-8"),
        ValidationCase("$SYS/broker/load", "$-topics are allowed here; the broker decides about reserved topics"),
        ValidationCase("$aws/things/t1/shadow/update", "$-topics are allowed here"),
        ValidationCase(String(repeating: "x", count: 256), "AWS §1.8 256 bytes is the limit"),
        ValidationCase(String(repeating: "\u{E9}", count: 128), "AWS §1.8 256 bytes of two-byte characters"),
        ValidationCase(levels(8), "AWS §1.8 7 slashes (8 levels) is the limit"),
        ValidationCase(String(repeating: "x", count: 65_535), "[MQTT-4.7.3-3] 65535 bytes", limits: .unlimited),
        ValidationCase(levels(1000), "MQTT has no level limit", limits: .unlimited),

        ValidationCase("", .empty, "[MQTT-4.7.3-1]"),
        ValidationCase("a/+", .wildcardInTopicName, "[MQTT-3.3.2-2]"),
        ValidationCase("a/#", .wildcardInTopicName, "[MQTT-3.3.2-2]"),
        ValidationCase("+", .wildcardInTopicName, "[MQTT-3.3.2-2]"),
        ValidationCase("#", .wildcardInTopicName, "[MQTT-3.3.2-2]"),
        ValidationCase("a+b", .wildcardInTopicName, "[MQTT-3.3.2-2] even inside a level"),
        ValidationCase("sport#1", .wildcardInTopicName, "[MQTT-3.3.2-2] even inside a level"),
        ValidationCase("a\u{0}b", .nullCharacter, "[MQTT-4.7.3-2]"),
        ValidationCase("\u{0}", .nullCharacter, "[MQTT-4.7.3-2]"),
        ValidationCase(String(repeating: "x", count: 257), .tooLong(257), "AWS §1.8"),
        ValidationCase(String(repeating: "\u{E9}", count: 129), .tooLong(258), "AWS §1.8 counts bytes, not characters"),
        ValidationCase(levels(9), .tooManyLevels(9), "AWS §1.8"),
        ValidationCase("/////////", .tooManyLevels(10), "AWS §1.8 empty levels count"),
        ValidationCase(String(repeating: "x", count: 65_536), .tooLong(65_536), "[MQTT-4.7.3-3]", limits: .unlimited),
    ]

    @Test(arguments: cases)
    func validateName(_ row: ValidationCase) {
        let outcome = Result { () throws(TopicError) in try Topic.validateName(row.input, limits: row.limits) }
        switch (outcome, row.expected) {
        case (.success, .success): break
        case (.failure(let got), .failure(let want)): #expect(got == want)
        case (.success, .failure(let want)): Issue.record("accepted; expected \(want)")
        case (.failure(let got), .success): Issue.record("rejected with \(got); expected valid")
        }
    }
}

@Suite("Topic filters")
struct TopicFilterValidationTests {
    static let cases: [ValidationCase] = [
        ValidationCase("a", "[MQTT-4.7.3-1]"),
        ValidationCase("#", "[MQTT-4.7.1-2] # on its own"),
        ValidationCase("a/#", "[MQTT-4.7.1-2] # after a separator, last"),
        ValidationCase("+", "[MQTT-4.7.1-3] + on its own"),
        ValidationCase("+/+", "[MQTT-4.7.1-3] + at first and last levels"),
        ValidationCase("a/+/b", "[MQTT-4.7.1-3] + in the middle"),
        ValidationCase("+/b/#", "[MQTT-4.7.1-2] [MQTT-4.7.1-3] both"),
        ValidationCase("/", "[MQTT-4.7.3-1] empty levels"),
        ValidationCase("a//#", "[MQTT-4.7.1-2] # after an empty level"),
        ValidationCase("/+", "[MQTT-4.7.1-3] + after an empty level"),
        ValidationCase("$SYS/#", "$-filters are ordinary filters"),
        ValidationCase("$share", "[MQTT-4.8.2-1] without the slash it is an ordinary filter"),
        ValidationCase("$shared/x", "[MQTT-4.8.2-1] only `$share/` starts a shared subscription"),
        ValidationCase(String(repeating: "x", count: 256), "AWS §1.8 256 bytes is the limit"),
        ValidationCase(levels(8, "+"), "AWS §1.8 7 slashes is the limit"),
        ValidationCase("$share/g/a", "[MQTT-4.8.2-1]"),
        ValidationCase("$share/g/#", "[MQTT-4.8.2-2] a wildcard filter after the group"),
        ValidationCase("$share/g//", "[MQTT-4.8.2-2] the filter may be `/`"),
        ValidationCase("$share/g/$share/h/x", "[MQTT-4.8.2-2] the filter part is not parsed again"),
        ValidationCase("$share/" + String(repeating: "g", count: 128) + "/a", "AWS §1.6 128-byte group"),
        ValidationCase("$share/g/" + levels(8), "AWS §1.6 `$share/g/` does not count toward the slashes"),
        ValidationCase("$share/g/" + String(repeating: "x", count: 256), "AWS §1.6 nor toward the length"),

        ValidationCase("", .empty, "[MQTT-4.7.3-1]"),
        ValidationCase("a/#/b", .invalidWildcard, "[MQTT-4.7.1-2] # must be last"),
        ValidationCase("#/", .invalidWildcard, "[MQTT-4.7.1-2] # must be the last character"),
        ValidationCase("a#", .invalidWildcard, "[MQTT-4.7.1-2] # must follow a separator"),
        ValidationCase("a/#b", .invalidWildcard, "[MQTT-4.7.1-2] # must be alone in its level"),
        ValidationCase("##", .invalidWildcard, "[MQTT-4.7.1-2]"),
        ValidationCase("a+", .invalidWildcard, "[MQTT-4.7.1-3] + must occupy an entire level"),
        ValidationCase("+a", .invalidWildcard, "[MQTT-4.7.1-3]"),
        ValidationCase("a/b+/c", .invalidWildcard, "[MQTT-4.7.1-3]"),
        ValidationCase("++", .invalidWildcard, "[MQTT-4.7.1-3]"),
        ValidationCase("+#", .invalidWildcard, "[MQTT-4.7.1-3]"),
        ValidationCase("a\u{0}", .nullCharacter, "[MQTT-4.7.3-2]"),
        ValidationCase(String(repeating: "x", count: 257), .tooLong(257), "AWS §1.8"),
        ValidationCase(levels(9, "+"), .tooManyLevels(9), "AWS §1.8"),
        ValidationCase("$share/", .invalidSharedSubscription, "[MQTT-4.8.2-1] no group"),
        ValidationCase("$share//a", .invalidSharedSubscription, "[MQTT-4.8.2-1] empty group"),
        ValidationCase("$share/g", .invalidSharedSubscription, "[MQTT-4.8.2-2] no `/` after the group"),
        ValidationCase("$share/g/", .invalidSharedSubscription, "[MQTT-4.8.2-2] no filter after the `/`"),
        ValidationCase("$share/g+/a", .invalidSharedSubscription, "[MQTT-4.8.2-2] + in the group"),
        ValidationCase("$share/#/a", .invalidSharedSubscription, "[MQTT-4.8.2-2] # in the group"),
        ValidationCase("$share/" + String(repeating: "g", count: 129) + "/a", .invalidSharedSubscription, "AWS §1.6"),
        ValidationCase("$share/g\u{0}/a", .nullCharacter, "[MQTT-4.7.3-2] in the group"),
        ValidationCase("$share/g/a/#/b", .invalidWildcard, "[MQTT-4.7.1-2] in the filter part"),
        ValidationCase("$share/g/" + String(repeating: "x", count: 257), .tooLong(257), "AWS §1.6"),
        ValidationCase("$share/g/" + levels(9), .tooManyLevels(9), "AWS §1.6"),
    ]

    @Test(arguments: cases)
    func parseFilter(_ row: ValidationCase) {
        let outcome = Result { () throws(TopicError) in try Topic.parseFilter(row.input, limits: row.limits) }
        switch (outcome, row.expected) {
        case (.success, .success): break
        case (.failure(let got), .failure(let want)): #expect(got == want)
        case (.success, .failure(let want)): Issue.record("accepted; expected \(want)")
        case (.failure(let got), .success): Issue.record("rejected with \(got); expected valid")
        }
    }

    @Test("[MQTT-4.8.2-1] $share/{group}/{filter} is split into its parts")
    func sharedParts() throws {
        let parsed = try Topic.parseFilter("$share/workers/jobs/+/run")
        let expected = TopicFilter(
            raw: "$share/workers/jobs/+/run", filter: "jobs/+/run", shareGroup: "workers", hasWildcards: true)
        #expect(parsed == expected)
        let plain = try Topic.parseFilter("$share")
        #expect(plain == TopicFilter(raw: "$share", filter: "$share", shareGroup: nil, hasWildcards: false))
    }

    @Test(
        "hasWildcards is true exactly when a level is + or #",
        arguments: [
            ("a/b", false), ("a/+", true), ("#", true), ("a/#", true), ("$share/g/a", false), ("$share/g/+", true),
        ])
    func hasWildcards(_ filter: String, _ expected: Bool) throws {
        #expect(try Topic.parseFilter(filter).hasWildcards == expected)
    }
}
