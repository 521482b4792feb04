import Testing

@testable import Policy

/// Policy variables in resources (AWS-IOT-SPEC §2.4 "Policy variables").
@Suite struct VariableTests {
    typealias F = Fixture

    static let thing = ConnectionThing(
        name: "sensor-7", typeName: "thermo", attributes: ["site": "berlin", "Floor": "3"])
    static let cert = CertificateFields(
        subject: [
            "CommonName": ["dev-cn"], "OrganizationalUnit": ["ou-a", "ou-b", "ou-c"], "Country": ["DE"],
            "AlternativeName.DNSName": ["d1.example", "d2.example"],
        ],
        issuer: ["Organization": ["Example CA"]], serialNumber: "0a1b")

    enum Ctx: String, CaseIterable, Sendable {
        case full, noThing, noClientID, noCertificate, wildcardClientID
        var value: AuthorizationContext {
            switch self {
            case .full: F.context(clientID: "sensor-7", thing: VariableTests.thing, certificate: VariableTests.cert)
            case .noThing: F.context(clientID: "sensor-7", certificate: VariableTests.cert)
            case .noClientID: F.context(clientID: nil, thing: VariableTests.thing)
            case .noCertificate: F.context(clientID: "sensor-7", thing: VariableTests.thing)
            case .wildcardClientID: F.context(clientID: "a*", thing: VariableTests.thing)
            }
        }
    }

    @Test("variables substitute into resources; unresolvable ones do not match", arguments: [
        ("client/${iot:ClientId}", Ctx.full, "client/sensor-7", true),
        ("client/${iot:clientid}", .full, "client/sensor-7", true),  // variable names are case-insensitive
        ("client/${iot:ClientId}", .full, "client/sensor-8", false),
        ("client/${iot:ClientId}", .noClientID, "client/sensor-7", false),  // HTTP: no client id
        ("topic/things/${iot:Connection.Thing.ThingName}/*", .full, "topic/things/sensor-7/t", true),
        ("topic/things/${iot:Connection.Thing.ThingName}/*", .noThing, "topic/things/sensor-7/t", false),
        ("topic/${iot:Connection.Thing.ThingTypeName}/x", .full, "topic/thermo/x", true),
        ("topic/${iot:Connection.Thing.Attributes[site]}/*", .full, "topic/berlin/a", true),
        ("topic/${iot:Connection.Thing.Attributes[Site]}/*", .full, "topic/berlin/a", false),  // attribute names are case-sensitive
        ("topic/${iot:Connection.Thing.Attributes[missing]}/*", .full, "topic//a", false),
        ("topic/${iot:Connection.Thing.IsAttached}", .full, "topic/true", true),
        ("topic/${iot:Connection.Thing.IsAttached}", .noThing, "topic/false", true),
        ("topic/${iot:Certificate.Subject.CommonName}", .full, "topic/dev-cn", true),
        ("topic/${iot:Certificate.Subject.CommonName}", .noCertificate, "topic/dev-cn", false),
        ("topic/${iot:Certificate.Subject.OrganizationalUnit}", .full, "topic/ou-a", true),  // first value
        ("topic/${iot:Certificate.Subject.OrganizationalUnit.1}", .full, "topic/ou-b", true),  // .1 is the second
        ("topic/${iot:Certificate.Subject.OrganizationalUnit.3}", .full, "topic/ou-c", false),  // out of range
        ("topic/${iot:Certificate.Subject.OrganizationalUnit.List}", .full, "topic/ou-a", false),  // lists don't splice
        ("topic/${iot:Certificate.Subject.AlternativeName.DNSName}", .full, "topic/d1.example", true),
        ("topic/${iot:Certificate.Issuer.Organization}", .full, "topic/Example CA", true),
        ("topic/${iot:Certificate.SerialNumber}", .full, "topic/0a1b", true),
        ("topic/${iot:Unknown.Variable}", .full, "topic/", false),
        ("topic/${iot:Unknown.Variable, 'fallback'}", .full, "topic/fallback", true),  // IAM default values
        ("topic/${aws:SourceIp}", .full, "topic/", false),
        // Substituted text is literal: a client id "a*" does not become a wildcard…
        ("client/${iot:ClientId}", .wildcardClientID, "client/a*", true),
        ("client/${iot:ClientId}", .wildcardClientID, "client/abc", false),
        // …and wildcards written in the policy around it still work.
        ("topic/${iot:ClientId}/*", .full, "topic/sensor-7/a/b", true),
        ("topic/${iot:ClientId", .full, "topic/${iot:ClientId", true),  // unclosed: plain text
    ] as [(String, Ctx, String, Bool)])
    func test_variables(pattern: String, context: Ctx, requested: String, allowed: Bool) {
        let doc = F.document(action: "\"iot:Publish\"", resource: "\"\(F.arn(pattern))\"")
        let request = AuthorizationRequest(action: "iot:Publish", resource: F.arn(requested), context: context.value)
        #expect(F.decide([doc], request).isAllowed == allowed)
    }

    @Test func test_variables_literalInOldVersions() {
        // Without Version 2012-10-17, ${…} is text (IAM).
        let doc = F.document(resource: "\"\(F.arn("client/${iot:ClientId}"))\"", version: nil)
        let literal = AuthorizationRequest(action: "iot:Connect", resource: F.arn("client/${iot:ClientId}"), context: F.context())
        let substituted = AuthorizationRequest.connect(clientID: "dev-1", context: F.context())
        #expect(F.decide([doc], literal) == .allow)
        #expect(F.decide([doc], substituted) == .deny(.default))
    }

    @Test func test_variables_plusInClientIDMatchesFilterLiterally() {
        // The spec's caveat: a client id "+" matches topicfilter/my/${iot:ClientId} for the literal filter "my/+".
        let doc = F.document(action: "\"iot:Subscribe\"", resource: "\"\(F.arn("topicfilter/my/${iot:ClientId}"))\"")
        let ctx = F.context(clientID: "+")
        #expect(F.decide([doc], .subscribe(filter: "my/+", context: ctx)) == .allow)
        #expect(F.decide([doc], .subscribe(filter: "my/x", context: ctx)) == .deny(.default))
    }

    @Test func test_variables_unresolvableInNotResourceSkipsTheStatement() {
        let allowAllButMine = F.document(
            resource: "\"\(F.arn("topic/${iot:Connection.Thing.ThingName}/*"))\"", notResource: true)
        #expect(F.decide([allowAllButMine], .publish(topic: "x/y", context: F.context(thing: Self.thing))) == .allow)
        #expect(F.decide([allowAllButMine], .publish(topic: "x/y", context: F.context())) == .deny(.default))
    }

    @Test func test_context_availableKeysAndTime() throws {
        let ctx = F.context(certificate: Self.cert, time: 1_795_000_000)
        let keys = try #require(ctx.values(forKey: "iot:Certificate.AvailableKeys"))
        #expect(keys.contains("iot:Certificate.Subject.CommonName") && keys.contains("iot:Certificate.SerialNumber"))
        #expect(ctx.values(forKey: "aws:CurrentTime") == ["2026-11-18T11:06:40Z"])
        #expect(ctx.values(forKey: "AWS:EpochTime") == ["1795000000"])
        #expect(ctx.values(forKey: "aws:PrincipalAccount") == [F.account])
    }
}
