import IoTTypes

// Registered CA and device certificates (AWS-IOT-SPEC §2.1), and the registry's half of the mutual-TLS decision.
// Ids are lower-case hex SHA-256 of the DER, computed by the proposer (apply checks their shape only). Ids are
// unique within a tenant; the same certificate may be registered by several tenants (AWS multi-account
// registration), which is safe because every read is tenant first.
//
// Status transitions (UpdateCertificate is idempotent: the same status again succeeds):
// - a new status of PENDING_TRANSFER, PENDING_ACTIVATION or REGISTER_INACTIVE is `invalidRequest` (AWS: internal
//   statuses, "will result in an exception");
// - leaving PENDING_TRANSFER is `certificateState` (AWS: transfers have their own operations);
// - leaving REVOKED is `certificateState` (a Flotilla choice: a revoked certificate never authenticates again;
//   register a new one).
extension ClusterState {
    mutating func onRegisterCACertificate(_ c: CACertificate) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(c.caCertificateId) else {
            return .failure(.invalidRequest(Self.badCertificateId))
        }
        guard DomainRules.isValidPEM(c.certificatePEM) else { return .failure(.invalidRequest(Self.badPEM)) }
        guard caCertificates[c.tenant]?[c.caCertificateId] == nil else { return .failure(.resourceAlreadyExists) }
        var c = c
        c.lastModifiedAtMs = c.createdAtMs
        caCertificates[c.tenant, default: [:]][c.caCertificateId] = c
        return .success(.done)
    }

    mutating func onUpdateCACertificateStatus(tenant: TenantID, id: String, status: CACertificateStatus,
                                              nowMs: Int64) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(id) else { return .failure(.invalidRequest(Self.badCertificateId)) }
        guard var c = caCertificates[tenant]?[id] else { return .failure(.resourceNotFound) }
        if c.status != status {
            c.status = status
            c.lastModifiedAtMs = nowMs
            caCertificates[tenant]?[id] = c
        }
        return .success(.done)
    }

    /// UpdateCACertificate: either status may be nil (unchanged); the same values again change nothing.
    mutating func onUpdateCACertificate(tenant: TenantID, id: String, status: CACertificateStatus?,
                                        autoRegistration: AutoRegistrationStatus?, nowMs: Int64) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(id) else { return .failure(.invalidRequest(Self.badCertificateId)) }
        guard var c = caCertificates[tenant]?[id] else { return .failure(.resourceNotFound) }
        var changed = false
        if let status, status != c.status {
            c.status = status
            changed = true
        }
        if let autoRegistration, autoRegistration != c.autoRegistration {
            c.autoRegistration = autoRegistration
            changed = true
        }
        if changed {
            c.lastModifiedAtMs = nowMs
            caCertificates[tenant]?[id] = c
        }
        return .success(.done)
    }

    /// First writer wins: a second CA for the same tenant is not an error and changes nothing (every proposer
    /// then signs with the one in the state).
    mutating func onCreateIssuingCA(_ ca: IssuingCA) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(ca.certificateId) else {
            return .failure(.invalidRequest(Self.badCertificateId))
        }
        guard DomainRules.isValidPEM(ca.certificatePEM), DomainRules.isValidPEM(ca.privateKeyPEM) else {
            return .failure(.invalidRequest(Self.badPEM))
        }
        if issuingCAs[ca.tenant] == nil { issuingCAs[ca.tenant] = ca }
        return .success(.done)
    }

    /// First writer wins, like `onCreateIssuingCA`: the code is stable once set.
    mutating func onCreateRegistrationCode(tenant: TenantID, code: String) -> ClusterOutcome {
        guard CertificateRules.isValidRegistrationCode(code) else {
            return .failure(.invalidRequest("a registration code is 64 lower-case hex characters"))
        }
        if registrationCodes[tenant] == nil { registrationCodes[tenant] = code }
        return .success(.done)
    }

    mutating func onDeleteCACertificate(tenant: TenantID, id: String) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(id) else { return .failure(.invalidRequest(Self.badCertificateId)) }
        guard let c = caCertificates[tenant]?[id] else { return .failure(.resourceNotFound) }
        guard c.status == .inactive else {
            return .failure(.certificateState("The CA certificate must be deactivated (INACTIVE) before deletion."))
        }
        caCertificates[tenant]?[id] = nil
        if caCertificates[tenant]?.isEmpty == true { caCertificates[tenant] = nil }
        return .success(.done)
    }

    mutating func onRegisterCertificate(_ c: Certificate) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(c.certificateId) else {
            return .failure(.invalidRequest(Self.badCertificateId))
        }
        guard DomainRules.isValidPEM(c.certificatePEM) else { return .failure(.invalidRequest(Self.badPEM)) }
        guard CertificateRules.isRegistrableStatus(c.status) else {
            return .failure(.invalidRequest("a certificate is registered as ACTIVE, INACTIVE or PENDING_ACTIVATION"))
        }
        if let ca = c.caCertificateId {
            guard CertificateRules.isValidCertificateId(ca) else {
                return .failure(.invalidRequest("caCertificateId: " + Self.badCertificateId))
            }
            guard caCertificates[c.tenant]?[ca] != nil else {
                return .failure(.certificateValidation("The CA certificate \(ca) is not registered."))
            }
        }
        if let from = c.notBeforeMs, let to = c.notAfterMs, from > to {
            return .failure(.invalidRequest("notBefore is after notAfter"))
        }
        guard certificates[c.tenant]?[c.certificateId] == nil else { return .failure(.resourceAlreadyExists) }
        var c = c
        c.lastModifiedAtMs = c.createdAtMs
        certificates[c.tenant, default: [:]][c.certificateId] = c
        return .success(.done)
    }

    mutating func onUpdateCertificateStatus(tenant: TenantID, id: String, status: CertificateStatus,
                                            nowMs: Int64) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(id) else { return .failure(.invalidRequest(Self.badCertificateId)) }
        switch status {
        case .pendingTransfer, .pendingActivation, .registerInactive:
            return .failure(.invalidRequest("newStatus \(status.awsName) cannot be set by UpdateCertificate"))
        case .active, .inactive, .revoked:
            break
        }
        guard var c = certificates[tenant]?[id] else { return .failure(.resourceNotFound) }
        if c.status == status { return .success(.done) }  // idempotent, nothing modified
        switch c.status {
        case .pendingTransfer:
            return .failure(.certificateState("The certificate is pending transfer."))
        case .revoked:
            return .failure(.certificateState("The certificate is revoked."))
        case .active, .inactive, .registerInactive, .pendingActivation:
            break
        }
        c.status = status
        c.lastModifiedAtMs = nowMs
        certificates[tenant]?[id] = c
        return .success(.done)
    }

    /// `force` (DeleteCertificate's `forceDelete`) detaches the certificate's policies instead of refusing them;
    /// attached things refuse either way.
    mutating func onDeleteCertificate(tenant: TenantID, id: String, force: Bool = false) -> ClusterOutcome {
        guard CertificateRules.isValidCertificateId(id) else { return .failure(.invalidRequest(Self.badCertificateId)) }
        guard let c = certificates[tenant]?[id] else { return .failure(.resourceNotFound) }
        guard c.status != .active else {
            return .failure(.certificateState("Certificate must be deactivated (not ACTIVE) before deletion."))
        }
        // Attachments name the certificate by ARN (any region): `…:cert/<id>`.
        let suffix = ":cert/" + id
        let targets = policyTargets[tenant]?.keys.filter { $0.hasSuffix(suffix) } ?? []
        if !targets.isEmpty, !force {
            return .failure(.deleteConflict("Certificate policies must be detached before deletion."))
        }
        if principalThings[tenant]?.keys.contains(where: { $0.hasSuffix(suffix) }) == true {
            return .failure(.deleteConflict("Things must be detached before deletion."))
        }
        for t in targets { policyTargets[tenant]?[t] = nil }
        if policyTargets[tenant]?.isEmpty == true { policyTargets[tenant] = nil }
        certificates[tenant]?[id] = nil
        if certificates[tenant]?.isEmpty == true { certificates[tenant] = nil }
        return .success(.done)
    }

    static let badCertificateId = "certificate ids are 64 lower-case hex characters (SHA-256 of the DER)"
    static let badPEM = "certificatePem must be 1-\(DomainRules.maxPEMBytes) bytes"

    // MARK: - Reads

    public func certificate(tenant: TenantID, id: String) -> Certificate? { certificates[tenant]?[id] }

    public func caCertificate(tenant: TenantID, id: String) -> CACertificate? { caCertificates[tenant]?[id] }

    /// The tenant's issuing CA, nil until the first CreateKeysAndCertificate / CreateCertificateFromCsr made one.
    public func issuingCA(tenant: TenantID) -> IssuingCA? { issuingCAs[tenant] }

    /// The tenant's registration code, nil until the first GetRegistrationCode made one.
    public func registrationCode(tenant: TenantID) -> String? { registrationCodes[tenant] }

    /// The tenant's certificates registered with `caCertificateId`, in id order.
    public func certificates(tenant: TenantID, caCertificateId: String) -> [Certificate] {
        certificates(tenant: tenant).filter { $0.caCertificateId == caCertificateId }
    }

    /// The tenant's certificates in id order.
    public func certificates(tenant: TenantID) -> [Certificate] {
        (certificates[tenant] ?? [:]).values.sorted { String.utf8Less($0.certificateId, $1.certificateId) }
    }

    /// The tenant's CA certificates in id order.
    public func caCertificates(tenant: TenantID) -> [CACertificate] {
        (caCertificates[tenant] ?? [:]).values.sorted { String.utf8Less($0.caCertificateId, $1.caCertificateId) }
    }

    /// The registry's answer for a client certificate presented to `tenant`'s endpoint. The TLS layer computes
    /// `certificateId` (SHA-256 of the leaf's DER) and `issuerCACertificateId` (of the CA certificate the chain
    /// verified against, if any), after checking signatures and the presented certificate's own dates.
    ///
    /// - A registered certificate decides by itself: ACTIVE, inside the validity recorded at registration (if
    ///   any), and, if it was registered with a CA, that CA still registered and ACTIVE (AWS: a revoked or
    ///   inactive CA fails all its device certificates).
    /// - An unregistered certificate is accepted only through an issuer registered for this tenant and ACTIVE.
    /// - Nothing crosses tenants: another tenant's registration of the same certificate or CA does not count.
    public func certificateDecision(tenant: TenantID, certificateId: String, issuerCACertificateId: String?,
                                    nowMs: Int64) -> CertificateDecision {
        if let c = certificates[tenant]?[certificateId] {
            guard c.status == .active else { return .refuse(.certificateNotActive(c.status)) }
            if let from = c.notBeforeMs, nowMs < from { return .refuse(.notYetValid) }
            if let to = c.notAfterMs, nowMs > to { return .refuse(.expired) }
            if let caID = c.caCertificateId {
                guard let ca = caCertificates[tenant]?[caID] else { return .refuse(.caUnknown) }
                guard ca.status == .active else { return .refuse(.caNotActive) }
            }
            return .accept(.registeredCertificate(certificateId: certificateId))
        }
        guard let caID = issuerCACertificateId, let ca = caCertificates[tenant]?[caID] else {
            return .refuse(.unknownCertificate)
        }
        guard ca.status == .active else { return .refuse(.caNotActive) }
        return .accept(.registeredCA(caCertificateId: caID))
    }
}
