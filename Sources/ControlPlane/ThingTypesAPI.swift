import ClusterState
import IoTTypes

/// The thing type operations of the AWS `iot` control plane (AWS-IOT-SPEC §3.2, botocore `iot` 2015-05-28), in the
/// shape of `ThingsAPI`: parse → operation, operation → command (writes), outcome or state → answer.
///
/// | operation          | route                                     | input → output |
/// |--------------------|-------------------------------------------|----------------|
/// | CreateThingType    | `POST /thing-types/{thingTypeName}`       | thingTypeProperties{thingTypeDescription, searchableAttributes}, tags → thingTypeName, thingTypeArn, thingTypeId |
/// | DescribeThingType  | `GET /thing-types/{thingTypeName}`        | → thingTypeName, thingTypeId, thingTypeArn, thingTypeProperties, thingTypeMetadata{deprecated, deprecationDate, creationDate} |
/// | DeprecateThingType | `POST /thing-types/{thingTypeName}/deprecate` | undoDeprecate → `{}` |
/// | DeleteThingType    | `DELETE /thing-types/{thingTypeName}`     | → `{}` |
/// | ListThingTypes     | `GET /thing-types`                        | ?nextToken ?maxResults (1–250) ?thingTypeName → thingTypes[ThingTypeDefinition], nextToken |
///
/// Tags are accepted and not stored (no tagging API yet); `mqtt5Configuration` is refused (InvalidRequest) rather
/// than silently dropped.
public struct ThingTypesAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String

    /// ListThingTypes page size when `maxResults` is absent.
    public static let defaultMaxResults = 50

    public init(tenant: TenantID, region: String) {
        self.tenant = tenant
        self.region = region
    }

    // MARK: - Requests

    public func parse(_ request: APIRequest) -> Result<ThingTypeOperation, AWSError>? {
        guard request.path == "/thing-types" || request.path.hasPrefix("/thing-types/") else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let s = target.segments
        let body = request.body ?? []
        switch (request.method, s.count) {
        case ("GET", 1):
            return list(target.query)
        case ("POST", 2):
            return name(s[1]).flatMap { name in create(name, body: body) }
        case ("GET", 2):
            return name(s[1]).map { .describeThingType(name: $0) }
        case ("DELETE", 2):
            return name(s[1]).map { .deleteThingType(name: $0) }
        case ("POST", 3) where s[2] == "deprecate":
            return name(s[1]).flatMap { name in
                JSONBody.decode(DeprecateThingTypeBody.self, from: body).map {
                    .deprecateThingType(name: name, undo: $0.undoDeprecate ?? false)
                }
            }
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    private func name(_ raw: String) -> Result<String, AWSError> {
        ThingGroupRules.isValidName(raw)
            ? .success(raw) : .failure(.invalidRequest("thingTypeName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
    }

    private func create(_ name: String, body: [UInt8]) -> Result<ThingTypeOperation, AWSError> {
        JSONBody.decode(CreateThingTypeBody.self, from: body).flatMap { b in
            let p = b.thingTypeProperties
            if p?.mqtt5Configuration != nil {
                return .failure(.invalidRequest("mqtt5Configuration is not supported by this server"))
            }
            if let tags = b.tags, let problem = TagRules.problem(tags.map(\.resourceTag)) { return .failure(.invalidRequest(problem)) }
            let searchable = p?.searchableAttributes ?? []
            if let problem = ClusterState.thingTypeInputProblem(name: name, description: p?.thingTypeDescription,
                                                                searchableAttributes: searchable) {
                return .failure(.invalidRequest(problem))
            }
            return .success(.createThingType(name: name, description: p?.thingTypeDescription,
                                             searchableAttributes: searchable))
        }
    }

    private func list(_ query: [String: String]) -> Result<ThingTypeOperation, AWSError> {
        var page = RegistryPage()
        if let problem = page.read(query) { return .failure(.invalidRequest(problem)) }
        var filter: String?
        if let raw = query["thingTypeName"] {
            guard ThingGroupRules.isValidName(raw) else {
                return .failure(.invalidRequest("thingTypeName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
            }
            filter = raw
        }
        return .success(.listThingTypes(page, thingTypeName: filter))
    }

    // MARK: - Commands

    public func command(for operation: ThingTypeOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .createThingType(let name, let description, let searchable):
            .createThingType(tenant: tenant, thingTypeName: name, description: description,
                             searchableAttributes: searchable, nowMs: nowMs)
        case .deprecateThingType(let name, let undo):
            .deprecateThingType(tenant: tenant, thingTypeName: name, undo: undo, nowMs: nowMs)
        case .deleteThingType(let name):
            .deleteThingType(tenant: tenant, thingTypeName: name, nowMs: nowMs)
        case .describeThingType, .listThingTypes:
            nil
        }
    }

    // MARK: - Answers

    public func respond(to operation: ThingTypeOperation, outcome: ClusterOutcome, state: ClusterState)
        -> APIResponse
    {
        let name = operation.thingTypeName ?? ""
        switch outcome {
        case .failure(.resourceAlreadyExists):
            let existing = state.thingType(tenant: tenant, name: name)
            return AWSError.resourceAlreadyExists(
                "Thing type \(name) already exists with a different configuration",
                resourceId: existing?.thingTypeId, resourceArn: existing?.thingTypeArn(region: region)).response
        case .failure(let error):
            return AWSError(error, what: "Thing type \(name)").response
        case .success(let result):
            switch (operation, result) {
            case (.createThingType, .thingType(let id)):
                return .json(JSONBody.encode(CreateThingTypeResponse(
                    thingTypeName: name, thingTypeArn: arn(name), thingTypeId: id)))
            case (.deprecateThingType, .done), (.deleteThingType, .done):
                return .json(JSONBody.encode([String: String]()))
            default:
                return AWSError.internalFailure("unexpected result \(result) for \(operation)").response
            }
        }
    }

    public func respond(to operation: ThingTypeOperation, state: ClusterState) -> APIResponse {
        switch operation {
        case .describeThingType(let name):
            guard let t = state.thingType(tenant: tenant, name: name) else {
                return AWSError.resourceNotFound("Thing type \(name) cannot be found.").response
            }
            let d = definition(t)
            return .json(JSONBody.encode(DescribeThingTypeResponse(
                thingTypeName: d.thingTypeName, thingTypeId: t.thingTypeId, thingTypeArn: d.thingTypeArn,
                thingTypeProperties: d.thingTypeProperties, thingTypeMetadata: d.thingTypeMetadata)))
        case .listThingTypes(let page, let filter):
            let types = state.thingTypes(tenant: tenant).filter { filter == nil || $0.thingTypeName == filter }
            let (rows, next) = page.slice(types, key: \.thingTypeName)
            return .json(JSONBody.encode(ListThingTypesResponse(thingTypes: rows.map(definition), nextToken: next)))
        case .createThingType, .deprecateThingType, .deleteThingType:
            return AWSError.internalFailure("\(operation) is a write").response
        }
    }

    func definition(_ t: ThingType) -> ThingTypeDefinition {
        ThingTypeDefinition(
            thingTypeName: t.thingTypeName, thingTypeArn: arn(t.thingTypeName),
            thingTypeProperties: ThingTypePropertiesOut(thingTypeDescription: t.description,
                                                        searchableAttributes: t.searchableAttributes),
            thingTypeMetadata: ThingTypeMetadataOut(deprecated: t.isDeprecated,
                                                    deprecationDate: t.deprecatedAtMs.map(PoliciesAPI.seconds),
                                                    creationDate: PoliciesAPI.seconds(t.createdAtMs)))
    }

    func arn(_ name: String) -> String { "arn:aws:iot:\(region):\(tenant.accountID):thingtype/\(name)" }
}

/// What a thing type request asks for.
public enum ThingTypeOperation: Sendable, Hashable {
    case createThingType(name: String, description: String?, searchableAttributes: [String])
    case describeThingType(name: String)
    case deprecateThingType(name: String, undo: Bool)
    case deleteThingType(name: String)
    case listThingTypes(RegistryPage, thingTypeName: String?)

    var thingTypeName: String? {
        switch self {
        case .createThingType(let name, _, _), .describeThingType(let name), .deprecateThingType(let name, _),
             .deleteThingType(let name):
            name
        case .listThingTypes: nil
        }
    }
}

/// `nextToken` / `maxResults` (RegistryMaxResults, 1–250) paging over rows in name order: the token is the last
/// name of the page (`PageToken`), so it stays valid when that row is deleted.
public struct RegistryPage: Sendable, Hashable {
    public var maxResults = 50
    /// From `nextToken`: the last name of the previous page.
    public var after: String?

    /// Reads `maxResults` and `nextToken`; the problem as an InvalidRequestException message, or nil.
    mutating func read(_ query: [String: String]) -> String? {
        if let raw = query["maxResults"] {
            guard let n = Int(raw), (1...250).contains(n) else { return "maxResults must be a whole number from 1 to 250" }
            maxResults = n
        }
        if let token = query["nextToken"], !token.isEmpty {
            guard let a = PageToken.decode(token) else { return "invalid nextToken" }
            after = a
        }
        return nil
    }

    /// The rows (sorted by `key`) after the token, at most `maxResults`, and the token when more remain.
    func slice<Row>(_ rows: [Row], key: (Row) -> String) -> ([Row], String?) {
        let rest = rows.filter { row in after.map { $0.utf8.lexicographicallyPrecedes(key(row).utf8) } ?? true }
        guard rest.count > maxResults else { return (rest, nil) }
        let page = Array(rest.prefix(maxResults))
        return (page, PageToken.encode(after: key(page[page.count - 1])))
    }
}

// MARK: - Wire shapes (members and JSON keys as in the botocore model)

struct ThingTypePropertiesBody: Decodable {
    var thingTypeDescription: String?
    var searchableAttributes: [String]?
    var mqtt5Configuration: Mqtt5ConfigurationBody?
}

struct Mqtt5ConfigurationBody: Decodable {
    var propagatingAttributes: [[String: String]]?
}

struct CreateThingTypeBody: Decodable {
    var thingTypeProperties: ThingTypePropertiesBody?
    var tags: [TagBody]?
}

struct DeprecateThingTypeBody: Decodable {
    var undoDeprecate: Bool?
}

struct CreateThingTypeResponse: Encodable {
    var thingTypeName: String
    var thingTypeArn: String
    var thingTypeId: String
}

struct ThingTypePropertiesOut: Encodable {
    var thingTypeDescription: String?
    var searchableAttributes: [String]
}

struct ThingTypeMetadataOut: Encodable {
    var deprecated: Bool
    /// Epoch seconds (AWS-IOT-SPEC §11.1), only while deprecated.
    var deprecationDate: Double?
    var creationDate: Double
}

struct ThingTypeDefinition: Encodable {
    var thingTypeName: String
    var thingTypeArn: String
    var thingTypeProperties: ThingTypePropertiesOut
    var thingTypeMetadata: ThingTypeMetadataOut
}

struct DescribeThingTypeResponse: Encodable {
    var thingTypeName: String
    var thingTypeId: String
    var thingTypeArn: String
    var thingTypeProperties: ThingTypePropertiesOut
    var thingTypeMetadata: ThingTypeMetadataOut
}

struct ListThingTypesResponse: Encodable {
    var thingTypes: [ThingTypeDefinition]
    var nextToken: String?
}
