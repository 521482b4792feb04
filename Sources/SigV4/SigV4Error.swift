/// Why a request failed SigV4 verification, rendered the way AWS's front door answers the `iot`, `iot-data` and
/// `iot-jobs-data` APIs: an error type for `x-amzn-ErrorType`, an HTTP status and a message (AWS-IOT-SPEC §11.1).
///
/// The types are the ones AWS JSON/REST services return for authentication failures. botocore (1.43, the AWS CLI's
/// engine) has no clock-skew retry and retries none of these codes (its retry tables name only throttling codes and
/// 5xx statuses), so what matters to the CLI is that `InvalidSignatureException` and friends surface verbatim with a
/// message a person can act on — as they do against AWS.
public enum SigV4Error: Error, Sendable, Hashable {
    /// No `Authorization` header and no `X-Amz-Algorithm` query parameter.
    case missingAuthentication
    /// The Authorization header or the presigned query is malformed or incomplete (missing parameter, unknown
    /// algorithm, unparseable date, bad `X-Amz-Expires`, …). The associated text is the whole message.
    case incompleteSignature(String)
    /// The access key id is not known to the key lookup.
    case unknownAccessKey(String)
    /// The credential scope names another date, region, service or terminator than the request may use.
    case invalidCredentialScope(String)
    /// `host` is not among the signed headers.
    case hostNotSigned
    /// The signing time is more than the allowed skew before `now` (times as `yyyyMMdd'T'HHmmss'Z'`).
    case signatureExpired(signedAt: String, earliest: String, now: String)
    /// The signing time is more than the allowed skew after `now`.
    case signatureNotYetCurrent(signedAt: String, latest: String, now: String)
    /// A presigned request's `X-Amz-Date + X-Amz-Expires` is before `now`.
    case presignedExpired(expiredAt: String, now: String)
    /// `x-amz-content-sha256` is not the SHA-256 of the body that arrived.
    case payloadHashMismatch
    /// The recomputed signature differs. Carries the canonical request and string to sign, which AWS also echoes so
    /// a client author can see which step differs.
    case signatureMismatch(canonicalRequest: String, stringToSign: String)

    /// The AWS error shape name (`x-amzn-ErrorType`).
    public var errorType: String {
        switch self {
        case .missingAuthentication: "MissingAuthenticationTokenException"
        case .incompleteSignature: "IncompleteSignatureException"
        case .unknownAccessKey: "UnrecognizedClientException"
        case .invalidCredentialScope, .hostNotSigned, .signatureExpired, .signatureNotYetCurrent, .presignedExpired,
             .payloadHashMismatch, .signatureMismatch:
            "InvalidSignatureException"
        }
    }

    /// The HTTP status AWS answers with.
    public var httpStatus: Int {
        switch self {
        case .incompleteSignature: 400
        case .missingAuthentication, .unknownAccessKey, .invalidCredentialScope, .hostNotSigned, .signatureExpired,
             .signatureNotYetCurrent, .presignedExpired, .payloadHashMismatch, .signatureMismatch:
            403
        }
    }

    /// The message for the JSON body (`{"message": …}`), worded as AWS words it.
    public var message: String {
        switch self {
        case .missingAuthentication:
            "Missing Authentication Token"
        case .incompleteSignature(let m), .invalidCredentialScope(let m):
            m
        case .unknownAccessKey:
            "The security token included in the request is invalid."
        case .hostNotSigned:
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        case .signatureExpired(let signedAt, let earliest, let now):
            "Signature expired: \(signedAt) is now earlier than \(earliest) (\(now) - 15 min.)"
        case .signatureNotYetCurrent(let signedAt, let latest, let now):
            "Signature not yet current: \(signedAt) is still later than \(latest) (\(now) + 15 min.)"
        case .presignedExpired(let expiredAt, let now):
            "Signature expired: \(expiredAt) is now earlier than \(now)"
        case .payloadHashMismatch:
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        case .signatureMismatch(let canonicalRequest, let stringToSign):
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
                + "Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical "
                + "String for this request should have been\n'\(canonicalRequest)'\n\nThe String-to-Sign should have "
                + "been\n'\(stringToSign)'\n"
        }
    }
}
