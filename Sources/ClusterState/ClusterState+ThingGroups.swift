import IoTTypes

// Thing types and static thing groups, with AWS IoT's rules (AWS-IOT-SPEC §3.2, §3.3):
// - a type is deleted only five minutes after it was deprecated and while no thing has it; things are created or
//   re-typed only with an existing, non-deprecated type;
// - a group's parent is fixed at creation; a hierarchy is at most 7 levels deep and a group has at most 100
//   children; a group with children cannot be deleted; deleting a group drops its memberships and the policy
//   attachments to its ARN (in any region of the tenant's account);
// - a thing is in at most 10 groups and never in two groups of one hierarchy (two groups with the same root).
// Policies attached to a group apply to the things in it and in every group below it (`thingGroupArns`).
extension ClusterState {
    // MARK: - Thing types

    mutating func onCreateThingType(tenant: TenantID, name: String, description: String?,
                                    searchableAttributes: [String], nowMs: Int64) -> ClusterOutcome {
        if let problem = Self.thingTypeInputProblem(name: name, description: description,
                                                    searchableAttributes: searchableAttributes) {
            return .failure(.invalidRequest(problem))
        }
        if let existing = thingTypes[tenant]?[name] {
            // AWS CreateThingType: the same name and configuration succeeds, a different one is 409.
            guard existing.description == description, existing.searchableAttributes == searchableAttributes else {
                return .failure(.resourceAlreadyExists)
            }
            return .success(.thingType(thingTypeId: existing.thingTypeId))
        }
        registrySequence += 1
        let type = ThingType(tenant: tenant, thingTypeName: name,
                             thingTypeId: ThingGroupRules.registryId(sequence: registrySequence),
                             description: description, searchableAttributes: searchableAttributes,
                             deprecatedAtMs: nil, createdAtMs: nowMs)
        thingTypes[tenant, default: [:]][name] = type
        return .success(.thingType(thingTypeId: type.thingTypeId))
    }

    mutating func onDeprecateThingType(tenant: TenantID, name: String, undo: Bool, nowMs: Int64) -> ClusterOutcome {
        guard ThingGroupRules.isValidName(name) else { return .failure(.invalidRequest(Self.typeNameProblem)) }
        guard var type = thingTypes[tenant]?[name] else { return .failure(.resourceNotFound) }
        if undo {
            type.deprecatedAtMs = nil
        } else if type.deprecatedAtMs == nil {
            type.deprecatedAtMs = nowMs
        }
        thingTypes[tenant]?[name] = type
        return .success(.done)
    }

    mutating func onDeleteThingType(tenant: TenantID, name: String, nowMs: Int64) -> ClusterOutcome {
        guard ThingGroupRules.isValidName(name) else { return .failure(.invalidRequest(Self.typeNameProblem)) }
        guard let type = thingTypes[tenant]?[name] else { return .failure(.resourceNotFound) }
        guard let deprecatedAt = type.deprecatedAtMs else {
            return .failure(.invalidRequest("Thing type \(name) must be deprecated before it can be deleted"))
        }
        // AWS: "You must wait five minutes after you deprecate a thing type before you can delete it."
        guard nowMs - deprecatedAt >= ThingGroupRules.deleteAfterDeprecationMs else {
            return .failure(.invalidRequest(
                "Thing type \(name) was deprecated less than 5 minutes ago; wait 5 minutes before deleting it"))
        }
        guard !(things[tenant] ?? [:]).values.contains(where: { $0.thingTypeName == name }) else {
            return .failure(.invalidRequest("Can not delete thing type \(name) because things are associated with it"))
        }
        thingTypes[tenant]?[name] = nil
        if thingTypes[tenant]?.isEmpty == true { thingTypes[tenant] = nil }
        return .success(.done)
    }

    /// Why a thing may not take `typeName` (CreateThing, UpdateThing): nil when the type exists and is not
    /// deprecated; else `resourceNotFound` or `invalidRequest` (AWS's message, typo included).
    func thingTypeAssignmentProblem(tenant: TenantID, typeName: String) -> ClusterStateError? {
        guard let type = thingTypes[tenant]?[typeName] else { return .resourceNotFound }
        if type.isDeprecated {
            return .invalidRequest("Can not create new thing with depreated thing type:\(typeName)")
        }
        return nil
    }

    static let typeNameProblem = "thingTypeName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"
    static let groupNameProblem = "thingGroupName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"

    /// The first problem with a CreateThingType request's input, as an InvalidRequestException message, or nil.
    public static func thingTypeInputProblem(name: String, description: String?, searchableAttributes: [String])
        -> String?
    {
        guard ThingGroupRules.isValidName(name) else { return typeNameProblem }
        if let description, !ThingGroupRules.isValidDescription(description) {
            return "thingTypeDescription must be printable ASCII, at most \(ThingGroupRules.maxDescriptionLength)"
        }
        guard searchableAttributes.count <= ThingGroupRules.maxSearchableAttributes else {
            return "Only three searchable attributes are allowed for a thing type."
        }
        guard searchableAttributes.allSatisfy(ThingGroupRules.isValidAttributeName) else {
            return "searchableAttributes must match [a-zA-Z0-9_.,@/:#-]+ and be 1-128 characters"
        }
        return nil
    }

    // MARK: - Thing groups

    mutating func onCreateThingGroup(_ c: ClusterCommand.CreateThingGroup) -> ClusterOutcome {
        if let problem = Self.thingGroupInputProblem(name: c.thingGroupName, parent: c.parentGroupName,
                                                     description: c.description, attributes: c.attributes) {
            return .failure(.invalidRequest(problem))
        }
        let attributes = c.attributes.filter { !$0.value.isEmpty }
        if let existing = thingGroups[c.tenant]?[c.thingGroupName] {
            // AWS: the same group again is a 200; the same name with anything different is 409.
            guard existing.parentGroupName == c.parentGroupName, existing.description == c.description,
                existing.attributes == attributes
            else { return .failure(.resourceAlreadyExists) }
            return .success(.thingGroup(thingGroupId: existing.thingGroupId, version: existing.version))
        }
        if let parent = c.parentGroupName {
            // The model lists no ResourceNotFoundException for CreateThingGroup: a missing parent is a bad request.
            guard thingGroups[c.tenant]?[parent] != nil else {
                return .failure(.invalidRequest("Parent thing group \(parent) does not exist"))
            }
            guard ancestors(tenant: c.tenant, of: parent).count + 2 <= ThingGroupRules.maxDepth else {
                return .failure(.invalidRequest(
                    "A thing group hierarchy may be at most \(ThingGroupRules.maxDepth) levels deep"))
            }
            guard (groupChildren[c.tenant]?[parent]?.count ?? 0) < ThingGroupRules.maxChildren else {
                return .failure(.invalidRequest(
                    "Thing group \(parent) already has \(ThingGroupRules.maxChildren) child groups"))
            }
        }
        registrySequence += 1
        let group = ThingGroup(tenant: c.tenant, thingGroupName: c.thingGroupName,
                               thingGroupId: ThingGroupRules.registryId(sequence: registrySequence),
                               parentGroupName: c.parentGroupName, description: c.description,
                               attributes: attributes, version: 1, createdAtMs: c.nowMs, lastModifiedAtMs: c.nowMs)
        thingGroups[c.tenant, default: [:]][c.thingGroupName] = group
        if let parent = c.parentGroupName {
            groupChildren[c.tenant, default: [:]][parent, default: []].insert(c.thingGroupName)
        }
        return .success(.thingGroup(thingGroupId: group.thingGroupId, version: group.version))
    }

    mutating func onUpdateThingGroup(_ u: ClusterCommand.UpdateThingGroup) -> ClusterOutcome {
        if let problem = Self.thingGroupInputProblem(name: u.thingGroupName, parent: nil, description: u.description,
                                                     attributes: u.attributes ?? [:]) {
            return .failure(.invalidRequest(problem))
        }
        guard var group = thingGroups[u.tenant]?[u.thingGroupName] else { return .failure(.resourceNotFound) }
        if let expected = u.expectedVersion, expected != group.version { return .failure(.versionConflict) }
        if let description = u.description { group.description = description.isEmpty ? nil : description }
        if let attributes = u.attributes {
            if u.merge {
                for (key, value) in attributes { group.attributes[key] = value.isEmpty ? nil : value }
            } else {
                group.attributes = attributes.filter { !$0.value.isEmpty }
            }
        }
        guard group.attributes.count <= ThingGroupRules.maxGroupAttributes else {
            return .failure(.invalidRequest(
                "A thing group may have at most \(ThingGroupRules.maxGroupAttributes) attributes"))
        }
        group.version += 1
        group.lastModifiedAtMs = u.nowMs
        thingGroups[u.tenant]?[u.thingGroupName] = group
        return .success(.thingGroup(thingGroupId: group.thingGroupId, version: group.version))
    }

    mutating func onDeleteThingGroup(tenant: TenantID, name: String, expectedVersion: Int64?) -> ClusterOutcome {
        guard ThingGroupRules.isValidName(name) else { return .failure(.invalidRequest(Self.groupNameProblem)) }
        // The model lists no ResourceNotFoundException for DeleteThingGroup: deleting a missing group succeeds.
        guard let group = thingGroups[tenant]?[name] else { return .success(.done) }
        if let expectedVersion, expectedVersion != group.version { return .failure(.versionConflict) }
        guard groupChildren[tenant]?[name]?.isEmpty ?? true else {
            return .failure(.invalidRequest(
                "Cannot delete thing group : \(name) when there are still child groups attached to it"))
        }
        for thing in groupMembers[tenant]?[name] ?? [] { removeMembership(tenant: tenant, group: name, thing: thing) }
        if let parent = group.parentGroupName {
            groupChildren[tenant]?[parent]?.remove(name)
            if groupChildren[tenant]?[parent]?.isEmpty == true { groupChildren[tenant]?[parent] = nil }
            if groupChildren[tenant]?.isEmpty == true { groupChildren[tenant] = nil }
        }
        // The group's policy attachments go with it (a later group of the same name starts with none).
        for target in (policyTargets[tenant] ?? [:]).keys
        where ThingGroupRules.groupName(fromArn: target, tenant: tenant) == name {
            policyTargets[tenant]?[target] = nil
        }
        if policyTargets[tenant]?.isEmpty == true { policyTargets[tenant] = nil }
        thingGroups[tenant]?[name] = nil
        if thingGroups[tenant]?.isEmpty == true { thingGroups[tenant] = nil }
        return .success(.done)
    }

    mutating func onAddThingToThingGroup(tenant: TenantID, group: String, thing: String) -> ClusterOutcome {
        guard ThingGroupRules.isValidName(group) else { return .failure(.invalidRequest(Self.groupNameProblem)) }
        guard ThingRules.isValidThingName(thing) else {
            return .failure(.invalidRequest("thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
        }
        guard thingGroups[tenant]?[group] != nil, things[tenant]?[thing] != nil else {
            return .failure(.resourceNotFound)
        }
        let current = thingGroupsOfThing[tenant]?[thing] ?? []
        if current.contains(group) { return .success(.done) }
        guard current.count < ThingGroupRules.maxGroupsPerThing else {
            return .failure(.invalidRequest(
                "Thing \(thing) is already in \(ThingGroupRules.maxGroupsPerThing) thing groups"))
        }
        let root = rootGroup(tenant: tenant, of: group)
        if let other = current.sorted(by: String.utf8Less).first(where: { rootGroup(tenant: tenant, of: $0) == root }) {
            return .failure(.invalidRequest(
                "Thing \(thing) is already in thing group \(other) of the same hierarchy as \(group)"))
        }
        groupMembers[tenant, default: [:]][group, default: []].insert(thing)
        thingGroupsOfThing[tenant, default: [:]][thing, default: []].insert(group)
        return .success(.done)
    }

    mutating func onRemoveThingFromThingGroup(tenant: TenantID, group: String, thing: String) -> ClusterOutcome {
        guard ThingGroupRules.isValidName(group) else { return .failure(.invalidRequest(Self.groupNameProblem)) }
        guard ThingRules.isValidThingName(thing) else {
            return .failure(.invalidRequest("thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
        }
        guard thingGroups[tenant]?[group] != nil, things[tenant]?[thing] != nil else {
            return .failure(.resourceNotFound)
        }
        removeMembership(tenant: tenant, group: group, thing: thing)
        return .success(.done)
    }

    mutating func onUpdateThingGroupsForThing(tenant: TenantID, thing: String, add: [String], remove: [String])
        -> ClusterOutcome
    {
        guard ThingRules.isValidThingName(thing) else {
            return .failure(.invalidRequest("thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"))
        }
        guard (add + remove).allSatisfy(ThingGroupRules.isValidName) else {
            return .failure(.invalidRequest(Self.groupNameProblem))
        }
        guard things[tenant]?[thing] != nil, (add + remove).allSatisfy({ thingGroups[tenant]?[$0] != nil }) else {
            return .failure(.resourceNotFound)
        }
        let current = thingGroupsOfThing[tenant]?[thing] ?? []
        var result = current.subtracting(remove)
        for group in add where !result.contains(group) {
            let root = rootGroup(tenant: tenant, of: group)
            if let other = result.sorted(by: String.utf8Less).first(where: { rootGroup(tenant: tenant, of: $0) == root }) {
                return .failure(.invalidRequest(
                    "Thing \(thing) is already in thing group \(other) of the same hierarchy as \(group)"))
            }
            result.insert(group)
        }
        guard result.count <= ThingGroupRules.maxGroupsPerThing else {
            return .failure(.invalidRequest(
                "Thing \(thing) can be in at most \(ThingGroupRules.maxGroupsPerThing) thing groups"))
        }
        for group in current.subtracting(result) { removeMembership(tenant: tenant, group: group, thing: thing) }
        for group in result.subtracting(current) {
            groupMembers[tenant, default: [:]][group, default: []].insert(thing)
            thingGroupsOfThing[tenant, default: [:]][thing, default: []].insert(group)
        }
        return .success(.done)
    }

    mutating func removeMembership(tenant: TenantID, group: String, thing: String) {
        groupMembers[tenant]?[group]?.remove(thing)
        if groupMembers[tenant]?[group]?.isEmpty == true { groupMembers[tenant]?[group] = nil }
        if groupMembers[tenant]?.isEmpty == true { groupMembers[tenant] = nil }
        thingGroupsOfThing[tenant]?[thing]?.remove(group)
        if thingGroupsOfThing[tenant]?[thing]?.isEmpty == true { thingGroupsOfThing[tenant]?[thing] = nil }
        if thingGroupsOfThing[tenant]?.isEmpty == true { thingGroupsOfThing[tenant] = nil }
    }

    /// Drops every membership of a thing (DeleteThing).
    mutating func removeAllMemberships(tenant: TenantID, thing: String) {
        for group in thingGroupsOfThing[tenant]?[thing] ?? [] { removeMembership(tenant: tenant, group: group, thing: thing) }
    }

    /// The first problem with a thing group request's input, as an InvalidRequestException message, or nil.
    public static func thingGroupInputProblem(name: String, parent: String?, description: String?,
                                              attributes: [String: String]) -> String? {
        guard ThingGroupRules.isValidName(name) else { return groupNameProblem }
        if let parent, !ThingGroupRules.isValidName(parent) {
            return "parentGroupName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"
        }
        if let description, !ThingGroupRules.isValidDescription(description) {
            return "thingGroupDescription must be printable ASCII, at most \(ThingGroupRules.maxDescriptionLength)"
        }
        guard attributes.count <= ThingGroupRules.maxGroupAttributes else {
            return "A thing group may have at most \(ThingGroupRules.maxGroupAttributes) attributes"
        }
        for (key, value) in attributes {
            guard ThingRules.isValidAttributeName(key) else { return "invalid attribute name" }
            guard ThingRules.isValidAttributeValue(value) else { return "invalid attribute value" }
        }
        return nil
    }

    /// `groupChildren` and `thingGroupsOfThing` from the stored groups and memberships (after a restore).
    mutating func rebuildGroupIndexes() throws(BinaryReadError) {
        groupChildren = [:]
        thingGroupsOfThing = [:]
        for (tenant, groups) in thingGroups {
            for group in groups.values {
                guard let parent = group.parentGroupName else { continue }
                // A parent must exist, and following parents must reach a root (no cycles) within the depth limit.
                guard groups[parent] != nil else { throw BinaryReadError() }
                groupChildren[tenant, default: [:]][parent, default: []].insert(group.thingGroupName)
            }
            for name in groups.keys {
                var depth = 1
                var at = groups[name]?.parentGroupName
                while let p = at {
                    depth += 1
                    guard depth <= ThingGroupRules.maxDepth else { throw BinaryReadError() }
                    at = groups[p]?.parentGroupName
                }
            }
        }
        for (tenant, members) in groupMembers {
            for (group, thingNames) in members {
                guard thingGroups[tenant]?[group] != nil else { throw BinaryReadError() }
                for thing in thingNames {
                    guard things[tenant]?[thing] != nil else { throw BinaryReadError() }
                    thingGroupsOfThing[tenant, default: [:]][thing, default: []].insert(group)
                }
            }
        }
    }

    // MARK: - Hierarchy

    /// The ancestors of `group`, parent first, up to the root (empty for a root or a missing group).
    func ancestors(tenant: TenantID, of group: String) -> [String] {
        var out: [String] = []
        var at = thingGroups[tenant]?[group]?.parentGroupName
        while let p = at, out.count < ThingGroupRules.maxDepth {
            out.append(p)
            at = thingGroups[tenant]?[p]?.parentGroupName
        }
        return out
    }

    func rootGroup(tenant: TenantID, of group: String) -> String { ancestors(tenant: tenant, of: group).last ?? group }

    /// Every group below `group`, depth first, children in name order.
    func descendants(tenant: TenantID, of group: String) -> [String] {
        var out: [String] = []
        for child in (groupChildren[tenant]?[group] ?? []).sorted(by: String.utf8Less) {
            out.append(child)
            out += descendants(tenant: tenant, of: child)
        }
        return out
    }

    // MARK: - Reads

    public func thingType(tenant: TenantID, name: String) -> ThingType? { thingTypes[tenant]?[name] }

    /// The tenant's thing types in name order.
    public func thingTypes(tenant: TenantID) -> [ThingType] {
        (thingTypes[tenant] ?? [:]).values.sorted { String.utf8Less($0.thingTypeName, $1.thingTypeName) }
    }

    public func thingGroup(tenant: TenantID, name: String) -> ThingGroup? { thingGroups[tenant]?[name] }

    /// The tenant's thing groups in name order.
    public func thingGroups(tenant: TenantID) -> [ThingGroup] {
        (thingGroups[tenant] ?? [:]).values.sorted { String.utf8Less($0.thingGroupName, $1.thingGroupName) }
    }

    /// DescribeThingGroup's `rootToParentThingGroups`: the ancestors of `group`, root first.
    public func rootToParentThingGroups(tenant: TenantID, of group: String) -> [String] {
        ancestors(tenant: tenant, of: group).reversed()
    }

    /// The direct children of `group` (or, with `recursive`, every group below it), in name order.
    public func childGroups(tenant: TenantID, of group: String, recursive: Bool) -> [String] {
        let names = recursive ? descendants(tenant: tenant, of: group) : Array(groupChildren[tenant]?[group] ?? [])
        return names.sorted(by: String.utf8Less)
    }

    /// The things in `group` (with `recursive`, also in every group below it), in name order, each once.
    public func thingsInGroup(tenant: TenantID, group: String, recursive: Bool) -> [String] {
        var names = groupMembers[tenant]?[group] ?? []
        if recursive {
            for d in descendants(tenant: tenant, of: group) { names.formUnion(groupMembers[tenant]?[d] ?? []) }
        }
        return names.sorted(by: String.utf8Less)
    }

    /// The groups `thing` is directly in, in name order (ListThingGroupsForThing).
    public func groupsOfThing(tenant: TenantID, thingName: String) -> [String] {
        (thingGroupsOfThing[tenant]?[thingName] ?? []).sorted(by: String.utf8Less)
    }

    /// The ARNs of every thing group whose attached policies apply to `thingName`: the groups it is in, then their
    /// parents, and so on up to the roots — nearest first, each level in name order, each group once. The MQTT
    /// authorizer adds the policies attached to these targets to the principal's own.
    public func thingGroupArns(containing thingName: String, tenant: TenantID, region: String) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        var level = groupsOfThing(tenant: tenant, thingName: thingName)
        while !level.isEmpty {
            var next = Set<String>()
            for g in level where seen.insert(g).inserted {
                out.append(ThingGroupRules.arn(tenant: tenant, region: region, name: g))
                if let p = thingGroups[tenant]?[g]?.parentGroupName, !seen.contains(p) { next.insert(p) }
            }
            level = next.sorted(by: String.utf8Less)
        }
        return out
    }
}
