import ClusterState
import IoTTypes
import Testing

@Suite("ClusterState server certificates, AWS domain configurations, tags")
struct ServerCertificatesAndTagsTests {
    static func create(_ name: String, _ domainName: String, certificate: String = serverCertId1,
                       tenant: TenantID = acme, at ms: Int64 = 100) -> ClusterCommand {
        .createDomainConfigurationFromCertificate(.init(
            tenant: tenant, domainConfigurationName: name, domainName: domainName, serverCertificateId: certificate,
            details: DomainConfigurationDetails(serverCertificateId: certificate), nowMs: ms))
    }

    static func withCertificate(names: [String] = ["*.brand.example", "brand.example"]) -> Harness {
        var h = Harness()
        #expect(h.apply(.importServerCertificate(serverCert(acme, serverCertId1, names: names))) == .success(.done))
        return h
    }

    // MARK: Server certificates

    @Test("import: the same certificate again is a no-op; another chain or key under its id is alreadyExists")
    func importIdempotent() {
        var h = Self.withCertificate()
        #expect(h.apply(.importServerCertificate(serverCert(acme, serverCertId1, names: ["brand.example"])))
            == .success(.done))
        #expect(h.state.serverCertificate(tenant: acme, id: serverCertId1)?.domainNames
            == ["*.brand.example", "brand.example"])
        expectUnchanged(&h, .importServerCertificate(serverCert(acme, serverCertId1, names: ["b.example"],
                                                                key: "another key"))) {
            $0 == .failure(.resourceAlreadyExists)
        }
        // Another tenant has its own namespace.
        #expect(h.apply(.importServerCertificate(serverCert(globex, serverCertId1, names: ["g.example"])))
            == .success(.done))
        #expect(h.state.serverCertificates(tenant: globex).map(\.domainNames) == [["g.example"]])
    }

    @Test("import refuses a non-UUID id and a certificate with no servable name")
    func importInvalid() {
        var h = Harness()
        expectUnchanged(&h, .importServerCertificate(serverCert(acme, "not-a-uuid", names: ["a.example"]))) {
            $0.isInvalidRequest
        }
        expectUnchanged(&h, .importServerCertificate(serverCert(acme, serverCertId1, names: []))) { $0.isInvalidRequest }
        expectUnchanged(&h, .importServerCertificate(serverCert(acme, serverCertId1, names: ["localhost"]))) {
            $0.isInvalidRequest
        }
    }

    @Test("delete: missing → notFound; in use by a domain configuration → deleteConflict; else gone")
    func deleteServerCertificate() {
        var h = Self.withCertificate()
        expectUnchanged(&h, .deleteServerCertificate(tenant: acme, certificateId: serverCertId2)) {
            $0 == .failure(.resourceNotFound)
        }
        #expect(h.apply(Self.create("brand", "mqtt.brand.example")) == .success(.done))
        expectUnchanged(&h, .deleteServerCertificate(tenant: acme, certificateId: serverCertId1)) {
            if case .failure(.deleteConflict) = $0 { true } else { false }
        }
        _ = h.apply(.updateDomainConfiguration(.init(tenant: acme, domainConfigurationName: "brand", status: .disabled,
                                                     nowMs: 101)))
        #expect(h.apply(.deleteDisabledDomainConfiguration(tenant: acme, domainConfigurationName: "brand"))
            == .success(.done))
        #expect(h.apply(.deleteServerCertificate(tenant: acme, certificateId: serverCertId1)) == .success(.done))
        #expect(h.state.serverCertificates(tenant: acme).isEmpty)
    }

    @Test("certificate names cover a domain as RFC 6125: exact, or one label under a wildcard")
    func covers() {
        let c = serverCert(acme, serverCertId1, names: ["*.brand.example", "iot.other.example"])
        #expect(c.covers("mqtt.brand.example"))
        #expect(c.covers("iot.other.example"))
        #expect(!c.covers("brand.example"))
        #expect(!c.covers("a.b.brand.example"))
        #expect(!c.covers("x.other.example"))
        #expect(c.covers("*.brand.example"))  // the same wildcard
        #expect(!serverCert(acme, serverCertId1, names: ["a.brand.example"]).covers("*.brand.example"))
    }

    @Test("certificate ids are the first 128 bits of the SHA-256, UUID-shaped")
    func certificateIds() {
        let sha = "0123456789abcdef0123456789abcdef" + String(repeating: "f", count: 32)
        #expect(ServerCertificate.certificateId(sha256Hex: sha) == "01234567-89ab-cdef-0123-456789abcdef")
        #expect(ServerCertificate.certificateId(sha256Hex: "xyz") == nil)
        #expect(ServerCertificate.certificateId(sha256Hex: String(repeating: "g", count: 64)) == nil)
        #expect(serverCert(acme, serverCertId1, names: ["a.example"]).arn(region: "eu-west-1")
            == "arn:aws:acm:eu-west-1:111111111111:certificate/\(serverCertId1)")
    }

    @Test("a private key never shows in descriptions or mirrors")
    func redacted() {
        let c = serverCert(acme, serverCertId1, names: ["a.example"], key: "TOP-SECRET-KEY")
        #expect(!"\(c)".contains("TOP-SECRET"))
        #expect(!String(reflecting: c).contains("TOP-SECRET"))
        var dumped = ""
        dump(c, to: &dumped)
        #expect(!dumped.contains("TOP-SECRET"))
    }

    // MARK: AWS domain configurations

    @Test("create from a certificate: served like an admin-made configuration, with its AWS details")
    func createFromCertificate() {
        var h = Self.withCertificate()
        let before = h.state.tlsSourceGeneration
        #expect(h.apply(Self.create("brand", "MQTT.Brand.Example")) == .success(.done))
        #expect(h.state.tlsSourceGeneration == before + 1)
        let d = h.state.domainConfiguration(tenant: acme, name: "brand")
        #expect(d?.domainName == "mqtt.brand.example")
        #expect(d?.serverCertificateChainPEM == chainPEM && d?.privateKeyPEM == keyPEM)
        #expect(d?.status == .enabled && d?.createdAtMs == 100)
        #expect(h.state.enabledDomainConfigurations()["mqtt.brand.example"] == d)
        #expect(h.state.domainConfigurationDetails(tenant: acme, name: "brand")?.serverCertificateId == serverCertId1)
        // An admin-made configuration has default details.
        _ = h.apply(.createDomainConfiguration(domain(acme, "admin", "iot.acme.example")))
        #expect(h.state.domainConfigurationDetails(tenant: acme, name: "admin") == DomainConfigurationDetails())
        #expect(h.state.domainConfigurationDetails(tenant: acme, name: "none") == nil)
        // The names stay unique, whichever way a configuration was made.
        expectUnchanged(&h, Self.create("admin", "x.brand.example")) { $0 == .failure(.resourceAlreadyExists) }
        expectUnchanged(&h, Self.create("other", "mqtt.brand.example")) { $0 == .failure(.resourceAlreadyExists) }
    }

    @Test("create refuses: unknown certificate → invalidRequest; name not covered or expired → certificateValidation")
    func createRefusals() {
        var h = Self.withCertificate()
        expectUnchanged(&h, Self.create("a", "mqtt.brand.example", certificate: serverCertId2)) { $0.isInvalidRequest }
        expectUnchanged(&h, Self.create("a", "mqtt.brand.example", tenant: globex)) { $0.isInvalidRequest }
        expectUnchanged(&h, Self.create("a", "a.b.brand.example")) {
            if case .failure(.certificateValidation) = $0 { true } else { false }
        }
        expectUnchanged(&h, Self.create("a", "iot.acme.example")) {
            if case .failure(.certificateValidation) = $0 { true } else { false }
        }
        expectUnchanged(&h, Self.create("a", "mqtt.brand.example", at: 4_000_000_000_001)) {
            if case .failure(.certificateValidation) = $0 { true } else { false }
        }
        expectUnchanged(&h, Self.create("bad name", "mqtt.brand.example")) { $0.isInvalidRequest }
        expectUnchanged(&h, Self.create("a", "localhost")) { $0.isInvalidRequest }
    }

    @Test("update: status (and its time), authorizer set and removed, recorded TLS members; missing → notFound")
    func update() {
        var h = Self.withCertificate()
        _ = h.apply(Self.create("brand", "mqtt.brand.example"))
        #expect(h.apply(.updateDomainConfiguration(.init(
            tenant: acme, domainConfigurationName: "brand", status: .disabled,
            authorizer: .set(defaultAuthorizerName: "auth", allowAuthorizerOverride: true),
            securityPolicy: "IoTSecurityPolicy_TLS13_1_3_2022_10", nowMs: 200))) == .success(.done))
        var d = h.state.domainConfiguration(tenant: acme, name: "brand")
        #expect(d?.status == .disabled && d?.lastStatusChangeAtMs == 200 && d?.defaultAuthorizerName == "auth")
        #expect(h.state.enabledDomainConfigurations().isEmpty)
        var details = h.state.domainConfigurationDetails(tenant: acme, name: "brand")
        #expect(details?.allowAuthorizerOverride == true)
        #expect(details?.securityPolicy == "IoTSecurityPolicy_TLS13_1_3_2022_10")
        // The same status again leaves its time alone; remove clears the authorizer.
        #expect(h.apply(.updateDomainConfiguration(.init(tenant: acme, domainConfigurationName: "brand",
                                                         status: .disabled, authorizer: .remove, nowMs: 300)))
            == .success(.done))
        d = h.state.domainConfiguration(tenant: acme, name: "brand")
        details = h.state.domainConfigurationDetails(tenant: acme, name: "brand")
        #expect(d?.lastStatusChangeAtMs == 200 && d?.defaultAuthorizerName == nil)
        #expect(details?.allowAuthorizerOverride == nil && details?.serverCertificateId == serverCertId1)
        expectUnchanged(&h, .updateDomainConfiguration(.init(tenant: globex, domainConfigurationName: "brand",
                                                              nowMs: 1))) { $0 == .failure(.resourceNotFound) }
        expectUnchanged(&h, .updateDomainConfiguration(.init(
            tenant: acme, domainConfigurationName: "brand",
            authorizer: .set(defaultAuthorizerName: "bad name", allowAuthorizerOverride: nil), nowMs: 1))) {
            $0.isInvalidRequest
        }
    }

    @Test("AWS delete: only DISABLED (else invalidRequest); missing → notFound; its details and tags go with it")
    func deleteDisabled() {
        var h = Self.withCertificate()
        _ = h.apply(.createWithTags(Self.create("brand", "mqtt.brand.example"), tenant: acme,
                                    resource: "domainconfiguration/brand", tags: [ResourceTag(key: "k", value: "v")]))
        #expect(h.state.tags(tenant: acme, resource: "domainconfiguration/brand") == [ResourceTag(key: "k", value: "v")])
        expectUnchanged(&h, .deleteDisabledDomainConfiguration(tenant: acme, domainConfigurationName: "brand")) {
            $0.isInvalidRequest
        }
        expectUnchanged(&h, .deleteDisabledDomainConfiguration(tenant: acme, domainConfigurationName: "nope")) {
            $0 == .failure(.resourceNotFound)
        }
        _ = h.apply(.updateDomainConfiguration(.init(tenant: acme, domainConfigurationName: "brand", status: .disabled,
                                                     nowMs: 2)))
        #expect(h.apply(.deleteDisabledDomainConfiguration(tenant: acme, domainConfigurationName: "brand"))
            == .success(.done))
        #expect(h.state.domainConfiguration(tenant: acme, name: "brand") == nil)
        #expect(h.state.tags(tenant: acme, resource: "domainconfiguration/brand").isEmpty)
        // Recreated under the same name: no old details, no old tags.
        _ = h.apply(Self.create("brand", "mqtt.brand.example"))
        #expect(h.state.tags(tenant: acme, resource: "domainconfiguration/brand").isEmpty)
        #expect(h.state.domainConfigurationDetails(tenant: acme, name: "brand")?.serverCertificateId == serverCertId1)
    }

    // MARK: Tags

    static func thingAndPolicy() -> Harness {
        var h = Harness()
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "t1", nowMs: 1)))
        _ = h.apply(.createPolicy(tenant: acme, policyName: "p1", document: policyDoc, nowMs: 1))
        return h
    }

    @Test("tag: adds and replaces; resource must exist in the tenant (notFound otherwise)")
    func tagResource() {
        var h = Self.thingAndPolicy()
        #expect(h.apply(.tagResource(tenant: acme, resource: "thing/t1", tags: [
            ResourceTag(key: "b", value: "1"), ResourceTag(key: "a", value: ""),
        ])) == .success(.done))
        #expect(h.apply(.tagResource(tenant: acme, resource: "thing/t1", tags: [ResourceTag(key: "b", value: "2")]))
            == .success(.done))
        #expect(h.state.tags(tenant: acme, resource: "thing/t1")
            == [ResourceTag(key: "a", value: ""), ResourceTag(key: "b", value: "2")])
        #expect(h.apply(.tagResource(tenant: acme, resource: "policy/p1", tags: [ResourceTag(key: "x", value: "y")]))
            == .success(.done))
        for missing in ["thing/t2", "policy/p2", "domainconfiguration/d", "cacert/\(caC)", "cert/\(certA)", "thing",
                        "rule/r", ""] {
            expectUnchanged(&h, .tagResource(tenant: acme, resource: missing, tags: [ResourceTag(key: "k", value: "v")])) {
                $0 == .failure(.resourceNotFound)
            }
        }
        // Tenant isolation: globex cannot see acme's thing.
        expectUnchanged(&h, .tagResource(tenant: globex, resource: "thing/t1", tags: [ResourceTag(key: "k", value: "v")])) {
            $0 == .failure(.resourceNotFound)
        }
        #expect(h.state.tags(tenant: globex, resource: "thing/t1").isEmpty)
    }

    @Test("tag limits: 50 per resource (limitExceeded), key and value rules (invalidRequest)")
    func tagLimits() {
        var h = Self.thingAndPolicy()
        let fifty = (0..<50).map { ResourceTag(key: "k\($0)", value: "v") }
        #expect(h.apply(.tagResource(tenant: acme, resource: "thing/t1", tags: fifty)) == .success(.done))
        #expect(h.apply(.tagResource(tenant: acme, resource: "thing/t1", tags: [ResourceTag(key: "k0", value: "w")]))
            == .success(.done))  // replacing keeps the count
        expectUnchanged(&h, .tagResource(tenant: acme, resource: "thing/t1", tags: [ResourceTag(key: "k50", value: "")])) {
            if case .failure(.limitExceeded) = $0 { true } else { false }
        }
        for bad in [ResourceTag(key: "", value: "v"), ResourceTag(key: String(repeating: "k", count: 129), value: ""),
                    ResourceTag(key: "semi;colon", value: ""), ResourceTag(key: "aws:reserved", value: ""),
                    ResourceTag(key: "k", value: String(repeating: "v", count: 257))] {
            expectUnchanged(&h, .tagResource(tenant: acme, resource: "policy/p1", tags: [bad])) { $0.isInvalidRequest }
        }
        expectUnchanged(&h, .tagResource(tenant: acme, resource: "policy/p1", tags: [
            ResourceTag(key: "d", value: "1"), ResourceTag(key: "d", value: "2"),
        ])) { $0.isInvalidRequest }
        // Letters, numbers and separators of any script are allowed, and the allowed punctuation.
        #expect(h.apply(.tagResource(tenant: acme, resource: "policy/p1", tags: [
            ResourceTag(key: "Größe 2 _.:/=+-@", value: String(repeating: "v", count: 256)),
        ])) == .success(.done))
    }

    @Test("untag removes keys (absent ones ignored); deleting the resource deletes its tags")
    func untagAndDelete() {
        var h = Self.thingAndPolicy()
        _ = h.apply(.tagResource(tenant: acme, resource: "thing/t1", tags: [ResourceTag(key: "a", value: "1"),
                                                                            ResourceTag(key: "b", value: "2")]))
        #expect(h.apply(.untagResource(tenant: acme, resource: "thing/t1", tagKeys: ["a", "zz"])) == .success(.done))
        #expect(h.state.tags(tenant: acme, resource: "thing/t1") == [ResourceTag(key: "b", value: "2")])
        expectUnchanged(&h, .untagResource(tenant: acme, resource: "thing/none", tagKeys: ["b"])) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .untagResource(tenant: acme, resource: "thing/t1", tagKeys: [""])) { $0.isInvalidRequest }
        #expect(h.apply(.deleteThing(tenant: acme, thingName: "t1", expectedVersion: nil)) == .success(.done))
        #expect(h.state.tags(tenant: acme, resource: "thing/t1").isEmpty)
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "t1", nowMs: 2)))
        #expect(h.state.tags(tenant: acme, resource: "thing/t1").isEmpty)
        _ = h.apply(.tagResource(tenant: acme, resource: "policy/p1", tags: [ResourceTag(key: "a", value: "1")]))
        #expect(h.apply(.deletePolicy(tenant: acme, policyName: "p1")) == .success(.done))
        #expect(h.state.tags(tenant: acme, resource: "policy/p1").isEmpty)
    }

    @Test("thing groups and thing types are taggable; deleting them deletes their tags")
    func groupAndTypeTags() {
        var h = Harness()
        let tag = [ResourceTag(key: "site", value: "oslo")]
        #expect(h.apply(.tagResource(tenant: acme, resource: "thinggroup/g", tags: tag)) == .failure(.resourceNotFound))
        _ = h.apply(.createThingGroup(.init(tenant: acme, thingGroupName: "g", nowMs: 1)))
        _ = h.apply(.createThingType(tenant: acme, thingTypeName: "T", description: nil, searchableAttributes: [],
                                     nowMs: 1))
        #expect(h.apply(.tagResource(tenant: acme, resource: "thinggroup/g", tags: tag)) == .success(.done))
        #expect(h.apply(.tagResource(tenant: acme, resource: "thingtype/T", tags: tag)) == .success(.done))
        #expect(h.apply(.tagResource(tenant: globex, resource: "thinggroup/g", tags: tag)) == .failure(.resourceNotFound))
        _ = h.apply(.deleteThingGroup(tenant: acme, thingGroupName: "g", expectedVersion: nil))
        _ = h.apply(.deprecateThingType(tenant: acme, thingTypeName: "T", undo: false, nowMs: 2))
        _ = h.apply(.deleteThingType(tenant: acme, thingTypeName: "T", nowMs: 2 + 300_001))
        #expect(h.state.tags(tenant: acme, resource: "thinggroup/g").isEmpty)
        #expect(h.state.tags(tenant: acme, resource: "thingtype/T").isEmpty)
    }

    @Test("create with tags: all or nothing")
    func createWithTags() {
        var h = Harness()
        let tags = [ResourceTag(key: "team", value: "a")]
        let create = ClusterCommand.createPolicy(tenant: acme, policyName: "p", document: policyDoc, nowMs: 1)
        #expect(h.apply(.createWithTags(create, tenant: acme, resource: "policy/p", tags: tags))
            == .success(.policyVersion(versionId: 1)))
        #expect(h.state.tags(tenant: acme, resource: "policy/p") == tags)
        // The create fails (exists): no tag changes.
        expectUnchanged(&h, .createWithTags(create, tenant: acme, resource: "policy/p",
                                            tags: [ResourceTag(key: "other", value: "")])) {
            $0 == .failure(.resourceAlreadyExists)
        }
        // Bad tags: no resource.
        expectUnchanged(&h, .createWithTags(
            .createPolicy(tenant: acme, policyName: "q", document: policyDoc, nowMs: 1), tenant: acme,
            resource: "policy/q", tags: [ResourceTag(key: "aws:x", value: "")])) { $0.isInvalidRequest }
        expectUnchanged(&h, .createWithTags(
            .createPolicy(tenant: acme, policyName: "q", document: policyDoc, nowMs: 1), tenant: acme,
            resource: "policy/q", tags: (0...50).map { ResourceTag(key: "k\($0)", value: "") })) {
            if case .failure(.limitExceeded) = $0 { true } else { false }
        }
        // Only one create inside.
        expectUnchanged(&h, .createWithTags(.batch([]), tenant: acme, resource: "policy/q", tags: tags)) {
            $0.isInvalidRequest
        }
    }

    @Test("tags wrapping tags, or a batch, are malformed on the wire")
    func nestedOnTheWire() {
        let inner = ClusterCommand.createWithTags(.createThing(.init(tenant: acme, thingName: "t", nowMs: 1)),
                                                  tenant: acme, resource: "thing/t", tags: [])
        let outer = ClusterCommand.createWithTags(inner, tenant: acme, resource: "thing/t", tags: [])
        #expect(ClusterCommand.decode(outer.encoded()) == .failure(.malformedCommand))
        let batch = ClusterCommand.createWithTags(.batch([]), tenant: acme, resource: "thing/t", tags: [])
        #expect(ClusterCommand.decode(batch.encoded()) == .failure(.malformedCommand))
        // Inside a batch, a tagged create decodes.
        let ok = ClusterCommand.batch([inner])
        #expect(ClusterCommand.decode(ok.encoded()) == .success(ok))
    }

    @Test("server certificates, details and tags survive snapshot and restore")
    func snapshotRoundTrip() throws {
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        let snap = h.state.snapshot()
        let r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        #expect(r.serverCertificates(tenant: acme) == h.state.serverCertificates(tenant: acme))
        #expect(r.domainConfigurationDetails(tenant: acme, name: "brand")?.applicationProtocol == "SECURE_MQTT")
        #expect(r.tags(tenant: acme, resource: "domainconfiguration/brand") == [ResourceTag(key: "env", value: "prod")])
        #expect(r.tags(tenant: acme, resource: "thing/sensor-1") == [ResourceTag(key: "b c", value: "v")])
        #expect(r.tags(tenant: acme, resource: "policy/tagged") == [ResourceTag(key: "k", value: "v")])
        // Version 4 (before these sections) still restores, with them empty.
        var v4 = Harness()
        for c in everyCommand where !c.isVersion5Command { _ = v4.apply(c) }
        let full = v4.state.snapshot()
        let tail = version5Tail(v4.state)  // the certificates' mode rows are not zeros; the rest is
        #expect(Array(full.suffix(tail).prefix(32)) == [UInt8](repeating: 0, count: 32))
        var old = Array(full.dropLast(tail))
        old[4] = 4
        #expect(try ClusterState.restore(old).snapshot() == full)
    }
}
