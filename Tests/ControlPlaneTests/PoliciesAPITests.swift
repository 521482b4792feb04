import ControlPlane
import Foundation
import Testing

@Suite("PoliciesAPI")
struct PoliciesAPITests {
    static let doc = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
    static let cert = "arn:aws:iot:us-east-1:000000000000:cert/" + String(repeating: "ab", count: 32)

    static func body(_ document: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: ["policyDocument": document]), as: UTF8.self)
    }

    @Test("create, get, version, attach, list: the model's members")
    func happyPath() async {
        let c = Client()
        let created = await c.call("POST", "/policies/p1", json: Self.body(Self.doc))
        #expect(created.status == 200)
        #expect(created.keys == ["policyArn", "policyDocument", "policyName", "policyVersionId"])
        #expect(created.string("policyVersionId") == "1")
        let v2 = await c.call("POST", "/policies/p1/version?setAsDefault=true", json: Self.body(Self.doc))
        #expect(v2.string("policyVersionId") == "2" && v2.json["isDefaultVersion"] as? Bool == true)
        let got = await c.call("GET", "/policies/p1")
        #expect(got.keys == ["creationDate", "defaultVersionId", "generationId", "lastModifiedDate", "policyArn",
                             "policyDocument", "policyName"])
        #expect(got.string("defaultVersionId") == "2")
        #expect(await c.call("PUT", "/target-policies/p1", json: #"{"target":"\#(Self.cert)"}"#).status == 200)
        let encoded = Self.cert.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let attached = await c.call("POST", "/attached-policies/\(encoded)")
        #expect((attached.json["policies"] as? [[String: String]])?.map { $0["policyName"] } == ["p1"])
        let targets = await c.call("POST", "/policy-targets/p1")
        #expect(targets.json["targets"] as? [String] == [Self.cert])
        _ = await c.call("POST", "/things/t1", json: "{}")
        #expect(await c.call("PUT", "/things/t1/principals", headers: ["x-amzn-principal": Self.cert]).status == 200)
        #expect(await c.call("GET", "/things/t1/principals").json["principals"] as? [String] == [Self.cert])
        #expect(await c.call("GET", "/principals/things", headers: ["x-amzn-principal": Self.cert])
            .json["things"] as? [String] == ["t1"])
    }

    @Test("bad requests get the model's error shapes", arguments: [
        ("POST", "/policies/p", #"{"policyDocument":"nope"}"#, 400, "MalformedPolicyException"),
        ("POST", "/policies/p", "{}", 400, "InvalidRequestException"),
        ("POST", "/policies/p", "not json", 400, "InvalidRequestException"),
        ("POST", "/policies/bad%20name", #"{"policyDocument":"{\"Statement\":[]}"}"#, 400, "InvalidRequestException"),
        ("GET", "/policies/missing", nil, 404, "ResourceNotFoundException"),
        ("DELETE", "/policies/missing", nil, 404, "ResourceNotFoundException"),
        ("GET", "/policies/p/version/abc", nil, 400, "InvalidRequestException"),
        ("GET", "/policies/p/version/0", nil, 400, "InvalidRequestException"),
        ("PATCH", "/policies/missing/version/1", nil, 404, "ResourceNotFoundException"),
        ("POST", "/policies/p/version?setAsDefault=maybe", #"{"policyDocument":"{\"Statement\":[]}"}"#, 400,
         "InvalidRequestException"),
        ("GET", "/policies?pageSize=0", nil, 400, "InvalidRequestException"),
        ("GET", "/policies?marker=zz", nil, 400, "InvalidRequestException"),
        ("PUT", "/target-policies/p", "{}", 400, "InvalidRequestException"),
        ("PUT", "/target-policies/missing", #"{"target":"arn:x"}"#, 404, "ResourceNotFoundException"),
        ("PUT", "/things/t1/principals", nil, 400, "InvalidRequestException"),
        ("GET", "/principals/things", nil, 400, "InvalidRequestException"),
        ("GET", "/things/missing/principals", nil, 404, "ResourceNotFoundException"),
        ("PUT", "/policies/p", nil, 404, "UnknownOperationException"),
    ] as [(String, String, String?, Int, String)])
    func refusals(method: String, target: String, json: String?, status: Int, type: String) async {
        let c = Client()
        let answer = await c.call(method, target, json: json)
        #expect(answer.status == status, "\(answer.response.bodyText)")
        #expect(answer.errorType == type)
        #expect(!answer.message.isEmpty)
    }
}
