import IoTTypes

// Imported server certificates (Flotilla's ACM stand-in) and the AWS-shaped domain configuration commands built on
// them (AWS-IOT-SPEC §10). A configuration made here is an ordinary `DomainConfiguration` — the certificate's chain
// and key copied in — so the TLS layer serves it exactly like one made through the admin route; its AWS members
// live beside it in `domainDetails`.
extension ClusterState {
    static let serverCertificateInUse = "the server certificate is used by a domain configuration"

    mutating func onImportServerCertificate(_ c: ServerCertificate) -> ClusterOutcome {
        guard ServerCertificate.isValidId(c.certificateId) else {
            return .failure(.invalidRequest("certificate id must be a UUID"))
        }
        guard DomainRules.isValidPEM(c.certificateChainPEM), DomainRules.isValidPEM(c.privateKeyPEM) else {
            return .failure(.invalidRequest("the certificate chain and private key must be 1-\(DomainRules.maxPEMBytes) bytes"))
        }
        guard !c.domainNames.isEmpty, c.domainNames.allSatisfy({ DomainRules.canonicalDomainName($0) == $0 }) else {
            return .failure(.invalidRequest("the certificate names no DNS host name Flotilla can serve"))
        }
        if let existing = serverCertificates[c.tenant]?[c.certificateId] {
            // The same certificate and key again: nothing changes (the first import's time stays).
            guard existing.certificateChainPEM == c.certificateChainPEM, existing.privateKeyPEM == c.privateKeyPEM
            else { return .failure(.resourceAlreadyExists) }
            return .success(.done)
        }
        serverCertificates[c.tenant, default: [:]][c.certificateId] = c
        return .success(.done)
    }

    mutating func onDeleteServerCertificate(tenant: TenantID, id: String) -> ClusterOutcome {
        guard serverCertificates[tenant]?[id] != nil else { return .failure(.resourceNotFound) }
        if (domainDetails[tenant] ?? [:]).values.contains(where: { $0.serverCertificateId == id }) {
            return .failure(.deleteConflict(Self.serverCertificateInUse))
        }
        serverCertificates[tenant]?[id] = nil
        if serverCertificates[tenant]?.isEmpty == true { serverCertificates[tenant] = nil }
        return .success(.done)
    }

    mutating func onCreateDomainConfiguration(_ c: ClusterCommand.CreateDomainConfiguration) -> ClusterOutcome {
        guard let certificate = serverCertificates[c.tenant]?[c.serverCertificateId] else {
            return .failure(.invalidRequest("The server certificate \(c.serverCertificateId) cannot be found."))
        }
        let d = DomainConfiguration(
            tenant: c.tenant, domainConfigurationName: c.domainConfigurationName, domainName: c.domainName,
            serverCertificateChainPEM: certificate.certificateChainPEM, privateKeyPEM: certificate.privateKeyPEM,
            status: .enabled, defaultAuthorizerName: c.defaultAuthorizerName, createdAtMs: c.nowMs)
        if let problem = Self.domainConfigurationProblem(d) { return .failure(.invalidRequest(problem)) }
        let domainName = DomainRules.canonicalDomainName(c.domainName)!  // checked just above
        guard certificate.covers(domainName) else {
            return .failure(.certificateValidation(
                "The server certificate does not cover the domain name \(domainName) (it names "
                    + "\(certificate.domainNames.joined(separator: ", ")))."))
        }
        guard c.nowMs <= certificate.notAfterMs else {
            return .failure(.certificateValidation("The server certificate has expired."))
        }
        let outcome = onCreateDomainConfiguration(d)
        if case .success = outcome { domainDetails[c.tenant, default: [:]][c.domainConfigurationName] = c.details }
        return outcome
    }

    mutating func onUpdateDomainConfiguration(_ u: ClusterCommand.UpdateDomainConfiguration) -> ClusterOutcome {
        let name = u.domainConfigurationName
        guard DomainRules.isValidName(name) else { return .failure(.invalidRequest(Self.badDomainConfigurationName)) }
        guard var d = domainConfigurations[u.tenant]?[name] else { return .failure(.resourceNotFound) }
        var details = domainDetails[u.tenant]?[name] ?? DomainConfigurationDetails()
        switch u.authorizer {
        case .keep: break
        case .remove:
            d.defaultAuthorizerName = nil
            details.allowAuthorizerOverride = nil
        case .set(let authorizer, let allow):
            if let authorizer {
                guard DomainRules.isValidAuthorizerName(authorizer) else {
                    return .failure(.invalidRequest("defaultAuthorizerName must match [\\w=,@-]+ and be 1-128 characters"))
                }
                d.defaultAuthorizerName = authorizer
            }
            if let allow { details.allowAuthorizerOverride = allow }
        }
        if let status = u.status, status != d.status {
            d.status = status
            d.lastStatusChangeAtMs = u.nowMs
        }
        if let p = u.securityPolicy { details.securityPolicy = p }
        if let a = u.authenticationType { details.authenticationType = a }
        if let a = u.applicationProtocol { details.applicationProtocol = a }
        domainConfigurations[u.tenant]?[name] = d
        if details != DomainConfigurationDetails() || domainDetails[u.tenant]?[name] != nil {
            domainDetails[u.tenant, default: [:]][name] = details
        }
        return .success(.done)
    }

    // MARK: - Reads

    public func serverCertificate(tenant: TenantID, id: String) -> ServerCertificate? {
        serverCertificates[tenant]?[id]
    }

    /// The tenant's imported server certificates in id order.
    public func serverCertificates(tenant: TenantID) -> [ServerCertificate] {
        (serverCertificates[tenant] ?? [:]).values.sorted { String.utf8Less($0.certificateId, $1.certificateId) }
    }

    /// The AWS members of a domain configuration (defaults for one made through the admin route).
    public func domainConfigurationDetails(tenant: TenantID, name: String) -> DomainConfigurationDetails? {
        guard domainConfigurations[tenant]?[name] != nil else { return nil }
        return domainDetails[tenant]?[name] ?? DomainConfigurationDetails()
    }
}

extension ServerCertificate {
    /// 8-4-4-4-12 lower-case hex.
    static func isValidId(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        for (i, c) in u.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return false }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) else { return false }
            }
        }
        return true
    }
}
