import ClusterState
import IoTTypes

/// The things operations of the AWS `iot` control plane (AWS-IOT-SPEC §3.1, botocore `iot` 2015-05-28), as pure
/// functions: a request becomes a `ThingsOperation` (`parse`); a write becomes a `ClusterCommand` for the caller
/// to propose (`command`); the outcome, or the applied state for a read, becomes the answer (`respond`). Nothing
/// here reads a clock or touches a socket, so the same code serves the interim HTTP listener and, with issue 5,
/// the Hummingbird routes behind SigV4.
///
/// | operation     | route                            | input                                         | output |
/// |---------------|----------------------------------|-----------------------------------------------|--------|
/// | CreateThing   | `POST /things/{thingName}`       | thingTypeName, attributePayload{attributes}, billingGroupName | thingName, thingArn, thingId |
/// | DescribeThing | `GET /things/{thingName}`        |                                               | defaultClientId, thingName, thingId, thingArn, thingTypeName, attributes, version |
/// | UpdateThing   | `PATCH /things/{thingName}`      | thingTypeName, removeThingType, attributePayload{attributes, merge}, expectedVersion | `{}` |
/// | DeleteThing   | `DELETE /things/{thingName}`     | ?expectedVersion                              | `{}` |
/// | ListThings    | `GET /things`                    | ?maxResults (1–250) ?nextToken ?attributeName ?attributeValue ?usePrefixAttributeValue ?thingTypeName | things[{thingName, thingTypeName, thingArn, attributes, version}], nextToken |
public struct ThingsAPI: ControlPlaneAPI {
    /// Whose things (every request, until SigV4 names the tenant per request).
    public var tenant: TenantID
    /// The region in ARNs (`arn:aws:iot:<region>:<account>:thing/<name>`).
    public var region: String

    /// ListThings page size when `maxResults` is absent.
    public static let defaultMaxResults = 50

    public init(tenant: TenantID = .default, region: String = "us-east-1") {
        self.tenant = tenant
        self.region = region
    }

    // MARK: - Requests

    /// nil when the path is not a things route (another API may own it); else the operation or why not.
    public func parse(_ request: APIRequest) -> Result<ThingsOperation, AWSError>? {
        guard request.path == "/things" || request.path.hasPrefix("/things/") else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        switch (request.method, target.segments.count) {
        case ("GET", 1):
            return listThings(target.query).map(ThingsOperation.listThings)
        case ("POST", 2):
            return createThing(target.segments[1], body: request.body ?? []).map(ThingsOperation.createThing)
        case ("GET", 2):
            let name = target.segments[1]
            if let problem = Self.nameProblem(name) { return .failure(.invalidRequest(problem)) }
            return .success(.describeThing(thingName: name))
        case ("PATCH", 2):
            return updateThing(target.segments[1], body: request.body ?? []).map(ThingsOperation.updateThing)
        case ("DELETE", 2):
            let name = target.segments[1]
            if let problem = Self.nameProblem(name) { return .failure(.invalidRequest(problem)) }
            var expectedVersion: Int64?
            if let raw = target.query["expectedVersion"] {
                guard let v = Int64(raw) else { return .failure(.invalidRequest("expectedVersion must be a number")) }
                expectedVersion = v
            }
            return .success(.deleteThing(thingName: name, expectedVersion: expectedVersion))
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    private func createThing(_ name: String, body: [UInt8]) -> Result<ThingsOperation.CreateThing, AWSError> {
        if let problem = Self.nameProblem(name) { return .failure(.invalidRequest(problem)) }
        let parsed: CreateThingBody
        switch JSONBody.decode(CreateThingBody.self, from: body) {
        case .success(let b): parsed = b
        case .failure(let e): return .failure(e)
        }
        if let group = parsed.billingGroupName {  // billing groups do not exist yet, so none can be found
            return .failure(.resourceNotFound("Billing group \(group) cannot be found."))
        }
        let attributes = parsed.attributePayload?.attributes ?? [:]
        if let problem = ClusterState.thingInputProblem(name: name, thingTypeName: parsed.thingTypeName,
                                                        attributes: attributes) {
            return .failure(.invalidRequest(problem))
        }
        return .success(.init(thingName: name, thingTypeName: parsed.thingTypeName, attributes: attributes))
    }

    private func updateThing(_ name: String, body: [UInt8]) -> Result<ThingsOperation.UpdateThing, AWSError> {
        if let problem = Self.nameProblem(name) { return .failure(.invalidRequest(problem)) }
        let parsed: UpdateThingBody
        switch JSONBody.decode(UpdateThingBody.self, from: body) {
        case .success(let b): parsed = b
        case .failure(let e): return .failure(e)
        }
        let removeThingType = parsed.removeThingType ?? false
        if removeThingType && parsed.thingTypeName != nil {  // AWS: removeThingType with thingTypeName → IR
            return .failure(.invalidRequest("cannot set and remove the thing type in one update"))
        }
        let attributes = parsed.attributePayload?.attributes
        if let problem = ClusterState.thingInputProblem(name: name, thingTypeName: parsed.thingTypeName,
                                                        attributes: attributes ?? [:]) {
            return .failure(.invalidRequest(problem))
        }
        return .success(.init(thingName: name, thingTypeName: parsed.thingTypeName, removeThingType: removeThingType,
                              attributes: attributes, merge: parsed.attributePayload?.merge ?? false,
                              expectedVersion: parsed.expectedVersion))
    }

    private func listThings(_ query: [String: String]) -> Result<ThingsOperation.ListThings, AWSError> {
        var list = ThingsOperation.ListThings()
        if let raw = query["maxResults"] {
            guard let n = Int(raw), (1...250).contains(n) else {
                return .failure(.invalidRequest("maxResults must be a whole number from 1 to 250"))
            }
            list.maxResults = n
        }
        if let token = query["nextToken"], !token.isEmpty {
            guard let after = PageToken.decode(token) else { return .failure(.invalidRequest("invalid nextToken")) }
            list.after = after
        }
        list.attributeName = query["attributeName"]
        list.attributeValue = query["attributeValue"]
        if list.attributeValue != nil && list.attributeName == nil {
            return .failure(.invalidRequest("attributeValue needs attributeName"))
        }
        switch query["usePrefixAttributeValue"] {
        case nil, "false": list.usePrefixAttributeValue = false
        case "true": list.usePrefixAttributeValue = true
        default: return .failure(.invalidRequest("usePrefixAttributeValue must be true or false"))
        }
        if let type = query["thingTypeName"] {
            guard ClusterState.isValidThingName(type) else {
                return .failure(.invalidRequest("thingTypeName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
            }
            list.thingTypeName = type
        }
        return .success(list)
    }

    static func nameProblem(_ name: String) -> String? {
        ClusterState.isValidThingName(name) ? nil : "thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"
    }

    // MARK: - Commands

    /// The command a write proposes (stamped with the proposer's wall clock, epoch ms); nil for reads.
    public func command(for operation: ThingsOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .createThing(let c):
            return .createThing(.init(tenant: tenant, thingName: c.thingName, thingTypeName: c.thingTypeName,
                                      attributes: c.attributes, nowMs: nowMs))
        case .updateThing(let u):
            return .updateThing(.init(tenant: tenant, thingName: u.thingName, thingTypeName: u.thingTypeName,
                                      removeThingType: u.removeThingType, attributes: u.attributes, merge: u.merge,
                                      expectedVersion: u.expectedVersion, nowMs: nowMs))
        case .deleteThing(let name, let expectedVersion):
            return .deleteThing(tenant: tenant, thingName: name, expectedVersion: expectedVersion)
        case .describeThing, .listThings:
            return nil
        }
    }

    // MARK: - Answers

    /// The answer to a write, from its outcome and this node's state right after it (read-your-writes).
    public func respond(to operation: ThingsOperation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse {
        let name = operation.thingName ?? ""
        switch outcome {
        case .failure(.resourceNotFound)
        where operation.thingTypeName.map({ state.thingType(tenant: tenant, name: $0) == nil }) ?? false
            && (operation.isCreate || state.thing(tenant: tenant, name: name) != nil):
            // CreateThing / UpdateThing (of an existing thing) name a type that is not registered.
            return AWSError.resourceNotFound("Thing type \(operation.thingTypeName ?? "") cannot be found.").response
        case .failure(let error):
            return AWSError(error, thingName: name, existing: state.thing(tenant: tenant, name: name), region: region)
                .response
        case .success(let result):
            switch (operation, result) {
            case (.createThing(let c), .thing(let thingId, _)):
                return .json(JSONBody.encode(CreateThingResponse(
                    thingName: c.thingName, thingArn: arn(c.thingName), thingId: thingId)))
            case (.updateThing, _), (.deleteThing, _):
                return .json(JSONBody.encode([String: String]()))
            default:
                return AWSError.internalFailure("unexpected result \(result) for \(operation)").response
            }
        }
    }

    /// The answer to a read, from this node's applied state.
    public func respond(to operation: ThingsOperation, state: ClusterState) -> APIResponse {
        switch operation {
        case .describeThing(let name):
            guard let t = state.thing(tenant: tenant, name: name) else {
                return AWSError.resourceNotFound("Thing \(name) cannot be found.").response
            }
            return .json(JSONBody.encode(DescribeThingResponse(
                defaultClientId: t.defaultClientId, thingName: t.thingName, thingId: t.thingId,
                thingArn: arn(t.thingName), thingTypeName: t.thingTypeName, attributes: t.attributes,
                version: t.version)))
        case .listThings(let list):
            return .json(JSONBody.encode(listPage(list, in: state.things(tenant: tenant))))
        case .createThing, .updateThing, .deleteThing:
            return AWSError.internalFailure("\(operation) is a write").response
        }
    }

    /// One page: things in name order after the token, filtered, at most `maxResults`; a token when more match.
    func listPage(_ list: ThingsOperation.ListThings, in things: [Thing]) -> ListThingsResponse {
        var page: [ThingAttribute] = []
        var nextToken: String?
        for t in things where list.after.map({ $0.utf8.lexicographicallyPrecedes(t.thingName.utf8) }) ?? true {
            guard list.matches(t) else { continue }
            if page.count == list.maxResults {
                nextToken = PageToken.encode(after: page[page.count - 1].thingName)
                break
            }
            page.append(ThingAttribute(thingName: t.thingName, thingTypeName: t.thingTypeName,
                                       thingArn: arn(t.thingName), attributes: t.attributes, version: t.version))
        }
        return ListThingsResponse(things: page, nextToken: nextToken)
    }

    func arn(_ thingName: String) -> String { "arn:aws:iot:\(region):\(tenant.accountID):thing/\(thingName)" }
}

/// What a things request asks for.
public enum ThingsOperation: Sendable, Hashable {
    case createThing(CreateThing)
    case describeThing(thingName: String)
    case updateThing(UpdateThing)
    case deleteThing(thingName: String, expectedVersion: Int64?)
    case listThings(ListThings)

    public struct CreateThing: Sendable, Hashable {
        public var thingName: String
        public var thingTypeName: String?
        public var attributes: [String: String]
    }

    public struct UpdateThing: Sendable, Hashable {
        public var thingName: String
        public var thingTypeName: String?
        public var removeThingType: Bool
        /// nil: attributes untouched.
        public var attributes: [String: String]?
        public var merge: Bool
        public var expectedVersion: Int64?
    }

    public struct ListThings: Sendable, Hashable {
        public var maxResults = ThingsAPI.defaultMaxResults
        /// From `nextToken`: the last name of the previous page.
        public var after: String?
        public var attributeName: String?
        public var attributeValue: String?
        public var usePrefixAttributeValue = false
        public var thingTypeName: String?

        func matches(_ t: Thing) -> Bool {
            if let type = thingTypeName, t.thingTypeName != type { return false }
            guard let name = attributeName else { return true }
            guard let value = t.attributes[name] else { return false }
            guard let wanted = attributeValue else { return true }
            return usePrefixAttributeValue ? value.hasPrefix(wanted) : value == wanted
        }
    }

    /// Writes go through raft; reads read the local applied state.
    public var isWrite: Bool {
        switch self {
        case .createThing, .updateThing, .deleteThing: true
        case .describeThing, .listThings: false
        }
    }

    var isCreate: Bool {
        if case .createThing = self { true } else { false }
    }

    /// The thing type a create or update assigns.
    var thingTypeName: String? {
        switch self {
        case .createThing(let c): c.thingTypeName
        case .updateThing(let u): u.thingTypeName
        case .describeThing, .deleteThing, .listThings: nil
        }
    }

    var thingName: String? {
        switch self {
        case .createThing(let c): c.thingName
        case .describeThing(let name), .deleteThing(let name, _): name
        case .updateThing(let u): u.thingName
        case .listThings: nil
        }
    }
}

/// ListThings tokens: the last name of the page, hex-encoded (opaque to clients, URL-safe, and still valid after
/// that thing is deleted: the next page starts after the name, whether or not it exists).
enum PageToken {
    static func encode(after name: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in name.utf8 {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ token: String) -> String? {
        let chars = Array(token.utf8)
        guard chars.count % 2 == 0, chars.count <= 512 else { return nil }
        var bytes: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            bytes.append(hi << 4 | lo)
            i += 2
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

// MARK: - Wire shapes (members and JSON keys as in the botocore model)

struct AttributePayload: Decodable {
    var attributes: [String: String]?
    var merge: Bool?
}

struct CreateThingBody: Decodable {
    var thingTypeName: String?
    var attributePayload: AttributePayload?
    var billingGroupName: String?
}

struct UpdateThingBody: Decodable {
    var thingTypeName: String?
    var attributePayload: AttributePayload?
    var expectedVersion: Int64?
    var removeThingType: Bool?
}

struct CreateThingResponse: Encodable {
    var thingName: String
    var thingArn: String
    var thingId: String
}

struct DescribeThingResponse: Encodable {
    var defaultClientId: String
    var thingName: String
    var thingId: String
    var thingArn: String
    var thingTypeName: String?
    var attributes: [String: String]
    var version: Int64
}

struct ThingAttribute: Encodable {
    var thingName: String
    var thingTypeName: String?
    var thingArn: String
    var attributes: [String: String]
    var version: Int64
}

struct ListThingsResponse: Encodable {
    var things: [ThingAttribute]
    var nextToken: String?
}
