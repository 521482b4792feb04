import Testing

@testable import Policy

/// Combining statements and documents: default deny, explicit deny wins, group-inherited documents.
@Suite struct EvaluationTests {
    typealias F = Fixture

    static let allowAll = F.document()
    static let allowPublishA = F.document(action: "\"iot:Publish\"", resource: "\"\(F.arn("topic/a/*"))\"")
    static let denyPublishSecret = F.document(
        effect: "Deny", action: "\"iot:Publish\"", resource: "\"\(F.arn("topic/a/secret"))\"")
    static let denyEverything = F.document(effect: "Deny", action: "\"*\"", resource: "\"*\"")
    static let groupAllowReceive = F.document(action: "\"iot:Receive\"", resource: "\"\(F.arn("topic/*"))\"")
    static let denyUnlessAttached = F.document(
        effect: "Deny", action: "\"iot:*\"", resource: "\"*\"",
        condition: #"{"Bool":{"iot:Connection.Thing.IsAttached":"false"}}"#)

    @Test("documents combine: explicit deny anywhere wins, else any allow, else default deny", arguments: [
        ([String](), IoTAction.publish, "a/b", Decision.deny(.default)),
        ([allowAll], IoTAction.publish, "a/b", .allow),
        ([allowPublishA], IoTAction.publish, "a/b", .allow),
        ([allowPublishA], IoTAction.receive, "a/b", .deny(.default)),
        ([allowPublishA], IoTAction.publish, "b/a", .deny(.default)),
        ([allowPublishA, denyPublishSecret], IoTAction.publish, "a/secret", .deny(.explicit)),
        ([denyPublishSecret, allowPublishA], IoTAction.publish, "a/secret", .deny(.explicit)),  // order is irrelevant
        ([allowPublishA, denyPublishSecret], IoTAction.publish, "a/public", .allow),
        ([allowAll, denyEverything], IoTAction.connect, "x", .deny(.explicit)),
        ([denyPublishSecret], IoTAction.publish, "a/public", .deny(.default)),  // a deny that doesn't match grants nothing
        // Group inheritance: the thing group's document is just one more document in the list.
        ([allowPublishA, groupAllowReceive], IoTAction.receive, "b/c", .allow),
        ([allowPublishA, groupAllowReceive, denyEverything], IoTAction.receive, "b/c", .deny(.explicit)),
        ([groupAllowReceive, denyUnlessAttached], IoTAction.receive, "b/c", .deny(.explicit)),  // no thing in context
    ] as [([String], String, String, Decision)])
    func test_combine(docs: [String], action: String, topic: String, expected: Decision) {
        let request = AuthorizationRequest(action: action, resource: F.arn("topic/\(topic)"), context: F.context())
        #expect(F.decide(docs, request) == expected)
    }

    @Test func test_statementsInOneDocument_denyWins() {
        let doc = #"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":["iot:Publish","iot:Subscribe","iot:Receive"],"Resource":"*"},
              {"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/$aws/*"}]}
            """#
        #expect(F.decide([doc], .publish(topic: "a", context: F.context())) == .allow)
        #expect(F.decide([doc], .publish(topic: "$aws/things/x/shadow/update", context: F.context())) == .deny(.explicit))
        #expect(F.decide([doc], .receive(topic: "$aws/things/x/shadow/update", context: F.context())) == .allow)
    }

    @Test func test_groupInheritance_thingScopedGroupPolicy() {
        // A policy on a thing group, written once for all members, with thing variables.
        let group = F.document(
            action: #"["iot:Publish","iot:Receive"]"#,
            resource: "\"\(F.arn("topic/fleet/${iot:Connection.Thing.ThingName}/*"))\"")
        let certPolicy = F.document(action: "\"iot:Connect\"", resource: "\"\(F.arn("client/${iot:ClientId}"))\"")
        let member = F.context(clientID: "t1", thing: ConnectionThing(name: "t1"))
        let docs = [certPolicy, group]
        #expect(F.decide(docs, .connect(clientID: "t1", context: member)) == .allow)
        #expect(F.decide(docs, .publish(topic: "fleet/t1/telemetry", context: member)) == .allow)
        #expect(F.decide(docs, .publish(topic: "fleet/t2/telemetry", context: member)) == .deny(.default))
    }

    @Test func test_requestBuilders() {
        let ctx = F.context()
        #expect(AuthorizationRequest.connect(clientID: "c", context: ctx).resource == F.arn("client/c"))
        #expect(AuthorizationRequest.subscribe(filter: "a/+/#", context: ctx).resource == F.arn("topicfilter/a/+/#"))
        #expect(AuthorizationRequest.retainPublish(topic: "a", context: ctx).action == "iot:RetainPublish")
        #expect(AuthorizationRequest.receive(topic: "a", context: ctx).resource == F.arn("topic/a"))
    }

    @Test func test_explain_listsAllowingAndDenyingDocuments() {
        let docs = [Self.allowPublishA, Self.groupAllowReceive, Self.denyPublishSecret, Self.allowAll].map(F.parse)
        let e = PolicyEngine.explain(request: .publish(topic: "a/secret", context: F.context()), policies: docs)
        #expect(e.decision == .deny(.explicit))
        #expect(e.allowingPolicies == [0, 3])
        #expect(e.denyingPolicies == [2])
        let none = PolicyEngine.explain(request: .connect(clientID: "x", context: F.context()), policies: [docs[0]])
        #expect(none.decision == .deny(.default) && none.allowingPolicies.isEmpty)
    }

    @Test func test_fleetProvisioningClaimPolicy() {
        // AWS-IOT-SPEC §2.4's example claim policy.
        let doc = #"""
            {"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
              {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[
                "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/*",
                "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/tpl/provision/*"]},
              {"Effect":"Allow","Action":"iot:Subscribe","Resource":[
                "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create/*",
                "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/tpl/provision/*"]}]}
            """#
        let ctx = F.context(clientID: "claim-1")
        #expect(F.decide([doc], .connect(clientID: "claim-1", context: ctx)) == .allow)
        #expect(F.decide([doc], .publish(topic: "$aws/certificates/create/json", context: ctx)) == .allow)
        #expect(F.decide([doc], .subscribe(filter: "$aws/certificates/create/json/accepted", context: ctx)) == .allow)
        #expect(F.decide([doc], .subscribe(filter: "$aws/certificates/create/#", context: ctx)) == .allow)
        #expect(F.decide([doc], .publish(topic: "$aws/provisioning-templates/other/provision/json", context: ctx)) == .deny(.default))
        #expect(F.decide([doc], .publish(topic: "telemetry", context: ctx)) == .deny(.default))
    }
}
