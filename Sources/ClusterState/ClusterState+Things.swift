import IoTTypes

// Things, with AWS IoT's semantics (AWS-IOT-SPEC §3.1). A thing's type must be registered and not deprecated
// when it is given (`ClusterState+ThingGroups.swift`); a type raises the attribute limit from 3 to 50.
extension ClusterState {
    mutating func onCreateThing(_ c: ClusterCommand.CreateThing) -> ClusterOutcome {
        if let problem = Self.validate(name: c.thingName, type: c.thingTypeName, attributes: c.attributes) {
            return .failure(.invalidRequest(problem))
        }
        if let type = c.thingTypeName, let problem = thingTypeAssignmentProblem(tenant: c.tenant, typeName: type) {
            return .failure(problem)
        }
        let limit = ThingRules.maxAttributes(hasType: c.thingTypeName != nil)
        guard c.attributes.count <= limit else {
            return .failure(.invalidRequest("a thing \(c.thingTypeName == nil ? "without" : "with") a type "
                + "may have at most \(limit) attributes"))
        }
        if let existing = things[c.tenant]?[c.thingName] {
            // AWS CreateThing: idempotent when the configuration is the same, else ResourceAlreadyExists (409).
            guard existing.thingTypeName == c.thingTypeName, existing.attributes == c.attributes else {
                return .failure(.resourceAlreadyExists)
            }
            return .success(.thing(thingId: existing.thingId, version: existing.version))
        }
        thingSequence += 1
        let thing = Thing(tenant: c.tenant, thingName: c.thingName, thingId: ThingRules.thingId(sequence: thingSequence),
                          thingTypeName: c.thingTypeName, attributes: c.attributes, version: 1,
                          createdAtMs: c.nowMs, lastModifiedAtMs: c.nowMs)
        things[c.tenant, default: [:]][c.thingName] = thing
        return .success(.thing(thingId: thing.thingId, version: thing.version))
    }

    mutating func onUpdateThing(_ u: ClusterCommand.UpdateThing) -> ClusterOutcome {
        if u.removeThingType && u.thingTypeName != nil {  // AWS: removeThingType with thingTypeName → IR
            return .failure(.invalidRequest("cannot set and remove the thing type in one update"))
        }
        if let problem = Self.validate(name: u.thingName, type: u.thingTypeName, attributes: u.attributes ?? [:]) {
            return .failure(.invalidRequest(problem))
        }
        guard var thing = things[u.tenant]?[u.thingName] else { return .failure(.resourceNotFound) }
        if let expected = u.expectedVersion, expected != thing.version {  // AWS: version mismatch → 409
            return .failure(.versionConflict)
        }
        if let type = u.thingTypeName, type != thing.thingTypeName,
            let problem = thingTypeAssignmentProblem(tenant: u.tenant, typeName: type)
        {
            return .failure(problem)
        }
        if u.removeThingType { thing.thingTypeName = nil }
        if let type = u.thingTypeName { thing.thingTypeName = type }
        if let attributes = u.attributes {
            if u.merge {
                for (key, value) in attributes {  // AWS: with merge, an empty value deletes the attribute
                    thing.attributes[key] = value.isEmpty ? nil : value
                }
            } else {
                thing.attributes = attributes.filter { !$0.value.isEmpty }
            }
        }
        let limit = ThingRules.maxAttributes(hasType: thing.thingTypeName != nil)
        guard thing.attributes.count <= limit else {
            return .failure(.invalidRequest("a thing \(thing.thingTypeName == nil ? "without" : "with") a type "
                + "may have at most \(limit) attributes"))
        }
        thing.version += 1
        thing.lastModifiedAtMs = u.nowMs
        things[u.tenant]?[u.thingName] = thing
        return .success(.thing(thingId: thing.thingId, version: thing.version))
    }

    mutating func onDeleteThing(tenant: TenantID, thingName: String, expectedVersion: Int64?) -> ClusterOutcome {
        guard ThingRules.isValidThingName(thingName) else { return .failure(.invalidRequest("invalid thing name")) }
        // AWS DeleteThing: deleting a thing that does not exist succeeds.
        guard let thing = things[tenant]?[thingName] else { return .success(.done) }
        if let expectedVersion, expectedVersion != thing.version { return .failure(.versionConflict) }
        guard thingPrincipals[tenant]?[thingName] == nil else {
            return .failure(.invalidRequest("Cannot delete thing \(thingName) because it has principals attached"))
        }
        removeAllMemberships(tenant: tenant, thing: thingName)
        things[tenant]?[thingName] = nil
        if things[tenant]?.isEmpty == true { things[tenant] = nil }
        return .success(.done)
    }

    /// The first problem with a thing request's input, as an InvalidRequestException message, or nil. The control
    /// plane checks requests with it before proposing them (so a bad request costs no log entry); `apply` checks
    /// again, since it alone decides.
    public static func thingInputProblem(name: String, thingTypeName: String?, attributes: [String: String])
        -> String?
    {
        validate(name: name, type: thingTypeName, attributes: attributes)
    }

    /// `[a-zA-Z0-9:_-]+`, 1–128 (AWS `ThingName`).
    public static func isValidThingName(_ name: String) -> Bool { ThingRules.isValidThingName(name) }

    /// The first input problem, as an InvalidRequestException message, or nil.
    static func validate(name: String, type: String?, attributes: [String: String]) -> String? {
        guard ThingRules.isValidThingName(name) else {
            return "thingName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"
        }
        if let type, !ThingRules.isValidThingTypeName(type) {
            return "thingTypeName must match [a-zA-Z0-9:_-]+ and be 1-128 characters"
        }
        // The per-type limit is checked on the resulting thing; a request never carries more than the maximum.
        guard attributes.count <= ThingRules.maxAttributesWithType else {
            return "at most \(ThingRules.maxAttributesWithType) attributes"
        }
        for (key, value) in attributes {
            guard ThingRules.isValidAttributeName(key) else { return "invalid attribute name" }
            guard ThingRules.isValidAttributeValue(value) else { return "invalid attribute value" }
        }
        return nil
    }
}
