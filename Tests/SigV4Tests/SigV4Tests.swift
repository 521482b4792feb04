import Testing

@testable import SigV4

/// One request signed by botocore (see make-vectors.py), as it arrives at the server.
struct BotocoreVector: Sendable, CustomTestStringConvertible {
    var name: String
    var service: String
    var method: String
    var path: String
    var query: String
    var headers: [(String, String)]
    var body: String
    var sessionToken: String?
    var canonicalRequest: String
    var signature: String

    var testDescription: String { name }

    func request(now: Int64 = botocoreSignedAt + 30) -> SigV4Request {
        SigV4Request(
            method: method, path: path, query: query, headers: headers.map { (name: $0.0, value: $0.1) },
            payload: .bytes(Array(body.utf8)), now: now)
    }
}

func vector(_ prefix: String) -> BotocoreVector {
    guard let v = botocoreVectors.first(where: { $0.name.hasPrefix(prefix) }) else {
        preconditionFailure("no botocore vector named \(prefix)…")
    }
    return v
}

let allServices: Set<String> = ["iot", "iotdata", "iotdevicegateway", "iot-jobs-data"]

func verifier(
    services: Set<String> = allServices, regions: Set<String>? = nil, secret: String = botocoreSecretKey
) -> SigV4Verifier {
    SigV4Verifier(services: services, regions: regions) { key in
        key == botocoreAccessKey ? SigV4Secret(secretAccessKey: secret, account: "123456789012") : nil
    }
}

@Suite struct BotocoreVectorTests {
    /// The canonical request we rebuild from the wire equals the one botocore signed.
    @Test(arguments: botocoreVectors)
    func canonicalRequest_matchesBotocore(_ v: BotocoreVector) throws {
        let headers = HeaderMap(v.headers.map { (name: $0.0, value: $0.1) })
        var query = CanonicalRequest.parseQuery(v.query)
        let auth = try SigV4Verifier.parse(headers: headers, query: query)
        if auth.form == .presigned {
            query.removeAll { String(decoding: $0.name, as: UTF8.self) == "X-Amz-Signature" }
            if v.name.contains("appended after signing") {
                query.removeAll { String(decoding: $0.name, as: UTF8.self) == "X-Amz-Security-Token" }
            }
        }
        let canonical = CanonicalRequest.build(
            method: v.method, path: v.path, query: query, headers: headers, signedHeaders: auth.signedHeaders,
            payloadHash: Hex.sha256(Array(v.body.utf8)))
        #expect(canonical == v.canonicalRequest)
        #expect(auth.signature == v.signature)
    }

    /// Every botocore request verifies, and the identity says who signed, for which API and how.
    @Test(arguments: botocoreVectors)
    func botocoreRequest_verifies(_ v: BotocoreVector) throws {
        let id = try verifier().verify(v.request())
        #expect(id.accessKeyId == botocoreAccessKey)
        #expect(id.account == "123456789012")
        #expect(id.service == v.service)
        #expect(id.region == botocoreRegion)
        #expect(id.signedAt == botocoreSignedAt)
        #expect(id.sessionToken == v.sessionToken)
    }

    /// The body may be handed over as its hash instead of its bytes.
    @Test func payloadAsHash_verifies() throws {
        let v = vector("iot CreateThing")
        var r = v.request()
        r.payload = .sha256Hex(Hex.sha256(Array(v.body.utf8)))
        #expect(try verifier().verify(r).service == "iot")
    }

    /// §1.9: a WSS URL's token may be signed or appended after signing; both verify and the identity says which.
    @Test func presignedToken_signedOrAppended() throws {
        let v = verifier()
        #expect(try v.verify(vector("presigned /mqtt, no token").request()).form
            == .presignedQuery(sessionTokenSigned: nil))
        #expect(try v.verify(vector("presigned /mqtt, token signed").request()).form
            == .presignedQuery(sessionTokenSigned: true))
        #expect(try v.verify(vector("presigned /mqtt, token appended").request()).form
            == .presignedQuery(sessionTokenSigned: false))
        #expect(try v.verify(vector("iot CreateThing").request()).form == .authorizationHeader)
    }

    /// The skew window is 15 minutes either way, inclusive.
    @Test(arguments: [-15 * 60, -14 * 60, 0, 14 * 60, 15 * 60] as [Int64])
    func headerSignature_withinSkew_verifies(_ offset: Int64) throws {
        _ = try verifier().verify(vector("iot ListThings").request(now: botocoreSignedAt + offset))
    }

    /// A presigned URL with X-Amz-Expires is good until signing time + expires (here a day), past the 15 minutes.
    @Test func presigned_validUntilExpires() throws {
        _ = try verifier().verify(vector("presigned /mqtt, no token").request(now: botocoreSignedAt + 86_400))
    }

    /// The region and service lists are honoured when the request is inside them.
    @Test func restrictedRegionAndService_accepts() throws {
        let v = verifier(services: ["iotdata"], regions: ["us-east-1", "eu-west-1"])
        #expect(try v.verify(vector("iot-data Publish to a/b").request()).service == "iotdata")
    }
}

// MARK: - Refusals

/// A request that must be refused: a botocore vector, a change to it or to the verifier, and the expected AWS error.
struct Refusal: Sendable, CustomTestStringConvertible {
    var name: String
    var vector: String
    var errorType: String
    var status: Int
    /// A fragment of the expected message.
    var message: String
    var nowOffset: Int64 = 30
    var services: Set<String> = allServices
    var regions: Set<String>? = nil
    var secret: String = botocoreSecretKey
    var change: @Sendable (inout SigV4Request) -> Void = { _ in }

    var testDescription: String { name }
}

extension SigV4Request {
    /// Replaces the value of every header with this name (case-insensitive), or adds it.
    mutating func set(_ name: String, _ value: String) {
        let had = headers.contains { $0.name.lowercased() == name.lowercased() }
        headers = headers.map { $0.name.lowercased() == name.lowercased() ? (name: $0.name, value: value) : $0 }
        if !had { headers.append((name: name, value: value)) }
    }

    mutating func remove(_ name: String) { headers.removeAll { $0.name.lowercased() == name.lowercased() } }

    func header(_ name: String) -> String { headers.first { $0.name.lowercased() == name.lowercased() }!.value }

    mutating func editAuthorization(_ from: String, _ to: String) {
        set("Authorization", header("Authorization").replacingAll(from, with: to))
    }
}

extension String {
    func replacingAll(_ from: String, with to: String) -> String {
        split(separator: from, omittingEmptySubsequences: false).joined(separator: to)
    }
}

let invalidSignature = "InvalidSignatureException"
let mismatch = "The request signature we calculated does not match the signature you provided."
let incomplete = "IncompleteSignatureException"

let refusals: [Refusal] = [
    Refusal(name: "wrong secret", vector: "iot CreateThing", errorType: invalidSignature, status: 403,
            message: mismatch, secret: "not-the-secret"),
    Refusal(name: "unknown access key", vector: "iot ListThings", errorType: "UnrecognizedClientException",
            status: 403, message: "The security token included in the request is invalid.",
            change: { $0.editAuthorization("Credential=AKIDEXAMPLE/", "Credential=AKIDOTHER/") }),
    Refusal(name: "clock skew: signed 16 minutes in the future", vector: "iot ListThings",
            errorType: invalidSignature, status: 403,
            message: "Signature not yet current: 20260520T123456Z is still later than 20260520T123356Z "
                + "(20260520T121856Z + 15 min.)",
            nowOffset: -16 * 60),
    Refusal(name: "clock skew: signed 16 minutes ago", vector: "iot ListThings", errorType: invalidSignature,
            status: 403,
            message: "Signature expired: 20260520T123456Z is now earlier than 20260520T123556Z "
                + "(20260520T125056Z - 15 min.)",
            nowOffset: 16 * 60),
    Refusal(name: "clock skew with a Date header", vector: "Date header", errorType: invalidSignature, status: 403,
            message: "Signature expired:", nowOffset: 3600),
    Refusal(name: "presigned URL past X-Amz-Expires", vector: "presigned /mqtt, token signed",
            errorType: invalidSignature, status: 403,
            message: "Signature expired: 20260520T123956Z is now earlier than 20260520T123957Z", nowOffset: 301),
    Refusal(name: "presigned URL without X-Amz-Expires, 16 minutes old", vector: "presigned /mqtt, no token",
            errorType: invalidSignature, status: 403, message: "Signature expired:", nowOffset: 16 * 60,
            change: { $0.query = $0.query.replacingAll("&X-Amz-Expires=86400", with: "") }),
    Refusal(name: "host not signed", vector: "iot ListThings", errorType: invalidSignature, status: 403,
            message: "'Host' or ':authority' must be a 'SignedHeader'",
            change: { $0.editAuthorization("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date") }),
    Refusal(name: "presigned without host signed", vector: "presigned /mqtt, no token", errorType: invalidSignature,
            status: 403, message: "'Host' or ':authority' must be a 'SignedHeader'",
            change: { $0.query = $0.query.replacingAll("X-Amz-SignedHeaders=host", with: "X-Amz-SignedHeaders=x") }),
    Refusal(name: "scope names a service this endpoint does not serve", vector: "iot-data Publish to a/b",
            errorType: invalidSignature, status: 403,
            message: "Credential should be scoped to correct service: 'iot'.", services: ["iot"]),
    Refusal(name: "scope date differs from X-Amz-Date", vector: "iot ListThings", errorType: invalidSignature,
            status: 403, message: "Date in Credential scope does not match YYYYMMDD",
            change: { $0.editAuthorization("/20260520/", "/20260521/") }),
    Refusal(name: "scope region not accepted", vector: "iot ListThings", errorType: invalidSignature, status: 403,
            message: "Credential should be scoped to a valid region, not 'us-east-1'.", regions: ["eu-west-1"]),
    Refusal(name: "scope terminator is not aws4_request", vector: "iot ListThings", errorType: invalidSignature,
            status: 403, message: "valid terminator",
            change: { $0.editAuthorization("/aws4_request", "/aws4_reqest") }),
    Refusal(name: "credential with four elements", vector: "iot ListThings", errorType: incomplete, status: 400,
            message: "Credential must have exactly 5 slash-delimited elements",
            change: { $0.editAuthorization("/us-east-1/", "/") }),
    Refusal(name: "Authorization without Signature", vector: "iot ListThings", errorType: incomplete, status: 400,
            message: "Authorization header requires 'Signature' parameter.",
            change: { r in
                r.set("Authorization", String(r.header("Authorization").split(separator: ", Signature=")[0]))
            }),
    Refusal(name: "Authorization of another scheme", vector: "iot ListThings", errorType: incomplete, status: 400,
            message: "Unsupported authorization type: 'Basic'",
            change: { $0.set("Authorization", "Basic QUtJRDpzZWNyZXQ=") }),
    Refusal(name: "Authorization component without '='", vector: "iot ListThings", errorType: incomplete,
            status: 400, message: "of the form 'key=value'",
            change: { $0.editAuthorization("SignedHeaders=", "SignedHeaders ") }),
    Refusal(name: "no X-Amz-Date and no Date", vector: "iot ListThings", errorType: incomplete, status: 400,
            message: "requires existence of either a 'X-Amz-Date' or a 'Date' header",
            change: { $0.remove("X-Amz-Date") }),
    Refusal(name: "X-Amz-Date not ISO 8601 basic", vector: "iot ListThings", errorType: incomplete, status: 400,
            message: "ISO-8601 'basic format'", change: { $0.set("X-Amz-Date", "2026-05-20T12:34:56Z") }),
    Refusal(name: "no authentication at all", vector: "iot ListThings",
            errorType: "MissingAuthenticationTokenException", status: 403, message: "Missing Authentication Token", change: { $0.remove("Authorization") }),
    Refusal(name: "both Authorization header and presigned query", vector: "presigned /mqtt, no token",
            errorType: incomplete, status: 400, message: "Found both",
            change: { $0.set("Authorization", "AWS4-HMAC-SHA256 Credential=x") }),
    Refusal(name: "presigned X-Amz-Expires over a week", vector: "presigned /mqtt, no token", errorType: incomplete,
            status: 400, message: "X-Amz-Expires must be",
            change: { $0.query = $0.query.replacingAll("X-Amz-Expires=86400", with: "X-Amz-Expires=604801") }),
    Refusal(name: "presigned with another algorithm", vector: "presigned /mqtt, no token", errorType: incomplete,
            status: 400, message: "X-Amz-Algorithm only supports",
            change: { $0.query = $0.query.replacingAll("AWS4-HMAC-SHA256", with: "AWS4-HMAC-SHA512") }),
    Refusal(name: "presigned without X-Amz-Signature", vector: "presigned /mqtt, no token", errorType: incomplete,
            status: 400, message: "must include 'X-Amz-Algorithm'",
            change: { $0.query = String($0.query.split(separator: "&X-Amz-Signature=")[0]) }),
    Refusal(name: "body changed after signing", vector: "iot CreateThing", errorType: invalidSignature, status: 403,
            message: mismatch, change: { $0.payload = .bytes(Array(#"{"attributePayload": {}}"#.utf8)) }),
    Refusal(name: "query value changed after signing", vector: "iot ListThings", errorType: invalidSignature,
            status: 403, message: mismatch,
            change: { $0.query = $0.query.replacingAll("maxResults=5", with: "maxResults=6") }),
    Refusal(name: "publish topic changed after signing (a/b → a/c)", vector: "iot-data Publish to a/b",
            errorType: invalidSignature, status: 403, message: "/topics/a%252Fc",
            change: { $0.path = "/topics/a%2Fc" }),
    Refusal(name: "publish path decoded before verifying (a/b as two segments)", vector: "iot-data Publish to a/b",
            errorType: invalidSignature, status: 403, message: mismatch, change: { $0.path = "/topics/a/b" }),
    Refusal(name: "signed header value changed", vector: "header with multiple spaces", errorType: invalidSignature,
            status: 403, message: "x-custom:a b d", change: { $0.set("X-Custom", "a b d") }),
    Refusal(name: "signed session token changed", vector: "presigned /mqtt, token signed",
            errorType: invalidSignature, status: 403, message: mismatch,
            change: { $0.query = $0.query.replacingAll("token%2Bwith", with: "token%2Bwithout") }),
    Refusal(name: "x-amz-content-sha256 is not the body's hash", vector: "iot CreateThing",
            errorType: invalidSignature, status: 403, message: "x-amz-content-sha256",
            change: { $0.set("X-Amz-Content-SHA256", String(repeating: "0", count: 64)) }),
    Refusal(name: "signature in upper-case hex", vector: "iot ListThings", errorType: invalidSignature, status: 403,
            message: mismatch,
            change: { $0.editAuthorization("Signature=229bbd6a", "Signature=229BBD6A") }),
]

@Suite struct RefusalTests {
    @Test(arguments: refusals)
    func refused(_ r: Refusal) {
        var request = vector(r.vector).request(now: botocoreSignedAt + r.nowOffset)
        r.change(&request)
        let v = verifier(services: r.services, regions: r.regions, secret: r.secret)
        #expect {
            _ = try v.verify(request)
        } throws: { error in
            guard let e = error as? SigV4Error else { return false }
            #expect(e.errorType == r.errorType)
            #expect(e.httpStatus == r.status)
            #expect(e.message.contains(r.message), "\(e.message)")
            return e.errorType == r.errorType
        }
    }
}

// MARK: - Pieces

@Suite struct PieceTests {
    @Test(arguments: [
        ("20260520T123456Z", 1_779_280_496),
        ("19700101T000000Z", 0),
        ("20000229T235959Z", 951_868_799),
        ("21000301T000000Z", 4_107_542_400),
    ] as [(String, Int64)])
    func isoBasic_roundTrips(_ text: String, _ epoch: Int64) {
        #expect(SigV4Time.parseBasic(text) == epoch)
        #expect(SigV4Time.formatBasic(epoch) == text)
    }

    @Test(arguments: [
        "Wed, 20 May 2026 12:34:56 GMT", "Wed, 20 May 2026 12:34:56 -0000", "20 May 2026 12:34:56 UTC",
        "Wed, 20 May 2026 14:34:56 +0200", "20260520T123456Z",
    ])
    func httpDate_parses(_ text: String) {
        #expect(SigV4Time.parseHTTPDate(text) == botocoreSignedAt)
    }

    @Test(arguments: ["20260230T000000Z", "20261320T000000Z", "2026-05-20T12:34:56Z", "20260520T246000Z", ""])
    func isoBasic_rejectsNonsense(_ text: String) {
        #expect(SigV4Time.parseBasic(text) == nil)
    }

    @Test(arguments: [
        ("/topics/a%2Fb", "/topics/a%252Fb"),
        ("", "/"),
        ("/a//b/./c/../d/", "/a/b/d/"),
        ("/things/caf%C3%A9 x", "/things/caf%25C3%25A9%20x"),
        ("/~user/*", "/~user/%2A"),
    ])
    func canonicalURI_reencodesAsBotocore(_ raw: String, _ canonical: String) {
        #expect(CanonicalRequest.canonicalURI(raw) == canonical)
    }

    @Test(arguments: [
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
        ("q=a+b&r=%7e&s", "q=a%2Bb&r=~&s="),
        ("x=%zz", "x=%25zz"),
    ])
    func canonicalQuery_sortsAndReencodes(_ raw: String, _ canonical: String) {
        #expect(CanonicalRequest.canonicalQuery(CanonicalRequest.parseQuery(raw)) == canonical)
    }

    @Test func constantTimeEqual_comparesWholeStrings() {
        #expect(Hex.constantTimeEqual("abcd", "abcd"))
        #expect(!Hex.constantTimeEqual("abcd", "abce"))
        #expect(!Hex.constantTimeEqual("abcd", "abc"))
        #expect(!Hex.constantTimeEqual("", "a"))
    }
}
