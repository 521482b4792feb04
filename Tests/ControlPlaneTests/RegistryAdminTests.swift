import ClusterState
import ControlPlane
import Foundation
import IoTTypes
import Testing

/// A PEM whose body is base64 of `der` in 64-character lines (not a real X.509 certificate: the fake backend maps
/// these PEMs to fixed ids; real ids come from OpenSSL in the shell and are tested in TLSTests and test_10_mqtts).
func fakePEM(_ der: [UInt8]) -> String {
    let b64 = Data(der).base64EncodedString()
    var lines: [String] = []
    var rest = Substring(b64)
    while !rest.isEmpty {
        lines.append(String(rest.prefix(64)))
        rest = rest.dropFirst(64)
    }
    return "-----BEGIN CERTIFICATE-----\n" + lines.joined(separator: "\n") + "\n-----END CERTIFICATE-----\n"
}

let deviceDER = [UInt8]((0..<768).map { UInt8($0 % 256) })
let deviceID = "f3a25aa93aa2fbba28d79260535bbd6a5eb0fc1c24a8b0f04e12b484c1dfe363"
let caDER: [UInt8] = Array("a CA certificate".utf8)
let caID = String(repeating: "c", count: 63) + "a"

/// What `FakeBackend.certificateID(pem:)` answers: the id of the first certificate of a known PEM.
let fakeCertificateIDs: [String: String] = [fakePEM(deviceDER): deviceID, fakePEM(caDER): caID]

func jsonString(_ s: String) -> String {
    String(decoding: try! JSONEncoder().encode(s), as: UTF8.self)
}

@Suite("Admin registry routes")
struct RegistryAdminTests {
    static let domainBody = #"{"domainConfigurationName":"main","domainName":"IoT.Acme.Example","#
        + #""serverCertificateChainPem":"CHAIN","privateKeyPem":"TOPSECRET","defaultAuthorizerName":"au"}"#

    @Test("domains: create (domain name lower-cased), list without the key, duplicate → 409, delete, missing → 404")
    func domains() async {
        let c = Client()
        var a = await c.call("POST", "/cluster/domains", json: Self.domainBody)
        #expect(a.status == 200, "\(a.response.bodyText)")
        #expect(a.response.bodyText == #"{"domainConfigurationName":"main","domainName":"iot.acme.example","status":"ENABLED"}"#)
        #expect(c.backend.read { $0.domainConfiguration(tenant: .default, name: "main")?.createdAtMs }
            == 1_700_000_000_000)
        a = await c.call("GET", "/cluster/domains")
        #expect(a.status == 200 && !a.response.bodyText.contains("TOPSECRET") && !a.response.bodyText.contains("CHAIN"))
        let rows = a.json["domainConfigurations"] as? [[String: Any]] ?? []
        #expect(rows.count == 1 && rows.first?["domainName"] as? String == "iot.acme.example")
        #expect(rows.first?["defaultAuthorizerName"] as? String == "au")
        a = await c.call("POST", "/cluster/domains?tenant=222222222222",
                         json: Self.domainBody.replacingOccurrences(of: #""main""#, with: #""other""#))
        #expect(a.status == 409 && a.errorType == "ResourceAlreadyExistsException", "\(a.response.bodyText)")  // global
        a = await c.call("GET", "/cluster/domains?tenant=222222222222")
        #expect(a.response.bodyText == #"{"domainConfigurations":[]}"#)
        a = await c.call("DELETE", "/cluster/domains/main?tenant=222222222222")
        #expect(a.status == 404 && a.errorType == "ResourceNotFoundException")
        a = await c.call("DELETE", "/cluster/domains/main")
        #expect(a.status == 200)
        #expect(c.backend.read { $0.domainConfigurations(tenant: .default) }.isEmpty)
    }

    @Test("bad domain and certificate requests are 400 and propose nothing")
    func badRequests() async {
        let c = Client()
        let bad: [(String, String, String?)] = [
            ("POST", "/cluster/domains", "{}"),
            ("POST", "/cluster/domains", Self.domainBody.replacingOccurrences(of: "IoT.Acme.Example", with: "*.com")),
            ("POST", "/cluster/domains", Self.domainBody.replacingOccurrences(of: #""au"}"#, with: #""au","status":"ON"}"#)),
            ("POST", "/cluster/domains?tenant=12", Self.domainBody),
            ("POST", "/cluster/certificates", "{}"),
            ("POST", "/cluster/certificates", #"{"certificatePem":"not a pem"}"#),
            ("POST", "/cluster/certificates", #"{"certificatePem":\#(jsonString(fakePEM(deviceDER))),"status":"ON"}"#),
            ("POST", "/cluster/ca-certificates", #"{"caCertificatePem":\#(jsonString(fakePEM(caDER))),"status":"REVOKED"}"#),
            ("PUT", "/cluster/certificates/\(deviceID)", nil),
            ("PUT", "/cluster/certificates/\(deviceID)?newStatus=GONE", nil),
        ]
        for (method, target, body) in bad {
            let a = await c.call(method, target, json: body)
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(method) \(target) → \(a.response.bodyText)")
        }
        #expect(c.backend.proposalCount == 0)
        #expect(await c.call("PATCH", "/cluster/domains").status == 404)
    }

    @Test("certificates: the node computes the id (the backend's); register with a CA, list, status changes, AWS state rules")
    func certificates() async {
        let c = Client()
        var a = await c.call("POST", "/cluster/ca-certificates",
                             json: #"{"caCertificatePem":\#(jsonString(fakePEM(caDER)))}"#)
        #expect(a.status == 200 && a.string("certificateId") == caID && a.string("status") == "ACTIVE")
        a = await c.call("POST", "/cluster/certificates",
                         json: #"{"certificatePem":\#(jsonString(fakePEM(deviceDER))),"caCertificateId":"\#(caID.uppercased())"}"#)
        #expect(a.status == 200 && a.string("certificateId") == deviceID, "\(a.response.bodyText)")
        #expect(c.backend.read { $0.certificate(tenant: .default, id: deviceID)?.caCertificateId } == caID)
        a = await c.call("POST", "/cluster/certificates", json: #"{"certificatePem":\#(jsonString(fakePEM(deviceDER)))}"#)
        #expect(a.status == 409)
        a = await c.call("GET", "/cluster/certificates")
        let certs = a.json["certificates"] as? [[String: Any]] ?? []
        let cas = a.json["caCertificates"] as? [[String: Any]] ?? []
        #expect(certs.map { $0["certificateId"] as? String } == [deviceID])
        #expect(cas.map { $0["certificateId"] as? String } == [caID])
        // Deleting is not exposed yet; state rules show through updates: REVOKED is final (406).
        a = await c.call("PUT", "/cluster/certificates/\(deviceID)?newStatus=REVOKED")
        #expect(a.status == 200)
        a = await c.call("PUT", "/cluster/certificates/\(deviceID.uppercased())?newStatus=ACTIVE")
        #expect(a.status == 406 && a.errorType == "CertificateStateException")
        a = await c.call("PUT", "/cluster/ca-certificates/\(caID)?newStatus=INACTIVE")
        #expect(a.status == 200)
        #expect(c.backend.read { $0.caCertificate(tenant: .default, id: caID)?.status } == .inactive)
        a = await c.call("PUT", "/cluster/certificates/\(String(repeating: "e", count: 64))?newStatus=INACTIVE")
        #expect(a.status == 404)
        // Another tenant sees none of it.
        a = await c.call("GET", "/cluster/certificates?tenant=222222222222")
        #expect(a.response.bodyText == #"{"caCertificates":[],"certificates":[]}"#)
        // Loopback only, like every route.
        #expect(await c.call("GET", "/cluster/certificates", peer: "10.0.0.1").status == 403)
    }
}
