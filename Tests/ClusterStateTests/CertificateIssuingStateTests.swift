import ClusterState
import IoTTypes
import Testing

@Suite("ClusterState issuing CAs, registration codes, certificate modes")
struct CertificateIssuingStateTests {
    static let code = String(repeating: "0123456789abcdef", count: 4)

    static func issuer(_ tenant: TenantID = acme, id: String = certB, key: String = keyPEM, at ms: Int64 = 1)
        -> IssuingCA
    {
        IssuingCA(tenant: tenant, certificateId: id, certificatePEM: chainPEM, privateKeyPEM: key, createdAtMs: ms)
    }

    @Test("the issuing CA: first writer wins, per tenant; bad ids and PEMs are refused")
    func issuingCAFirstWriterWins() {
        var h = Harness()
        #expect(h.apply(.createIssuingCA(Self.issuer())) == .success(.done))
        #expect(h.state.issuingCA(tenant: acme) == Self.issuer())
        // A second proposer lost the race: success, and the first CA stays.
        #expect(h.apply(.createIssuingCA(Self.issuer(id: certA, at: 2))) == .success(.done))
        #expect(h.state.issuingCA(tenant: acme) == Self.issuer())
        #expect(h.state.issuingCA(tenant: globex) == nil)
        expectUnchanged(&h, .createIssuingCA(Self.issuer(globex, id: "nothex"))) { $0.isInvalidRequest }
        expectUnchanged(&h, .createIssuingCA(Self.issuer(globex, key: ""))) { $0.isInvalidRequest }
    }

    @Test("the issuing CA's key is left out of descriptions of it and of its command")
    func issuingCAKeyNotDescribed() {
        let ca = Self.issuer()
        #expect(!"\(ca)".contains("SECRET"))
        #expect(!"\(ClusterCommand.createIssuingCA(ca))".contains("SECRET"))
        #expect(!String(reflecting: ca).contains("SECRET"))
    }

    @Test("the registration code: 64 hex, first writer wins, per tenant")
    func registrationCode() {
        var h = Harness()
        expectUnchanged(&h, .createRegistrationCode(tenant: acme, code: "abc")) { $0.isInvalidRequest }
        expectUnchanged(&h, .createRegistrationCode(tenant: acme, code: Self.code.uppercased())) { $0.isInvalidRequest }
        #expect(h.apply(.createRegistrationCode(tenant: acme, code: Self.code)) == .success(.done))
        #expect(h.apply(.createRegistrationCode(tenant: acme, code: certA)) == .success(.done))
        #expect(h.state.registrationCode(tenant: acme) == Self.code)
        #expect(h.state.registrationCode(tenant: globex) == nil)
    }

    @Test("UpdateCACertificate: status and auto-registration each optional; unknown CA is not found")
    func updateCACertificate() {
        var h = Harness()
        expectUnchanged(&h, .updateCACertificate(tenant: acme, caCertificateId: caC, status: .inactive,
                                                 autoRegistration: nil, nowMs: 5)) { $0 == .failure(.resourceNotFound) }
        expectUnchanged(&h, .updateCACertificate(tenant: acme, caCertificateId: "x", status: nil,
                                                 autoRegistration: nil, nowMs: 5)) { $0.isInvalidRequest }
        #expect(h.apply(DomainsAndCertificatesTests.ca()) == .success(.done))
        #expect(h.state.caCertificate(tenant: acme, id: caC)?.autoRegistration == .disable)
        #expect(h.apply(.updateCACertificate(tenant: acme, caCertificateId: caC, status: nil,
                                             autoRegistration: .enable, nowMs: 7)) == .success(.done))
        var c = h.state.caCertificate(tenant: acme, id: caC)
        #expect(c?.autoRegistration == .enable && c?.status == .active && c?.lastModifiedAtMs == 7)
        // Nothing new: unchanged, including the modification time.
        #expect(h.apply(.updateCACertificate(tenant: acme, caCertificateId: caC, status: .active,
                                             autoRegistration: .enable, nowMs: 9)) == .success(.done))
        #expect(h.state.caCertificate(tenant: acme, id: caC)?.lastModifiedAtMs == 7)
        #expect(h.apply(.updateCACertificate(tenant: acme, caCertificateId: caC, status: .inactive,
                                             autoRegistration: nil, nowMs: 11)) == .success(.done))
        c = h.state.caCertificate(tenant: acme, id: caC)
        #expect(c?.status == .inactive && c?.autoRegistration == .enable && c?.lastModifiedAtMs == 11)
    }

    @Test("DeleteCertificate: attached policies refuse unless forced; attached things refuse even forced")
    func forceDelete() {
        var h = Harness()
        #expect(h.apply(DomainsAndCertificatesTests.cert(status: .inactive)) == .success(.done))
        #expect(h.apply(.createPolicy(tenant: acme, policyName: "p", document: policyDoc, nowMs: 1)).isSuccess)
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p", target: certArnA)) == .success(.done))
        expectUnchanged(&h, .deleteCertificate(tenant: acme, certificateId: certA)) { $0.isDeleteConflict }
        #expect(h.apply(.createThing(.init(tenant: acme, thingName: "t", nowMs: 1))).isSuccess)
        #expect(h.apply(.attachThingPrincipal(tenant: acme, thingName: "t", principal: certArnA,
                                              type: .nonExclusive)) == .success(.done))
        expectUnchanged(&h, .forceDeleteCertificate(tenant: acme, certificateId: certA)) { $0.isDeleteConflict }
        #expect(h.apply(.detachThingPrincipal(tenant: acme, thingName: "t", principal: certArnA)) == .success(.done))
        #expect(h.apply(.forceDeleteCertificate(tenant: acme, certificateId: certA)) == .success(.done))
        #expect(h.state.certificate(tenant: acme, id: certA) == nil)
        #expect(h.state.attachedPolicies(tenant: acme, target: certArnA).isEmpty)
        // Force does not lift the ACTIVE rule.
        #expect(h.apply(DomainsAndCertificatesTests.cert()) == .success(.done))
        expectUnchanged(&h, .forceDeleteCertificate(tenant: acme, certificateId: certA)) { $0.isCertificateState }
    }

    @Test("modes, issuing CAs and codes survive a snapshot; a version-4 snapshot reads them as DEFAULT / none")
    func snapshots() throws {
        var full = Harness()
        for c in everyCommand { _ = full.apply(c) }
        let snap = full.state.snapshot()
        let r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        #expect(r.issuingCA(tenant: acme) == full.state.issuingCA(tenant: acme))
        #expect(r.registrationCode(tenant: acme) == Self.code)
        #expect(r.caCertificate(tenant: globex, id: caC)?.mode == .sniOnly)
        #expect(r.certificate(tenant: globex, id: certA)?.mode == .sniOnly)

        var h = Harness()
        for c in everyCommand where !c.isVersion5Command { _ = h.apply(c) }
        let v5 = h.state.snapshot()
        var v4 = Array(v5.dropLast(version5Tail(h.state)))
        v4[4] = 4
        let old = try ClusterState.restore(v4)
        #expect(old.snapshot() == v5)
        #expect(old.certificates(tenant: acme).allSatisfy { $0.mode == .default })
        #expect(old.issuingCA(tenant: acme) == nil)
    }

    @Test("the new commands and the certificate validation error round-trip through their codecs")
    func codecs() {
        for c in everyCommand where c.isVersion5Command {
            #expect(ClusterCommand.decode(c.encoded()) == .success(c), "\(c)")
        }
        let failure: ClusterOutcome = .failure(.certificateValidation("no CA"))
        #expect(ClusterOutcomeCodec.decode(ClusterOutcomeCodec.encode(failure)) == failure)
    }
}

extension ClusterOutcome {
    var isSuccess: Bool { if case .success = self { true } else { false } }
}
