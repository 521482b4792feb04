import ClusterState
import IoTTypes
import Testing

/// What a certificate connection's policy decisions are built from (AWS-IOT-SPEC §2.4).
@Suite("ClusterState connection policy inputs")
struct ConnectionPolicyInputsTests {
    func inputs(_ h: Harness, clientID: String? = "dev-1", region: String = "us-east-1") -> ConnectionPolicyInputs {
        h.state.connectionPolicyInputs(tenant: acme, region: region, certificateId: certA, clientID: clientID)
    }

    @Test("the certificate ARN names region, account and id")
    func arn() {
        #expect(ClusterState.certificateArn(tenant: acme, region: "us-east-1", certificateId: certA) == certArnA)
    }

    @Test("documents: the default versions of the policies attached to the certificate ARN, in name order")
    func documents() {
        var h = Harness()
        #expect(inputs(h).documents.isEmpty)
        _ = h.apply(.createPolicy(tenant: acme, policyName: "b", document: policyDoc, nowMs: 1))
        _ = h.apply(.createPolicy(tenant: acme, policyName: "a", document: policyDoc, nowMs: 1))
        _ = h.apply(.createPolicy(tenant: acme, policyName: "other", document: policyDoc, nowMs: 1))
        _ = h.apply(.createPolicyVersion(tenant: acme, policyName: "a", document: policyDoc2, setAsDefault: true,
                                         nowMs: 2))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "b", target: certArnA))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "a", target: certArnA))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "other",
                                  target: "arn:aws:iot:us-east-1:111111111111:cert/" + certB))
        let docs = inputs(h).documents
        #expect(docs.map(\.policyName) == ["a", "b"])
        #expect(docs.map(\.document) == [policyDoc2, policyDoc])
        // Another region's ARN is another target; another tenant sees nothing of these.
        #expect(inputs(h, region: "eu-west-1").documents.isEmpty)
        #expect(h.state.connectionPolicyInputs(tenant: globex, region: "us-east-1", certificateId: certA,
                                               clientID: "dev-1").documents.isEmpty)
    }

    @Test("group inheritance: policies on the connection thing's groups and their ancestors apply; not another thing's")
    func groupInheritance() {
        var h = Harness()
        func groupArn(_ name: String) -> String { "arn:aws:iot:us-east-1:\(acme.accountID):thinggroup/\(name)" }
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "dev-1", nowMs: 1)))
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "dev-2", nowMs: 1)))
        _ = h.apply(.createThingGroup(.init(tenant: acme, thingGroupName: "site", nowMs: 1)))
        _ = h.apply(.createThingGroup(.init(tenant: acme, thingGroupName: "floor", parentGroupName: "site", nowMs: 1)))
        _ = h.apply(.createThingGroup(.init(tenant: acme, thingGroupName: "elsewhere", nowMs: 1)))
        for name in ["on-site", "on-floor", "on-elsewhere", "on-cert"] {
            _ = h.apply(.createPolicy(tenant: acme, policyName: name, document: policyDoc, nowMs: 1))
        }
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "on-site", target: groupArn("site")))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "on-floor", target: groupArn("floor")))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "on-elsewhere", target: groupArn("elsewhere")))
        _ = h.apply(.attachPolicy(tenant: acme, policyName: "on-cert", target: certArnA))
        _ = h.apply(.addThingToThingGroup(tenant: acme, thingGroupName: "floor", thingName: "dev-1"))
        _ = h.apply(.addThingToThingGroup(tenant: acme, thingGroupName: "elsewhere", thingName: "dev-2"))
        // No connection thing yet (not attached): the certificate's own policies only.
        #expect(inputs(h).documents.map(\.policyName) == ["on-cert"])
        _ = h.apply(.attachThingPrincipal(tenant: acme, thingName: "dev-1", principal: certArnA, type: .nonExclusive))
        #expect(inputs(h).documents.map(\.policyName) == ["on-cert", "on-floor", "on-site"])
        // Leaving the group takes its policies (and its parent's) away.
        let before = h.state.authorizationGeneration
        _ = h.apply(.removeThingFromThingGroup(tenant: acme, thingGroupName: "floor", thingName: "dev-1"))
        #expect(h.state.authorizationGeneration > before)
        #expect(inputs(h).documents.map(\.policyName) == ["on-cert"])
    }

    @Test("the connection thing: non-exclusive only when the client id is its name; exclusive whatever the id")
    func thing() {
        var h = Harness()
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "dev-1", thingTypeName: nil,
                                       attributes: ["floor": "3"], nowMs: 1)))
        _ = h.apply(.createThing(.init(tenant: acme, thingName: "dev-2", nowMs: 1)))
        #expect(inputs(h).thing == nil)  // not attached
        _ = h.apply(.attachThingPrincipal(tenant: acme, thingName: "dev-1", principal: certArnA, type: .nonExclusive))
        _ = h.apply(.attachThingPrincipal(tenant: acme, thingName: "dev-2", principal: certArnA, type: .nonExclusive))
        #expect(inputs(h).thing?.thingName == "dev-1")
        #expect(inputs(h).thing?.attributes == ["floor": "3"])
        #expect(inputs(h, clientID: "dev-2").thing?.thingName == "dev-2")
        #expect(inputs(h, clientID: "someone-else").thing == nil)
        #expect(inputs(h, clientID: nil).thing == nil)  // HTTPS: no thing variables

        _ = h.apply(.detachThingPrincipal(tenant: acme, thingName: "dev-2", principal: certArnA))
        _ = h.apply(.detachThingPrincipal(tenant: acme, thingName: "dev-1", principal: certArnA))
        _ = h.apply(.attachThingPrincipal(tenant: acme, thingName: "dev-2", principal: certArnA, type: .exclusive))
        #expect(inputs(h, clientID: "anything").thing?.thingName == "dev-2")
    }

    @Test("the certificate stays active only while it (and the CA it was registered with) is ACTIVE")
    func certificateActive() {
        var h = Harness()
        #expect(inputs(h).certificateActive)  // accepted through its CA alone: no status of its own
        _ = h.apply(.registerCertificate(Certificate(tenant: acme, certificateId: certA, certificatePEM: chainPEM,
                                                     status: .active, createdAtMs: 1)))
        #expect(inputs(h).certificateActive)
        for status in [CertificateStatus.inactive, .revoked] {
            _ = h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: status, nowMs: 2))
            #expect(!inputs(h).certificateActive)
            _ = h.apply(.updateCertificateStatus(tenant: acme, certificateId: certA, status: .active, nowMs: 3))
        }
    }

    @Test("authorizationGeneration moves on what decisions read: policies, attachments, status, thing updates")
    func generation() {
        var h = Harness()
        var g = h.state.authorizationGeneration
        func moved(_ c: ClusterCommand) -> Bool {
            _ = h.apply(c)
            defer { g = h.state.authorizationGeneration }
            return h.state.authorizationGeneration != g
        }
        #expect(!moved(.createThing(.init(tenant: acme, thingName: "dev-1", nowMs: 1))))
        #expect(moved(.createPolicy(tenant: acme, policyName: "p", document: policyDoc, nowMs: 1)))
        #expect(moved(.attachPolicy(tenant: acme, policyName: "p", target: certArnA)))
        #expect(moved(.attachThingPrincipal(tenant: acme, thingName: "dev-1", principal: certArnA, type: .nonExclusive)))
        #expect(moved(.updateThing(.init(tenant: acme, thingName: "dev-1", attributes: ["a": "b"], nowMs: 2))))
        #expect(moved(.detachPolicy(tenant: acme, policyName: "p", target: certArnA)))
    }
}
