import ClusterState
import ControlPlane
import Foundation
import Testing

/// DescribeEndpoint, server certificate import, domain configurations and tags through the router (the fake
/// backend's clock is 1_700_000_000_000 ms; its tenant is the default, account 000000000000).
@Suite("DomainConfigurationsAPI, ServerCertificatesAPI, TagsAPI")
struct DomainsAndTagsAPITests {
    static let chain = "-----BEGIN CERTIFICATE-----\nBRAND\n-----END CERTIFICATE-----\n"
    static let expiredChain = "-----BEGIN CERTIFICATE-----\nOLD\n-----END CERTIFICATE-----\n"
    static let key = "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n"
    static let sha = "00112233445566778899aabbccddeeff" + String(repeating: "0", count: 32)
    static let certificateId = "00112233-4455-6677-8899-aabbccddeeff"
    static let arn = "arn:aws:acm:us-east-1:000000000000:certificate/\(certificateId)"

    static func json(_ object: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// A client whose backend reads `chain` as a certificate for `*.brand.example` and `brand.example`.
    static func client() -> Client {
        let c = Client()
        c.backend.serverCertificates.withLock {
            $0[chain] = ServerCertificateFacts(sha256Hex: sha, domainNames: ["*.Brand.Example", "brand.example"],
                                               notBeforeMs: 0, notAfterMs: 1_800_000_000_000)
            $0[expiredChain] = ServerCertificateFacts(sha256Hex: String(repeating: "e", count: 64),
                                                      domainNames: ["old.example"], notBeforeMs: 0, notAfterMs: 1)
        }
        return c
    }

    static func imported() async -> Client {
        let c = client()
        let answer = await c.call("POST", "/cluster/server-certificates",
                                  json: json(["certificateChainPem": chain, "privateKeyPem": key]))
        #expect(answer.status == 200, "\(answer.response.bodyText)")
        return c
    }

    static func create(_ c: Client, _ name: String, _ body: [String: Any]) async -> Answer {
        await c.call("POST", "/domainConfigurations/\(name)", json: json(body))
    }

    // MARK: DescribeEndpoint

    @Test("DescribeEndpoint answers AWS's address shape for each type; none is iot:Data; others are 400")
    func describeEndpoint() async {
        let c = Client()
        let prefix = TenantEndpoint.derivedPrefix(for: .default)
        let cases: [(String, String)] = [
            ("", "\(prefix).iot.us-east-1.amazonaws.com"),
            ("?endpointType=iot:Data", "\(prefix).iot.us-east-1.amazonaws.com"),
            ("?endpointType=iot%3AData-ATS", "\(prefix)-ats.iot.us-east-1.amazonaws.com"),
            ("?endpointType=iot:CredentialProvider", "\(prefix).credentials.iot.us-east-1.amazonaws.com"),
            ("?endpointType=iot:Jobs", "\(prefix).jobs.iot.us-east-1.amazonaws.com"),
        ]
        for (query, address) in cases {
            let a = await c.call("GET", "/endpoint" + query)
            #expect(a.status == 200 && a.keys == ["endpointAddress"])
            #expect(a.string("endpointAddress") == address)
        }
        for bad in ["iot:data-ats", "iot:Data-Beta", ""] {
            let a = await c.call("GET", "/endpoint?endpointType=\(bad)")
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(bad)")
        }
        // A prefix set in the state, and the router's endpoint domain.
        _ = c.backend.state.withLock {
            $0.apply(.setTenantEndpointPrefix(tenant: .default, prefix: "acme"), index: $0.lastAppliedIndex + 1)
        }
        var router = c.router
        router.endpointDomain = "flotilla.example"
        let request = APIRequest(method: "GET", target: "/endpoint?endpointType=iot:Data-ATS", body: [],
                                 peerAddress: "127.0.0.1")
        let a = await router.handle(Client.signed(request, key: FakeBackend.defaultKey, region: router.region,
                                                  now: c.backend.nowMs() / 1000))
        #expect(Answer(a).string("endpointAddress") == "acme-ats.iot.us-east-1.flotilla.example")
    }

    // MARK: Server certificates

    @Test("import answers an ACM-shaped ARN; the same pair again answers it again; list and delete")
    func importCertificate() async {
        let c = Self.client()
        let body = Self.json(["certificateChainPem": Self.chain, "privateKeyPem": Self.key])
        let first = await c.call("POST", "/cluster/server-certificates", json: body)
        #expect(first.status == 200)
        #expect(first.string("certificateArn") == Self.arn && first.string("certificateId") == Self.certificateId)
        #expect(first.json["domainNames"] as? [String] == ["*.brand.example", "brand.example"])
        #expect(!first.response.bodyText.contains("PRIVATE"))
        #expect(await c.call("POST", "/cluster/server-certificates", json: body).string("certificateArn") == Self.arn)
        let list = await c.call("GET", "/cluster/server-certificates")
        let rows = list.json["serverCertificates"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["certificateArn"] as? String } == [Self.arn])
        #expect(!list.response.bodyText.contains("PRIVATE"))
        // Another tenant's list is empty.
        let other = await c.call("GET", "/cluster/server-certificates?tenant=111111111111")
        #expect((other.json["serverCertificates"] as? [Any])?.isEmpty == true)
        let encoded = Self.arn.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(await c.call("DELETE", "/cluster/server-certificates/\(encoded)").status == 200)
        let gone = await c.call("DELETE", "/cluster/server-certificates/\(Self.certificateId)")
        #expect(gone.status == 404 && gone.errorType == "ResourceNotFoundException")
    }

    @Test("import refusals: unreadable → 400 InvalidRequest; wrong key, expired → 400 CertificateValidation")
    func importRefusals() async {
        let c = Self.client()
        let cases: [([String: String], String)] = [
            (["certificateChainPem": "junk", "privateKeyPem": Self.key], "InvalidRequestException"),
            (["certificateChainPem": Self.chain], "InvalidRequestException"),
            (["certificateChainPem": Self.chain, "privateKeyPem": "WRONG"], "CertificateValidationException"),
            (["certificateChainPem": Self.expiredChain, "privateKeyPem": Self.key], "CertificateValidationException"),
        ]
        for (body, type) in cases {
            let a = await c.call("POST", "/cluster/server-certificates", json: Self.json(body))
            #expect(a.status == 400 && a.errorType == type, "\(body.keys.sorted()) \(a.response.bodyText)")
        }
        #expect(await c.call("POST", "/cluster/server-certificates?tenant=12", json: "{}").status == 400)
        #expect(c.backend.proposalCount == 0)
    }

    // MARK: Domain configurations

    @Test("create, describe, list, update, delete: the model's members")
    func lifecycle() async {
        let c = await Self.imported()
        let created = await Self.create(c, "brand", [
            "domainName": "mqtt.brand.example", "serverCertificateArns": [Self.arn],
            "authorizerConfig": ["defaultAuthorizerName": "auth", "allowAuthorizerOverride": true],
            "serviceType": "DATA", "tlsConfig": ["securityPolicy": "IoTSecurityPolicy_TLS13_1_2_2022_10"],
            "validationCertificateArn": Self.arn,
            "tags": [["Key": "env", "Value": "prod"]],
        ])
        #expect(created.status == 200, "\(created.response.bodyText)")
        #expect(created.keys == ["domainConfigurationArn", "domainConfigurationName"])
        let domainArn = "arn:aws:iot:us-east-1:000000000000:domainconfiguration/brand"
        #expect(created.string("domainConfigurationArn") == domainArn)
        // Served like an admin-made configuration.
        let served = c.backend.read { $0.enabledDomainConfigurations()["mqtt.brand.example"] }
        #expect(served?.serverCertificateChainPEM == Self.chain && served?.privateKeyPEM == Self.key)

        let d = await c.call("GET", "/domainConfigurations/brand")
        #expect(d.keys == ["authorizerConfig", "domainConfigurationArn", "domainConfigurationName",
                           "domainConfigurationStatus", "domainName", "domainType", "lastStatusChangeDate",
                           "serverCertificates", "serviceType", "tlsConfig"])
        #expect(d.string("domainConfigurationStatus") == "ENABLED" && d.string("domainType") == "CUSTOMER_MANAGED")
        #expect(d.json["lastStatusChangeDate"] as? Double == 1_700_000_000)
        #expect(d.json["serverCertificates"] as? [[String: String]]
            == [["serverCertificateArn": Self.arn, "serverCertificateStatus": "VALID"]])
        let authorizer = d.json["authorizerConfig"] as? [String: Any]
        #expect(authorizer?["defaultAuthorizerName"] as? String == "auth")
        #expect(authorizer?["allowAuthorizerOverride"] as? Bool == true && authorizer?.count == 2)

        let list = await c.call("GET", "/domainConfigurations?serviceType=DATA")
        #expect(list.json["domainConfigurations"] as? [[String: String]] == [[
            "domainConfigurationName": "brand", "domainConfigurationArn": domainArn, "serviceType": "DATA",
        ]])
        let tags = await c.call("GET", "/tags?resourceArn=\(domainArn)")
        #expect(tags.json["tags"] as? [[String: String]] == [["Key": "env", "Value": "prod"]])

        // AWS: delete only once DISABLED.
        let refused = await c.call("DELETE", "/domainConfigurations/brand")
        #expect(refused.status == 400 && refused.errorType == "InvalidRequestException")
        let updated = await c.call("PUT", "/domainConfigurations/brand",
                                   json: #"{"domainConfigurationStatus":"DISABLED","removeAuthorizerConfig":true}"#)
        #expect(updated.status == 200 && updated.string("domainConfigurationArn") == domainArn)
        #expect(c.backend.read { $0.enabledDomainConfigurations().isEmpty })
        let after = await c.call("GET", "/domainConfigurations/brand")
        #expect(after.string("domainConfigurationStatus") == "DISABLED" && after.json["authorizerConfig"] == nil)
        #expect(await c.call("DELETE", "/domainConfigurations/brand").status == 200)
        let gone = await c.call("GET", "/domainConfigurations/brand")
        #expect(gone.status == 404 && gone.errorType == "ResourceNotFoundException")
        #expect(await c.call("GET", "/tags?resourceArn=\(domainArn)").status == 404)
    }

    static let createRefusalCases: [(String, Int, String)] = ([
        (["serverCertificateArns": [arn]], 400, "InvalidRequestException"),  // no domainName
        (["domainName": "a.brand.example"], 400, "InvalidRequestException"),  // no certificate
        (["domainName": "a.brand.example", "serverCertificateArns": [arn, arn]], 400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": ["arn:aws:iot:us-east-1:000000000000:cert/x"]],
         400, "InvalidRequestException"),
        (["domainName": "a.brand.example",
          "serverCertificateArns": ["arn:aws:acm:us-east-1:111111111111:certificate/\(certificateId)"]],
         400, "InvalidRequestException"),  // another account's
        (["domainName": "a.brand.example",
          "serverCertificateArns": ["arn:aws:acm:us-east-1:000000000000:certificate/0000"]],
         400, "InvalidRequestException"),  // never imported
        (["domainName": "a.b.brand.example", "serverCertificateArns": [arn]], 400, "CertificateValidationException"),
        (["domainName": "iot.other.example", "serverCertificateArns": [arn]], 400, "CertificateValidationException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn], "serviceType": "JOBS"],
         400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn], "serviceType": "NOPE"],
         400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn], "authenticationType": "X"],
         400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn],
          "serverCertificateConfig": ["enableOCSPCheck": true]], 400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn],
          "authorizerConfig": ["defaultAuthorizerName": "bad name"]], 400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn], "tags": [["Key": "aws:x"]]],
         400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn], "validationCertificateArn": "nope"],
         400, "InvalidRequestException"),
        (["domainName": "a.brand.example", "serverCertificateArns": [arn],
          "tags": (0...50).map { ["Key": "k\($0)"] }], 410, "LimitExceededException"),
    ] as [([String: Any], Int, String)]).map { (json($0.0), $0.1, $0.2) }

    @Test("create refusals: each with the model's error type and status", arguments: createRefusalCases)
    func createRefusals(body: String, status: Int, type: String) async {
        let c = await Self.imported()
        let a = await c.call("POST", "/domainConfigurations/d1", json: body)
        #expect(a.status == status && a.errorType == type, "\(a.response.bodyText)")
        #expect(c.backend.read { $0.domainConfiguration(tenant: .default, name: "d1") } == nil)
    }

    @Test("names, duplicates, updates and lists: errors as the model says")
    func otherRefusals() async {
        let c = await Self.imported()
        let body: [String: Any] = ["domainName": "a.brand.example", "serverCertificateArns": [Self.arn]]
        #expect(await Self.create(c, "d1", body).status == 200)
        let again = await Self.create(c, "d1", ["domainName": "b.brand.example", "serverCertificateArns": [Self.arn]])
        #expect(again.status == 409 && again.errorType == "ResourceAlreadyExistsException")
        let taken = await Self.create(c, "d2", body)
        #expect(taken.status == 409 && taken.errorType == "ResourceAlreadyExistsException")
        let badName = await Self.create(c, "bad:name", body)
        #expect(badName.status == 400 && badName.errorType == "InvalidRequestException")
        let reserved = await c.call("GET", "/domainConfigurations/iot:Data-ATS")
        #expect(reserved.status == 404 && reserved.errorType == "ResourceNotFoundException")
        let both = await c.call("PUT", "/domainConfigurations/d1",
                                json: #"{"removeAuthorizerConfig":true,"authorizerConfig":{"defaultAuthorizerName":"a"}}"#)
        #expect(both.status == 400 && both.errorType == "InvalidRequestException")
        let badStatus = await c.call("PUT", "/domainConfigurations/d1", json: #"{"domainConfigurationStatus":"OFF"}"#)
        #expect(badStatus.status == 400 && badStatus.errorType == "InvalidRequestException")
        let missing = await c.call("PUT", "/domainConfigurations/nope", json: #"{"domainConfigurationStatus":"DISABLED"}"#)
        #expect(missing.status == 404 && missing.errorType == "ResourceNotFoundException")
        let deleteMissing = await c.call("DELETE", "/domainConfigurations/nope")
        #expect(deleteMissing.status == 404 && deleteMissing.errorType == "ResourceNotFoundException")
        for query in ["pageSize=0", "pageSize=251", "marker=zz", "serviceType=X"] {
            let a = await c.call("GET", "/domainConfigurations?\(query)")
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(query)")
        }
        // The certificate is in use: 409 DeleteConflictException.
        let inUse = await c.call("DELETE", "/cluster/server-certificates/\(Self.certificateId)")
        #expect(inUse.status == 409 && inUse.errorType == "DeleteConflictException")
    }

    @Test("list pages with marker and pageSize, in name order")
    func listPages() async {
        let c = await Self.imported()
        for n in ["c", "a", "b"] {
            _ = await Self.create(c, n, ["domainName": "\(n).brand.example", "serverCertificateArns": [Self.arn]])
        }
        let first = await c.call("GET", "/domainConfigurations?pageSize=2")
        let names = (first.json["domainConfigurations"] as? [[String: String]] ?? []).map { $0["domainConfigurationName"] }
        #expect(names == ["a", "b"])
        let marker = first.string("nextMarker") ?? ""
        let second = await c.call("GET", "/domainConfigurations?pageSize=2&marker=\(marker)")
        #expect((second.json["domainConfigurations"] as? [[String: String]] ?? []).map { $0["domainConfigurationName"] }
            == ["c"])
        #expect(second.json["nextMarker"] == nil)
        let jobs = await c.call("GET", "/domainConfigurations?serviceType=JOBS")
        #expect((jobs.json["domainConfigurations"] as? [Any])?.isEmpty == true)
    }

    // MARK: Tags

    static let thingArn = "arn:aws:iot:us-east-1:000000000000:thing/t1"
    static let policyArn = "arn:aws:iot:us-east-1:000000000000:policy/p1"

    static func tagged() async -> Client {
        let c = Client()
        _ = await c.call("POST", "/things/t1", json: "{}")
        let doc = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
        let p = await c.call("POST", "/policies/p1", json: json(["policyDocument": doc,
                                                                 "tags": [["Key": "team", "Value": "ops"]]]))
        #expect(p.status == 200)
        return c
    }

    @Test("tag, list, untag on a thing and a policy (CreatePolicy's tags included)")
    func tagLifecycle() async {
        let c = await Self.tagged()
        let listed = await c.call("GET", "/tags?resourceArn=\(Self.policyArn)")
        #expect(listed.status == 200 && listed.keys == ["tags"])
        #expect(listed.json["tags"] as? [[String: String]] == [["Key": "team", "Value": "ops"]])
        let tag = await c.call("POST", "/tags", json: Self.json([
            "resourceArn": Self.thingArn, "tags": [["Key": "b", "Value": "2"], ["Key": "a"]],
        ]))
        #expect(tag.status == 200 && tag.json.isEmpty)
        let thingTags = await c.call("GET", "/tags?resourceArn=\(Self.thingArn.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        #expect(thingTags.json["tags"] as? [[String: String]] == [["Key": "a", "Value": ""], ["Key": "b", "Value": "2"]])
        let untag = await c.call("POST", "/untag", json: Self.json(["resourceArn": Self.thingArn, "tagKeys": ["a"]]))
        #expect(untag.status == 200)
        #expect(await c.call("GET", "/tags?resourceArn=\(Self.thingArn)").json["tags"] as? [[String: String]]
            == [["Key": "b", "Value": "2"]])
        // Deleting the thing deletes its tags; the ARN is then not found.
        _ = await c.call("DELETE", "/things/t1")
        let gone = await c.call("GET", "/tags?resourceArn=\(Self.thingArn)")
        #expect(gone.status == 404 && gone.errorType == "ResourceNotFoundException")
    }

    @Test("tag refusals: the model's error types and statuses", arguments: [
        ("POST", "/tags", #"{"tags":[{"Key":"k","Value":"v"}]}"#, 400, "InvalidRequestException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:thing/t1"}"#, 400, "InvalidRequestException"),
        ("POST", "/tags", #"{"resourceArn":"not-an-arn","tags":[]}"#, 400, "InvalidRequestException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:thing/t1","tags":[{"Key":"aws:k"}]}"#,
         400, "InvalidRequestException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:thing/t1","tags":[{"Value":"v"}]}"#,
         400, "InvalidRequestException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:thing/nope","tags":[{"Key":"k"}]}"#,
         404, "ResourceNotFoundException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:us-east-1:111111111111:thing/t1","tags":[{"Key":"k"}]}"#,
         404, "ResourceNotFoundException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:eu-west-1:000000000000:thing/t1","tags":[{"Key":"k"}]}"#,
         404, "ResourceNotFoundException"),
        ("POST", "/tags", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:rule/r","tags":[{"Key":"k"}]}"#,
         404, "ResourceNotFoundException"),
        ("POST", "/untag", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:thing/t1"}"#, 400, "InvalidRequestException"),
        ("POST", "/untag", #"{"resourceArn":"arn:aws:iot:us-east-1:000000000000:thing/nope","tagKeys":["k"]}"#,
         404, "ResourceNotFoundException"),
        ("GET", "/tags", "", 400, "InvalidRequestException"),
        ("GET", "/tags?resourceArn=arn:aws:iot:us-east-1:000000000000:thing/t1&nextToken=zz", "", 400,
         "InvalidRequestException"),
        ("GET", "/tags?resourceArn=arn:aws:iot:us-east-1:000000000000:policy/nope", "", 404, "ResourceNotFoundException"),
        ("DELETE", "/tags", "", 404, "UnknownOperationException"),
    ] as [(String, String, String, Int, String)])
    func tagRefusals(method: String, target: String, body: String, status: Int, type: String) async {
        let c = await Self.tagged()
        let a = await c.call(method, target, json: body.isEmpty ? nil : body)
        #expect(a.status == status && a.errorType == type, "\(a.response.bodyText)")
        #expect(c.backend.read { $0.tags(tenant: .default, resource: "thing/t1") }.isEmpty)
    }

    @Test("at most 50 tags: the 51st is 410 LimitExceededException")
    func tagLimit() async {
        let c = await Self.tagged()
        let fifty = (0..<50).map { ["Key": "k\($0)", "Value": "v"] }
        #expect(await c.call("POST", "/tags", json: Self.json(["resourceArn": Self.thingArn, "tags": fifty])).status == 200)
        let more = await c.call("POST", "/tags", json: Self.json(["resourceArn": Self.thingArn,
                                                                  "tags": [["Key": "extra"]]]))
        #expect(more.status == 410 && more.errorType == "LimitExceededException")
        let listed = await c.call("GET", "/tags?resourceArn=\(Self.thingArn)")
        #expect((listed.json["tags"] as? [Any])?.count == 50 && listed.json["nextToken"] == nil)
        let createTooMany = await c.call("POST", "/policies/p2", json: Self.json([
            "policyDocument": #"{"Version":"2012-10-17","Statement":[]}"#,
            "tags": (0...50).map { ["Key": "k\($0)"] },
        ]))
        // The model gives CreatePolicy no LimitExceededException; CreateDomainConfiguration has one.
        #expect(createTooMany.status == 400 && createTooMany.errorType == "InvalidRequestException")
        #expect(c.backend.read { $0.policy(tenant: .default, name: "p2") } == nil)
    }
}
