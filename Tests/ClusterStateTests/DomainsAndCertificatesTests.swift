import ClusterState
import IoTTypes
import Testing

extension ClusterOutcome {
    var isInvalidRequest: Bool { if case .failure(.invalidRequest) = self { true } else { false } }
    var isCertificateState: Bool { if case .failure(.certificateState) = self { true } else { false } }
    var isCertificateValidation: Bool { if case .failure(.certificateValidation) = self { true } else { false } }
    var isDeleteConflict: Bool { if case .failure(.deleteConflict) = self { true } else { false } }
}

/// Every failing command below must leave the state as it was (apart from the applied index).
func expectUnchanged(_ h: inout Harness, _ c: ClusterCommand, _ check: (ClusterOutcome) -> Bool,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    var before = try! ClusterState.restore(h.state.snapshot())
    let outcome = h.apply(c)
    #expect(check(outcome), "\(outcome)", sourceLocation: sourceLocation)
    _ = before.apply(.batch([]), index: h.index)  // moves only the index
    #expect(before.snapshot() == h.state.snapshot(), sourceLocation: sourceLocation)
}

@Suite("ClusterState domains, certificates, endpoints")
struct DomainsAndCertificatesTests {
    // MARK: Domain configurations

    @Test("create: lower-cases the domain name; name unique per tenant, domain name unique across tenants")
    func createDomain() {
        var h = Harness()
        #expect(h.apply(.createDomainConfiguration(domain(acme, "main", "IoT.Acme.Example"))) == .success(.done))
        let d = h.state.domainConfiguration(tenant: acme, name: "main")
        #expect(d?.domainName == "iot.acme.example")
        #expect(d?.lastStatusChangeAtMs == 10)
        #expect(h.state.domainConfiguration(domainName: "iot.acme.example")?.tenant == acme)
        // Same name in the tenant, other domain → exists.
        expectUnchanged(&h, .createDomainConfiguration(domain(acme, "main", "other.acme.example"))) {
            $0 == .failure(.resourceAlreadyExists)
        }
        // Same domain (any case) in another tenant → exists: SNI is global.
        expectUnchanged(&h, .createDomainConfiguration(domain(globex, "g", "IOT.ACME.EXAMPLE"))) {
            $0 == .failure(.resourceAlreadyExists)
        }
        // Same name in another tenant is fine.
        #expect(h.apply(.createDomainConfiguration(domain(globex, "main", "iot.globex.example"))) == .success(.done))
        // A wildcard and the exact names under it are different keys.
        #expect(h.apply(.createDomainConfiguration(domain(acme, "w", "*.acme.example"))) == .success(.done))
        #expect(h.state.domainConfigurations(tenant: acme).map(\.domainConfigurationName) == ["main", "w"])
        #expect(h.state.domainConfigurations(tenant: acme).last?.isWildcard == true)
        #expect(h.state.domainConfigurations(tenant: TenantID("333333333333")).isEmpty)
    }

    @Test("create: names, domain names, PEMs and the authorizer name are validated",
          arguments: [
              domain(acme, "", "a.example.com"),
              domain(acme, "has space", "a.example.com"),
              domain(acme, "IoT:reserved", "a.example.com"),
              domain(acme, String(repeating: "n", count: 129), "a.example.com"),
              domain(acme, "n", "com"),
              domain(acme, "n", "*.com"),
              domain(acme, "n", "a.*.example.com"),
              domain(acme, "n", "**.example.com"),
              domain(acme, "n", "a.example.com."),
              domain(acme, "n", "-a.example.com"),
              domain(acme, "n", "a_b.example.com"),
              domain(acme, "n", "é.example.com"),
              domain(acme, "n", String(repeating: "a", count: 64) + ".example.com"),
              domain(acme, "n", String(repeating: "abcdefghi.", count: 26) + "com"),
              domain(acme, "n", "a.example.com", authorizer: "bad name"),
              DomainConfiguration(tenant: acme, domainConfigurationName: "n", domainName: "a.example.com",
                                  serverCertificateChainPEM: "", privateKeyPEM: keyPEM, createdAtMs: 1),
              DomainConfiguration(tenant: acme, domainConfigurationName: "n", domainName: "a.example.com",
                                  serverCertificateChainPEM: chainPEM, privateKeyPEM: "", createdAtMs: 1),
          ])
    func invalidDomain(_ d: DomainConfiguration) {
        var h = Harness()
        #expect(ClusterState.domainConfigurationProblem(d) != nil)
        expectUnchanged(&h, .createDomainConfiguration(d)) { $0.isInvalidRequest }
    }

    @Test("valid shapes: wildcard, 63-byte labels, 128-byte names with . _ -, digits")
    func validDomainShapes() {
        var h = Harness()
        let name = String(repeating: "a._-", count: 32)
        #expect(h.apply(.createDomainConfiguration(domain(acme, name, "*.x.example.com"))) == .success(.done))
        let label = String(repeating: "b", count: 63)
        #expect(h.apply(.createDomainConfiguration(domain(acme, "n2", "\(label).x-1.example.com"))) == .success(.done))
        #expect(h.apply(.createDomainConfiguration(domain(acme, "n3", "1.2.3.4", authorizer: "a=b,c@d-e_f")))
            == .success(.done))
    }

    @Test("status update and delete: notFound for a missing one, enabled map follows, domain freed on delete")
    func updateAndDeleteDomain() {
        var h = Harness()
        _ = h.apply(.createDomainConfiguration(domain(acme, "main", "iot.acme.example")))
        _ = h.apply(.createDomainConfiguration(domain(acme, "off", "*.acme.example", status: .disabled)))
        #expect(h.state.enabledDomainConfigurations().keys.sorted() == ["iot.acme.example"])
        #expect(h.apply(.updateDomainConfigurationStatus(tenant: acme, domainConfigurationName: "off",
                                                         status: .enabled, nowMs: 50)) == .success(.done))
        #expect(h.state.enabledDomainConfigurations().keys.sorted() == ["*.acme.example", "iot.acme.example"])
        #expect(h.state.domainConfiguration(tenant: acme, name: "off")?.lastStatusChangeAtMs == 50)
        // Same status again: success, the change time stays.
        #expect(h.apply(.updateDomainConfigurationStatus(tenant: acme, domainConfigurationName: "off",
                                                         status: .enabled, nowMs: 60)) == .success(.done))
        #expect(h.state.domainConfiguration(tenant: acme, name: "off")?.lastStatusChangeAtMs == 50)
        // Another tenant cannot touch it.
        expectUnchanged(&h, .updateDomainConfigurationStatus(tenant: globex, domainConfigurationName: "off",
                                                             status: .disabled, nowMs: 70)) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .deleteDomainConfiguration(tenant: globex, domainConfigurationName: "main")) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .deleteDomainConfiguration(tenant: acme, domainConfigurationName: "bad name")) {
            $0.isInvalidRequest
        }
        #expect(h.apply(.deleteDomainConfiguration(tenant: acme, domainConfigurationName: "main")) == .success(.done))
        #expect(h.state.domainConfiguration(domainName: "iot.acme.example") == nil)
        #expect(h.state.enabledDomainConfigurations().keys.sorted() == ["*.acme.example"])
        // The domain name is free again, for any tenant.
        #expect(h.apply(.createDomainConfiguration(domain(globex, "main", "iot.acme.example"))) == .success(.done))
    }

    @Test("the private key never shows in descriptions, debug output or dump")
    func privateKeyRedacted() {
        let d = domain(acme, "main", "iot.acme.example")
        #expect(!"\(d)".contains("SECRET"))
        #expect(!String(reflecting: d).contains("SECRET"))
        var dumped = ""
        dump(d, to: &dumped)
        #expect(!dumped.contains("SECRET"))
        #expect("\(ClusterCommand.createDomainConfiguration(d))".contains("SECRET") == false)
        #expect(dumped.contains("iot.acme.example"))
    }

    // MARK: Certificates

    static func cert(_ tenant: TenantID = acme, _ id: String = certA, ca: String? = nil,
                     status: CertificateStatus = .active, notBefore: Int64? = nil, notAfter: Int64? = nil)
        -> ClusterCommand {
        .registerCertificate(Certificate(tenant: tenant, certificateId: id, certificatePEM: chainPEM,
                                         caCertificateId: ca, status: status, notBeforeMs: notBefore,
                                         notAfterMs: notAfter, createdAtMs: 1))
    }

    static func ca(_ tenant: TenantID = acme, _ id: String = caC, status: CACertificateStatus = .active)
        -> ClusterCommand {
        .registerCACertificate(CACertificate(tenant: tenant, caCertificateId: id, certificatePEM: chainPEM,
                                             status: status, createdAtMs: 1))
    }

    @Test("register: id shape, PEM, registrable statuses, CA must be registered in the same tenant, duplicates")
    func registerCertificates() {
        var h = Harness()
        expectUnchanged(&h, Self.cert(acme, "ABC")) { $0.isInvalidRequest }
        expectUnchanged(&h, Self.cert(acme, certA.uppercased())) { $0.isInvalidRequest }
        expectUnchanged(&h, Self.ca(acme, "xyz")) { $0.isInvalidRequest }
        for status in [CertificateStatus.revoked, .pendingTransfer, .registerInactive] {
            expectUnchanged(&h, Self.cert(status: status)) { $0.isInvalidRequest }
        }
        expectUnchanged(&h, Self.cert(ca: caC)) { $0.isCertificateValidation }  // CA not registered
        expectUnchanged(&h, Self.cert(notBefore: 5, notAfter: 4)) { $0.isInvalidRequest }
        #expect(h.apply(Self.ca(globex)) == .success(.done))
        expectUnchanged(&h, Self.cert(ca: caC)) { $0.isCertificateValidation }  // globex's CA does not count for acme
        #expect(h.apply(Self.ca()) == .success(.done))
        expectUnchanged(&h, Self.ca()) { $0 == .failure(.resourceAlreadyExists) }
        #expect(h.apply(Self.cert(ca: caC)) == .success(.done))
        expectUnchanged(&h, Self.cert()) { $0 == .failure(.resourceAlreadyExists) }
        // The same certificate in another tenant is its own row (multi-account registration).
        #expect(h.apply(Self.cert(globex, status: .inactive)) == .success(.done))
        #expect(h.state.certificate(tenant: acme, id: certA)?.status == .active)
        #expect(h.state.certificate(tenant: globex, id: certA)?.status == .inactive)
        #expect(h.state.certificate(tenant: acme, id: certA)?.caCertificateId == caC)
        #expect(h.state.caCertificate(tenant: acme, id: caC)?.status == .active)
        #expect(h.apply(Self.cert(acme, certB, status: .pendingActivation)) == .success(.done))
        #expect(h.state.certificates(tenant: acme).map(\.certificateId) == [certA, certB])
        #expect(h.state.caCertificates(tenant: globex).map(\.caCertificateId) == [caC])
    }

    @Test("updateCertificateStatus: idempotent, internal statuses refused, REVOKED and PENDING_TRANSFER are final")
    func certificateTransitions() {
        var h = Harness()
        _ = h.apply(Self.cert())
        expectUnchanged(&h, .updateCertificateStatus(tenant: globex, certificateId: certA, status: .inactive,
                                                     nowMs: 2)) { $0 == .failure(.resourceNotFound) }
        for status in [CertificateStatus.pendingTransfer, .pendingActivation, .registerInactive] {
            expectUnchanged(&h, .updateCertificateStatus(tenant: acme, certificateId: certA, status: status,
                                                         nowMs: 2)) { $0.isInvalidRequest }
        }
        #expect(h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: .active, nowMs: 3))
            == .success(.done))
        #expect(h.state.certificate(tenant: acme, id: certA)?.lastModifiedAtMs == 1)  // no change, no touch
        #expect(h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: .inactive, nowMs: 4))
            == .success(.done))
        #expect(h.state.certificate(tenant: acme, id: certA)?.lastModifiedAtMs == 4)
        #expect(h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: .revoked, nowMs: 5))
            == .success(.done))
        #expect(h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: .revoked, nowMs: 6))
            == .success(.done))
        expectUnchanged(&h, .updateCertificateStatus(tenant: acme, certificateId: certA, status: .active,
                                                     nowMs: 7)) { $0.isCertificateState }
    }

    @Test("delete: only when not ACTIVE (CertificateStateException), CAs only when INACTIVE, notFound otherwise")
    func deletes() {
        var h = Harness()
        _ = h.apply(Self.ca())
        _ = h.apply(Self.cert(ca: caC))
        expectUnchanged(&h, .deleteCertificate(tenant: acme, certificateId: certA)) { $0.isCertificateState }
        expectUnchanged(&h, .deleteCACertificate(tenant: acme, caCertificateId: caC)) { $0.isCertificateState }
        expectUnchanged(&h, .deleteCertificate(tenant: globex, certificateId: certA)) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .deleteCACertificate(tenant: acme, caCertificateId: certB)) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .updateCACertificateStatus(tenant: globex, caCertificateId: caC, status: .inactive,
                                                       nowMs: 1)) { $0 == .failure(.resourceNotFound) }
        _ = h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: .revoked, nowMs: 2))
        #expect(h.apply(.deleteCertificate(tenant: acme, certificateId: certA)) == .success(.done))
        #expect(h.state.certificate(tenant: acme, id: certA) == nil)
        #expect(h.apply(.updateCACertificateStatus(tenant: acme, caCertificateId: caC, status: .inactive, nowMs: 3))
            == .success(.done))
        #expect(h.state.caCertificate(tenant: acme, id: caC)?.lastModifiedAtMs == 3)
        #expect(h.apply(.deleteCACertificate(tenant: acme, caCertificateId: caC)) == .success(.done))
        #expect(h.state.caCertificates(tenant: acme).isEmpty)
    }

    @Test("certificateDecision: ACTIVE registered cert, or unregistered cert under an ACTIVE CA of this tenant")
    func decisions() {
        var h = Harness()
        _ = h.apply(Self.ca())
        _ = h.apply(Self.cert(ca: caC, notBefore: 100, notAfter: 200))
        _ = h.apply(Self.cert(acme, certB, status: .inactive))
        let s = { (tenant: TenantID, id: String, issuer: String?, now: Int64) in
            h.state.certificateDecision(tenant: tenant, certificateId: id, issuerCACertificateId: issuer, nowMs: now)
        }
        #expect(s(acme, certA, caC, 150) == .accept(.registeredCertificate(certificateId: certA)))
        #expect(s(acme, certA, nil, 150) == .accept(.registeredCertificate(certificateId: certA)))
        #expect(s(acme, certA, caC, 99) == .refuse(.notYetValid))
        #expect(s(acme, certA, caC, 201) == .refuse(.expired))
        #expect(s(acme, certB, nil, 150) == .refuse(.certificateNotActive(.inactive)))
        #expect(s(acme, certB, caC, 150) == .refuse(.certificateNotActive(.inactive)))  // its own row decides
        let unregistered = String(repeating: "d", count: 64)
        #expect(s(acme, unregistered, caC, 150) == .accept(.registeredCA(caCertificateId: caC)))
        #expect(s(acme, unregistered, nil, 150) == .refuse(.unknownCertificate))
        #expect(s(acme, unregistered, certB, 150) == .refuse(.unknownCertificate))
        // Nothing crosses tenants.
        #expect(s(globex, certA, caC, 150) == .refuse(.unknownCertificate))
        // Revoked.
        _ = h.apply(.updateCertificateStatus(tenant: acme, certificateId: certB, status: .revoked, nowMs: 5))
        #expect(s(acme, certB, nil, 150) == .refuse(.certificateNotActive(.revoked)))
        // An inactive CA fails its certificates, registered or not.
        _ = h.apply(.updateCACertificateStatus(tenant: acme, caCertificateId: caC, status: .inactive, nowMs: 6))
        #expect(s(acme, certA, caC, 150) == .refuse(.caNotActive))
        #expect(s(acme, unregistered, caC, 150) == .refuse(.caNotActive))
        // A deleted CA: its registered certificates are refused, unregistered ones are unknown.
        _ = h.apply(.deleteCACertificate(tenant: acme, caCertificateId: caC))
        #expect(s(acme, certA, caC, 150) == .refuse(.caUnknown))
        #expect(s(acme, unregistered, caC, 150) == .refuse(.unknownCertificate))
    }

    // MARK: Endpoints

    @Test("endpoint prefix: derived and stable by default, settable per registered tenant, unique, clearable")
    func endpointPrefixes() {
        var h = Harness()
        let derived = TenantEndpoint.derivedPrefix(for: acme)
        #expect(derived.utf8.count == 14 && TenantEndpoint.isValidPrefix(derived))
        #expect(derived == TenantEndpoint.derivedPrefix(for: TenantID("111111111111")))
        #expect(derived != TenantEndpoint.derivedPrefix(for: globex))
        #expect(h.state.endpointPrefix(tenant: acme) == derived)
        #expect(h.state.dataATSEndpoint(tenant: acme, region: "eu-west-1", baseDomain: "flotilla.example")
            == "\(derived)-ats.iot.eu-west-1.flotilla.example")
        // Unregistered tenant → notFound; bad prefixes → invalid.
        expectUnchanged(&h, .setTenantEndpointPrefix(tenant: acme, prefix: "acme")) {
            $0 == .failure(.resourceNotFound)
        }
        _ = h.apply(.createTenant(acme, name: "A"))
        _ = h.apply(.createTenant(globex, name: "G"))
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", String(repeating: "a", count: 60)] {
            expectUnchanged(&h, .setTenantEndpointPrefix(tenant: acme, prefix: bad)) { $0.isInvalidRequest }
        }
        #expect(h.apply(.setTenantEndpointPrefix(tenant: acme, prefix: "acme-1")) == .success(.done))
        #expect(h.state.endpointPrefix(tenant: acme) == "acme-1")
        #expect(h.apply(.setTenantEndpointPrefix(tenant: acme, prefix: "acme-1")) == .success(.done))  // idempotent
        // Taken: another tenant's explicit prefix, or another registered tenant's derived one.
        expectUnchanged(&h, .setTenantEndpointPrefix(tenant: globex, prefix: "acme-1")) {
            $0 == .failure(.resourceAlreadyExists)
        }
        expectUnchanged(&h, .setTenantEndpointPrefix(tenant: acme,
                                                     prefix: TenantEndpoint.derivedPrefix(for: globex))) {
            $0 == .failure(.resourceAlreadyExists)
        }
        let owners = h.state.endpointPrefixOwners()
        #expect(owners["acme-1"] == acme)
        #expect(owners[derived] == nil)  // an explicit prefix replaces the derived one
        #expect(owners[TenantEndpoint.derivedPrefix(for: globex)] == globex)
        #expect(owners[TenantEndpoint.derivedPrefix(for: .default)] == .default)
        #expect(h.state.tenantOwning(endpointPrefix: "acme-1") == acme)
        // Reading SNI back.
        #expect(TenantEndpoint.prefix(ofHost: "ACME-1-ats.iot.eu-west-1.flotilla.example", region: "eu-west-1",
                                      baseDomain: "flotilla.example") == "acme-1")
        #expect(TenantEndpoint.prefix(ofHost: "acme-1.iot.eu-west-1.flotilla.example", region: "eu-west-1",
                                      baseDomain: "flotilla.example") == nil)
        #expect(TenantEndpoint.prefix(ofHost: "-ats.iot.eu-west-1.flotilla.example", region: "eu-west-1",
                                      baseDomain: "flotilla.example") == nil)
        // Clearing goes back to the derived prefix.
        #expect(h.apply(.setTenantEndpointPrefix(tenant: acme, prefix: nil)) == .success(.done))
        #expect(h.state.endpointPrefix(tenant: acme) == derived)
        #expect(h.state.tenantOwning(endpointPrefix: derived) == acme)
    }

    @Test("tlsSourceGeneration moves with domain and CA commands only (the TLS shell's rebuild key)")
    func tlsSourceGeneration() {
        var h = Harness()
        #expect(h.state.tlsSourceGeneration == 0)
        _ = h.apply(.createDomainConfiguration(domain(acme, "main", "iot.acme.example")))
        _ = h.apply(Self.ca())
        #expect(h.state.tlsSourceGeneration == 2)
        _ = h.apply(Self.cert(ca: caC))  // device certificates are decided per handshake, not built into contexts
        _ = h.apply(.clearRetained(tenant: acme, topic: "t"))
        #expect(h.state.tlsSourceGeneration == 2)
        _ = h.apply(.deleteDomainConfiguration(tenant: acme, domainConfigurationName: "main"))
        #expect(h.state.tlsSourceGeneration == 3)
        // UpdateCACertificate moves it (a CA's status is in the trust store); the issuing CA does not (its
        // certificates are registered themselves).
        _ = h.apply(.updateCACertificate(tenant: acme, caCertificateId: caC, status: .inactive, autoRegistration: nil,
                                         nowMs: 3))
        #expect(h.state.tlsSourceGeneration == 4)
        _ = h.apply(.createIssuingCA(IssuingCA(tenant: acme, certificateId: certB, certificatePEM: chainPEM,
                                               privateKeyPEM: keyPEM, createdAtMs: 3)))
        #expect(h.state.tlsSourceGeneration == 4)
    }
}
