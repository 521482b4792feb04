import ClusterState
import IoTTypes

/// The static thing group operations of the AWS `iot` control plane (AWS-IOT-SPEC §3.3, botocore `iot`
/// 2015-05-28), in the shape of `ThingsAPI`. Routes (the two literal `PUT` paths are not group names: no group
/// operation uses `PUT /thing-groups/{thingGroupName}`; three are):
///
/// | operation                 | route                                          | input → output |
/// |---------------------------|------------------------------------------------|----------------|
/// | CreateThingGroup          | `POST /thing-groups/{thingGroupName}`          | parentGroupName, thingGroupProperties{thingGroupDescription, attributePayload{attributes}}, tags → thingGroupName, thingGroupArn, thingGroupId |
/// | DescribeThingGroup        | `GET /thing-groups/{thingGroupName}`           | → thingGroupName, thingGroupId, thingGroupArn, version, thingGroupProperties, thingGroupMetadata{parentGroupName, rootToParentThingGroups, creationDate} |
/// | UpdateThingGroup          | `PATCH /thing-groups/{thingGroupName}`         | thingGroupProperties (required), expectedVersion → version |
/// | DeleteThingGroup          | `DELETE /thing-groups/{thingGroupName}`        | ?expectedVersion → `{}` |
/// | ListThingGroups           | `GET /thing-groups`                            | ?parentGroup ?namePrefixFilter ?recursive ?nextToken ?maxResults → thingGroups[{groupName, groupArn}], nextToken |
/// | AddThingToThingGroup      | `PUT /thing-groups/addThingToThingGroup`       | thingGroupName/Arn, thingName/Arn, overrideDynamicGroups (ignored: no dynamic groups) → `{}` |
/// | RemoveThingFromThingGroup | `PUT /thing-groups/removeThingFromThingGroup`  | thingGroupName/Arn, thingName/Arn → `{}` |
/// | ListThingsInThingGroup    | `GET /thing-groups/{thingGroupName}/things`    | ?recursive ?nextToken ?maxResults → things[name], nextToken |
/// | ListThingGroupsForThing   | `GET /things/{thingName}/thing-groups`         | ?nextToken ?maxResults → thingGroups[{groupName, groupArn}], nextToken |
/// | UpdateThingGroupsForThing | `PUT /thing-groups/updateThingGroupsForThing`  | thingName, thingGroupsToAdd, thingGroupsToRemove, overrideDynamicGroups (ignored) → `{}` (all or nothing) |
public struct ThingGroupsAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String

    public init(tenant: TenantID, region: String) {
        self.tenant = tenant
        self.region = region
    }

    // MARK: - Requests

    public func parse(_ request: APIRequest) -> Result<ThingGroupOperation, AWSError>? {
        guard Self.owns(request.path) else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let s = target.segments
        let q = target.query
        let body = request.body ?? []
        switch (request.method, s.first, s.count) {
        case ("GET", "thing-groups", 1):
            return listGroups(q)
        case ("PUT", "thing-groups", 2) where s[1] == "addThingToThingGroup":
            return membership(body).map { .addThingToThingGroup(group: $0.group, thing: $0.thing) }
        case ("PUT", "thing-groups", 2) where s[1] == "removeThingFromThingGroup":
            return membership(body).map { .removeThingFromThingGroup(group: $0.group, thing: $0.thing) }
        case ("PUT", "thing-groups", 2) where s[1] == "updateThingGroupsForThing":
            return updateGroupsForThing(body)
        case ("POST", "thing-groups", 2):
            return groupName(s[1]).flatMap { create($0, body: body) }
        case ("GET", "thing-groups", 2):
            return groupName(s[1]).map { .describeThingGroup(name: $0) }
        case ("PATCH", "thing-groups", 2):
            return groupName(s[1]).flatMap { update($0, body: body) }
        case ("DELETE", "thing-groups", 2):
            return groupName(s[1]).flatMap { name in
                optionalVersion(q["expectedVersion"]).map { .deleteThingGroup(name: name, expectedVersion: $0) }
            }
        case ("GET", "thing-groups", 3) where s[2] == "things":
            return groupName(s[1]).flatMap { name in
                page(q).flatMap { page in
                    flag(q, "recursive").map { .listThingsInThingGroup(name: name, recursive: $0 ?? false, page) }
                }
            }
        case ("GET", "things", 3) where s[2] == "thing-groups":
            guard ClusterState.isValidThingName(s[1]) else { return .failure(.invalidRequest(Self.thingNameProblem)) }
            return page(q).map { .listThingGroupsForThing(thingName: s[1], $0) }
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    static func owns(_ path: String) -> Bool {
        if path == "/thing-groups" || path.hasPrefix("/thing-groups/") { return true }
        // `/things/{thingName}/thing-groups` (three segments; `/things/thing-groups` is DescribeThing's).
        return path.hasPrefix("/things/") && path.hasSuffix("/thing-groups") && path.split(separator: "/").count == 3
    }

    static let thingNameProblem = "thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"

    private func groupName(_ raw: String, member: String = "thingGroupName") -> Result<String, AWSError> {
        ThingGroupRules.isValidName(raw)
            ? .success(raw) : .failure(.invalidRequest("\(member) must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
    }

    private func page(_ query: [String: String]) -> Result<RegistryPage, AWSError> {
        var p = RegistryPage()
        if let problem = p.read(query) { return .failure(.invalidRequest(problem)) }
        return .success(p)
    }

    private func flag(_ query: [String: String], _ name: String) -> Result<Bool?, AWSError> {
        switch query[name] {
        case nil: .success(nil)
        case "true": .success(true)
        case "false": .success(false)
        default: .failure(.invalidRequest("\(name) must be true or false"))
        }
    }

    private func optionalVersion(_ raw: String?) -> Result<Int64?, AWSError> {
        guard let raw else { return .success(nil) }
        guard let v = Int64(raw) else { return .failure(.invalidRequest("expectedVersion must be a number")) }
        return .success(v)
    }

    private func listGroups(_ q: [String: String]) -> Result<ThingGroupOperation, AWSError> {
        page(q).flatMap { page in
            flag(q, "recursive").flatMap { recursive in
                var list = ThingGroupOperation.ListThingGroups(page: page, recursive: recursive ?? true)
                if let parent = q["parentGroup"] {
                    switch groupName(parent, member: "parentGroup") {
                    case .success(let p): list.parentGroup = p
                    case .failure(let e): return .failure(e)
                    }
                }
                if let prefix = q["namePrefixFilter"] {
                    switch groupName(prefix, member: "namePrefixFilter") {
                    case .success(let p): list.namePrefixFilter = p
                    case .failure(let e): return .failure(e)
                    }
                }
                return .success(.listThingGroups(list))
            }
        }
    }

    private func create(_ name: String, body: [UInt8]) -> Result<ThingGroupOperation, AWSError> {
        JSONBody.decode(CreateThingGroupBody.self, from: body).flatMap { b in
            if let tags = b.tags, let problem = TagRules.problem(tags.map(\.resourceTag)) { return .failure(.invalidRequest(problem)) }
            let description = b.thingGroupProperties?.thingGroupDescription
            let attributes = b.thingGroupProperties?.attributePayload?.attributes ?? [:]
            if let problem = ClusterState.thingGroupInputProblem(name: name, parent: b.parentGroupName,
                                                                 description: description, attributes: attributes) {
                return .failure(.invalidRequest(problem))
            }
            return .success(.createThingGroup(.init(name: name, parentGroupName: b.parentGroupName,
                                                    description: description, attributes: attributes)))
        }
    }

    private func update(_ name: String, body: [UInt8]) -> Result<ThingGroupOperation, AWSError> {
        JSONBody.decode(UpdateThingGroupBody.self, from: body).flatMap { b in
            guard let properties = b.thingGroupProperties else {
                return .failure(.invalidRequest("thingGroupProperties is missing"))
            }
            let attributes = properties.attributePayload?.attributes
            if let problem = ClusterState.thingGroupInputProblem(name: name, parent: nil,
                                                                 description: properties.thingGroupDescription,
                                                                 attributes: attributes ?? [:]) {
                return .failure(.invalidRequest(problem))
            }
            return .success(.updateThingGroup(.init(
                name: name, description: properties.thingGroupDescription, attributes: attributes,
                merge: properties.attributePayload?.merge ?? false, expectedVersion: b.expectedVersion)))
        }
    }

    /// The group and thing of an Add/RemoveThingFromThingGroup body, each by name or by ARN (the name wins when
    /// both are given, as the model does not say; an ARN of another account is not found).
    private func membership(_ body: [UInt8]) -> Result<(group: String, thing: String), AWSError> {
        JSONBody.decode(MembershipBody.self, from: body).flatMap { b in
            let group: String
            if let name = b.thingGroupName {
                switch groupName(name) {
                case .success(let g): group = g
                case .failure(let e): return .failure(e)
                }
            } else if let arn = b.thingGroupArn {
                guard let g = ThingGroupRules.groupName(fromArn: arn, tenant: tenant) else {
                    return .failure(arn.hasPrefix("arn:") && arn.contains(":thinggroup/")
                        ? .resourceNotFound("Thing group \(arn) cannot be found.")
                        : .invalidRequest("thingGroupArn is not a thing group ARN"))
                }
                group = g
            } else {
                return .failure(.invalidRequest("Both thingGroupName and thingGroupArn cannot be null"))
            }
            let thing: String
            if let name = b.thingName {
                guard ClusterState.isValidThingName(name) else { return .failure(.invalidRequest(Self.thingNameProblem)) }
                thing = name
            } else if let arn = b.thingArn {
                guard let t = ThingGroupRules.thingName(fromArn: arn, tenant: tenant) else {
                    return .failure(arn.hasPrefix("arn:") && arn.contains(":thing/")
                        ? .resourceNotFound("Thing \(arn) cannot be found.")
                        : .invalidRequest("thingArn is not a thing ARN"))
                }
                thing = t
            } else {
                return .failure(.invalidRequest("Both thingName and thingArn cannot be null"))
            }
            return .success((group, thing))
        }
    }

    private func updateGroupsForThing(_ body: [UInt8]) -> Result<ThingGroupOperation, AWSError> {
        JSONBody.decode(UpdateThingGroupsForThingBody.self, from: body).flatMap { b in
            guard let thing = b.thingName else { return .failure(.invalidRequest("thingName is missing")) }
            guard ClusterState.isValidThingName(thing) else { return .failure(.invalidRequest(Self.thingNameProblem)) }
            let add = b.thingGroupsToAdd ?? [], remove = b.thingGroupsToRemove ?? []
            guard (add + remove).allSatisfy(ThingGroupRules.isValidName) else {
                return .failure(.invalidRequest("thingGroupsToAdd and thingGroupsToRemove must hold thing group names"))
            }
            return .success(.updateThingGroupsForThing(thingName: thing, add: add, remove: remove))
        }
    }

    // MARK: - Commands

    public func command(for operation: ThingGroupOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .createThingGroup(let c):
            .createThingGroup(.init(tenant: tenant, thingGroupName: c.name, parentGroupName: c.parentGroupName,
                                    description: c.description, attributes: c.attributes, nowMs: nowMs))
        case .updateThingGroup(let u):
            .updateThingGroup(.init(tenant: tenant, thingGroupName: u.name, description: u.description,
                                    attributes: u.attributes, merge: u.merge, expectedVersion: u.expectedVersion,
                                    nowMs: nowMs))
        case .deleteThingGroup(let name, let expectedVersion):
            .deleteThingGroup(tenant: tenant, thingGroupName: name, expectedVersion: expectedVersion)
        case .addThingToThingGroup(let group, let thing):
            .addThingToThingGroup(tenant: tenant, thingGroupName: group, thingName: thing)
        case .removeThingFromThingGroup(let group, let thing):
            .removeThingFromThingGroup(tenant: tenant, thingGroupName: group, thingName: thing)
        case .updateThingGroupsForThing(let thing, let add, let remove):
            .updateThingGroupsForThing(tenant: tenant, thingName: thing, groupsToAdd: add, groupsToRemove: remove)
        case .describeThingGroup, .listThingGroups, .listThingsInThingGroup, .listThingGroupsForThing:
            nil
        }
    }

    // MARK: - Answers

    public func respond(to operation: ThingGroupOperation, outcome: ClusterOutcome, state: ClusterState)
        -> APIResponse
    {
        switch outcome {
        case .failure(let error):
            return failure(error, operation, state).response
        case .success(let result):
            switch (operation, result) {
            case (.createThingGroup(let c), .thingGroup(let id, _)):
                return .json(JSONBody.encode(CreateThingGroupResponse(
                    thingGroupName: c.name, thingGroupArn: arn(c.name), thingGroupId: id)))
            case (.updateThingGroup, .thingGroup(_, let version)):
                return .json(JSONBody.encode(["version": version]))
            case (.deleteThingGroup, .done), (.addThingToThingGroup, .done), (.removeThingFromThingGroup, .done),
                 (.updateThingGroupsForThing, .done):
                return .json(JSONBody.encode([String: String]()))
            default:
                return AWSError.internalFailure("unexpected result \(result) for \(operation)").response
            }
        }
    }

    /// A write's failure, naming what was not found (the group or the thing) from the state after it.
    private func failure(_ error: ClusterStateError, _ operation: ThingGroupOperation, _ state: ClusterState)
        -> AWSError
    {
        let what = "Thing group \(operation.groupName ?? "")"
        switch error {
        case .resourceNotFound:
            switch operation {
            case .addThingToThingGroup(let group, let thing), .removeThingFromThingGroup(let group, let thing):
                return state.thingGroup(tenant: tenant, name: group) == nil
                    ? .resourceNotFound("Thing group \(group) cannot be found.")
                    : .resourceNotFound("Thing \(thing) cannot be found.")
            case .updateThingGroupsForThing(let thing, let add, let remove):
                if let missing = (add + remove).first(where: { state.thingGroup(tenant: tenant, name: $0) == nil }) {
                    return .resourceNotFound("Thing group \(missing) cannot be found.")
                }
                return .resourceNotFound("Thing \(thing) cannot be found.")
            case .createThingGroup, .describeThingGroup, .updateThingGroup, .deleteThingGroup, .listThingGroups,
                 .listThingsInThingGroup, .listThingGroupsForThing:
                return AWSError(error, what: what)
            }
        case .resourceAlreadyExists:
            let name = operation.groupName ?? ""
            let existing = state.thingGroup(tenant: tenant, name: name)
            return .resourceAlreadyExists("\(what) already exists with a different configuration",
                                          resourceId: existing?.thingGroupId,
                                          resourceArn: existing.map { _ in arn(name) })
        case .versionConflict:
            return .versionConflict(
                "The version for thing group \(operation.groupName ?? "") does not match the expected version.")
        case .invalidRequest, .unsupportedCommandVersion, .malformedCommand, .certificateState, .deleteConflict,
             .versionsLimitExceeded, .limitExceeded, .certificateValidation:
            return AWSError(error, what: what)
        }
    }

    public func respond(to operation: ThingGroupOperation, state: ClusterState) -> APIResponse {
        switch operation {
        case .describeThingGroup(let name):
            guard let g = state.thingGroup(tenant: tenant, name: name) else {
                return AWSError.resourceNotFound("Thing group \(name) cannot be found.").response
            }
            let roots = state.rootToParentThingGroups(tenant: tenant, of: name).map(nameAndArn)
            return .json(JSONBody.encode(DescribeThingGroupResponse(
                thingGroupName: g.thingGroupName, thingGroupId: g.thingGroupId, thingGroupArn: arn(name),
                version: g.version,
                thingGroupProperties: ThingGroupPropertiesOut(
                    thingGroupDescription: g.description,
                    attributePayload: AttributePayloadOut(attributes: g.attributes)),
                thingGroupMetadata: ThingGroupMetadataOut(
                    parentGroupName: g.parentGroupName, rootToParentThingGroups: roots.isEmpty ? nil : roots,
                    creationDate: PoliciesAPI.seconds(g.createdAtMs)))))
        case .listThingGroups(let list):
            var names: [String]
            if let parent = list.parentGroup {
                guard state.thingGroup(tenant: tenant, name: parent) != nil else {
                    return AWSError.resourceNotFound("Thing group \(parent) cannot be found.").response
                }
                names = state.childGroups(tenant: tenant, of: parent, recursive: list.recursive)
            } else {
                names = state.thingGroups(tenant: tenant)
                    .filter { list.recursive || $0.parentGroupName == nil }.map(\.thingGroupName)
            }
            if let prefix = list.namePrefixFilter { names = names.filter { $0.hasPrefix(prefix) } }
            let (rows, next) = list.page.slice(names) { $0 }
            return .json(JSONBody.encode(GroupListResponse(thingGroups: rows.map(nameAndArn), nextToken: next)))
        case .listThingsInThingGroup(let name, let recursive, let page):
            guard state.thingGroup(tenant: tenant, name: name) != nil else {
                return AWSError.resourceNotFound("Thing group \(name) cannot be found.").response
            }
            let (rows, next) = page.slice(state.thingsInGroup(tenant: tenant, group: name, recursive: recursive)) { $0 }
            return .json(JSONBody.encode(ListThingsInThingGroupResponse(things: rows, nextToken: next)))
        case .listThingGroupsForThing(let thing, let page):
            guard state.thing(tenant: tenant, name: thing) != nil else {
                return AWSError.resourceNotFound("Thing \(thing) cannot be found.").response
            }
            let (rows, next) = page.slice(state.groupsOfThing(tenant: tenant, thingName: thing)) { $0 }
            return .json(JSONBody.encode(GroupListResponse(thingGroups: rows.map(nameAndArn), nextToken: next)))
        case .createThingGroup, .updateThingGroup, .deleteThingGroup, .addThingToThingGroup,
             .removeThingFromThingGroup, .updateThingGroupsForThing:
            return AWSError.internalFailure("\(operation) is a write").response
        }
    }

    func nameAndArn(_ name: String) -> GroupNameAndArn { GroupNameAndArn(groupName: name, groupArn: arn(name)) }

    func arn(_ name: String) -> String { ThingGroupRules.arn(tenant: tenant, region: region, name: name) }
}

/// What a thing group request asks for.
public enum ThingGroupOperation: Sendable, Hashable {
    case createThingGroup(CreateThingGroup)
    case describeThingGroup(name: String)
    case updateThingGroup(UpdateThingGroup)
    case deleteThingGroup(name: String, expectedVersion: Int64?)
    case listThingGroups(ListThingGroups)
    case addThingToThingGroup(group: String, thing: String)
    case removeThingFromThingGroup(group: String, thing: String)
    case listThingsInThingGroup(name: String, recursive: Bool, RegistryPage)
    case listThingGroupsForThing(thingName: String, RegistryPage)
    case updateThingGroupsForThing(thingName: String, add: [String], remove: [String])

    public struct CreateThingGroup: Sendable, Hashable {
        public var name: String
        public var parentGroupName: String?
        public var description: String?
        public var attributes: [String: String]
    }

    public struct UpdateThingGroup: Sendable, Hashable {
        public var name: String
        public var description: String?
        public var attributes: [String: String]?
        public var merge: Bool
        public var expectedVersion: Int64?
    }

    public struct ListThingGroups: Sendable, Hashable {
        public var page: RegistryPage
        /// Absent means true: every group below the parent (or in the account), not only the direct children (roots).
        public var recursive: Bool
        public var parentGroup: String?
        public var namePrefixFilter: String?
    }

    var groupName: String? {
        switch self {
        case .createThingGroup(let c): c.name
        case .updateThingGroup(let u): u.name
        case .describeThingGroup(let name), .deleteThingGroup(let name, _), .listThingsInThingGroup(let name, _, _):
            name
        case .addThingToThingGroup(let group, _), .removeThingFromThingGroup(let group, _): group
        case .listThingGroups, .listThingGroupsForThing, .updateThingGroupsForThing: nil
        }
    }
}

// MARK: - Wire shapes (members and JSON keys as in the botocore model)

struct ThingGroupPropertiesBody: Decodable {
    var thingGroupDescription: String?
    var attributePayload: AttributePayload?
}

struct CreateThingGroupBody: Decodable {
    var parentGroupName: String?
    var thingGroupProperties: ThingGroupPropertiesBody?
    var tags: [TagBody]?
}

struct UpdateThingGroupBody: Decodable {
    var thingGroupProperties: ThingGroupPropertiesBody?
    var expectedVersion: Int64?
}

struct MembershipBody: Decodable {
    var thingGroupName: String?
    var thingGroupArn: String?
    var thingName: String?
    var thingArn: String?
    var overrideDynamicGroups: Bool?
}

struct UpdateThingGroupsForThingBody: Decodable {
    var thingName: String?
    var thingGroupsToAdd: [String]?
    var thingGroupsToRemove: [String]?
    var overrideDynamicGroups: Bool?
}

struct CreateThingGroupResponse: Encodable {
    var thingGroupName: String
    var thingGroupArn: String
    var thingGroupId: String
}

struct AttributePayloadOut: Encodable {
    var attributes: [String: String]
}

struct ThingGroupPropertiesOut: Encodable {
    var thingGroupDescription: String?
    var attributePayload: AttributePayloadOut
}

struct GroupNameAndArn: Encodable {
    var groupName: String
    var groupArn: String
}

struct ThingGroupMetadataOut: Encodable {
    var parentGroupName: String?
    var rootToParentThingGroups: [GroupNameAndArn]?
    /// Epoch seconds.
    var creationDate: Double
}

struct DescribeThingGroupResponse: Encodable {
    var thingGroupName: String
    var thingGroupId: String
    var thingGroupArn: String
    var version: Int64
    var thingGroupProperties: ThingGroupPropertiesOut
    var thingGroupMetadata: ThingGroupMetadataOut
}

struct GroupListResponse: Encodable {
    var thingGroups: [GroupNameAndArn]
    var nextToken: String?
}

struct ListThingsInThingGroupResponse: Encodable {
    var things: [String]
    var nextToken: String?
}
