/// Verifies AWS Signature Version 4 on one request, in either form AWS accepts:
///
/// - header: `Authorization: AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
///   SignedHeaders=a;b, Signature=hex`, timed by `X-Amz-Date` (or `Date`); the signing time must be within 15 minutes
///   of `now`, either way;
/// - presigned query (WSS URLs, AWS-IOT-SPEC §1.9): `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`,
///   `X-Amz-SignedHeaders`, `X-Amz-Signature`, optional `X-Amz-Expires` (≤ 604800 s; without it the 15-minute window
///   applies as for headers). `X-Amz-Security-Token` is accepted both signed and appended after signing, the AWS IoT
///   device SDKs' habit; the payload hash may be the body's or `UNSIGNED-PAYLOAD`.
///
/// Checks run in this order, so the cheapest and least revealing answer wins: form and syntax → credential scope
/// (date, region, service, terminator) → `host` signed → time window → access key → payload hash → signature
/// (compared in constant time). Pure: `now` comes with the request and the key lookup is injected.
public struct SigV4Verifier: Sendable {
    /// AWS's clock-skew allowance for signed requests, and the window for presigned URLs without `X-Amz-Expires`.
    public static let maxClockSkew: Int64 = 15 * 60
    /// The longest `X-Amz-Expires` AWS accepts (a week).
    public static let maxExpires: Int64 = 604_800

    /// Credential-scope service names this endpoint answers (`iot`, `iotdata`, `iotdevicegateway`, `iot-jobs-data`).
    public var services: Set<String>
    /// Regions the node accepts in the scope; nil accepts any well-formed region name.
    public var regions: Set<String>?
    /// Access key id → secret and account; nil for an unknown key.
    public var lookup: @Sendable (String) -> SigV4Secret?

    public init(services: Set<String>, regions: Set<String>?, lookup: @escaping @Sendable (String) -> SigV4Secret?) {
        self.services = services
        self.regions = regions
        self.lookup = lookup
    }

    /// The identity that signed `request`, or why it does not verify.
    public func verify(_ request: SigV4Request) throws(SigV4Error) -> SigV4Identity {
        let headers = HeaderMap(request.headers)
        let query = CanonicalRequest.parseQuery(request.query)
        let auth = try Self.parse(headers: headers, query: query)

        let scope = try checkScope(auth)
        guard auth.signedHeaders.split(separator: ";").contains(where: { $0.lowercased() == "host" }) else {
            throw .hostNotSigned
        }
        try Self.checkTime(auth, now: request.now)
        guard let secret = lookup(scope.accessKeyId) else { throw .unknownAccessKey(scope.accessKeyId) }

        let bodyHash: String
        switch request.payload {
        case .bytes(let body): bodyHash = Hex.sha256(body)
        case .sha256Hex(let hex): bodyHash = hex.lowercased()
        }
        var payloadHashes: [String]
        if let declared = headers["x-amz-content-sha256"] {
            if declared == "UNSIGNED-PAYLOAD" {
                payloadHashes = [declared]
            } else if Hex.isSHA256(declared) {
                guard declared.lowercased() == bodyHash else { throw .payloadHashMismatch }
                payloadHashes = [declared]
            } else {
                throw .incompleteSignature("Unsupported x-amz-content-sha256 value: '\(declared)'.")
            }
        } else {
            payloadHashes = [bodyHash]
        }
        if auth.form == .presigned && !payloadHashes.contains("UNSIGNED-PAYLOAD") {
            payloadHashes.append("UNSIGNED-PAYLOAD")
        }

        // The signed query: everything but X-Amz-Signature; for a presigned token, with and without the token.
        var queries: [(pairs: [(name: [UInt8], value: [UInt8])], tokenSigned: Bool?)] = []
        if auth.form == .presigned {
            let unsigned = query.filter { $0.name != Self.signatureParam }
            if auth.sessionToken != nil {
                queries = [(unsigned, true), (unsigned.filter { $0.name != Self.tokenParam }, false)]
            } else {
                queries = [(unsigned, nil)]
            }
        } else {
            queries = [(query, nil)]
        }

        var firstMismatch: SigV4Error?
        for q in queries {
            for payloadHash in payloadHashes {
                let canonical = CanonicalRequest.build(
                    method: request.method, path: request.path, query: q.pairs, headers: headers,
                    signedHeaders: auth.signedHeaders, payloadHash: payloadHash)
                let sts = CanonicalRequest.stringToSign(
                    timestamp: SigV4Time.formatBasic(auth.signedAt), scope: scope.string, canonicalRequest: canonical)
                let expected = CanonicalRequest.signature(
                    secret: secret.secretAccessKey, date: scope.date, region: scope.region, service: scope.service,
                    stringToSign: sts)
                if Hex.constantTimeEqual(expected, auth.signature) {
                    return SigV4Identity(
                        accessKeyId: scope.accessKeyId, account: secret.account, service: scope.service,
                        region: scope.region, sessionToken: auth.sessionToken, signedAt: auth.signedAt,
                        form: auth.form == .header
                            ? .authorizationHeader : .presignedQuery(sessionTokenSigned: q.tokenSigned))
                }
                if firstMismatch == nil {
                    firstMismatch = .signatureMismatch(canonicalRequest: canonical, stringToSign: sts)
                }
            }
        }
        throw firstMismatch!
    }

    // MARK: - Parsing

    private static let signatureParam = Array("X-Amz-Signature".utf8)
    private static let tokenParam = Array("X-Amz-Security-Token".utf8)

    /// The signature's parameters, from whichever form the request uses.
    struct Authorization {
        enum Form: Equatable { case header, presigned }
        var form: Form
        var credential: String
        var signedHeaders: String
        var signature: String
        /// The signing time, seconds since 1970.
        var signedAt: Int64
        /// `X-Amz-Expires` in seconds (presigned only).
        var expires: Int64?
        var sessionToken: String?
    }

    static func parse(headers: HeaderMap, query: [(name: [UInt8], value: [UInt8])]) throws(SigV4Error)
        -> Authorization
    {
        func param(_ name: String) -> String? {
            let key = Array(name.utf8)
            return query.first { $0.name == key }.map { String(decoding: $0.value, as: UTF8.self) }
        }
        let header = headers["authorization"]
        let algorithm = param("X-Amz-Algorithm")
        switch (header, algorithm) {
        case (nil, nil):
            throw .missingAuthentication
        case (.some, .some):
            throw .incompleteSignature(
                "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
        case (.some(let value), nil):
            return try parseHeader(value, headers: headers)
        case (nil, .some(let algorithm)):
            return try parsePresigned(algorithm: algorithm, param: param)
        }
    }

    private static func parseHeader(_ value: String, headers: HeaderMap) throws(SigV4Error) -> Authorization {
        let trimmed = value.drop(while: { $0 == " " })
        guard trimmed.hasPrefix("AWS4-HMAC-SHA256 ") else {
            throw .incompleteSignature("Unsupported authorization type: '\(trimmed.prefix(while: { $0 != " " }))'. "
                + "Only 'AWS4-HMAC-SHA256' is supported.")
        }
        var fields: [String: String] = [:]
        for part in trimmed.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let kv = part.trimmingSpaces.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else {
                throw .incompleteSignature("Authorization header requires each component to be of the form "
                    + "'key=value': '\(part.trimmingSpaces)'. Authorization=\(value)")
            }
            fields[String(kv[0])] = String(kv[1])
        }
        var problems: [String] = []
        for name in ["Credential", "Signature", "SignedHeaders"] where (fields[name] ?? "").isEmpty {
            problems.append("Authorization header requires '\(name)' parameter.")
        }
        let date = headers["x-amz-date"].map { (text: $0, time: SigV4Time.parseBasic($0)) }
            ?? headers["date"].map { (text: $0, time: SigV4Time.parseHTTPDate($0)) }
        if date == nil {
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        guard problems.isEmpty, let date else {
            throw .incompleteSignature((problems + ["Authorization=\(value)"]).joined(separator: " "))
        }
        guard let signedAt = date.time else {
            throw .incompleteSignature("Date must be in ISO-8601 'basic format'. Got '\(date.text)'. See "
                + "http://en.wikipedia.org/wiki/ISO_8601")
        }
        return Authorization(
            form: .header, credential: fields["Credential"]!, signedHeaders: fields["SignedHeaders"]!,
            signature: fields["Signature"]!, signedAt: signedAt, expires: nil,
            sessionToken: headers["x-amz-security-token"])
    }

    private static func parsePresigned(algorithm: String, param: (String) -> String?) throws(SigV4Error)
        -> Authorization
    {
        guard algorithm == "AWS4-HMAC-SHA256" else {
            throw .incompleteSignature(
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\", not \"\(algorithm)\".")
        }
        guard let credential = param("X-Amz-Credential"), let date = param("X-Amz-Date"),
              let signedHeaders = param("X-Amz-SignedHeaders"), let signature = param("X-Amz-Signature"),
              !credential.isEmpty, !signedHeaders.isEmpty, !signature.isEmpty
        else {
            throw .incompleteSignature("AWS query-string parameters must include 'X-Amz-Algorithm', "
                + "'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the "
                + "query-string parameters.")
        }
        guard let signedAt = SigV4Time.parseBasic(date) else {
            throw .incompleteSignature("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\": "
                + "'\(date)'.")
        }
        var expires: Int64?
        if let text = param("X-Amz-Expires") {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let seconds = Int64(text), seconds <= maxExpires
            else {
                throw .incompleteSignature(
                    "X-Amz-Expires must be a number of seconds between 0 and \(maxExpires) (a week): '\(text)'.")
            }
            expires = seconds
        }
        return Authorization(
            form: .presigned, credential: credential, signedHeaders: signedHeaders, signature: signature,
            signedAt: signedAt, expires: expires, sessionToken: param("X-Amz-Security-Token"))
    }

    // MARK: - Checks

    struct Scope {
        var accessKeyId: String
        var date: String
        var region: String
        var service: String
        /// `date/region/service/aws4_request`, as it goes into the string to sign.
        var string: String
    }

    private func checkScope(_ auth: Authorization) throws(SigV4Error) -> Scope {
        let parts = auth.credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 5, !parts[0].isEmpty else {
            throw .incompleteSignature("Credential must have exactly 5 slash-delimited elements, e.g. "
                + "keyid/date/region/service/term, got '\(auth.credential)'")
        }
        let (key, date, region, service, terminator) = (parts[0], parts[1], parts[2], parts[3], parts[4])
        let signedDate = String(SigV4Time.formatBasic(auth.signedAt).prefix(8))
        guard date == signedDate else {
            throw .invalidCredentialScope("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                + "date from HTTP: '\(date)' != '\(signedDate)', from '\(SigV4Time.formatBasic(auth.signedAt))'.")
        }
        guard Self.isRegionName(region), regions?.contains(region) ?? true else {
            throw .invalidCredentialScope("Credential should be scoped to a valid region, not '\(region)'.")
        }
        guard services.contains(service) else {
            let expected = services.sorted().map { "'\($0)'" }.joined(separator: " or ")
            throw .invalidCredentialScope("Credential should be scoped to correct service: \(expected).")
        }
        guard terminator == "aws4_request" else {
            throw .invalidCredentialScope(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '\(terminator)'.")
        }
        return Scope(
            accessKeyId: key, date: date, region: region, service: service,
            string: "\(date)/\(region)/\(service)/aws4_request")
    }

    /// `us-east-1`, `eu-central-2`, `local`: lower-case letters, digits and `-`.
    private static func isRegionName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64 && s.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-")
        }
    }

    static func checkTime(_ auth: Authorization, now: Int64) throws(SigV4Error) {
        let fmt = SigV4Time.formatBasic
        if auth.signedAt > now + maxClockSkew {
            throw .signatureNotYetCurrent(
                signedAt: fmt(auth.signedAt), latest: fmt(now + maxClockSkew), now: fmt(now))
        }
        if let expires = auth.expires {
            if now > auth.signedAt + expires {
                throw .presignedExpired(expiredAt: fmt(auth.signedAt + expires), now: fmt(now))
            }
        } else if auth.signedAt < now - maxClockSkew {
            throw .signatureExpired(signedAt: fmt(auth.signedAt), earliest: fmt(now - maxClockSkew), now: fmt(now))
        }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
