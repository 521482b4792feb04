import ClusterState
import ControlPlane
import Foundation
import IoTTypes
import Testing

@Suite("Tenants and access keys (operator routes)")
struct TenantsAdminTests {
    @Test("create a tenant, issue a key, sign with it, list without secrets, delete it: the key stops working")
    func lifecycle() async {
        let c = Client()
        var a = await c.call("POST", "/cluster/tenants", json: #"{"accountId":"123456789012","name":"Acme"}"#,
                             key: nil)
        #expect(a.status == 200 && a.json["accountId"] as? String == "123456789012")
        a = await c.call("POST", "/cluster/tenants", json: #"{"accountId":"123456789012"}"#, key: nil)
        #expect(a.status == 409 && a.errorType == "ResourceAlreadyExistsException")
        a = await c.call("POST", "/cluster/tenants/123456789012/access-keys", key: nil)
        #expect(a.status == 200)
        let id = a.json["accessKeyId"] as? String ?? ""
        let secret = a.json["secretAccessKey"] as? String ?? ""
        #expect(id.hasPrefix("AKIA") && id.count == 20 && secret.count == 40)
        let key = AccessKey(tenant: TenantID("123456789012"), accessKeyID: id, secretKey: secret, createdAtMs: 0)
        #expect(await c.call("POST", "/things/acme-1", key: key).status == 200)
        let arn = (await c.call("GET", "/things/acme-1", key: key)).json["thingArn"] as? String
        #expect(arn == "arn:aws:iot:us-east-1:123456789012:thing/acme-1")

        let list = await c.call("GET", "/cluster/tenants", key: nil)
        #expect(!list.response.bodyText.contains(secret))
        let tenants = list.json["tenants"] as? [[String: Any]] ?? []
        #expect(tenants.compactMap { $0["accountId"] as? String } == ["000000000000", "123456789012"])
        let keys = await c.call("GET", "/cluster/tenants/123456789012/access-keys", key: nil)
        #expect(!keys.response.bodyText.contains(secret) && keys.response.bodyText.contains(id))

        #expect(await c.call("DELETE", "/cluster/tenants/123456789012/access-keys/\(id)", key: nil).status == 200)
        a = await c.call("GET", "/things/acme-1", key: key)
        #expect(a.status == 403 && a.errorType == "UnrecognizedClientException")
    }

    @Test("bad input: account ids, unknown tenants and keys, from a remote peer")
    func refusals() async {
        let c = Client()
        let cases: [(String, String, String?, Int, String)] = [
            ("POST", "/cluster/tenants", #"{"accountId":"12345"}"#, 400, "InvalidRequestException"),
            ("POST", "/cluster/tenants", #"{"name":"x"}"#, 400, "InvalidRequestException"),
            ("POST", "/cluster/tenants", "{not json", 400, "InvalidRequestException"),
            ("POST", "/cluster/tenants/999999999999/access-keys", nil, 404, "ResourceNotFoundException"),
            ("GET", "/cluster/tenants/999999999999/access-keys", nil, 404, "ResourceNotFoundException"),
            ("POST", "/cluster/tenants/12/access-keys", nil, 400, "InvalidRequestException"),
            ("DELETE", "/cluster/tenants/000000000000/access-keys/AKIANOPE", nil, 404, "ResourceNotFoundException"),
            ("PUT", "/cluster/tenants/000000000000", nil, 404, "UnknownOperationException"),
        ]
        for (method, path, body, status, type) in cases {
            let a = await c.call(method, path, json: body, key: nil)
            #expect(a.status == status && a.errorType == type, "\(method) \(path) → \(a.status) \(a.errorType ?? "")")
        }
        let remote = await c.call("GET", "/cluster/tenants", peer: "10.1.2.3", key: nil)
        #expect(remote.status == 403 && remote.errorType == "AccessDeniedException")
        #expect(c.backend.proposalCount == 2)  // only the key create and delete reached the state; the rest failed in parse
    }
}
