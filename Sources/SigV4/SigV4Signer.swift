/// Signs a request with SigV4 in the header form, as botocore does for the `iot` REST API: the client half of
/// `SigV4Verifier`, for Flotilla's own clients and for tests that talk to the control plane without the AWS CLI.
/// Pure: the signing time is passed in.
public struct SigV4Signer: Sendable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var region: String
    public var service: String

    public init(accessKeyId: String, secretAccessKey: String, region: String, service: String) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.region = region
        self.service = service
    }

    /// The headers to add to a request (`x-amz-date`, `x-amz-content-sha256`, `authorization`). `headers` must hold
    /// `host` (signed, as AWS requires) and may hold others; every header given is signed.
    public func sign(method: String, path: String, query: String, headers: [(name: String, value: String)],
                     body: [UInt8], now: Int64) -> [(name: String, value: String)]
    {
        let timestamp = SigV4Time.formatBasic(now)
        let date = String(timestamp.prefix(8))
        let payloadHash = Hex.sha256(body)
        let added: [(name: String, value: String)] = [("x-amz-date", timestamp), ("x-amz-content-sha256", payloadHash)]
        let all = headers + added
        let signedHeaders = Set(all.map { $0.name.lowercased() }).sorted().joined(separator: ";")
        let canonical = CanonicalRequest.build(
            method: method, path: path, query: CanonicalRequest.parseQuery(query), headers: HeaderMap(all),
            signedHeaders: signedHeaders, payloadHash: payloadHash)
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let toSign = CanonicalRequest.stringToSign(timestamp: timestamp, scope: scope, canonicalRequest: canonical)
        let signature = CanonicalRequest.signature(
            secret: secretAccessKey, date: date, region: region, service: service, stringToSign: toSign)
        return added + [(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=\(accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        )]
    }
}
