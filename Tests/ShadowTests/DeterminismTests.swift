import Testing

@testable import Shadow

/// Every node applies the same requests: the same inputs must give the same bytes, and a stored document must come
/// back from its storage bytes unchanged.
@Suite struct DeterminismTests {
    /// A small deterministic generator (no randomness in tests).
    struct LCG {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
    }

    /// A request drawn from a fixed vocabulary: sets, nulls, nested objects, arrays, `state: null`, versions.
    static func request(_ g: inout LCG, version: Int64) -> String {
        let keys = ["a", "b", "c", "é", "q\"t"]
        func value(_ depth: Int) -> String {
            switch g.next(depth > 2 ? 5 : 7) {
            case 0: return "null"
            case 1: return String(g.next(100))
            case 2: return "\"s\(g.next(10))\\n\""
            case 3: return g.next(2) == 0 ? "true" : "1.5e2"
            case 4: return "[\(g.next(3)),{\"k\":\(g.next(3))}]"
            default:
                let n = 1 + g.next(3)
                let members = (0..<n).map { _ in "\"\(keys[g.next(keys.count)].replacingQuote())\":\(value(depth + 1))" }
                return "{" + members.joined(separator: ",") + "}"
            }
        }
        func section() -> String {
            let n = 1 + g.next(3)
            let members = (0..<n).map { _ in "\"\(keys[g.next(keys.count)].replacingQuote())\":\(value(1))" }
            return "{" + members.joined(separator: ",") + "}"
        }
        if g.next(20) == 0 { return #"{"state":null}"# }
        var state: [String] = []
        if g.next(3) != 0 { state.append("\"desired\":" + (g.next(10) == 0 ? "null" : section())) }
        if g.next(3) != 0 { state.append("\"reported\":" + (g.next(10) == 0 ? "null" : section())) }
        var top = ["\"state\":{" + state.joined(separator: ",") + "}"]
        if g.next(2) == 0 { top.append("\"version\":\(version)") }
        if g.next(2) == 0 { top.append("\"clientToken\":\"t\(g.next(1000))\"") }
        return "{" + top.joined(separator: ",") + "}"
    }

    /// Metadata has exactly the state's shape (objects with the same keys in the same order, arrays of the same
    /// length, `{"timestamp":T}` for every leaf), and no object is empty.
    static func checkShape(_ state: ShadowJSON, _ meta: ShadowJSON) -> Bool {
        switch state {
        case .object(let m):
            guard !m.isEmpty, let mm = meta.members, mm.map(\.key) == m.map(\.key) else { return false }
            return zip(m, mm).allSatisfy { checkShape($0.value, $1.value) }
        case .array(let a):
            guard case .array(let ma) = meta, ma.count == a.count else { return false }
            return zip(a, ma).allSatisfy { elementShape($0, $1) }
        case .string, .number, .bool, .null:
            guard let mm = meta.members, mm.count == 1, mm[0].key == "timestamp" else { return false }
            return true
        }
    }

    /// Inside arrays, objects may be empty (arrays are stored as given).
    static func elementShape(_ v: ShadowJSON, _ meta: ShadowJSON) -> Bool {
        if case .object(let m) = v, m.isEmpty { return meta == .object([]) }
        return checkShape(v, meta)
    }

    /// Runs 400 generated requests; returns every payload and stored document in order.
    static func run(seed: UInt64) -> [[UInt8]] {
        var g = LCG(state: seed)
        var doc: ShadowDocument?
        var out: [[UInt8]] = []
        for step in 0..<400 {
            let now = Int64(1_000 + step)
            let req = request(&g, version: doc?.version ?? 0)
            switch Shadow.update(doc, request: Array(req.utf8), now: now) {
            case .success(let r):
                #expect(r.document.version == (doc?.version ?? 0) + 1, "versions go up by exactly one")
                doc = r.document
                out += [r.accepted, r.delta ?? [], r.documents, r.document.storageBytes()]
            case .failure(let e):
                out.append(e.payload(timestamp: now))
            }
            if let d = doc {
                if let s = d.desired { #expect(checkShape(s, d.desiredMetadata ?? .null), "\(req)") }
                if let s = d.reported { #expect(checkShape(s, d.reportedMetadata ?? .null), "\(req)") }
                #expect(d.stateObject.bytes().count <= Shadow.maxStateBytes)
            }
            if step % 50 == 49, let d = doc {
                let get = Shadow.get(d, request: [], shadowName: nil, now: now)
                out.append((try? get.get()) ?? [])
            }
        }
        return out
    }

    @Test("determinism: the same 400 requests give the same payloads and documents, byte for byte")
    func test_same_inputs_same_bytes() {
        let a = Self.run(seed: 42)
        let b = Self.run(seed: 42)
        #expect(a == b)
        #expect(a.count > 400)
        #expect(Self.run(seed: 7) != a, "the generator does produce different histories")
    }

    @Test("storage: every document of a generated history round-trips exactly (equal value, same bytes)")
    func test_storage_round_trip() throws {
        var g = LCG(state: 99)
        var doc: ShadowDocument?
        var checked = 0
        for step in 0..<300 {
            let req = Self.request(&g, version: doc?.version ?? 0)
            guard case .success(let r) = Shadow.update(doc, request: Array(req.utf8), now: Int64(step)) else { continue }
            doc = r.document
            let bytes = r.document.storageBytes()
            let back = try ShadowDocument(storageBytes: bytes)
            #expect(back == r.document)
            #expect(back.storageBytes() == bytes)
            checked += 1
        }
        #expect(checked > 200)
        let tomb = ShadowDocument.tombstone(version: 12, deletedAt: 5)
        #expect(try ShadowDocument(storageBytes: tomb.storageBytes()) == tomb)
    }

    @Test("storage: bytes that are not a stored document are 500 Internal service failure", arguments: [
        "", "{", "[]", #"{"state":{},"metadata":{},"timestamp":1}"#,
        #"{"state":{},"metadata":{},"version":-1,"timestamp":1}"#,
        #"{"state":{},"metadata":{},"version":1.5,"timestamp":1}"#,
        #"{"state":{"desired":1},"metadata":{"desired":1},"version":1,"timestamp":1}"#,
        #"{"state":{"desired":{"a":1}},"metadata":{},"version":1,"timestamp":1}"#,
        #"{"state":{"delta":{}},"metadata":{},"version":1,"timestamp":1}"#,
        #"{"state":{},"metadata":{},"version":1,"timestamp":1,"extra":0}"#,
        #"{"state":{},"metadata":{},"version":1,"timestamp":1,"deleted":"x"}"#,
    ])
    func test_storage_refused(_ bytes: String) {
        #expect(throws: ShadowError.internalFailure) { try ShadowDocument(storageBytes: Array(bytes.utf8)) }
    }

    @Test("§5.4 HTTP: each code maps to its botocore iot-data exception", arguments: [
        (ShadowError.invalidJSON, "InvalidRequestException"), (.unauthorized, "UnauthorizedException"),
        (.forbidden, "ForbiddenException"), (.noShadow(named: "x"), "ResourceNotFoundException"),
        (.versionConflict, "ConflictException"), (.tooLarge, "RequestEntityTooLargeException"),
        (.unsupportedEncoding, "UnsupportedDocumentEncodingException"), (.tooManyRequests, "ThrottlingException"),
        (.internalFailure, "InternalFailureException"),
    ] as [(ShadowError, String)])
    func test_aws_error_type(_ e: ShadowError, _ type: String) {
        #expect(e.awsErrorType == type)
    }

    @Test("JSON: parse then write is canonical; invalid texts are refused", arguments: [
        (#" { "a" : [ 1 , true , null , "\u0041\t" ] } "#, #"{"a":[1,true,null,"A\t"]}"#),
        (#""\ud83d\ude00""#, "\"😀\""),
        (#""\u0001""#, #""\u0001""#),
        ("-0.5E+3", "-0.5E+3"),
        ("[1,]", nil), ("01", nil), ("\"\\ud800\"", nil), ("{\"a\":}", nil), ("tru", nil), ("\"a\u{01}\"", nil),
    ] as [(String, String?)])
    func test_json(_ input: String, _ canonical: String?) {
        let parsed = try? ShadowJSON.parse(Array(input.utf8))
        #expect(parsed.flatMap { text($0.bytes()) } == canonical)
    }
}

extension String {
    /// Escapes `"` for use inside a JSON string literal built by hand.
    fileprivate func replacingQuote() -> String {
        var s = ""
        for c in self { s += c == "\"" ? "\\\"" : String(c) }
        return s
    }
}

@Suite("Shadow request tokens")
struct ClientTokenTests {
    @Test("clientToken(in:) reads a valid request's token, nil otherwise; a rejection made outside the rules echoes it")
    func token() {
        #expect(Shadow.clientToken(in: Array(#"{"state":{},"clientToken":"abc"}"#.utf8)) == "abc")
        #expect(Shadow.clientToken(in: []) == nil)
        #expect(Shadow.clientToken(in: Array("{bad".utf8)) == nil)
        #expect(Shadow.clientToken(in: Array(("{\"clientToken\":\"" + String(repeating: "x", count: 65) + "\"}").utf8)) == nil)
        let payload = ShadowError.internalFailure.with(clientToken: "abc").payload(timestamp: 7)
        #expect(String(decoding: payload, as: UTF8.self)
            == #"{"code":500,"message":"Internal service failure","timestamp":7,"clientToken":"abc"}"#)
    }
}
