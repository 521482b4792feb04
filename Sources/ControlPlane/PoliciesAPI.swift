import ClusterState
import IoTTypes

/// IoT policies, their versions and attachments, and thing principals (AWS-IOT-SPEC §2.4, §3.5; botocore `iot`),
/// as pure functions in the shape of `ThingsAPI`: parse → operation, operation → command (writes), outcome or
/// state → answer. Policy documents are checked by the injected `validateDocument` (the policy engine's parser:
/// MalformedPolicyException) before anything is proposed.
///
/// | operation               | route                                          |
/// |-------------------------|------------------------------------------------|
/// | CreatePolicy            | `POST /policies/{policyName}` {policyDocument, tags} |
/// | GetPolicy / DeletePolicy| `GET` / `DELETE /policies/{policyName}`         |
/// | ListPolicies            | `GET /policies` ?marker ?pageSize ?isAscendingOrder |
/// | CreatePolicyVersion     | `POST /policies/{policyName}/version` ?setAsDefault {policyDocument} |
/// | ListPolicyVersions      | `GET /policies/{policyName}/version`            |
/// | Get/SetDefault/DeletePolicyVersion | `GET` / `PATCH` / `DELETE /policies/{policyName}/version/{versionId}` |
/// | AttachPolicy / DetachPolicy | `PUT` / `POST /target-policies/{policyName}` {target} |
/// | ListAttachedPolicies    | `POST /attached-policies/{target}` ?marker ?pageSize |
/// | ListTargetsForPolicy    | `POST /policy-targets/{policyName}` ?marker ?pageSize |
/// | Attach/DetachThingPrincipal | `PUT` / `DELETE /things/{thingName}/principals`, header `x-amzn-principal` |
/// | ListThingPrincipals     | `GET /things/{thingName}/principals`            |
/// | ListPrincipalThings     | `GET /principals/things`, header `x-amzn-principal` |
public struct PoliciesAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String
    /// nil when the document is a valid IoT policy, else MalformedPolicyException's message.
    public var validateDocument: @Sendable (String) -> String?

    public static let defaultPageSize = 25

    public init(tenant: TenantID = .default, region: String = "us-east-1",
                validateDocument: @escaping @Sendable (String) -> String?) {
        self.tenant = tenant
        self.region = region
        self.validateDocument = validateDocument
    }

    // MARK: - Requests

    /// nil when the route is not one of these operations.
    public func parse(_ request: APIRequest) -> Result<PolicyOperation, AWSError>? {
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            guard Self.owns(request.path) else { return nil }
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let s = target.segments
        let body = request.body ?? []
        switch (request.method, s.first, s.count) {
        case ("POST", "policies", 2):
            return policyName(s[1]).flatMap { name in
                document(body).flatMap { doc in
                    createTags(body).map { .createPolicy(name: name, document: doc, tags: $0) }
                }
            }
        case ("GET", "policies", 2): return policyName(s[1]).map { .getPolicy(name: $0) }
        case ("DELETE", "policies", 2): return policyName(s[1]).map { .deletePolicy(name: $0) }
        case ("GET", "policies", 1): return page(target.query).map { .listPolicies($0) }
        case ("POST", "policies", 3) where s[2] == "version":
            let setAsDefault: Bool
            switch target.query["setAsDefault"] {
            case nil, "false": setAsDefault = false
            case "true": setAsDefault = true
            default: return .failure(.invalidRequest("setAsDefault must be true or false"))
            }
            return policyName(s[1]).flatMap { name in
                document(body).map { .createPolicyVersion(name: name, document: $0, setAsDefault: setAsDefault) }
            }
        case ("GET", "policies", 3) where s[2] == "version":
            return policyName(s[1]).map { .listPolicyVersions(name: $0) }
        case (let method, "policies", 4) where s[2] == "version":
            guard let id = Int64(s[3]), id > 0, s[3].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return .failure(.invalidRequest("policyVersionId must be a positive whole number"))
            }
            return policyName(s[1]).flatMap { name -> Result<PolicyOperation, AWSError> in
                switch method {
                case "GET": .success(.getPolicyVersion(name: name, versionId: id))
                case "PATCH": .success(.setDefaultPolicyVersion(name: name, versionId: id))
                case "DELETE": .success(.deletePolicyVersion(name: name, versionId: id))
                default: .failure(.unknownOperation("no operation \(method) \(request.path)"))
                }
            }
        case ("PUT", "target-policies", 2), ("POST", "target-policies", 2):
            let attach = request.method == "PUT"
            return policyName(s[1]).flatMap { name in
                attachTarget(body).map { attach ? .attachPolicy(name: name, target: $0) : .detachPolicy(name: name, target: $0) }
            }
        case ("POST", "attached-policies", 2):
            guard PolicyRules.isValidTarget(s[1]) else { return .failure(.invalidRequest("invalid target")) }
            return page(target.query).map { .listAttachedPolicies(target: s[1], $0) }
        case ("POST", "policy-targets", 2):
            return policyName(s[1]).flatMap { name in page(target.query).map { .listTargetsForPolicy(name: name, $0) } }
        case (let method, "things", 3) where s[2] == "principals":
            guard ClusterState.isValidThingName(s[1]) else {
                return .failure(.invalidRequest("thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
            }
            if method == "GET" { return .success(.listThingPrincipals(thingName: s[1])) }
            guard let principal = request.header("x-amzn-principal"), PolicyRules.isValidTarget(principal) else {
                return .failure(.invalidRequest("the x-amzn-principal header must name the principal"))
            }
            switch method {
            case "PUT":
                var type = ThingPrincipalType.nonExclusive
                if let raw = target.query["thingPrincipalType"] {
                    guard let t = ThingPrincipalType(awsName: raw) else {
                        return .failure(.invalidRequest("thingPrincipalType must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING"))
                    }
                    type = t
                }
                return .success(.attachThingPrincipal(thingName: s[1], principal: principal, type: type))
            case "DELETE": return .success(.detachThingPrincipal(thingName: s[1], principal: principal))
            default: return .failure(.unknownOperation("no operation \(method) \(request.path)"))
            }
        case ("GET", "principals", 2) where s[1] == "things":
            guard let principal = request.header("x-amzn-principal"), PolicyRules.isValidTarget(principal) else {
                return .failure(.invalidRequest("the x-amzn-principal header must name the principal"))
            }
            return .success(.listPrincipalThings(principal: principal))
        default:
            return Self.owns(request.path)
                ? .failure(.unknownOperation("no operation \(request.method) \(request.path)")) : nil
        }
    }

    static func owns(_ path: String) -> Bool {
        ["/policies", "/target-policies/", "/attached-policies/", "/policy-targets/", "/principals/"].contains {
            path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/")
        } || (path.hasPrefix("/things/") && path.hasSuffix("/principals"))
    }

    private func policyName(_ name: String) -> Result<String, AWSError> {
        PolicyRules.isValidPolicyName(name)
            ? .success(name) : .failure(.invalidRequest("policyName must match [\\w+=,.@-]+ and be 1-128 characters"))
    }

    private func document(_ body: [UInt8]) -> Result<String, AWSError> {
        JSONBody.decode(PolicyDocumentBody.self, from: body).flatMap { b in
            guard let doc = b.policyDocument, !doc.isEmpty else {
                return .failure(.invalidRequest("policyDocument is missing"))
            }
            if PolicyRules.countedCharacters(doc) > PolicyRules.maxDocumentCharacters {
                return .failure(.malformedPolicy(
                    "the policy document is over \(PolicyRules.maxDocumentCharacters) characters (whitespace excluded)"))
            }
            if let problem = validateDocument(doc) { return .failure(.malformedPolicy(problem)) }
            return .success(doc)
        }
    }

    /// CreatePolicy's `tags` member. Over 50 is InvalidRequestException here: the model gives CreatePolicy no
    /// LimitExceededException.
    private func createTags(_ body: [UInt8]) -> Result<[ResourceTag], AWSError> {
        JSONBody.decode(TagsMemberBody.self, from: body).flatMap { b in
            let tags = (b.tags ?? []).map { ResourceTag(key: $0.Key ?? "", value: $0.Value ?? "") }
            if let problem = TagRules.problem(tags) { return .failure(.invalidRequest(problem)) }
            guard tags.count <= TagRules.maxTagsPerResource else {
                return .failure(.invalidRequest("at most \(TagRules.maxTagsPerResource) tags"))
            }
            return .success(tags)
        }
    }

    private func attachTarget(_ body: [UInt8]) -> Result<String, AWSError> {
        JSONBody.decode(TargetBody.self, from: body).flatMap { b in
            guard let t = b.target, PolicyRules.isValidTarget(t) else { return .failure(.invalidRequest("target is missing")) }
            return .success(t)
        }
    }

    private func page(_ query: [String: String]) -> Result<PolicyOperation.Page, AWSError> {
        var p = PolicyOperation.Page()
        if let raw = query["pageSize"] {
            guard let n = Int(raw), (1...250).contains(n) else {
                return .failure(.invalidRequest("pageSize must be a whole number from 1 to 250"))
            }
            p.pageSize = n
        }
        if let marker = query["marker"], !marker.isEmpty {
            guard let after = PageToken.decode(marker) else { return .failure(.invalidRequest("invalid marker")) }
            p.after = after
        }
        switch query["isAscendingOrder"] {
        case nil, "true": p.ascending = true
        case "false": p.ascending = false
        default: return .failure(.invalidRequest("isAscendingOrder must be true or false"))
        }
        return .success(p)
    }

    // MARK: - Commands

    public func command(for operation: PolicyOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .createPolicy(let name, let document, let tags):
            tags.isEmpty
                ? .createPolicy(tenant: tenant, policyName: name, document: document, nowMs: nowMs)
                : .createWithTags(.createPolicy(tenant: tenant, policyName: name, document: document, nowMs: nowMs),
                                  tenant: tenant, resource: "policy/\(name)", tags: tags)
        case .deletePolicy(let name): .deletePolicy(tenant: tenant, policyName: name)
        case .createPolicyVersion(let name, let document, let setAsDefault):
            .createPolicyVersion(tenant: tenant, policyName: name, document: document, setAsDefault: setAsDefault,
                                 nowMs: nowMs)
        case .setDefaultPolicyVersion(let name, let id):
            .setDefaultPolicyVersion(tenant: tenant, policyName: name, versionId: id, nowMs: nowMs)
        case .deletePolicyVersion(let name, let id): .deletePolicyVersion(tenant: tenant, policyName: name, versionId: id)
        case .attachPolicy(let name, let target): .attachPolicy(tenant: tenant, policyName: name, target: target)
        case .detachPolicy(let name, let target): .detachPolicy(tenant: tenant, policyName: name, target: target)
        case .attachThingPrincipal(let thing, let principal, let type):
            .attachThingPrincipal(tenant: tenant, thingName: thing, principal: principal, type: type)
        case .detachThingPrincipal(let thing, let principal):
            .detachThingPrincipal(tenant: tenant, thingName: thing, principal: principal)
        case .getPolicy, .listPolicies, .listPolicyVersions, .getPolicyVersion, .listAttachedPolicies,
             .listTargetsForPolicy, .listThingPrincipals, .listPrincipalThings:
            nil
        }
    }

    // MARK: - Answers

    public func respond(to operation: PolicyOperation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse {
        switch outcome {
        case .failure(let error):
            return AWSError(error, what: operation.subject).response
        case .success(let result):
            switch (operation, result) {
            case (.createPolicy(let name, let document, _), .policyVersion(let id)):
                return .json(JSONBody.encode(CreatePolicyResponse(
                    policyName: name, policyArn: arn(name), policyDocument: document, policyVersionId: String(id))))
            case (.createPolicyVersion(let name, let document, _), .policyVersion(let id)):
                let isDefault = state.policy(tenant: tenant, name: name)?.defaultVersionId == id
                return .json(JSONBody.encode(CreatePolicyVersionResponse(
                    policyArn: arn(name), policyDocument: document, policyVersionId: String(id),
                    isDefaultVersion: isDefault)))
            case (_, .done):
                return .json(JSONBody.encode([String: String]()))
            default:
                return AWSError.internalFailure("unexpected result \(result) for \(operation)").response
            }
        }
    }

    public func respond(to operation: PolicyOperation, state: ClusterState) -> APIResponse {
        switch operation {
        case .getPolicy(let name):
            guard let p = state.policy(tenant: tenant, name: name), let v = p.defaultVersion else {
                return AWSError.resourceNotFound("Policy \(name) cannot be found.").response
            }
            return .json(JSONBody.encode(GetPolicyResponse(
                policyName: name, policyArn: arn(name), policyDocument: v.document,
                defaultVersionId: String(p.defaultVersionId), creationDate: Self.seconds(p.createdAtMs),
                lastModifiedDate: Self.seconds(p.lastModifiedAtMs), generationId: String(p.lastModifiedAtMs))))
        case .listPolicies(let page):
            let names = state.policies(tenant: tenant).map(\.policyName)
            let (slice, next) = Self.paginate(names, page)
            return .json(JSONBody.encode(ListPoliciesResponse(
                policies: slice.map { PolicySummary(policyName: $0, policyArn: arn($0)) }, nextMarker: next)))
        case .listPolicyVersions(let name):
            guard let p = state.policy(tenant: tenant, name: name) else {
                return AWSError.resourceNotFound("Policy \(name) cannot be found.").response
            }
            return .json(JSONBody.encode(ListPolicyVersionsResponse(policyVersions: p.versions.reversed().map {
                PolicyVersionSummary(versionId: String($0.versionId), isDefaultVersion: $0.versionId == p.defaultVersionId,
                                     createDate: Self.seconds($0.createdAtMs))
            })))
        case .getPolicyVersion(let name, let id):
            guard let p = state.policy(tenant: tenant, name: name), let v = p.version(id) else {
                return AWSError.resourceNotFound("Policy \(name) version \(id) cannot be found.").response
            }
            return .json(JSONBody.encode(GetPolicyVersionResponse(
                policyArn: arn(name), policyName: name, policyDocument: v.document, policyVersionId: String(id),
                isDefaultVersion: id == p.defaultVersionId, creationDate: Self.seconds(v.createdAtMs),
                lastModifiedDate: Self.seconds(p.lastModifiedAtMs), generationId: String(p.lastModifiedAtMs))))
        case .listAttachedPolicies(let target, let page):
            let (slice, next) = Self.paginate(state.attachedPolicies(tenant: tenant, target: target), page)
            return .json(JSONBody.encode(ListPoliciesResponse(
                policies: slice.map { PolicySummary(policyName: $0, policyArn: arn($0)) }, nextMarker: next)))
        case .listTargetsForPolicy(let name, let page):
            guard state.policy(tenant: tenant, name: name) != nil else {
                return AWSError.resourceNotFound("Policy \(name) cannot be found.").response
            }
            let (slice, next) = Self.paginate(state.targets(tenant: tenant, policyName: name), page)
            return .json(JSONBody.encode(ListTargetsResponse(targets: slice, nextMarker: next)))
        case .listThingPrincipals(let thing):
            guard state.thing(tenant: tenant, name: thing) != nil else {
                return AWSError.resourceNotFound("Thing \(thing) cannot be found.").response
            }
            return .json(JSONBody.encode(["principals": state.thingPrincipals(tenant: tenant, thingName: thing).map(\.principal)]))
        case .listPrincipalThings(let principal):
            return .json(JSONBody.encode(["things": state.principalThings(tenant: tenant, principal: principal).map(\.thingName)]))
        default:
            return AWSError.internalFailure("\(operation) is a write").response
        }
    }

    func arn(_ name: String) -> String { "arn:aws:iot:\(region):\(tenant.accountID):policy/\(name)" }

    static func seconds(_ ms: Int64) -> Double { Double(ms) / 1000 }

    /// One page of names in order (or reverse), after the marker; a marker when more follow.
    static func paginate(_ sorted: [String], _ page: PolicyOperation.Page) -> ([String], String?) {
        let ordered = page.ascending ? sorted : sorted.reversed()
        let rest = ordered.filter { name in
            guard let after = page.after else { return true }
            return page.ascending
                ? after.utf8.lexicographicallyPrecedes(name.utf8) : name.utf8.lexicographicallyPrecedes(after.utf8)
        }
        let slice = Array(rest.prefix(page.pageSize))
        return (slice, rest.count > slice.count ? slice.last.map { PageToken.encode(after: $0) } : nil)
    }
}

/// What a policy request asks for.
public enum PolicyOperation: Sendable, Hashable {
    case createPolicy(name: String, document: String, tags: [ResourceTag] = [])
    case getPolicy(name: String)
    case deletePolicy(name: String)
    case listPolicies(Page)
    case createPolicyVersion(name: String, document: String, setAsDefault: Bool)
    case listPolicyVersions(name: String)
    case getPolicyVersion(name: String, versionId: Int64)
    case setDefaultPolicyVersion(name: String, versionId: Int64)
    case deletePolicyVersion(name: String, versionId: Int64)
    case attachPolicy(name: String, target: String)
    case detachPolicy(name: String, target: String)
    case listAttachedPolicies(target: String, Page)
    case listTargetsForPolicy(name: String, Page)
    case attachThingPrincipal(thingName: String, principal: String, type: ThingPrincipalType)
    case detachThingPrincipal(thingName: String, principal: String)
    case listThingPrincipals(thingName: String)
    case listPrincipalThings(principal: String)

    public struct Page: Sendable, Hashable {
        public var pageSize = PoliciesAPI.defaultPageSize
        public var after: String?
        public var ascending = true
    }

    /// For error messages.
    var subject: String {
        switch self {
        case .createPolicy(let n, _, _), .getPolicy(let n), .deletePolicy(let n), .createPolicyVersion(let n, _, _),
             .listPolicyVersions(let n), .attachPolicy(let n, _), .detachPolicy(let n, _),
             .listTargetsForPolicy(let n, _):
            "Policy \(n)"
        case .getPolicyVersion(let n, let v), .setDefaultPolicyVersion(let n, let v), .deletePolicyVersion(let n, let v):
            "Policy \(n) version \(v)"
        case .attachThingPrincipal(let t, _, _), .detachThingPrincipal(let t, _), .listThingPrincipals(let t):
            "Thing \(t)"
        case .listPolicies, .listAttachedPolicies, .listPrincipalThings:
            "The resource"
        }
    }
}

// MARK: - Wire shapes (botocore `iot` members)

struct PolicyDocumentBody: Decodable { var policyDocument: String? }
struct TagsMemberBody: Decodable { var tags: [TagBody]? }
struct TargetBody: Decodable { var target: String? }

struct CreatePolicyResponse: Encodable {
    var policyName, policyArn, policyDocument, policyVersionId: String
}

struct CreatePolicyVersionResponse: Encodable {
    var policyArn, policyDocument, policyVersionId: String
    var isDefaultVersion: Bool
}

struct GetPolicyResponse: Encodable {
    var policyName, policyArn, policyDocument, defaultVersionId: String
    var creationDate, lastModifiedDate: Double
    var generationId: String
}

struct GetPolicyVersionResponse: Encodable {
    var policyArn, policyName, policyDocument, policyVersionId: String
    var isDefaultVersion: Bool
    var creationDate, lastModifiedDate: Double
    var generationId: String
}

struct PolicySummary: Encodable { var policyName, policyArn: String }
struct ListPoliciesResponse: Encodable {
    var policies: [PolicySummary]
    var nextMarker: String?
}

struct PolicyVersionSummary: Encodable {
    var versionId: String
    var isDefaultVersion: Bool
    var createDate: Double
}

struct ListPolicyVersionsResponse: Encodable { var policyVersions: [PolicyVersionSummary] }

struct ListTargetsResponse: Encodable {
    var targets: [String]
    var nextMarker: String?
}
