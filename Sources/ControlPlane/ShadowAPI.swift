import ClusterState
import IoTTypes
import Shadow

/// The `iot-data` device shadow operations (AWS-IOT-SPEC §5.6; botocore `iot-data`), signed with service `iotdata`:
///
/// | operation                | route                                                                   |
/// |--------------------------|-------------------------------------------------------------------------|
/// | GetThingShadow           | `GET /things/{thingName}/shadow?name=`                                  |
/// | UpdateThingShadow        | `POST /things/{thingName}/shadow?name=` (body: the request document)    |
/// | DeleteThingShadow        | `DELETE /things/{thingName}/shadow?name=`                               |
/// | ListNamedShadowsForThing | `GET /api/things/shadow/ListNamedShadowsForThing/{thingName}?nextToken&pageSize` |
///
/// Updates and deletes go through raft as `ClusterCommand.shadow`, exactly like the MQTT requests, so an HTTP
/// update also publishes `/update/accepted`, `/update/delta` and `/update/documents` (every node publishes what it
/// applies). Shadow rejections become the `iot-data` error shapes and, as at AWS, publish nothing on `/rejected`.
public struct ShadowAPI: ControlPlaneAPI {
    public enum Operation: Sendable, Hashable {
        case get(ShadowKey, request: [UInt8])
        case update(ShadowKey, request: [UInt8])
        case delete(ShadowKey, request: [UInt8])
        case listNamed(thingName: String, after: String?, pageSize: Int)
    }

    public var tenant: TenantID
    /// Epoch milliseconds (the router's clock): reads answer with it, writes carry it in the command.
    public var nowMs: Int64

    public init(tenant: TenantID, nowMs: Int64) {
        self.tenant = tenant
        self.nowMs = nowMs
    }

    public func parse(_ request: APIRequest) -> Result<Operation, AWSError>? {
        let isShadowPath = request.path.hasPrefix("/things/") && request.path.hasSuffix("/shadow")
        let isListPath = request.path.hasPrefix("/api/things/shadow/")
        guard isShadowPath || isListPath else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let s = target.segments
        if s.count == 5, s[0] == "api", s[1] == "things", s[2] == "shadow", s[3] == "ListNamedShadowsForThing" {
            guard request.method == "GET" else { return .failure(Self.methodNotAllowed) }
            if let problem = Shadow.nameProblem(thingName: s[4], shadowName: nil) { return .failure(Self.error(problem)) }
            var pageSize = 100
            if let raw = target.query["pageSize"] {
                guard let n = Int(raw), (1...100).contains(n) else {
                    return .failure(.invalidRequest("pageSize must be between 1 and 100"))
                }
                pageSize = n
            }
            var after: String?
            if let token = target.query["nextToken"] {
                guard let name = PageToken.decode(token) else { return .failure(.invalidRequest("invalid nextToken")) }
                after = name
            }
            return .success(.listNamed(thingName: s[4], after: after, pageSize: pageSize))
        }
        guard s.count == 3, s[0] == "things", s[2] == "shadow" else { return nil }
        let key = ShadowKey(thingName: s[1], shadowName: target.query["name"])
        if let problem = Shadow.nameProblem(thingName: key.thingName, shadowName: key.shadowName) {
            return .failure(Self.error(problem))
        }
        let body = request.body ?? []
        switch request.method {
        case "GET": return .success(.get(key, request: []))
        case "POST": return .success(.update(key, request: body))
        case "DELETE": return .success(.delete(key, request: []))
        default: return .failure(Self.methodNotAllowed)
        }
    }

    public func command(for operation: Operation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .update(let key, let request):
            .shadow(ShadowCommand(tenant: tenant, key: key, operation: .update, payload: request, nowMs: nowMs,
                                  viaHTTP: true))
        case .delete(let key, let request):
            .shadow(ShadowCommand(tenant: tenant, key: key, operation: .delete, payload: request, nowMs: nowMs,
                                  viaHTTP: true))
        case .get, .listNamed:
            nil
        }
    }

    public func respond(to operation: Operation, state: ClusterState) -> APIResponse {
        switch operation {
        case .get(let key, let request):
            switch Shadow.get(state.shadow(tenant: tenant, key: key), request: request, thingName: key.thingName,
                              shadowName: key.shadowName, now: nowMs / 1000) {
            case .success(let body): return .json(body)
            case .failure(let e): return Self.error(e).response
            }
        case .listNamed(let thing, let after, let pageSize):
            let names = state.namedShadows(tenant: tenant, thingName: thing)
                .filter { n in after.map { $0.utf8.lexicographicallyPrecedes(n.utf8) } ?? true }
            let page = Array(names.prefix(pageSize))
            let next = names.count > pageSize ? page.last.map(PageToken.encode(after:)) : nil
            return .json(JSONBody.encode(NamedShadowList(results: page, nextToken: next, timestamp: nowMs / 1000)))
        case .update, .delete:
            return AWSError.internalFailure("a write has no read answer").response
        }
    }

    public func respond(to operation: Operation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse {
        switch outcome {
        case .success(.shadow(let e)):
            if e.status == 200 { return .json(e.body) }
            return Self.error(code: e.status, message: e.errorMessage).response
        case .success:
            return AWSError.internalFailure("unexpected answer to a shadow request").response
        case .failure(let error):
            return AWSError(error, what: "The shadow").response
        }
    }

    static let methodNotAllowed = AWSError.dataPlane(type: "MethodNotAllowedException", status: 405,
                                                     "The method is not allowed on this resource")

    static func error(_ e: ShadowError) -> AWSError { error(code: e.code, message: e.message) }

    /// A shadow error code as the `iot-data` exception botocore expects (AWS-IOT-SPEC §5.4).
    static func error(code: Int, message: String) -> AWSError {
        let type: String
        switch code {
        case 400: type = "InvalidRequestException"
        case 401: type = "UnauthorizedException"
        case 403: type = "ForbiddenException"
        case 404: type = "ResourceNotFoundException"
        case 405: type = "MethodNotAllowedException"
        case 409: type = "ConflictException"
        case 413: type = "RequestEntityTooLargeException"
        case 415: type = "UnsupportedDocumentEncodingException"
        case 429: type = "ThrottlingException"
        case 503: type = "ServiceUnavailableException"
        default: type = "InternalFailureException"
        }
        return .dataPlane(type: type, status: code, message)
    }

    /// ListNamedShadowsForThing's answer (`nextToken` left out when there is no next page).
    struct NamedShadowList: Encodable {
        var results: [String]
        var nextToken: String?
        var timestamp: Int64
    }
}
