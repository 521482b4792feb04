import Testing

@testable import Shadow

/// One `/update` request against a previous document, with the exact payloads expected. `now` is 200 unless said.
struct UpdateCase: CustomTestStringConvertible, Sendable {
    /// The rule checked, with its AWS-IOT-SPEC section.
    var name: String
    var previous: String?
    var request: String
    var now: Int64 = 200
    /// `/update/accepted` (nil: the update must be rejected).
    var accepted: String?
    /// `/update/delta` (nil: no delta message).
    var delta: String?
    /// `/update/documents` (nil: not checked in this case).
    var documents: String?
    /// The new stored document, storage form (nil: not checked in this case).
    var stored: String?
    /// The `/rejected` payload.
    var rejected: String?
    /// Raw request bytes, when they cannot be written as a Swift string (replaces `request`).
    var bytes: [UInt8]? = nil

    var testDescription: String { name }
}

let p1 = Golden.p1

let updateCases: [UpdateCase] = [
    // MARK: creation and version (§5.2 Version)
    UpdateCase(
        name: "§5.2 version: first update of a missing shadow creates it at version 1, no previous in documents",
        previous: nil, request: #"{"state":{"reported":{"a":1}}}"#,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":1,"timestamp":200}"#,
        documents: #"{"current":{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":1},"timestamp":200}"#,
        stored: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 delta: a new shadow with only desired publishes the whole desired as delta",
        previous: nil, request: #"{"state":{"desired":{"a":1}}}"#,
        accepted: #"{"state":{"desired":{"a":1}},"metadata":{"desired":{"a":{"timestamp":200}}},"version":1,"timestamp":200}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"a":1},"metadata":{"a":{"timestamp":200}}}"#),
    UpdateCase(
        name: "§5.2 messages: desired change gives accepted (request only), full delta, documents previous/current; clientToken echoed on all three",
        previous: p1, request: #"{"state":{"desired":{"color":"green"}},"clientToken":"c1"}"#,
        accepted: #"{"state":{"desired":{"color":"green"}},"metadata":{"desired":{"color":{"timestamp":200}}},"version":6,"timestamp":200,"clientToken":"c1"}"#,
        delta: #"{"version":6,"timestamp":200,"state":{"color":"green"},"metadata":{"color":{"timestamp":200}},"clientToken":"c1"}"#,
        documents: #"{"previous":{"state":{"desired":{"color":"red","size":2},"reported":{"color":"blue","size":2}},"metadata":{"desired":{"color":{"timestamp":100},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":5},"current":{"state":{"desired":{"color":"green","size":2},"reported":{"color":"blue","size":2}},"metadata":{"desired":{"color":{"timestamp":200},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":6},"timestamp":200,"clientToken":"c1"}"#),
    UpdateCase(
        name: "§5.2 version: a matching version is accepted and incremented by exactly 1",
        previous: p1, request: #"{"state":{"reported":{"size":3}},"version":5}"#,
        accepted: #"{"state":{"reported":{"size":3}},"metadata":{"reported":{"size":{"timestamp":200}}},"version":6,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 version: a stale version is 409 Version conflict, clientToken echoed",
        previous: p1, request: #"{"state":{"reported":{"size":3}},"version":4,"clientToken":"tok"}"#,
        rejected: #"{"code":409,"message":"Version conflict","timestamp":200,"clientToken":"tok"}"#),
    UpdateCase(
        name: "§5.2 version: a future version is 409 Version conflict too",
        previous: p1, request: #"{"state":{"reported":{"size":3}},"version":6}"#,
        rejected: #"{"code":409,"message":"Version conflict","timestamp":200}"#),
    UpdateCase(
        name: "§5.2 version: with no shadow the current version is 0, so version 0 creates it",
        previous: nil, request: #"{"state":{"reported":{"a":1}},"version":0}"#,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 version: with no shadow any other version is 409",
        previous: nil, request: #"{"state":{"reported":{"a":1}},"version":3}"#,
        rejected: #"{"code":409,"message":"Version conflict","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Invalid version: a string version is 400",
        previous: p1, request: #"{"state":{"reported":{"a":1}},"version":"5","clientToken":"t"}"#,
        rejected: #"{"code":400,"message":"Invalid version","timestamp":200,"clientToken":"t"}"#),
    UpdateCase(
        name: "§5.4 Invalid version: a fractional version is 400",
        previous: p1, request: #"{"state":{"reported":{"a":1}},"version":5.0}"#,
        rejected: #"{"code":400,"message":"Invalid version","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Invalid version: a negative version is 400",
        previous: p1, request: #"{"state":{"reported":{"a":1}},"version":-1}"#,
        rejected: #"{"code":400,"message":"Invalid version","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Invalid version: a version beyond Int64 is 400",
        previous: p1, request: #"{"state":{"reported":{"a":1}},"version":99999999999999999999}"#,
        rejected: #"{"code":400,"message":"Invalid version","timestamp":200}"#),
    UpdateCase(
        name: "§5.2 48 h rule: an update within 48 h of the delete continues the deleted version (+1), no previous",
        previous: Golden.tombstone, request: #"{"state":{"reported":{"a":1}}}"#, now: 100 + 48 * 3600 - 1,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":172899}}},"version":8,"timestamp":172899}"#,
        documents: #"{"current":{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":172899}}},"version":8},"timestamp":172899}"#,
        stored: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":172899}}},"version":8,"timestamp":172899}"#),
    UpdateCase(
        name: "§5.2 48 h rule: an update 48 h or more after the delete restarts at version 1",
        previous: Golden.tombstone, request: #"{"state":{"reported":{"a":1}}}"#, now: 100 + 48 * 3600,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":172900}}},"version":1,"timestamp":172900}"#),
    UpdateCase(
        name: "§5.2 48 h rule: within 48 h the expected version is the deleted one",
        previous: Golden.tombstone, request: #"{"state":{"reported":{"a":1}},"version":7}"#,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":8,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 48 h rule: within 48 h version 0 is a conflict",
        previous: Golden.tombstone, request: #"{"state":{"reported":{"a":1}},"version":0}"#,
        rejected: #"{"code":409,"message":"Version conflict","timestamp":200}"#),

    // MARK: merge (§5.2 Deep merge)
    UpdateCase(
        name: "§5.2 merge: only the given fields change; a new key is appended after the existing ones",
        previous: p1, request: #"{"state":{"reported":{"power":true}}}"#,
        accepted: #"{"state":{"reported":{"power":true}},"metadata":{"reported":{"power":{"timestamp":200}}},"version":6,"timestamp":200}"#,
        stored: #"{"state":{"desired":{"color":"red","size":2},"reported":{"color":"blue","size":2,"power":true}},"metadata":{"desired":{"color":{"timestamp":100},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100},"power":{"timestamp":200}}},"version":6,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: null removes the key and its metadata, and is echoed with a timestamp on accepted",
        previous: p1, request: #"{"state":{"desired":{"color":null}}}"#,
        accepted: #"{"state":{"desired":{"color":null}},"metadata":{"desired":{"color":{"timestamp":200}}},"version":6,"timestamp":200}"#,
        stored: #"{"state":{"desired":{"size":2},"reported":{"color":"blue","size":2}},"metadata":{"desired":{"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":6,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: \"desired\": null removes the whole desired section",
        previous: p1, request: #"{"state":{"desired":null}}"#,
        accepted: #"{"state":{"desired":null},"metadata":{"desired":{"timestamp":200}},"version":6,"timestamp":200}"#,
        stored: #"{"state":{"reported":{"color":"blue","size":2}},"metadata":{"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":6,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: \"state\": null clears all state but keeps the shadow, version incremented",
        previous: p1, request: #"{"state":null,"clientToken":"z"}"#,
        accepted: #"{"state":null,"metadata":{"timestamp":200},"version":6,"timestamp":200,"clientToken":"z"}"#,
        documents: #"{"previous":{"state":{"desired":{"color":"red","size":2},"reported":{"color":"blue","size":2}},"metadata":{"desired":{"color":{"timestamp":100},"size":{"timestamp":100}},"reported":{"color":{"timestamp":100},"size":{"timestamp":100}}},"version":5},"current":{"state":{},"metadata":{},"version":6},"timestamp":200,"clientToken":"z"}"#,
        stored: #"{"state":{},"metadata":{},"version":6,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: deleting the last key of a section removes the section (no empty objects stored)",
        previous: #"{"state":{"desired":{"a":1},"reported":{"a":2}},"metadata":{"desired":{"a":{"timestamp":100}},"reported":{"a":{"timestamp":100}}},"version":1,"timestamp":100}"#,
        request: #"{"state":{"desired":{"a":null}}}"#,
        accepted: #"{"state":{"desired":{"a":null}},"metadata":{"desired":{"a":{"timestamp":200}}},"version":2,"timestamp":200}"#,
        stored: #"{"state":{"reported":{"a":2}},"metadata":{"reported":{"a":{"timestamp":100}}},"version":2,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: nested objects merge member by member, untouched members keep their timestamps",
        previous: Golden.nested, request: #"{"state":{"reported":{"cfg":{"b":3,"c":4}}}}"#,
        accepted: #"{"state":{"reported":{"cfg":{"b":3,"c":4}}},"metadata":{"reported":{"cfg":{"b":{"timestamp":200},"c":{"timestamp":200}}}},"version":4,"timestamp":200}"#,
        stored: #"{"state":{"reported":{"cfg":{"a":1,"b":3,"c":4}}},"metadata":{"reported":{"cfg":{"a":{"timestamp":100},"b":{"timestamp":200},"c":{"timestamp":200}}}},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: null deletes a nested key",
        previous: Golden.nested, request: #"{"state":{"reported":{"cfg":{"a":null}}}}"#,
        stored: #"{"state":{"reported":{"cfg":{"b":2}}},"metadata":{"reported":{"cfg":{"b":{"timestamp":100}}}},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: a nested object emptied by nulls is removed, up to its section",
        previous: Golden.nested, request: #"{"state":{"reported":{"cfg":{"a":null,"b":null}}}}"#,
        accepted: #"{"state":{"reported":{"cfg":{"a":null,"b":null}}},"metadata":{"reported":{"cfg":{"a":{"timestamp":200},"b":{"timestamp":200}}}},"version":4,"timestamp":200}"#,
        stored: #"{"state":{},"metadata":{},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: null on a missing key is accepted and changes nothing but the version",
        previous: Golden.nested, request: #"{"state":{"reported":{"zzz":null}}}"#,
        stored: #"{"state":{"reported":{"cfg":{"a":1,"b":2}}},"metadata":{"reported":{"cfg":{"a":{"timestamp":100},"b":{"timestamp":100}}}},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: a scalar replaced by an object takes the object and its metadata",
        previous: Golden.nested, request: #"{"state":{"reported":{"cfg":{"a":{"x":1}}}}}"#,
        stored: #"{"state":{"reported":{"cfg":{"a":{"x":1},"b":2}}},"metadata":{"reported":{"cfg":{"a":{"x":{"timestamp":200}},"b":{"timestamp":100}}}},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: an object replaced by a scalar becomes one leaf",
        previous: Golden.nested, request: #"{"state":{"reported":{"cfg":"off"}}}"#,
        stored: #"{"state":{"reported":{"cfg":"off"}},"metadata":{"reported":{"cfg":{"timestamp":200}}},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: an object replaced by an array",
        previous: Golden.nested, request: #"{"state":{"reported":{"cfg":[1,2]}}}"#,
        stored: #"{"state":{"reported":{"cfg":[1,2]}},"metadata":{"reported":{"cfg":[{"timestamp":200},{"timestamp":200}]}},"version":4,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 arrays replace wholesale (a shorter array is not merged into the old one)",
        previous: #"{"state":{"reported":{"l":[1,2,3]}},"metadata":{"reported":{"l":[{"timestamp":100},{"timestamp":100},{"timestamp":100}]}},"version":1,"timestamp":100}"#,
        request: #"{"state":{"reported":{"l":[4]}}}"#,
        accepted: #"{"state":{"reported":{"l":[4]}},"metadata":{"reported":{"l":[{"timestamp":200}]}},"version":2,"timestamp":200}"#,
        stored: #"{"state":{"reported":{"l":[4]}},"metadata":{"reported":{"l":[{"timestamp":200}]}},"version":2,"timestamp":200}"#),
    UpdateCase(
        name: "§5.1 metadata: arrays map element-wise, objects inside arrays recurse, empty array has []",
        previous: nil, request: #"{"state":{"reported":{"l":[{"x":1},2,[3]],"e":[]}}}"#,
        accepted: #"{"state":{"reported":{"l":[{"x":1},2,[3]],"e":[]}},"metadata":{"reported":{"l":[{"x":{"timestamp":200}},{"timestamp":200},[{"timestamp":200}]],"e":[]}},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 arrays may not contain null (400)",
        previous: p1, request: #"{"state":{"reported":{"l":[1,null]}},"clientToken":"t"}"#,
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200,"clientToken":"t"}"#),
    UpdateCase(
        name: "§5.2 arrays may not contain null, also nested in an object inside an array",
        previous: nil, request: #"{"state":{"desired":{"l":[{"a":[null]}]}}}"#,
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
    UpdateCase(
        name: "§5.2 merge: an empty desired object on a new shadow is accepted, stores no section",
        previous: nil, request: #"{"state":{"desired":{}}}"#,
        accepted: #"{"state":{"desired":{}},"metadata":{"desired":{}},"version":1,"timestamp":200}"#,
        stored: #"{"state":{},"metadata":{},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 version: an empty state object is an accepted update (version +1, nothing changes)",
        previous: p1, request: #"{"state":{}}"#,
        accepted: #"{"state":{},"metadata":{},"version":6,"timestamp":200}"#),
    UpdateCase(
        name: "§5.2 request: content outside state (other than clientToken and version) is ignored",
        previous: nil, request: #"{"foo":{"bar":[null]},"state":{"reported":{"a":1}},"timestamp":5}"#,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "determinism: whitespace and escapes in the request come out canonical (é raw, \\n escaped, \\/ as /)",
        previous: nil, request: "{ \"state\" : { \"reported\" : { \"s\" : \"\\u00e9\\n\\/\" , \"n\" : -1.5e3 } } }",
        accepted: #"{"state":{"reported":{"s":"é\n/","n":-1.5e3}},"metadata":{"reported":{"s":{"timestamp":200},"n":{"timestamp":200}}},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "parser: a repeated member name keeps the last value at the first position",
        previous: nil, request: #"{"state":{"reported":{"a":1,"b":2,"a":3}}}"#,
        accepted: #"{"state":{"reported":{"a":3,"b":2}},"metadata":{"reported":{"a":{"timestamp":200},"b":{"timestamp":200}}},"version":1,"timestamp":200}"#),

    // MARK: delta (§5.2 Delta)
    UpdateCase(
        name: "§5.2 delta: only desired keys that differ from reported (equal keys left out)",
        previous: p1, request: #"{"state":{"desired":{"size":3}}}"#,
        accepted: #"{"state":{"desired":{"size":3}},"metadata":{"desired":{"size":{"timestamp":200}}},"version":6,"timestamp":200}"#,
        delta: #"{"version":6,"timestamp":200,"state":{"color":"red","size":3},"metadata":{"color":{"timestamp":100},"size":{"timestamp":200}}}"#),
    UpdateCase(
        name: "§5.2 delta: a desired update that makes desired equal reported publishes no delta",
        previous: p1, request: #"{"state":{"desired":{"color":"blue"}}}"#,
        accepted: #"{"state":{"desired":{"color":"blue"}},"metadata":{"desired":{"color":{"timestamp":200}}},"version":6,"timestamp":200}"#,
        delta: nil),
    UpdateCase(
        name: "§5.2 delta: a reported-only update publishes no delta even when desired still differs",
        previous: p1, request: #"{"state":{"reported":{"color":"green"}}}"#,
        accepted: #"{"state":{"reported":{"color":"green"}},"metadata":{"reported":{"color":{"timestamp":200}}},"version":6,"timestamp":200}"#,
        delta: nil),
    UpdateCase(
        name: "§5.2 delta: keys only in reported are excluded",
        previous: nil, request: #"{"state":{"desired":{"a":1,"b":2},"reported":{"a":1,"z":9}}}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"b":2},"metadata":{"b":{"timestamp":200}}}"#),
    UpdateCase(
        name: "§5.2 delta: nested objects recurse and keep the path to the root",
        previous: nil,
        request: #"{"state":{"desired":{"cfg":{"a":1,"b":2,"x":{"y":1}}},"reported":{"cfg":{"a":1,"b":3,"z":0}}}}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"cfg":{"b":2,"x":{"y":1}}},"metadata":{"cfg":{"b":{"timestamp":200},"x":{"y":{"timestamp":200}}}}}"#),
    UpdateCase(
        name: "§5.2 delta: a type mismatch (object vs scalar) gives the whole desired value",
        previous: nil, request: #"{"state":{"desired":{"cfg":{"a":1}},"reported":{"cfg":5}}}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"cfg":{"a":1}},"metadata":{"cfg":{"a":{"timestamp":200}}}}"#),
    UpdateCase(
        name: "§5.2 delta: arrays compare whole; any difference gives the whole desired array",
        previous: nil, request: #"{"state":{"desired":{"l":[1,2]},"reported":{"l":[1,3]}}}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"l":[1,2]},"metadata":{"l":[{"timestamp":200},{"timestamp":200}]}}"#),
    UpdateCase(
        name: "§5.2 delta: equal arrays give no delta",
        previous: nil, request: #"{"state":{"desired":{"l":[1,{"a":2}]},"reported":{"l":[1,{"a":2}]}}}"#,
        delta: nil),
    UpdateCase(
        name: "§5.2 delta: numbers compare as JSON values of their own text (1 and 1.0 differ)",
        previous: nil, request: #"{"state":{"desired":{"n":1},"reported":{"n":1.0}}}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"n":1},"metadata":{"n":{"timestamp":200}}}"#),
    UpdateCase(
        name: "§5.2 delta: the delta message carries the same version as accepted, and the clientToken",
        previous: p1, request: #"{"state":{"desired":{"size":9}},"version":5,"clientToken":"same"}"#,
        accepted: #"{"state":{"desired":{"size":9}},"metadata":{"desired":{"size":{"timestamp":200}}},"version":6,"timestamp":200,"clientToken":"same"}"#,
        delta: #"{"version":6,"timestamp":200,"state":{"color":"red","size":9},"metadata":{"color":{"timestamp":100},"size":{"timestamp":200}},"clientToken":"same"}"#),

    // MARK: clientToken (§5.2, §5.4 Invalid clientToken)
    UpdateCase(
        name: "§5.4 clientToken: 64 bytes is accepted and echoed",
        previous: nil, request: #"{"state":{"reported":{"a":1}},"clientToken":""# + String(repeating: "k", count: 64) + #""}"#,
        accepted: #"{"state":{"reported":{"a":1}},"metadata":{"reported":{"a":{"timestamp":200}}},"version":1,"timestamp":200,"clientToken":""#
            + String(repeating: "k", count: 64) + #""}"#),
    UpdateCase(
        name: "§5.4 clientToken: 65 bytes is 400 Invalid clientToken, not echoed",
        previous: nil, request: #"{"state":{"reported":{"a":1}},"clientToken":""# + String(repeating: "k", count: 65) + #""}"#,
        rejected: #"{"code":400,"message":"Invalid clientToken","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 clientToken: the limit is in UTF-8 bytes (33 × é = 66 bytes)",
        previous: nil, request: #"{"state":{"reported":{"a":1}},"clientToken":""# + String(repeating: "é", count: 33) + #""}"#,
        rejected: #"{"code":400,"message":"Invalid clientToken","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 clientToken: a non-string token is 400 Invalid clientToken",
        previous: nil, request: #"{"state":{"reported":{"a":1}},"clientToken":12}"#,
        rejected: #"{"code":400,"message":"Invalid clientToken","timestamp":200}"#),

    // MARK: request shape (§5.4 400s)
    UpdateCase(
        name: "§5.4 Invalid JSON: a truncated document",
        previous: p1, request: #"{"state":{"reported":"#,
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Invalid JSON: a top-level array",
        previous: p1, request: #"[{"state":{}}]"#,
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Invalid JSON: an empty update payload",
        previous: p1, request: "",
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Invalid JSON: trailing text after the document",
        previous: nil, request: #"{"state":{}} x"#,
        rejected: #"{"code":400,"message":"Invalid JSON","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Missing required node: state (clientToken echoed)",
        previous: p1, request: #"{"clientToken":"t","desired":{"a":1}}"#,
        rejected: #"{"code":400,"message":"Missing required node: state","timestamp":200,"clientToken":"t"}"#),
    UpdateCase(
        name: "§5.4 State node must be an object: a string state",
        previous: p1, request: #"{"state":"on"}"#,
        rejected: #"{"code":400,"message":"State node must be an object","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 State node must be an object: an array state",
        previous: p1, request: #"{"state":[]}"#,
        rejected: #"{"code":400,"message":"State node must be an object","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Desired node must be an object",
        previous: p1, request: #"{"state":{"desired":5}}"#,
        rejected: #"{"code":400,"message":"Desired node must be an object","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 Reported node must be an object (an array is not one)",
        previous: p1, request: #"{"state":{"reported":["a"]}}"#,
        rejected: #"{"code":400,"message":"Reported node must be an object","timestamp":200}"#),
    UpdateCase(
        name: "§5.2 State contains an invalid node: delta cannot be written",
        previous: p1, request: #"{"state":{"delta":{"a":1}},"clientToken":"t"}"#,
        rejected: #"{"code":400,"message":"State contains an invalid node","timestamp":200,"clientToken":"t"}"#),
    UpdateCase(
        name: "§5.2 State contains an invalid node: any key besides desired/reported",
        previous: nil, request: #"{"state":{"reported":{"a":1},"other":1}}"#,
        rejected: #"{"code":400,"message":"State contains an invalid node","timestamp":200}"#),
    UpdateCase(
        name: "§5.4 415: a payload that is not UTF-8",
        previous: nil, request: "",
        rejected: #"{"code":415,"message":"Unsupported documented encoding; supported encoding is UTF-8","timestamp":200}"#,
        bytes: Array(#"{"state":{"reported":{"a":""#.utf8) + [0xFF] + Array(#""}}}"#.utf8)),

    // MARK: limits (§5.5)
    UpdateCase(
        name: "§5.5 depth: 6 levels in desired (the section and 5 nested objects) are accepted",
        previous: nil, request: #"{"state":{"desired":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}}}}"#,
        delta: #"{"version":1,"timestamp":200,"state":{"a":{"b":{"c":{"d":{"e":{"f":1}}}}}},"metadata":{"a":{"b":{"c":{"d":{"e":{"f":{"timestamp":200}}}}}}}}"#),
    UpdateCase(
        name: "§5.5 depth: 7 levels in reported are 400 too many levels of nesting",
        previous: nil, request: #"{"state":{"reported":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}},"clientToken":"d"}"#,
        rejected: #"{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6","timestamp":200,"clientToken":"d"}"#),
    UpdateCase(
        name: "§5.5 depth: arrays count as levels",
        previous: nil, request: #"{"state":{"reported":{"a":[[[[[[1]]]]]]}}}"#,
        rejected: #"{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6","timestamp":200}"#),
    UpdateCase(
        name: "§5.5 depth: a document nested beyond the parser's bound is the nesting error, not Invalid JSON",
        previous: nil, request: #"{"state":{"reported":{"a":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}}}",
        rejected: #"{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6","timestamp":200}"#),
    UpdateCase(
        name: "§5.5 size: a state of exactly 8192 bytes is accepted",
        previous: nil, request: #"{"state":{"reported":{"big":""# + String(repeating: "x", count: 8192 - 23) + #""}}}"#,
        stored: #"{"state":{"reported":{"big":""# + String(repeating: "x", count: 8192 - 23)
            + #""}},"metadata":{"reported":{"big":{"timestamp":200}}},"version":1,"timestamp":200}"#),
    UpdateCase(
        name: "§5.5 size: 8193 bytes of state is 413",
        previous: nil, request: #"{"state":{"reported":{"big":""# + String(repeating: "x", count: 8193 - 23) + #""}},"clientToken":"s"}"#,
        rejected: #"{"code":413,"message":"The payload exceeds the maximum size allowed","timestamp":200,"clientToken":"s"}"#),
    UpdateCase(
        name: "§5.5 size: the limit is on the merged document — a tiny update that tips it over is 413",
        previous: #"{"state":{"reported":{"big":""# + String(repeating: "x", count: 8192 - 23)
            + #""}},"metadata":{"reported":{"big":{"timestamp":100}}},"version":1,"timestamp":100}"#,
        request: #"{"state":{"desired":{"a":1}}}"#,
        rejected: #"{"code":413,"message":"The payload exceeds the maximum size allowed","timestamp":200}"#),
    UpdateCase(
        name: "§5.5 size: metadata does not count, and removing keys can bring a document back under the limit",
        previous: #"{"state":{"reported":{"big":""# + String(repeating: "x", count: 8192 - 23)
            + #""}},"metadata":{"reported":{"big":{"timestamp":100}}},"version":1,"timestamp":100}"#,
        request: #"{"state":{"reported":{"big":null,"small":1}}}"#,
        stored: #"{"state":{"reported":{"small":1}},"metadata":{"reported":{"small":{"timestamp":200}}},"version":2,"timestamp":200}"#),
]

@Suite struct UpdateTableTests {
    @Test(arguments: updateCases)
    func test_update(_ c: UpdateCase) throws {
        let previous = Golden.document(c.previous)
        let request = c.bytes ?? Array(c.request.utf8)
        let result = Shadow.update(previous, request: request, now: c.now)
        switch result {
        case .success(let r):
            #expect(c.rejected == nil, "accepted, expected rejected \(c.rejected ?? "")")
            if let accepted = c.accepted { #expect(text(r.accepted) == accepted) }
            #expect(text(r.delta) == c.delta)
            if let documents = c.documents { #expect(text(r.documents) == documents) }
            if let stored = c.stored { #expect(text(r.document.storageBytes()) == stored) }
            // Whatever the case, the stored document round-trips and stays within its invariants.
            let back = try ShadowDocument(storageBytes: r.document.storageBytes())
            #expect(back == r.document)
        case .failure(let e):
            #expect(text(e.payload(timestamp: c.now)) == c.rejected)
        }
    }

    @Test func test_at_least_50_cases() {
        #expect(updateCases.count >= 50)
    }
}
