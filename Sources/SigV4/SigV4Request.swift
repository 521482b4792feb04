/// One HTTP request as the server received it, ready to be checked by `SigV4Verifier`. Nothing here is decoded or
/// normalised: the verifier needs the bytes the client signed, so the shell passes the request line and headers as
/// they came off the wire.
public struct SigV4Request: Sendable {
    /// The body, or its SHA-256 when the shell has hashed it while streaming it in.
    public enum Payload: Sendable, Hashable {
        /// The whole body.
        case bytes([UInt8])
        /// Lower-case hex SHA-256 of the body.
        case sha256Hex(String)
    }

    /// The request method as sent (`GET`, `POST`, …).
    public var method: String
    /// The path as sent, still percent-encoded (`/topics/a%2Fb`), without the query.
    public var path: String
    /// The query as sent, without the `?` (empty when there is none).
    public var query: String
    /// Every header as received, in order; a repeated header appears once per occurrence.
    public var headers: [(name: String, value: String)]
    /// The body or its hash.
    public var payload: Payload
    /// The node's wall clock, in seconds since 1970-01-01T00:00:00Z. Injected, never read here (STYLE C1).
    public var now: Int64

    public init(
        method: String, path: String, query: String, headers: [(name: String, value: String)],
        payload: Payload, now: Int64
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payload = payload
        self.now = now
    }
}

/// What the key lookup returns for a known access key id.
public struct SigV4Secret: Sendable, Hashable {
    /// The secret access key the client signs with.
    public var secretAccessKey: String
    /// The tenant (AWS account id) the key belongs to.
    public var account: String

    public init(secretAccessKey: String, account: String) {
        self.secretAccessKey = secretAccessKey
        self.account = account
    }
}

/// Who signed a request that verified, and what they signed for.
public struct SigV4Identity: Sendable, Hashable {
    /// How the signature travelled.
    public enum Form: Sendable, Hashable {
        /// `Authorization: AWS4-HMAC-SHA256 …` header.
        case authorizationHeader
        /// Presigned query (`X-Amz-Signature=…`, e.g. a WSS URL). `sessionTokenSigned` says whether
        /// `X-Amz-Security-Token` was part of the signed query (`false`: appended after signing, as the AWS IoT device
        /// SDKs do; `nil`: no token).
        case presignedQuery(sessionTokenSigned: Bool?)
    }

    public var accessKeyId: String
    /// From the key lookup.
    public var account: String
    /// From the credential scope: the API the client meant (`iot`, `iotdata`, `iotdevicegateway`, `iot-jobs-data`).
    public var service: String
    /// From the credential scope.
    public var region: String
    /// `X-Amz-Security-Token` (header or query), not checked here: temporary credentials are the caller's business.
    public var sessionToken: String?
    /// The signing time (`X-Amz-Date` or `Date`), seconds since 1970.
    public var signedAt: Int64
    public var form: Form
}
