import Testing

@testable import Shadow

/// A `/get` or `/delete` request with its exact answer (`now` = 200).
struct ReadCase: CustomTestStringConvertible, Sendable {
    enum Op: Sendable { case get, delete }
    var name: String
    var op: Op
    var previous: String?
    var request: String
    var shadowName: String? = nil
    /// The `/get/accepted` or `/delete/accepted` payload.
    var accepted: String? = nil
    /// The `/rejected` payload.
    var rejected: String? = nil
    var testDescription: String { name }
}

let readCases: [ReadCase] = [
    ReadCase(
        name: "§5.2 GET: an empty payload returns state with the computed delta, metadata without delta, time of the answer",
        op: .get, previous: Golden.p1, request: "",
        accepted: #"{"state":{"desired":{"color":"red","size":2},"reported":{"color":"blue","size":2},"delta":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":100},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":5,"timestamp":200}"#),
    ReadCase(
        name: "§5.2 GET: {\"clientToken\":…} is echoed",
        op: .get, previous: Golden.p1, request: #"{"clientToken":"g1"}"#,
        accepted: #"{"state":{"desired":{"color":"red","size":2},"reported":{"color":"blue","size":2},"delta":{"color":"red"}},"metadata":{"desired":{"color":{"timestamp":100},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":5,"timestamp":200,"clientToken":"g1"}"#),
    ReadCase(
        name: "§5.2 GET: no delta key when desired matches (or is absent)",
        op: .get, previous: Golden.nested, request: "{}",
        accepted: #"{"state":{"reported":{"cfg":{"a":1,"b":2}}},"metadata":{"reported":{"cfg":{"a":{"timestamp":100},"b":{"timestamp":100}}}},"version":3,"timestamp":200}"#),
    ReadCase(
        name: "§5.2 GET: a shadow whose state was cleared still exists",
        op: .get, previous: #"{"state":{},"metadata":{},"version":6,"timestamp":150}"#, request: "",
        accepted: #"{"state":{},"metadata":{},"version":6,"timestamp":200}"#),
    ReadCase(
        name: "§5.2/§5.4 GET: a missing classic shadow is 404 naming the thing",
        op: .get, previous: nil, request: #"{"clientToken":"c"}"#,
        rejected: #"{"code":404,"message":"No shadow exists with name: 'thing1'","timestamp":200,"clientToken":"c"}"#),
    ReadCase(
        name: "§5.2/§5.4 GET: a missing named shadow is 404 naming the shadow",
        op: .get, previous: nil, request: "", shadowName: "shadowA",
        rejected: #"{"code":404,"message":"No shadow exists with name: 'shadowA'","timestamp":200}"#),
    ReadCase(
        name: "§5.2 GET: a deleted shadow (tombstone) is 404",
        op: .get, previous: Golden.tombstone, request: "",
        rejected: #"{"code":404,"message":"No shadow exists with name: 'thing1'","timestamp":200}"#),
    ReadCase(
        name: "§5.4 GET: a malformed payload is 400 Invalid JSON",
        op: .get, previous: Golden.p1, request: "{clientToken}",
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
    ReadCase(
        name: "§5.4 GET: an over-long clientToken is 400 Invalid clientToken",
        op: .get, previous: Golden.p1, request: #"{"clientToken":""# + String(repeating: "x", count: 65) + #""}"#,
        rejected: #"{"code":400,"message":"Invalid clientToken","timestamp":200}"#),
    ReadCase(
        name: "§5.2 DELETE: an empty payload answers the deleted shadow's version and the time",
        op: .delete, previous: Golden.p1, request: "",
        accepted: #"{"version":5,"timestamp":200}"#),
    ReadCase(
        name: "§5.2 DELETE: clientToken echoed",
        op: .delete, previous: Golden.p1, request: #"{"clientToken":"d1"}"#,
        accepted: #"{"version":5,"timestamp":200,"clientToken":"d1"}"#),
    ReadCase(
        name: "§5.2 DELETE: a matching version is accepted",
        op: .delete, previous: Golden.p1, request: #"{"version":5}"#,
        accepted: #"{"version":5,"timestamp":200}"#),
    ReadCase(
        name: "§5.4 DELETE: a stale version is 409 Version conflict",
        op: .delete, previous: Golden.p1, request: #"{"version":2,"clientToken":"d2"}"#,
        rejected: #"{"code":409,"message":"Version conflict","timestamp":200,"clientToken":"d2"}"#),
    ReadCase(
        name: "§5.4 DELETE: a missing named shadow is 404",
        op: .delete, previous: nil, request: "", shadowName: "s",
        rejected: #"{"code":404,"message":"No shadow exists with name: 's'","timestamp":200}"#),
    ReadCase(
        name: "§5.4 DELETE: deleting twice is 404 the second time (tombstone)",
        op: .delete, previous: Golden.tombstone, request: "",
        rejected: #"{"code":404,"message":"No shadow exists with name: 'thing1'","timestamp":200}"#),
    ReadCase(
        name: "§5.4 DELETE: a non-object payload is 400 Invalid JSON",
        op: .delete, previous: Golden.p1, request: "42",
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
]

@Suite struct GetDeleteTests {
    @Test(arguments: readCases)
    func test_read(_ c: ReadCase) {
        let previous = Golden.document(c.previous)
        let request = Array(c.request.utf8)
        let result =
            switch c.op {
            case .get: Shadow.get(previous, request: request, thingName: "thing1", shadowName: c.shadowName, now: 200)
            case .delete:
                Shadow.delete(previous, request: request, thingName: "thing1", shadowName: c.shadowName, now: 200)
            }
        switch result {
        case .success(let bytes):
            #expect(c.rejected == nil)
            #expect(text(bytes) == c.accepted)
        case .failure(let e):
            #expect(c.accepted == nil)
            #expect(text(e.payload(timestamp: 200)) == c.rejected)
        }
    }

    @Test("§5.2 DELETE leaves a tombstone with the deleted version; the next update continues from it")
    func test_delete_then_recreate() throws {
        let p1 = try #require(Golden.document(Golden.p1))
        let deleted = try Shadow.applyDelete(p1, request: [], shadowName: "s", now: 300).get()
        #expect(text(deleted.tombstone.storageBytes()) == #"{"state":{},"metadata":{},"version":5,"timestamp":300,"deleted":300}"#)
        #expect(deleted.tombstone.isDeleted)
        #expect(text(deleted.accepted) == #"{"version":5,"timestamp":300}"#)
        #expect(!Shadow.isExpired(deleted.tombstone, now: 300 + Shadow.versionRetentionSeconds - 1))
        #expect(Shadow.isExpired(deleted.tombstone, now: 300 + Shadow.versionRetentionSeconds))
        let again = try Shadow.update(deleted.tombstone, request: Array(#"{"state":{"desired":{"x":1}}}"#.utf8), now: 400).get()
        #expect(again.document.version == 6)
        #expect(!again.document.isDeleted)
        // The recreated shadow keeps nothing of the deleted state.
        #expect(text(again.document.storageBytes()) == #"{"state":{"desired":{"x":1}},"metadata":{"desired":{"x":{"timestamp":400}}},"version":6,"timestamp":400}"#)
    }

    @Test("§5.1 names: botocore iot-data ThingName and ShadowName patterns and lengths", arguments: [
        ("thing-1:a_b", nil, nil),
        ("thing1", "$package", nil),
        ("thing1", "s:1_2-3", nil),
        (String(repeating: "t", count: 128), String(repeating: "s", count: 64), nil),
        (String(repeating: "t", count: 129), nil, "Invalid thing name"),
        ("", nil, "Invalid thing name"),
        ("thing 1", nil, "Invalid thing name"),
        ("$thing", nil, "Invalid thing name"),
        ("thing/1", nil, "Invalid thing name"),
        ("thing1", "", "Invalid shadow name"),
        ("thing1", String(repeating: "s", count: 65), "Invalid shadow name"),
        ("thing1", "a+b", "Invalid shadow name"),
        ("thing1", "é", "Invalid shadow name"),
    ] as [(String, String?, String?)])
    func test_names(thing: String, shadow: String?, problem: String?) {
        let e = Shadow.nameProblem(thingName: thing, shadowName: shadow)
        #expect(e?.message == problem)
        if e != nil { #expect(e?.code == 400) }
    }
}
