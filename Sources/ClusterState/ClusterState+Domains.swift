import IoTTypes

/// Where a domain name is configured.
public struct DomainOwner: Sendable, Hashable {
    public var tenant: TenantID
    public var domainConfigurationName: String
}

// Domain configurations (AWS-IOT-SPEC §10) and tenants' default endpoints. The TLS layer reads
// `enabledDomainConfigurations()` to build its SNI selector and rebuilds it when that changes, so a change applies to
// the next handshake on every node without a restart.
extension ClusterState {
    mutating func onCreateDomainConfiguration(_ d: DomainConfiguration) -> ClusterOutcome {
        if let problem = Self.domainConfigurationProblem(d) { return .failure(.invalidRequest(problem)) }
        var d = d
        d.domainName = DomainRules.canonicalDomainName(d.domainName)!  // checked just above
        guard domainConfigurations[d.tenant]?[d.domainConfigurationName] == nil,
              domainOwners[d.domainName] == nil
        else { return .failure(.resourceAlreadyExists) }
        domainConfigurations[d.tenant, default: [:]][d.domainConfigurationName] = d
        domainOwners[d.domainName] = DomainOwner(tenant: d.tenant, domainConfigurationName: d.domainConfigurationName)
        return .success(.done)
    }

    mutating func onUpdateDomainConfigurationStatus(tenant: TenantID, name: String, status: DomainConfigurationStatus,
                                                    nowMs: Int64) -> ClusterOutcome {
        guard DomainRules.isValidName(name) else { return .failure(.invalidRequest(Self.badDomainConfigurationName)) }
        guard var d = domainConfigurations[tenant]?[name] else { return .failure(.resourceNotFound) }
        if d.status != status {
            d.status = status
            d.lastStatusChangeAtMs = nowMs
            domainConfigurations[tenant]?[name] = d
        }
        return .success(.done)
    }

    mutating func onDeleteDomainConfiguration(tenant: TenantID, name: String) -> ClusterOutcome {
        guard DomainRules.isValidName(name) else { return .failure(.invalidRequest(Self.badDomainConfigurationName)) }
        guard let d = domainConfigurations[tenant]?[name] else { return .failure(.resourceNotFound) }
        domainConfigurations[tenant]?[name] = nil
        if domainConfigurations[tenant]?.isEmpty == true { domainConfigurations[tenant] = nil }
        domainDetails[tenant]?[name] = nil
        if domainDetails[tenant]?.isEmpty == true { domainDetails[tenant] = nil }
        domainOwners[d.domainName] = nil
        return .success(.done)
    }

    mutating func onSetTenantEndpointPrefix(tenant: TenantID, prefix: String?) -> ClusterOutcome {
        guard tenants[tenant] != nil else { return .failure(.resourceNotFound) }
        guard let prefix else {
            endpointPrefixes[tenant] = nil
            return .success(.done)
        }
        guard TenantEndpoint.isValidPrefix(prefix) else {
            return .failure(.invalidRequest("endpoint prefix must be 1-59 of [a-z0-9-], not starting or ending with -"))
        }
        if let owner = tenantOwning(endpointPrefix: prefix), owner != tenant { return .failure(.resourceAlreadyExists) }
        endpointPrefixes[tenant] = prefix
        return .success(.done)
    }

    static let badDomainConfigurationName = "domainConfigurationName must match [\\w.-]+ and be 1-128 characters"

    /// The first problem with a new domain configuration, as an InvalidRequestException message, or nil. Proposers
    /// may check with it first (a bad request then costs no log entry); `apply` checks again, since it alone decides.
    public static func domainConfigurationProblem(_ d: DomainConfiguration) -> String? {
        guard DomainRules.isValidName(d.domainConfigurationName) else { return badDomainConfigurationName }
        guard DomainRules.canonicalDomainName(d.domainName) != nil else {
            return "domainName must be a host name of at least two labels ([a-z0-9-], 1-63 each, at most 253 "
                + "bytes), optionally after a leading *. wildcard label"
        }
        guard DomainRules.isValidPEM(d.serverCertificateChainPEM) else {
            return "the server certificate chain must be 1-\(DomainRules.maxPEMBytes) bytes"
        }
        guard DomainRules.isValidPEM(d.privateKeyPEM) else {
            return "the private key must be 1-\(DomainRules.maxPEMBytes) bytes"
        }
        if let a = d.defaultAuthorizerName, !DomainRules.isValidAuthorizerName(a) {
            return "defaultAuthorizerName must match [\\w=,@-]+ and be 1-128 characters"
        }
        return nil
    }

    // MARK: - Reads

    public func domainConfiguration(tenant: TenantID, name: String) -> DomainConfiguration? {
        domainConfigurations[tenant]?[name]
    }

    /// The tenant's domain configurations in name order.
    public func domainConfigurations(tenant: TenantID) -> [DomainConfiguration] {
        (domainConfigurations[tenant] ?? [:]).values.sorted {
            String.utf8Less($0.domainConfigurationName, $1.domainConfigurationName)
        }
    }

    /// The configuration for exactly this (canonical) domain name, whatever its status and tenant.
    public func domainConfiguration(domainName: String) -> DomainConfiguration? {
        guard let owner = domainOwners[domainName] else { return nil }
        return domainConfigurations[owner.tenant]?[owner.domainConfigurationName]
    }

    /// Every ENABLED configuration of every tenant, keyed by its domain name (`iot.example.com` or
    /// `*.example.com`, lower case): what an SNI selector indexes (exact key first, then `*.` + the name without
    /// its first label). Equal states give equal maps, so a selector can rebuild only when this changes.
    public func enabledDomainConfigurations() -> [String: DomainConfiguration] {
        var out: [String: DomainConfiguration] = [:]
        for (domainName, owner) in domainOwners {
            if let d = domainConfigurations[owner.tenant]?[owner.domainConfigurationName], d.status == .enabled {
                out[domainName] = d
            }
        }
        return out
    }

    /// The tenant's default endpoint prefix: the one set for it, else the derived one.
    public func endpointPrefix(tenant: TenantID) -> String {
        endpointPrefixes[tenant] ?? TenantEndpoint.derivedPrefix(for: tenant)
    }

    /// The tenant's default data endpoint, `<prefix>-ats.iot.<region>.<baseDomain>`.
    public func dataATSEndpoint(tenant: TenantID, region: String, baseDomain: String) -> String {
        TenantEndpoint.dataATSHost(prefix: endpointPrefix(tenant: tenant), region: region, baseDomain: baseDomain)
    }

    /// Every prefix a tenant answers to (registered tenants and the default tenant; an explicit prefix replaces its
    /// tenant's derived one, and wins over another tenant's derived prefix it happens to equal): what an SNI
    /// selector indexes for the default endpoints.
    public func endpointPrefixOwners() -> [String: TenantID] {
        var out: [String: TenantID] = [:]
        var candidates = Array(tenants.keys)
        if tenants[.default] == nil { candidates.append(.default) }
        // In account order, first wins: deterministic even if two derived prefixes ever collided.
        for tenant in candidates.sorted(by: { String.utf8Less($0.accountID, $1.accountID) })
        where endpointPrefixes[tenant] == nil {
            let derived = TenantEndpoint.derivedPrefix(for: tenant)
            if out[derived] == nil { out[derived] = tenant }
        }
        for (tenant, prefix) in endpointPrefixes { out[prefix] = tenant }
        return out
    }

    /// The tenant whose default endpoint has this prefix, if any (see `endpointPrefixOwners`).
    public func tenantOwning(endpointPrefix prefix: String) -> TenantID? {
        if let t = endpointPrefixes.first(where: { $0.value == prefix })?.key { return t }
        return endpointPrefixOwners()[prefix]
    }
}
