/// The control plane's one error type: an AWS error shape with its message. Every failure of an API call becomes
/// one of these exactly once (`AWSError+Mapping.swift`, and the shell's mapping of cluster errors), and renders
/// itself the way botocore reads errors (AWS-IOT-SPEC §11.1): the header `x-amzn-ErrorType: <shape name>`, the
/// shape's HTTP status from the `iot` service model, and a JSON body `{"message": "…"}` (plus the shape's extra
/// members).
public enum AWSError: Error, Sendable, Hashable {
    /// 400 InvalidRequestException: bad name, bad JSON, bad query parameter, …
    case invalidRequest(String)
    /// 404 ResourceNotFoundException.
    case resourceNotFound(String)
    /// 409 ResourceAlreadyExistsException, with the model's `resourceId` / `resourceArn` members when known.
    case resourceAlreadyExists(String, resourceId: String? = nil, resourceArn: String? = nil)
    /// 409 VersionConflictException: `expectedVersion` does not match.
    case versionConflict(String)
    /// 406 CertificateStateException: the certificate's status forbids the change (e.g. deleting an ACTIVE one).
    case certificateState(String)
    /// 409 DeleteConflictException: something still refers to the resource (policy versions, targets, attachments).
    case deleteConflict(String)
    /// 409 VersionsLimitExceededException: a policy already has five versions.
    case versionsLimitExceeded(String)
    /// 410 LimitExceededException (the `iot` model's status for it): e.g. ten policies on one target.
    case limitExceeded(String)
    /// 400 MalformedPolicyException: the policy document does not parse or breaks the grammar.
    case malformedPolicy(String)
    /// 400 CertificateValidationException: the certificate does not parse, does not chain to what it must, or (a
    /// server certificate) does not fit its key, names or validity.
    case certificateValidation(String)
    /// 400 RegistrationCodeValidationException: a CA's verification certificate does not carry the registration code.
    case registrationCodeValidation(String)
    /// 413, reported as InvalidRequestException (the `iot` model has no 413 shape): the body is over the limit.
    case requestTooLarge(String)
    /// 403 AccessDeniedException: an operator route (`/cluster/…`) asked from a non-loopback peer.
    case accessDenied(String)
    /// The request's signature did not verify (SigV4): the verifier's error type and status, as AWS's front door
    /// answers them (MissingAuthenticationTokenException, InvalidSignatureException, UnrecognizedClientException
    /// 403; IncompleteSignatureException 400).
    case unauthenticated(type: String, status: Int, String)
    /// An `iot-data` error (device shadows): its own exception names and statuses (AWS-IOT-SPEC §5.4), e.g.
    /// ConflictException 409, RequestEntityTooLargeException 413.
    case dataPlane(type: String, status: Int, String)
    /// 404 UnknownOperationException: no operation has this method and path.
    case unknownOperation(String)
    /// 503 ServiceUnavailableException: no raft leader, no quorum, no answer in time, shutting down.
    case serviceUnavailable(String)
    /// 500 InternalFailureException: a bug or a version mismatch between nodes.
    case internalFailure(String)

    /// The error shape's name, as botocore matches it (`x-amzn-ErrorType`).
    public var errorType: String {
        switch self {
        case .invalidRequest, .requestTooLarge: "InvalidRequestException"
        case .resourceNotFound: "ResourceNotFoundException"
        case .resourceAlreadyExists: "ResourceAlreadyExistsException"
        case .versionConflict: "VersionConflictException"
        case .certificateState: "CertificateStateException"
        case .deleteConflict: "DeleteConflictException"
        case .versionsLimitExceeded: "VersionsLimitExceededException"
        case .limitExceeded: "LimitExceededException"
        case .malformedPolicy: "MalformedPolicyException"
        case .certificateValidation: "CertificateValidationException"
        case .registrationCodeValidation: "RegistrationCodeValidationException"
        case .accessDenied: "AccessDeniedException"
        case .unauthenticated(let type, _, _), .dataPlane(let type, _, _): type
        case .unknownOperation: "UnknownOperationException"
        case .serviceUnavailable: "ServiceUnavailableException"
        case .internalFailure: "InternalFailureException"
        }
    }

    /// The HTTP status (`error.httpStatusCode` in the `iot` model).
    public var httpStatus: Int {
        switch self {
        case .invalidRequest, .malformedPolicy, .certificateValidation, .registrationCodeValidation: 400
        case .accessDenied: 403
        case .resourceNotFound, .unknownOperation: 404
        case .certificateState: 406
        case .resourceAlreadyExists, .versionConflict, .deleteConflict, .versionsLimitExceeded: 409
        case .limitExceeded: 410
        case .requestTooLarge: 413
        case .internalFailure: 500
        case .serviceUnavailable: 503
        case .unauthenticated(_, let status, _), .dataPlane(_, let status, _): status
        }
    }

    public var message: String {
        switch self {
        case .invalidRequest(let m), .resourceNotFound(let m), .resourceAlreadyExists(let m, _, _),
             .versionConflict(let m), .certificateState(let m), .requestTooLarge(let m), .accessDenied(let m),
             .deleteConflict(let m), .versionsLimitExceeded(let m), .limitExceeded(let m), .malformedPolicy(let m),
             .unknownOperation(let m), .serviceUnavailable(let m), .internalFailure(let m),
             .certificateValidation(let m), .registrationCodeValidation(let m), .unauthenticated(_, _, let m),
             .dataPlane(_, _, let m):
            m
        }
    }

    /// The error as an HTTP answer.
    public var response: APIResponse {
        var body = ["message": message]
        if case .resourceAlreadyExists(_, let id, let arn) = self {
            body["resourceId"] = id
            body["resourceArn"] = arn
        }
        var r = APIResponse.json(JSONBody.encode(body), status: httpStatus)
        r.headers["x-amzn-ErrorType"] = errorType
        return r
    }
}
