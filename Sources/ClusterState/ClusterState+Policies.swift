import IoTTypes

// IoT policies with versions, their attachments to targets (certificate ARNs, thing group ARNs, Cognito ids), and
// principals attached to things (AWS-IOT-SPEC §2.4, §3.5). Targets and principals are kept as the strings the
// client sent (ARNs name the region; comparisons are exact); a thing group target must name an existing group. Every command here moves
// `authorizationGeneration`, so a node's authorization caches know when to re-read.
extension ClusterState {
    mutating func onCreatePolicy(tenant: TenantID, name: String, document: String, nowMs: Int64) -> ClusterOutcome {
        if let problem = Self.policyProblem(name: name, document: document) { return .failure(.invalidRequest(problem)) }
        guard policies[tenant]?[name] == nil else { return .failure(.resourceAlreadyExists) }
        policies[tenant, default: [:]][name] = IoTPolicy(
            tenant: tenant, policyName: name, versions: [PolicyVersion(versionId: 1, document: document, createdAtMs: nowMs)],
            defaultVersionId: 1, nextVersionId: 2, createdAtMs: nowMs, lastModifiedAtMs: nowMs)
        return .success(.policyVersion(versionId: 1))
    }

    mutating func onCreatePolicyVersion(tenant: TenantID, name: String, document: String, setAsDefault: Bool,
                                        nowMs: Int64) -> ClusterOutcome {
        if let problem = Self.policyProblem(name: name, document: document) { return .failure(.invalidRequest(problem)) }
        guard var p = policies[tenant]?[name] else { return .failure(.resourceNotFound) }
        guard p.versions.count < PolicyRules.maxVersions else {
            return .failure(.versionsLimitExceeded(
                "The policy \(name) already has the maximum number of versions (\(PolicyRules.maxVersions))"))
        }
        let id = p.nextVersionId
        p.versions.append(PolicyVersion(versionId: id, document: document, createdAtMs: nowMs))
        p.nextVersionId += 1
        if setAsDefault { p.defaultVersionId = id }
        p.lastModifiedAtMs = nowMs
        policies[tenant]?[name] = p
        return .success(.policyVersion(versionId: id))
    }

    mutating func onSetDefaultPolicyVersion(tenant: TenantID, name: String, versionId: Int64,
                                            nowMs: Int64) -> ClusterOutcome {
        guard var p = policies[tenant]?[name], p.version(versionId) != nil else { return .failure(.resourceNotFound) }
        if p.defaultVersionId != versionId {
            p.defaultVersionId = versionId
            p.lastModifiedAtMs = nowMs
            policies[tenant]?[name] = p
        }
        return .success(.done)
    }

    mutating func onDeletePolicyVersion(tenant: TenantID, name: String, versionId: Int64) -> ClusterOutcome {
        guard var p = policies[tenant]?[name], p.version(versionId) != nil else { return .failure(.resourceNotFound) }
        guard p.defaultVersionId != versionId else {
            return .failure(.deleteConflict("Cannot delete the default version of policy \(name)"))
        }
        p.versions.removeAll { $0.versionId == versionId }
        policies[tenant]?[name] = p
        return .success(.done)
    }

    mutating func onDeletePolicy(tenant: TenantID, name: String) -> ClusterOutcome {
        guard let p = policies[tenant]?[name] else { return .failure(.resourceNotFound) }
        guard p.versions.count == 1 else {
            return .failure(.deleteConflict("Cannot delete the policy because it has one or more policy versions"))
        }
        guard targets(tenant: tenant, policyName: name).isEmpty else {
            return .failure(.deleteConflict("The policy cannot be deleted as the policy is attached to one or more principals"))
        }
        policies[tenant]?[name] = nil
        if policies[tenant]?.isEmpty == true { policies[tenant] = nil }
        return .success(.done)
    }

    mutating func onAttachPolicy(tenant: TenantID, name: String, target: String) -> ClusterOutcome {
        guard PolicyRules.isValidTarget(target) else { return .failure(.invalidRequest("invalid target")) }
        guard policies[tenant]?[name] != nil else { return .failure(.resourceNotFound) }
        // A thing group target must name an existing group of this tenant (its policies are inherited).
        if target.contains(":thinggroup/") {
            guard let group = ThingGroupRules.groupName(fromArn: target, tenant: tenant),
                thingGroups[tenant]?[group] != nil
            else { return .failure(.resourceNotFound) }
        }
        var attached = policyTargets[tenant]?[target] ?? []
        if attached.contains(name) { return .success(.done) }
        guard attached.count < PolicyRules.maxPoliciesPerTarget else {
            return .failure(.limitExceeded(
                "A target may have at most \(PolicyRules.maxPoliciesPerTarget) policies attached"))
        }
        attached.insert(name)
        policyTargets[tenant, default: [:]][target] = attached
        return .success(.done)
    }

    mutating func onDetachPolicy(tenant: TenantID, name: String, target: String) -> ClusterOutcome {
        guard PolicyRules.isValidTarget(target) else { return .failure(.invalidRequest("invalid target")) }
        guard policies[tenant]?[name] != nil else { return .failure(.resourceNotFound) }
        policyTargets[tenant]?[target]?.remove(name)
        if policyTargets[tenant]?[target]?.isEmpty == true { policyTargets[tenant]?[target] = nil }
        if policyTargets[tenant]?.isEmpty == true { policyTargets[tenant] = nil }
        return .success(.done)
    }

    mutating func onAttachThingPrincipal(tenant: TenantID, thing: String, principal: String,
                                         type: ThingPrincipalType) -> ClusterOutcome {
        guard PolicyRules.isValidTarget(principal) else { return .failure(.invalidRequest("invalid principal")) }
        guard things[tenant]?[thing] != nil else { return .failure(.resourceNotFound) }
        let others = principalThings[tenant]?[principal, default: []].subtracting([thing]) ?? []
        if !others.isEmpty {
            // An exclusive attachment is the principal's only one, whichever side asks for it.
            if type == .exclusive {
                return .failure(.invalidRequest("The principal is attached to other things; it cannot be attached exclusively"))
            }
            if others.contains(where: { thingPrincipals[tenant]?[$0]?[principal] == .exclusive }) {
                return .failure(.invalidRequest("The principal is attached exclusively to another thing"))
            }
        }
        thingPrincipals[tenant, default: [:]][thing, default: [:]][principal] = type
        principalThings[tenant, default: [:]][principal, default: []].insert(thing)
        return .success(.done)
    }

    mutating func onDetachThingPrincipal(tenant: TenantID, thing: String, principal: String) -> ClusterOutcome {
        guard PolicyRules.isValidTarget(principal) else { return .failure(.invalidRequest("invalid principal")) }
        guard things[tenant]?[thing] != nil else { return .failure(.resourceNotFound) }
        removeThingPrincipal(tenant: tenant, thing: thing, principal: principal)
        return .success(.done)
    }

    mutating func removeThingPrincipal(tenant: TenantID, thing: String, principal: String) {
        thingPrincipals[tenant]?[thing]?[principal] = nil
        if thingPrincipals[tenant]?[thing]?.isEmpty == true { thingPrincipals[tenant]?[thing] = nil }
        if thingPrincipals[tenant]?.isEmpty == true { thingPrincipals[tenant] = nil }
        principalThings[tenant]?[principal]?.remove(thing)
        if principalThings[tenant]?[principal]?.isEmpty == true { principalThings[tenant]?[principal] = nil }
        if principalThings[tenant]?.isEmpty == true { principalThings[tenant] = nil }
    }

    static func policyProblem(name: String, document: String) -> String? {
        guard PolicyRules.isValidPolicyName(name) else { return "policyName must match [\\w+=,.@-]+ (1-128)" }
        guard !document.isEmpty, document.utf8.count <= PolicyRules.maxStoredDocumentBytes,
            PolicyRules.countedCharacters(document) <= PolicyRules.maxDocumentCharacters
        else { return "policyDocument must be 1-\(PolicyRules.maxDocumentCharacters) characters (whitespace excluded)" }
        return nil
    }

    /// `principalThings` from `thingPrincipals` (after a restore).
    mutating func rebuildPrincipalThings() {
        principalThings = [:]
        for (tenant, byThing) in thingPrincipals {
            for (thing, principals) in byThing {
                for principal in principals.keys { principalThings[tenant, default: [:]][principal, default: []].insert(thing) }
            }
        }
    }

    // MARK: - Reads

    public func policy(tenant: TenantID, name: String) -> IoTPolicy? { policies[tenant]?[name] }

    /// The tenant's policies in name order.
    public func policies(tenant: TenantID) -> [IoTPolicy] {
        (policies[tenant] ?? [:]).values.sorted { String.utf8Less($0.policyName, $1.policyName) }
    }

    /// Names of the policies attached to `target`, in name order.
    public func attachedPolicies(tenant: TenantID, target: String) -> [String] {
        (policyTargets[tenant]?[target] ?? []).sorted(by: String.utf8Less)
    }

    /// The targets a policy is attached to, in byte order.
    public func targets(tenant: TenantID, policyName: String) -> [String] {
        (policyTargets[tenant] ?? [:]).compactMap { $0.value.contains(policyName) ? $0.key : nil }
            .sorted(by: String.utf8Less)
    }

    /// The principals attached to a thing, in byte order.
    public func thingPrincipals(tenant: TenantID, thingName: String) -> [(principal: String, type: ThingPrincipalType)] {
        (thingPrincipals[tenant]?[thingName] ?? [:]).sorted { String.utf8Less($0.key, $1.key) }
            .map { ($0.key, $0.value) }
    }

    /// The things a principal is attached to, in name order.
    public func principalThings(tenant: TenantID, principal: String) -> [(thingName: String, type: ThingPrincipalType)] {
        (principalThings[tenant]?[principal] ?? []).sorted(by: String.utf8Less).compactMap { thing in
            thingPrincipals[tenant]?[thing]?[principal].map { (thing, $0) }
        }
    }

    /// The default documents of the policies attached to `targets`, in policy name order: what the authorizer
    /// evaluates for a certificate principal (with `thingGroupArns(containing:…)` added for inherited policies).
    public func effectivePolicyDocuments(tenant: TenantID, targets: [String]) -> [(policyName: String, document: String)] {
        var names = Set<String>()
        for t in targets { names.formUnion(policyTargets[tenant]?[t] ?? []) }
        return names.sorted(by: String.utf8Less).compactMap { n in
            policies[tenant]?[n]?.defaultVersion.map { (n, $0.document) }
        }
    }
}
