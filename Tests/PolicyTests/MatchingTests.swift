import Testing

@testable import Policy

/// Actions, resources and wildcards (AWS-IOT-SPEC §2.4 "Wildcards in resources").
@Suite struct MatchingTests {
    typealias F = Fixture

    @Test("actions: case-insensitive, * and ? wildcards", arguments: [
        ("\"iot:Publish\"", "iot:Publish", true),
        ("\"iot:publish\"", "IOT:PUBLISH", true),
        ("\"iot:*\"", "iot:Connect", true),
        ("\"*\"", "iot:Subscribe", true),
        ("\"iot:Publish\"", "iot:RetainPublish", false),  // no implied prefix/suffix matching
        ("\"iot:*Publish\"", "iot:RetainPublish", true),
        ("\"iot:Get*\"", "iot:GetThingShadow", true),
        ("\"iot:Get*\"", "iot:UpdateThingShadow", false),
        ("\"iot:?eceive\"", "iot:Receive", true),
        ("\"iot:?eceive\"", "iot:Receive2", false),
        (#"["iot:Connect","iot:Subscribe"]"#, "iot:Subscribe", true),
        (#"["iot:Connect","iot:Subscribe"]"#, "iot:Publish", false),
        ("\"greengrass:*\"", "iot:Publish", false),
    ] as [(String, String, Bool)])
    func test_action(actionJSON: String, requested: String, allowed: Bool) {
        let request = AuthorizationRequest(action: requested, resource: F.arn("topic/a"), context: F.context())
        #expect(F.decide([F.document(action: actionJSON)], request).isAllowed == allowed)
    }

    @Test("resources: * crosses / and :, ? is one character, + # $ are literal", arguments: [
        ("topic/a/b", "topic/a/b", true),
        ("topic/a/b", "topic/a/B", false),  // case-sensitive
        ("topic/a/*", "topic/a/b/c/d", true),
        ("topic/a/*", "topic/a", false),
        ("topic/a*", "topic/a", true),
        ("topic/a/?", "topic/a/b", true),
        ("topic/a/?", "topic/a/bc", false),
        ("topicfilter/a/+/b", "topicfilter/a/+/b", true),
        ("topicfilter/a/+/b", "topicfilter/a/x/b", false),  // + is not an MQTT wildcard in a policy
        ("topicfilter/a/#", "topicfilter/a/b", false),
        ("topicfilter/a/#", "topicfilter/a/#", true),
        ("topic/$aws/things/t1/shadow/*", "topic/$aws/things/t1/shadow/update", true),
        ("topic/*/x", "topicfilter/a/x", false),
        ("client/*", "client/anything-at-all", true),
        ("thing/${*}", "thing/*", true),  // ${*} is a literal *
        ("thing/${*}", "thing/t1", false),
        ("thing/a${?}", "thing/a?", true),
        ("thing/a${?}", "thing/ab", false),
        ("thing/${$}x", "thing/$x", true),
    ] as [(String, String, Bool)])
    func test_resource(pattern: String, requested: String, allowed: Bool) {
        let request = AuthorizationRequest(action: "iot:Publish", resource: F.arn(requested), context: F.context())
        #expect(F.decide([F.document(resource: "\"\(F.arn(pattern))\"")], request).isAllowed == allowed)
    }

    @Test func test_resource_wildcardAcrossARNParts() {
        let doc = F.document(resource: "\"arn:aws:iot:*:\(F.account):topic/a\"")
        let here = AuthorizationRequest(action: "iot:Publish", resource: F.arn("topic/a"), context: F.context())
        let elsewhere = AuthorizationRequest(
            action: "iot:Publish", resource: "arn:aws:iot:eu-west-1:999999999999:topic/a", context: F.context())
        #expect(F.decide([doc], here) == .allow)
        #expect(F.decide([doc], elsewhere) == .deny(.default))
    }

    @Test("NotAction / NotResource: everything except the list", arguments: [
        // (effect, notAction, action list, notResource, resource list, requested action, requested resource, decision)
        ("Allow", true, "\"iot:Connect\"", false, "\"*\"", "iot:Publish", "topic/a", Decision.allow),
        ("Allow", true, "\"iot:Connect\"", false, "\"*\"", "iot:Connect", "client/c", .deny(.default)),
        ("Allow", false, "\"iot:*\"", true, "\"arn:aws:iot:us-east-1:123456789012:topic/secret/*\"", "iot:Publish", "topic/a", .allow),
        ("Allow", false, "\"iot:*\"", true, "\"arn:aws:iot:us-east-1:123456789012:topic/secret/*\"", "iot:Publish", "topic/secret/x", .deny(.default)),
        ("Deny", true, #"["iot:Connect","iot:Subscribe"]"#, false, "\"*\"", "iot:Publish", "topic/a", .deny(.explicit)),
        ("Deny", true, #"["iot:Connect","iot:Subscribe"]"#, false, "\"*\"", "iot:Connect", "client/c", .allow),
        ("Deny", false, "\"iot:Publish\"", true, "\"arn:aws:iot:us-east-1:123456789012:topic/ok/*\"", "iot:Publish", "topic/other", .deny(.explicit)),
        ("Deny", false, "\"iot:Publish\"", true, "\"arn:aws:iot:us-east-1:123456789012:topic/ok/*\"", "iot:Publish", "topic/ok/1", .allow),
    ] as [(String, Bool, String, Bool, String, String, String, Decision)])
    func test_notActionNotResource(
        effect: String, notAction: Bool, actions: String, notResource: Bool, resources: String, action: String,
        resource: String, expected: Decision
    ) {
        var docs = [F.document(effect: effect, action: actions, resource: resources, notAction: notAction, notResource: notResource)]
        if effect == "Deny" { docs.append(F.document()) }  // a blanket allow, so only the deny can refuse
        let request = AuthorizationRequest(action: action, resource: F.arn(resource), context: F.context())
        #expect(F.decide(docs, request) == expected)
    }

    @Test("glob matcher edge cases", arguments: [
        ("", "", true), ("*", "", true), ("?", "", false), ("a*b*c", "aXbYc", true), ("a*b*c", "aXbYcZ", false),
        ("**", "abc", true), ("*a", "bbba", true), ("*a", "bbab", false), ("a?c*", "abcdef", true),
        ("*/*/*", "a/b", false), ("é*", "é-topic", true),
    ] as [(String, String, Bool)])
    func test_glob(pattern: String, text: String, matches: Bool) {
        #expect(PatternToken.matches(PatternToken.compile(pattern), text) == matches)
    }
}
