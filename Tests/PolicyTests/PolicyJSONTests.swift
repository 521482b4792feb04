import Testing

@testable import Policy

@Suite struct PolicyJSONTests {
    @Test("values", arguments: [
        (#"{"a":[1,-2.5e3,true,false,null,"x"]}"#, PolicyJSON.object([("a", .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("x")]))])),
        (#""\u00e9\ud83d\ude00\n\"\\\/""#, .string("é😀\n\"\\/")),
        (#"  "été"  "#, .string("été")),
        ("[]", .array([])),
        ("{}", .object([])),
        (#"{"k":{"k":{}}}"#, .object([("k", .object([("k", .object([]))]))])),
    ] as [(String, PolicyJSON)])
    func test_parse(text: String, expected: PolicyJSON) throws {
        #expect(try PolicyJSON.parse(text) == expected)
    }

    @Test("refused", arguments: [
        "[1,]", "[01]", "[1.]", "[-]", "tru", "\"a", "\"\u{01}\"", "[1 2]", "{\"a\" 1}", "{1:2}", "nul",
        String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func test_refused(text: String) {
        #expect(throws: PolicyError.self) { try PolicyJSON.parse(text) }
    }
}
