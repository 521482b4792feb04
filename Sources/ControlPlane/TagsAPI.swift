import ClusterState
import IoTTypes

/// TagResource, UntagResource and ListTagsForResource (botocore `iot`), in the shape of `ThingsAPI`. A resource
/// is named by its ARN, `arn:aws:iot:<region>:<account>:<type>/<id>`; one in another account or region, of a type
/// that cannot be tagged, or that does not exist is ResourceNotFoundException (the state decides existence:
/// `ClusterState.taggableResourceExists`). A string that is not an `iot` ARN at all is InvalidRequestException.
///
/// | operation           | route                                    |
/// |---------------------|------------------------------------------|
/// | TagResource         | `POST /tags` {resourceArn, tags[{Key, Value}]} |
/// | UntagResource       | `POST /untag` {resourceArn, tagKeys}     |
/// | ListTagsForResource | `GET /tags` ?resourceArn ?nextToken      |
public struct TagsAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String
    /// ListTagsForResource page size (a resource has at most 50 tags, so one page holds them all).
    public static let pageSize = 50

    public init(tenant: TenantID = .default, region: String = "us-east-1") {
        self.tenant = tenant
        self.region = region
    }

    public func parse(_ request: APIRequest) -> Result<TagOperation, AWSError>? {
        guard request.path == "/tags" || request.path == "/untag" else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let body = request.body ?? []
        switch (request.method, request.path) {
        case ("POST", "/tags"):
            return JSONBody.decode(TagResourceBody.self, from: body).flatMap { b in
                guard let tags = b.tags else { return .failure(.invalidRequest("tags is required")) }
                let parsed = tags.map { ResourceTag(key: $0.Key ?? "", value: $0.Value ?? "") }
                if let problem = TagRules.problem(parsed) { return .failure(.invalidRequest(problem)) }
                return resource(b.resourceArn).map { .tag(resource: $0, tags: parsed) }
            }
        case ("POST", "/untag"):
            return JSONBody.decode(UntagResourceBody.self, from: body).flatMap { b in
                guard let keys = b.tagKeys else { return .failure(.invalidRequest("tagKeys is required")) }
                for k in keys {
                    if let problem = TagRules.keyProblem(k) { return .failure(.invalidRequest(problem)) }
                }
                return resource(b.resourceArn).map { .untag(resource: $0, keys: keys) }
            }
        case ("GET", "/tags"):
            var after: String?
            if let token = target.query["nextToken"], !token.isEmpty {
                guard let decoded = PageToken.decode(token) else {
                    return .failure(.invalidRequest("invalid nextToken"))
                }
                after = decoded
            }
            return resource(target.query["resourceArn"]).map { .list(resource: $0, after: after) }
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    /// The ARN's resource part, or nil (→ not found) for another account, region or service.
    private func resource(_ arn: String?) -> Result<Resource, AWSError> {
        guard let arn, !arn.isEmpty else { return .failure(.invalidRequest("resourceArn is required")) }
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), !parts[2].isEmpty,
              parts[5].contains("/")
        else { return .failure(.invalidRequest("resourceArn \(arn) is not an ARN")) }
        let mine = parts[2] == "iot" && parts[3] == region && parts[4] == tenant.accountID
        return .success(Resource(arn: arn, key: mine ? String(parts[5]) : nil))
    }

    public func command(for operation: TagOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .tag(let r, let tags):
            // Another account's or region's ARN: a key no resource has, so the state answers not found.
            .tagResource(tenant: tenant, resource: r.key ?? "", tags: tags)
        case .untag(let r, let keys): .untagResource(tenant: tenant, resource: r.key ?? "", tagKeys: keys)
        case .list: nil
        }
    }

    public func respond(to operation: TagOperation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse {
        if case .failure(let error) = outcome { return AWSError(error, what: operation.subject).response }
        return .json(JSONBody.encode([String: String]()))
    }

    public func respond(to operation: TagOperation, state: ClusterState) -> APIResponse {
        guard case .list(let r, let after) = operation else {
            return AWSError.internalFailure("\(operation) is a write").response
        }
        guard let key = r.key, state.taggableResourceExists(tenant: tenant, resource: key) else {
            return AWSError.resourceNotFound("\(operation.subject) cannot be found.").response
        }
        let all = state.tags(tenant: tenant, resource: key)
        let rest = all.filter { t in after.map { $0.utf8.lexicographicallyPrecedes(t.key.utf8) } ?? true }
        let page = Array(rest.prefix(Self.pageSize))
        let next = rest.count > page.count ? page.last.map { PageToken.encode(after: $0.key) } : nil
        return .json(JSONBody.encode(ListTagsForResourceResponse(
            tags: page.map { TagBody(Key: $0.key, Value: $0.value) }, nextToken: next)))
    }

    /// A resource ARN: `key` is its resource part when it is this tenant's and region's `iot` ARN.
    public struct Resource: Sendable, Hashable {
        var arn: String
        var key: String?
    }
}

/// What a tagging request asks for.
public enum TagOperation: Sendable, Hashable {
    case tag(resource: TagsAPI.Resource, tags: [ResourceTag])
    case untag(resource: TagsAPI.Resource, keys: [String])
    case list(resource: TagsAPI.Resource, after: String?)

    var subject: String {
        switch self {
        case .tag(let r, _), .untag(let r, _), .list(let r, _): "Resource \(r.arn)"
        }
    }
}

struct TagResourceBody: Decodable {
    var resourceArn: String?
    var tags: [TagBody]?
}

struct UntagResourceBody: Decodable {
    var resourceArn: String?
    var tagKeys: [String]?
}

struct ListTagsForResourceResponse: Encodable {
    var tags: [TagBody]
    var nextToken: String?
}
