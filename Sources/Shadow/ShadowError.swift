/// A rejected shadow request: the code and message AWS puts on `…/rejected` (and the HTTP status of `iot-data`),
/// AWS-IOT-SPEC §5.4. `clientToken` is the request's token when it had a valid one, echoed on `/rejected`.
public struct ShadowError: Error, Sendable, Hashable {
    public var code: Int
    public var message: String
    public var clientToken: String?

    public init(code: Int, message: String, clientToken: String? = nil) {
        self.code = code
        self.message = message
        self.clientToken = clientToken
    }

    /// The `/rejected` payload: `{"code":…,"message":…,"timestamp":…,"clientToken":…}` (no token when none).
    public func payload(timestamp: Int64) -> [UInt8] {
        var m: [ShadowJSON.Member] = [
            .init("code", .number(String(code))),
            .init("message", .string(message)),
            .init("timestamp", .int(timestamp)),
        ]
        if let clientToken { m.append(.init("clientToken", .string(clientToken))) }
        return ShadowJSON.object(m).bytes()
    }

    /// The `iot-data` exception name for the HTTP API's `x-amzn-ErrorType` (botocore `iot-data` error shapes).
    public var awsErrorType: String {
        switch code {
        case 400: "InvalidRequestException"
        case 401: "UnauthorizedException"
        case 403: "ForbiddenException"
        case 404: "ResourceNotFoundException"
        case 405: "MethodNotAllowedException"
        case 409: "ConflictException"
        case 413: "RequestEntityTooLargeException"
        case 415: "UnsupportedDocumentEncodingException"
        case 429: "ThrottlingException"
        case 503: "ServiceUnavailableException"
        default: "InternalFailureException"
        }
    }

    /// This error carrying the request's token (echoed on `/rejected`).
    public func with(clientToken: String?) -> ShadowError {
        var e = self
        e.clientToken = clientToken
        return e
    }

    // MARK: The errors of §5.4, with AWS's exact messages

    public static let invalidJSON = ShadowError(code: 400, message: "Invalid JSON")
    public static let missingState = ShadowError(code: 400, message: "Missing required node: state")
    public static let stateNotObject = ShadowError(code: 400, message: "State node must be an object")
    public static let desiredNotObject = ShadowError(code: 400, message: "Desired node must be an object")
    public static let reportedNotObject = ShadowError(code: 400, message: "Reported node must be an object")
    public static let invalidVersion = ShadowError(code: 400, message: "Invalid version")
    public static let invalidClientToken = ShadowError(code: 400, message: "Invalid clientToken")
    public static let tooDeep = ShadowError(
        code: 400, message: "JSON contains too many levels of nesting; maximum is \(Shadow.maxDepth)")
    public static let invalidStateNode = ShadowError(code: 400, message: "State contains an invalid node")
    public static let unauthorized = ShadowError(code: 401, message: "Unauthorized")
    public static let forbidden = ShadowError(code: 403, message: "Forbidden")
    public static let thingNotFound = ShadowError(code: 404, message: "Thing not found")
    public static let versionConflict = ShadowError(code: 409, message: "Version conflict")
    public static let tooLarge = ShadowError(code: 413, message: "The payload exceeds the maximum size allowed")
    public static let unsupportedEncoding = ShadowError(
        code: 415, message: "Unsupported documented encoding; supported encoding is UTF-8")
    public static let tooManyRequests = ShadowError(code: 429, message: "Too Many Requests")
    public static let internalFailure = ShadowError(code: 500, message: "Internal service failure")

    /// 404 for a get or delete of a shadow that does not exist: `'<shadowName>'` for a named shadow, `'<thingName>'`
    /// for the classic one (as AWS says it).
    public static func noShadow(named name: String) -> ShadowError {
        ShadowError(code: 404, message: "No shadow exists with name: '\(name)'")
    }
}
