import ClusterState
import IoTTypes
import Testing

@Suite("ClusterState policies and attachments")
struct PoliciesStateTests {
    static func create(_ name: String, tenant: TenantID = acme, document: String = policyDoc) -> ClusterCommand {
        .createPolicy(tenant: tenant, policyName: name, document: document, nowMs: 100)
    }

    static func version(_ name: String, setAsDefault: Bool = false) -> ClusterCommand {
        .createPolicyVersion(tenant: acme, policyName: name, document: policyDoc2, setAsDefault: setAsDefault, nowMs: 200)
    }

    @Test("create: version 1 is the default; the name is unique per tenant, not across tenants")
    func create() {
        var h = Harness()
        #expect(h.apply(Self.create("p")) == .success(.policyVersion(versionId: 1)))
        let p = h.state.policy(tenant: acme, name: "p")
        #expect(p?.defaultVersionId == 1 && p?.defaultVersion?.document == policyDoc)
        #expect(p?.policyArn(region: "eu-west-1") == "arn:aws:iot:eu-west-1:111111111111:policy/p")
        expectUnchanged(&h, Self.create("p")) { $0 == .failure(.resourceAlreadyExists) }
        #expect(h.apply(Self.create("p", tenant: globex)) == .success(.policyVersion(versionId: 1)))
        #expect(h.state.policies(tenant: acme).map(\.policyName) == ["p"])
    }

    @Test("create: names and document sizes are checked", arguments: [
        ("", policyDoc), ("has space", policyDoc), ("a/b", policyDoc), (String(repeating: "n", count: 129), policyDoc),
        ("ok", ""), ("ok", "{" + String(repeating: "x", count: 2048) + "}"),
    ])
    func createInvalid(name: String, document: String) {
        var h = Harness()
        expectUnchanged(&h, Self.create(name, document: document)) { $0.isInvalidRequest }
    }

    @Test("whitespace does not count toward the 2048 characters")
    func documentWhitespace() {
        var h = Harness()
        let padded = policyDoc + String(repeating: " ", count: 3000)
        #expect(h.apply(Self.create("p", document: padded)) == .success(.policyVersion(versionId: 1)))
    }

    @Test("versions: at most five, ids never reused, the default cannot be deleted")
    func versions() {
        var h = Harness()
        _ = h.apply(Self.create("p"))
        for id in 2...5 { #expect(h.apply(Self.version("p")) == .success(.policyVersion(versionId: Int64(id)))) }
        expectUnchanged(&h, Self.version("p")) {
            $0 == .failure(.versionsLimitExceeded("The policy p already has the maximum number of versions (5)"))
        }
        expectUnchanged(&h, .deletePolicyVersion(tenant: acme, policyName: "p", versionId: 1)) {
            if case .failure(.deleteConflict) = $0 { true } else { false }
        }
        #expect(h.apply(.deletePolicyVersion(tenant: acme, policyName: "p", versionId: 3)) == .success(.done))
        #expect(h.apply(Self.version("p", setAsDefault: true)) == .success(.policyVersion(versionId: 6)))
        #expect(h.state.policy(tenant: acme, name: "p")?.defaultVersionId == 6)
        #expect(h.state.policy(tenant: acme, name: "p")?.versions.map(\.versionId) == [1, 2, 4, 5, 6])
        #expect(h.apply(.setDefaultPolicyVersion(tenant: acme, policyName: "p", versionId: 2, nowMs: 300))
            == .success(.done))
        #expect(h.state.policy(tenant: acme, name: "p")?.defaultVersion?.versionId == 2)
        #expect(h.state.policy(tenant: acme, name: "p")?.lastModifiedAtMs == 300)
        expectUnchanged(&h, .setDefaultPolicyVersion(tenant: acme, policyName: "p", versionId: 3, nowMs: 400)) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .deletePolicyVersion(tenant: acme, policyName: "nope", versionId: 1)) {
            $0 == .failure(.resourceNotFound)
        }
        expectUnchanged(&h, .createPolicyVersion(tenant: globex, policyName: "p", document: policyDoc,
                                                 setAsDefault: false, nowMs: 1)) { $0 == .failure(.resourceNotFound) }
    }

    @Test("delete: refused while other versions exist or while attached")
    func deletePolicy() {
        var h = Harness()
        _ = h.apply(Self.create("p"))
        _ = h.apply(Self.version("p"))
        expectUnchanged(&h, .deletePolicy(tenant: acme, policyName: "p")) {
            if case .failure(.deleteConflict) = $0 { true } else { false }
        }
        _ = h.apply(.deletePolicyVersion(tenant: acme, policyName: "p", versionId: 2))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "p", target: certArnA))
        expectUnchanged(&h, .deletePolicy(tenant: acme, policyName: "p")) {
            if case .failure(.deleteConflict) = $0 { true } else { false }
        }
        _ = h.apply(.detachPolicy(tenant: acme, policyName: "p", target: certArnA))
        #expect(h.apply(.deletePolicy(tenant: acme, policyName: "p")) == .success(.done))
        #expect(h.state.policy(tenant: acme, name: "p") == nil)
        expectUnchanged(&h, .deletePolicy(tenant: acme, policyName: "p")) { $0 == .failure(.resourceNotFound) }
    }

    @Test("attach: the policy must exist; idempotent; ten per target; reads both ways")
    func attach() {
        var h = Harness()
        expectUnchanged(&h, .attachPolicy(tenant: acme, policyName: "p0", target: certArnA)) {
            $0 == .failure(.resourceNotFound)
        }
        for i in 0..<11 { _ = h.apply(Self.create("p\(i)")) }
        for i in 0..<10 {
            #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p\(i)", target: certArnA)) == .success(.done))
        }
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p0", target: certArnA)) == .success(.done))
        expectUnchanged(&h, .attachPolicy(tenant: acme, policyName: "p10", target: certArnA)) {
            if case .failure(.limitExceeded) = $0 { true } else { false }
        }
        expectUnchanged(&h, .attachPolicy(tenant: acme, policyName: "p10", target: "")) { $0.isInvalidRequest }
        #expect(h.state.attachedPolicies(tenant: acme, target: certArnA).count == 10)
        #expect(h.state.targets(tenant: acme, policyName: "p3") == [certArnA])
        #expect(h.state.effectivePolicyDocuments(tenant: acme, targets: [certArnA]).map(\.policyName).first == "p0")
        // Another tenant sees nothing of it.
        #expect(h.state.attachedPolicies(tenant: globex, target: certArnA).isEmpty)
        #expect(h.state.effectivePolicyDocuments(tenant: globex, targets: [certArnA]).isEmpty)
        // Detaching what is not attached changes nothing and succeeds.
        #expect(h.apply(.detachPolicy(tenant: acme, policyName: "p10", target: certArnA)) == .success(.done))
    }

    @Test("effective documents are the defaults of every policy on any of the targets, each once")
    func effectiveDocuments() {
        var h = Harness()
        _ = h.apply(Self.create("a"))
        _ = h.apply(Self.create("b"))
        _ = h.apply(Self.version("b", setAsDefault: true))
        let group = "arn:aws:iot:us-east-1:111111111111:thinggroup/g"
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "a", target: certArnA))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "b", target: certArnA))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "a", target: group))
        let docs = h.state.effectivePolicyDocuments(tenant: acme, targets: [certArnA, group])
        #expect(docs.map(\.policyName) == ["a", "b"])
        #expect(docs.map(\.document) == [policyDoc, policyDoc2])
    }

    @Test("thing principals: the thing must exist; exclusive means only; deleting a thing with principals is refused")
    func thingPrincipals() {
        var h = Harness()
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "t1", nowMs: 1)))
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "t2", nowMs: 1)))
        expectUnchanged(&h, .attachThingPrincipal(tenant: acme, thingName: "nope", principal: certArnA,
                                                  type: .nonExclusive)) { $0 == .failure(.resourceNotFound) }
        #expect(h.apply(.attachThingPrincipal(tenant: acme, thingName: "t1", principal: certArnA, type: .exclusive))
            == .success(.done))
        expectUnchanged(&h, .attachThingPrincipal(tenant: acme, thingName: "t2", principal: certArnA,
                                                  type: .nonExclusive)) { $0.isInvalidRequest }
        // Re-attaching to the same thing is fine (and may change the type).
        #expect(h.apply(.attachThingPrincipal(tenant: acme, thingName: "t1", principal: certArnA, type: .nonExclusive))
            == .success(.done))
        #expect(h.apply(.attachThingPrincipal(tenant: acme, thingName: "t2", principal: certArnA, type: .nonExclusive))
            == .success(.done))
        expectUnchanged(&h, .attachThingPrincipal(tenant: acme, thingName: "t2", principal: certArnA, type: .exclusive)) {
            $0.isInvalidRequest
        }
        #expect(h.state.principalThings(tenant: acme, principal: certArnA).map(\.thingName) == ["t1", "t2"])
        #expect(h.state.thingPrincipals(tenant: acme, thingName: "t1").map(\.principal) == [certArnA])
        #expect(h.state.principalThings(tenant: globex, principal: certArnA).isEmpty)
        expectUnchanged(&h, .deleteThing(tenant: acme, thingName: "t1", expectedVersion: nil)) { $0.isInvalidRequest }
        #expect(h.apply(.detachThingPrincipal(tenant: acme, thingName: "t1", principal: certArnA)) == .success(.done))
        #expect(h.apply(.deleteThing(tenant: acme, thingName: "t1", expectedVersion: nil)) == .success(.done))
        #expect(h.state.principalThings(tenant: acme, principal: certArnA).map(\.thingName) == ["t2"])
    }

    @Test("a certificate with a policy or a thing attached cannot be deleted")
    func certificateDeleteConflicts() {
        var h = Harness()
        _ = h.apply(.registerCertificate(Certificate(tenant: acme, certificateId: certA, certificatePEM: chainPEM,
                                                     status: .inactive, createdAtMs: 1)))
        _ = h.apply(Self.create("p"))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "p", target: certArnA))
        expectUnchanged(&h, .deleteCertificate(tenant: acme, certificateId: certA)) {
            $0 == .failure(.deleteConflict("Certificate policies must be detached before deletion."))
        }
        _ = h.apply(.detachPolicy(tenant: acme, policyName: "p", target: certArnA))
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "t1", nowMs: 1)))
        _ = h.apply(.attachThingPrincipal(tenant: acme, thingName: "t1", principal: certArnA, type: .nonExclusive))
        expectUnchanged(&h, .deleteCertificate(tenant: acme, certificateId: certA)) {
            $0 == .failure(.deleteConflict("Things must be detached before deletion."))
        }
        _ = h.apply(.detachThingPrincipal(tenant: acme, thingName: "t1", principal: certArnA))
        #expect(h.apply(.deleteCertificate(tenant: acme, certificateId: certA)) == .success(.done))
    }

    @Test("every policy, attachment, certificate, CA status and thing update moves the authorization generation")
    func authorizationGeneration() {
        var h = Harness()
        var last = h.state.authorizationGeneration
        for c in everyCommand {
            _ = h.apply(c)
            let moved = h.state.authorizationGeneration != last
            let expected = c.isVersion4Command && !{ if case .createThing = c { true } else { false } }()
                || { switch c {
                    case .registerCertificate, .updateCertificateStatus, .deleteCertificate, .forceDeleteCertificate,
                         .updateCACertificateStatus, .updateCACertificate, .deleteCACertificate, .updateThing,
                         .deleteThing: true
                    case .createWithTags(.createPolicy, _, _, _): true
                    // Group membership and hierarchy decide which group policies apply.
                    case .createThingGroup, .deleteThingGroup, .addThingToThingGroup, .removeThingFromThingGroup,
                         .updateThingGroupsForThing:
                        true
                    default: false
                } }()
            #expect(moved == expected, "\(c)")
            last = h.state.authorizationGeneration
        }
    }

    @Test("a version-3 snapshot (before policies) restores with those sections empty; version 4 restores them")
    func snapshots() throws {
        var h = Harness()
        for c in everyCommand where !c.isVersion4Command && !c.isVersion5Command { _ = h.apply(c) }
        let v4 = h.state.snapshot()
        let tail = version5Tail(h.state)
        #expect(Array(v4.dropLast(tail).suffix(12)) == [UInt8](repeating: 0, count: 12))
        var v3 = Array(v4.dropLast(12 + tail))
        v3[4] = 3
        #expect(try ClusterState.restore(v3).snapshot() == v4)

        var full = Harness()
        for c in everyCommand { _ = full.apply(c) }
        let snap = full.state.snapshot()
        let r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        #expect(r.policy(tenant: acme, name: "devices") == full.state.policy(tenant: acme, name: "devices"))
        #expect(r.attachedPolicies(tenant: acme, target: certArnA) == ["devices"])
        // The derived principal → things index is rebuilt: the exclusive attachment still holds.
        var again = r
        #expect(again.apply(.attachThingPrincipal(tenant: acme, thingName: "sensor-2", principal: certArnA,
                                                  type: .nonExclusive), index: 999).isInvalidRequest)
    }
}

@Suite struct PolicyNameTests {
    @Test("policy names: [\\w+=,.@-]+, 1–128", arguments: [
        ("MyPolicy", true), ("a_b+c=d,e.f@g-h", true), (String(repeating: "p", count: 128), true),
        ("", false), (String(repeating: "p", count: 129), false), ("has space", false), ("slash/no", false),
        ("ünïcode", false), ("star*", false),
    ] as [(String, Bool)])
    func test_policyName(name: String, valid: Bool) {
        #expect(PolicyRules.isValidPolicyName(name) == valid)
    }
}
