import ClusterState
import ControlPlane
import IoTTypes
import Testing

/// The things API against the botocore `iot` model: routes, members, JSON keys, statuses and error shapes.
@Suite("ThingsAPI")
struct ThingsAPITests {
    @Test("CreateThing → thingName, thingArn, thingId; DescribeThing → the model's members; nowMs from the shell")
    func createAndDescribe() async {
        let c = Client(region: "eu-west-1")
        _ = await c.call("POST", "/thing-types/Lamp")
        let created = await c.call("POST", "/things/lamp-1",
                                   json: #"{"thingTypeName":"Lamp","attributePayload":{"attributes":{"room":"k"}}}"#)
        #expect(created.status == 200)
        #expect(created.response.headers["content-type"] == "application/json")
        #expect(created.keys == ["thingArn", "thingId", "thingName"])
        #expect(created.string("thingName") == "lamp-1")
        #expect(created.string("thingArn") == "arn:aws:iot:eu-west-1:000000000000:thing/lamp-1")
        let id = created.string("thingId") ?? ""
        #expect(id.count == 36 && id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])

        let described = await c.call("GET", "/things/lamp-1")
        #expect(described.status == 200)
        #expect(described.keys == ["attributes", "defaultClientId", "thingArn", "thingId", "thingName",
                                   "thingTypeName", "version"])
        #expect(described.string("defaultClientId") == "lamp-1")
        #expect(described.string("thingId") == id)
        #expect(described.string("thingTypeName") == "Lamp")
        #expect(described.attributes == ["room": "k"])
        #expect(described.int("version") == 1)
        #expect(c.backend.read { $0.thing(tenant: .default, name: "lamp-1")?.createdAtMs } == c.backend.clock)

        // No type, no attributes: thingTypeName is absent, attributes is {}.
        #expect(await c.call("POST", "/things/bare").status == 200)
        let bare = await c.call("GET", "/things/bare")
        #expect(bare.keys == ["attributes", "defaultClientId", "thingArn", "thingId", "thingName", "version"])
        #expect(bare.response.bodyText.contains(#""attributes":{}"#))
    }

    @Test("CreateThing is idempotent for the same configuration, else 409 with resourceId and resourceArn")
    func createIdempotent() async {
        let c = Client()
        let body = #"{"attributePayload":{"attributes":{"a":"1"}}}"#
        let first = await c.call("POST", "/things/t", json: body)
        let again = await c.call("POST", "/things/t", json: body)
        #expect(again.status == 200)
        #expect(again.string("thingId") == first.string("thingId"))
        let other = await c.call("POST", "/things/t", json: #"{"attributePayload":{"attributes":{"a":"2"}}}"#)
        #expect(other.status == 409)
        #expect(other.errorType == "ResourceAlreadyExistsException")
        #expect(other.keys == ["message", "resourceArn", "resourceId"])
        #expect(other.string("resourceId") == first.string("thingId"))
        #expect(other.string("resourceArn") == "arn:aws:iot:us-east-1:000000000000:thing/t")
    }

    @Test("invalid thing names are 400 InvalidRequestException on every route, and nothing is proposed",
          arguments: ["bad%20name", "a%2Fb", "%C3%A9", String(repeating: "n", count: 129)])
    func invalidNames(_ label: String) async {
        let c = Client()
        for method in ["POST", "GET", "PATCH", "DELETE"] {
            let a = await c.call(method, "/things/\(label)", json: method == "PATCH" ? "{}" : nil)
            #expect(a.status == 400, "\(method) \(label)")
            #expect(a.errorType == "InvalidRequestException")
            #expect(a.message.contains("thingName"))
        }
        #expect(c.backend.proposalCount == 0)
    }

    @Test("labels are percent-decoded after splitting; malformed escapes are 400")
    func percentDecoding() async {
        let c = Client()
        #expect(await c.call("POST", "/things/a%3Ab").status == 200)
        #expect(await c.call("GET", "/things/a:b").string("thingName") == "a:b")
        let bad = await c.call("GET", "/things/a%zz")
        #expect(bad.status == 400 && bad.errorType == "InvalidRequestException")
    }

    @Test("DescribeThing of a missing thing: 404 ResourceNotFoundException")
    func describeMissing() async {
        let a = await Client().call("GET", "/things/ghost")
        #expect(a.status == 404)
        #expect(a.errorType == "ResourceNotFoundException")
        #expect(a.keys == ["message"])
        #expect(a.message == "Thing ghost cannot be found.")
    }

    @Test("UpdateThing: merge (empty deletes), replace, types, expectedVersion → 409 VersionConflictException")
    func update() async {
        let c = Client()
        _ = await c.call("POST", "/things/t", json: #"{"attributePayload":{"attributes":{"a":"1","b":"2"}}}"#)
        _ = await c.call("POST", "/thing-types/T")
        var a = await c.call("PATCH", "/things/t",
                             json: #"{"attributePayload":{"attributes":{"a":"","c":"3"},"merge":true}}"#)
        #expect(a.status == 200 && a.response.bodyText == "{}")
        #expect(await c.call("GET", "/things/t").attributes == ["b": "2", "c": "3"])

        a = await c.call("PATCH", "/things/t", json: #"{"attributePayload":{"attributes":{"z":"9"}},"expectedVersion":2}"#)
        #expect(a.status == 200)
        var d = await c.call("GET", "/things/t")
        #expect(d.attributes == ["z": "9"] && d.int("version") == 3)

        a = await c.call("PATCH", "/things/t", json: #"{"thingTypeName":"T"}"#)
        #expect(await c.call("GET", "/things/t").string("thingTypeName") == "T")
        a = await c.call("PATCH", "/things/t", json: #"{"removeThingType":true}"#)
        d = await c.call("GET", "/things/t")
        #expect(d.string("thingTypeName") == nil && d.int("version") == 5)
        // An empty update still bumps the version (AWS does too); attributes untouched.
        #expect(await c.call("PATCH", "/things/t").status == 200)
        #expect(await c.call("GET", "/things/t").attributes == ["z": "9"])

        a = await c.call("PATCH", "/things/t", json: #"{"expectedVersion":1,"thingTypeName":"T"}"#)
        #expect(a.status == 409 && a.errorType == "VersionConflictException")
        #expect(a.message == "The version for thing t does not match the expected version.")
        a = await c.call("PATCH", "/things/t", json: #"{"thingTypeName":"T","removeThingType":true}"#)
        #expect(a.status == 400 && a.errorType == "InvalidRequestException")
        a = await c.call("PATCH", "/things/ghost", json: "{}")
        #expect(a.status == 404 && a.errorType == "ResourceNotFoundException")
    }

    @Test("DeleteThing: 200 {} (also when missing), ?expectedVersion conflicts → 409, non-numeric → 400")
    func delete() async {
        let c = Client()
        _ = await c.call("POST", "/things/t")
        var a = await c.call("DELETE", "/things/t?expectedVersion=7")
        #expect(a.status == 409 && a.errorType == "VersionConflictException")
        a = await c.call("DELETE", "/things/t?expectedVersion=x")
        #expect(a.status == 400 && a.errorType == "InvalidRequestException")
        a = await c.call("DELETE", "/things/t?expectedVersion=1")
        #expect(a.status == 200 && a.response.bodyText == "{}")
        #expect(await c.call("GET", "/things/t").status == 404)
        #expect(await c.call("DELETE", "/things/t").status == 200)
    }

    @Test("request bodies: bad JSON, wrong types, too many attributes, a billing group → the model's errors")
    func bodies() async {
        let c = Client()
        for body in ["{", "[1]", #"{"thingTypeName":7}"#, #"{"attributePayload":{"attributes":["a"]}}"#,
                     #"{"attributePayload":{"attributes":{"a":1}}}"#, #"{"thingTypeName":"bad type"}"#,
                     #"{"attributePayload":{"attributes":{"bad name":"v"}}}"#] {
            let a = await c.call("POST", "/things/t", json: body)
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(body) → \(a.response.bodyText)")
        }
        #expect(c.backend.proposalCount == 0)
        // Four attributes without a type: refused by the state machine (AWS: at most 3 without a type).
        let four = #"{"attributePayload":{"attributes":{"a":"1","b":"2","c":"3","d":"4"}}}"#
        var a = await c.call("POST", "/things/t", json: four)
        #expect(a.status == 400 && a.errorType == "InvalidRequestException" && a.message.contains("at most 3"))
        a = await c.call("POST", "/things/t", json: #"{"billingGroupName":"g"}"#)
        #expect(a.status == 404 && a.errorType == "ResourceNotFoundException")
        // PATCH with a bad expectedVersion type.
        _ = await c.call("POST", "/things/u")
        a = await c.call("PATCH", "/things/u", json: #"{"expectedVersion":"1"}"#)
        #expect(a.status == 400 && a.message.contains("expectedVersion"))
    }

    @Test("ListThings pages in name order with nextToken; the CLI's loop ends when the token is absent")
    func pagination() async {
        let c = Client()
        for name in ["e", "a", "d", "c", "b"] { _ = await c.call("POST", "/things/\(name)") }
        var seen: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let a = await c.call("GET", "/things?maxResults=2" + (token.map { "&nextToken=\($0)" } ?? ""))
            #expect(a.status == 200)
            #expect(a.thingNames.count <= 2)
            seen += a.thingNames
            token = a.string("nextToken")
            pages += 1
        } while token != nil && pages < 10
        #expect(seen == ["a", "b", "c", "d", "e"])
        #expect(pages == 3)

        let all = await c.call("GET", "/things")
        #expect(all.keys == ["things"])  // no nextToken member on the last page
        let first = (all.json["things"] as? [[String: Any]])?.first ?? [:]
        #expect(first.keys.sorted() == ["attributes", "thingArn", "thingName", "version"])

        // A token stays valid when its thing is deleted.
        let page1 = await c.call("GET", "/things?maxResults=2")
        _ = await c.call("DELETE", "/things/b")
        let page2 = await c.call("GET", "/things?maxResults=2&nextToken=\(page1.string("nextToken")!)")
        #expect(page2.thingNames == ["c", "d"])
    }

    @Test("ListThings filters: attribute name/value (exact or prefix), thing type; bad parameters → 400")
    func listFilters() async {
        let c = Client()
        _ = await c.call("POST", "/things/a", json: #"{"attributePayload":{"attributes":{"room":"kitchen"}}}"#)
        _ = await c.call("POST", "/things/b", json: #"{"attributePayload":{"attributes":{"room":"kid"}}}"#)
        _ = await c.call("POST", "/thing-types/Lamp")
        _ = await c.call("POST", "/things/c", json: #"{"thingTypeName":"Lamp"}"#)
        #expect(await c.call("GET", "/things?attributeName=room").thingNames == ["a", "b"])
        #expect(await c.call("GET", "/things?attributeName=room&attributeValue=kid").thingNames == ["b"])
        #expect(await c.call("GET", "/things?attributeName=room&attributeValue=ki&usePrefixAttributeValue=true")
            .thingNames == ["a", "b"])
        #expect(await c.call("GET", "/things?thingTypeName=Lamp").thingNames == ["c"])
        #expect(await c.call("GET", "/things?thingTypeName=Lamp&attributeName=room").thingNames == [])
        for query in ["maxResults=0", "maxResults=251", "maxResults=x", "nextToken=zz", "nextToken=abc",
                      "attributeValue=kid", "usePrefixAttributeValue=yes", "thingTypeName=a%20b"] {
            let a = await c.call("GET", "/things?\(query)")
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(query)")
        }
        #expect(await c.call("GET", "/things?maxResults=250").status == 200)
    }

    @Test("unknown operations are 404 UnknownOperationException; /things/ is /things")
    func unknownRoutes() async {
        let c = Client()
        for (method, target) in [("POST", "/things"), ("PUT", "/things/x"), ("GET", "/things/x/y"),
                                 ("GET", "/thingsx"), ("GET", "/")] {
            let a = await c.call(method, target)
            #expect(a.status == 404 && a.errorType == "UnknownOperationException", "\(method) \(target)")
        }
        #expect(await c.call("GET", "/things/").status == 200)
    }

    @Test("no outcome from the cluster: the backend's error is the answer (503, 500), nothing half-done")
    func backendFailure() async {
        let c = Client()
        c.backend.failure.withLock { $0 = .serviceUnavailable("no leader") }
        var a = await c.call("POST", "/things/t")
        #expect(a.status == 503 && a.errorType == "ServiceUnavailableException" && a.message == "no leader")
        c.backend.failure.withLock { $0 = .internalFailure("boom") }
        a = await c.call("DELETE", "/things/t")
        #expect(a.status == 500 && a.errorType == "InternalFailureException")
        #expect(await c.call("GET", "/things").status == 200)  // reads do not need the leader
    }

    @Test("access: AWS operations need a signature (from any peer); /cluster operator routes, loopback peers only")
    func accessRules() async {
        let c = Client()
        for peer in ["10.0.0.1", "192.168.1.2", "::ffff:10.0.0.1", "fe80::1", "::", "garbage"] as [String?] + [nil] {
            #expect(await c.call("GET", "/things", peer: peer).status == 200, "\(String(describing: peer))")
            let a = await c.call("GET", "/cluster/status", peer: peer)
            #expect(a.status == 403 && a.errorType == "AccessDeniedException", "\(String(describing: peer))")
        }
        for peer in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"] {
            #expect(await c.call("GET", "/cluster/status", peer: peer, key: nil).status == 200, "\(peer)")
            let a = await c.call("GET", "/things", peer: peer, key: nil)
            #expect(a.status == 403 && a.errorType == "MissingAuthenticationTokenException", "\(peer)")
        }
    }

    @Test("a body over the server's limit: 413, InvalidRequestException")
    func tooLarge() async {
        let c = Client()
        let a = Answer(await c.router.handle(APIRequest(method: "POST", target: "/things/t", body: nil,
                                                        peerAddress: "127.0.0.1")))
        #expect(a.status == 413 && a.errorType == "InvalidRequestException")
        #expect(c.backend.proposalCount == 0)
    }
}

@Suite("AWSError")
struct AWSErrorTests {
    @Test("every case: shape name and status as in the iot model, body {message}")
    func table() {
        let cases: [(AWSError, String, Int)] = [
            (.invalidRequest("m"), "InvalidRequestException", 400),
            (.resourceNotFound("m"), "ResourceNotFoundException", 404),
            (.resourceAlreadyExists("m"), "ResourceAlreadyExistsException", 409),
            (.versionConflict("m"), "VersionConflictException", 409),
            (.certificateState("m"), "CertificateStateException", 406),
            (.requestTooLarge("m"), "InvalidRequestException", 413),
            (.accessDenied("m"), "AccessDeniedException", 403),
            (.unknownOperation("m"), "UnknownOperationException", 404),
            (.serviceUnavailable("m"), "ServiceUnavailableException", 503),
            (.internalFailure("m"), "InternalFailureException", 500),
        ]
        for (error, type, status) in cases {
            let r = error.response
            #expect(r.status == status && r.headers["x-amzn-ErrorType"] == type)
            #expect(r.bodyText == #"{"message":"m"}"#)
        }
        #expect(AWSError.resourceAlreadyExists("m", resourceId: "i", resourceArn: "arn:x/y").response.bodyText
            == #"{"message":"m","resourceArn":"arn:x/y","resourceId":"i"}"#)
    }
}

@Suite("Loopback")
struct LoopbackTests {
    @Test("127.0.0.0/8, ::1 and IPv4-mapped 127/8 are loopback; nothing else, nothing malformed")
    func table() {
        for yes in ["127.0.0.1", "127.255.255.255", "127.0.0.0", "::1", "0::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
                    "::FFFF:127.1.2.3", "0:0:0:0:0:ffff:7f00:1", "::1%lo"] {
            #expect(Loopback.contains(yes), "\(yes)")
        }
        for no in ["128.0.0.1", "10.0.0.1", "0.0.0.0", "126.255.255.255", "127.0.0", "127.0.0.1.1", "127.0.0.256",
                   "127.0.0.01x", "::", "::2", "1::1", "::ffff:10.0.0.1", "::ffff:7f00:1x", "1:2:3:4:5:6:7:8:9",
                   "1::2::3", ":::1", "", "localhost", " 127.0.0.1", "::ffff:127.0.0.1.5", "fe80::1"] {
            #expect(!Loopback.contains(no), "\(no)")
        }
    }
}
