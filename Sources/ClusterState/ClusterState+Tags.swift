import IoTTypes

// Resource tags (TagResource, UntagResource, ListTagsForResource, and the `tags` member of create operations).
// Tags are keyed tenant first, then by the ARN's resource part (`thing/t1`, `policy/p`,
// `domainconfiguration/d`, `cacert/<id>`, `cert/<id>`): the region in an ARN is node configuration, not state.
extension ClusterState {
    /// Whether `resource` (an ARN's resource part) names an existing resource of `tenant` that can carry tags.
    /// The one place to extend when a new taggable resource type exists (thing groups, thing types, …).
    public func taggableResourceExists(tenant: TenantID, resource: String) -> Bool {
        guard let slash = resource.firstIndex(of: "/") else { return false }
        let type = resource[..<slash]
        let id = String(resource[resource.index(after: slash)...])
        switch type {
        case "thing": return things[tenant]?[id] != nil
        case "policy": return policies[tenant]?[id] != nil
        case "domainconfiguration": return domainConfigurations[tenant]?[id] != nil
        case "cacert": return caCertificates[tenant]?[id] != nil
        case "cert": return certificates[tenant]?[id] != nil
        case "thinggroup": return thingGroups[tenant]?[id] != nil
        case "thingtype": return thingTypes[tenant]?[id] != nil
        default: return false
        }
    }

    mutating func onTagResource(tenant: TenantID, resource: String, tags new: [ResourceTag]) -> ClusterOutcome {
        if let problem = TagRules.problem(new) { return .failure(.invalidRequest(problem)) }
        guard taggableResourceExists(tenant: tenant, resource: resource) else { return .failure(.resourceNotFound) }
        var merged = tags[tenant]?[resource] ?? [:]
        for t in new { merged[t.key] = t.value }
        guard merged.count <= TagRules.maxTagsPerResource else {
            return .failure(.limitExceeded("A resource can have at most \(TagRules.maxTagsPerResource) tags."))
        }
        if !merged.isEmpty { tags[tenant, default: [:]][resource] = merged }
        return .success(.done)
    }

    mutating func onUntagResource(tenant: TenantID, resource: String, keys: [String]) -> ClusterOutcome {
        for k in keys {
            if let problem = TagRules.keyProblem(k) { return .failure(.invalidRequest(problem)) }
        }
        guard taggableResourceExists(tenant: tenant, resource: resource) else { return .failure(.resourceNotFound) }
        for k in keys { tags[tenant]?[resource]?[k] = nil }
        if tags[tenant]?[resource]?.isEmpty == true { removeAllTags(tenant: tenant, resource: resource) }
        return .success(.done)
    }

    /// Checks the tags, applies the create, then tags what it made: a failing create leaves no tags behind, and
    /// bad tags leave no resource behind.
    mutating func onCreateWithTags(_ inner: ClusterCommand, tenant: TenantID, resource: String, tags new: [ResourceTag],
                                   index: UInt64) -> ClusterOutcome {
        switch inner {
        case .batch, .createWithTags: return .failure(.invalidRequest("tags wrap one create command"))
        default: break
        }
        if let problem = TagRules.problem(new) { return .failure(.invalidRequest(problem)) }
        guard new.count <= TagRules.maxTagsPerResource else {
            return .failure(.limitExceeded("A resource can have at most \(TagRules.maxTagsPerResource) tags."))
        }
        let outcome = apply(inner, index: index)
        guard case .success = outcome, !new.isEmpty else { return outcome }
        guard taggableResourceExists(tenant: tenant, resource: resource) else {
            // The proposer named a resource the create did not make: keep the create, report nothing lost.
            return outcome
        }
        var merged = tags[tenant]?[resource] ?? [:]
        for t in new { merged[t.key] = t.value }
        tags[tenant, default: [:]][resource] = merged
        return outcome
    }

    mutating func removeAllTags(tenant: TenantID, resource: String) {
        tags[tenant]?[resource] = nil
        if tags[tenant]?.isEmpty == true { tags[tenant] = nil }
    }

    /// The resource's tags in key order.
    public func tags(tenant: TenantID, resource: String) -> [ResourceTag] {
        (tags[tenant]?[resource] ?? [:]).sorted { String.utf8Less($0.key, $1.key) }
            .map { ResourceTag(key: $0.key, value: $0.value) }
    }
}

extension ClusterCommand {
    /// The tenant and resource (ARN resource part) a successful delete removes, for dropping its tags.
    var deletedTaggableResource: (tenant: TenantID, resource: String)? {
        switch self {
        case .deleteThing(let tenant, let name, _): (tenant, "thing/\(name)")
        case .deletePolicy(let tenant, let name): (tenant, "policy/\(name)")
        case .deleteDomainConfiguration(let tenant, let name), .deleteDisabledDomainConfiguration(let tenant, let name):
            (tenant, "domainconfiguration/\(name)")
        case .deleteCACertificate(let tenant, let id): (tenant, "cacert/\(id)")
        case .deleteCertificate(let tenant, let id), .forceDeleteCertificate(let tenant, let id): (tenant, "cert/\(id)")
        case .deleteThingGroup(let tenant, let name, _): (tenant, "thinggroup/\(name)")
        case .deleteThingType(let tenant, let name, _): (tenant, "thingtype/\(name)")
        default: nil
        }
    }
}
