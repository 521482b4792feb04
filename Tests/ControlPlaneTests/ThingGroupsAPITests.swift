import ClusterState
import ControlPlane
import Foundation
import IoTTypes
import Testing

extension Answer {
    var groupNames: [String] { (json["thingGroups"] as? [[String: Any]] ?? []).compactMap { $0["groupName"] as? String } }
    var nameList: [String] { json["things"] as? [String] ?? [] }
    func object(_ key: String) -> [String: Any] { json[key] as? [String: Any] ?? [:] }
}

/// Thing types against the botocore `iot` model: routes, members, JSON keys, statuses and error shapes.
@Suite("ThingTypesAPI")
struct ThingTypesAPITests {
    @Test("CreateThingType → name, arn, id; DescribeThingType → properties and metadata; idempotent; 409")
    func createAndDescribe() async {
        let c = Client(region: "eu-west-1")
        let body = #"{"thingTypeProperties":{"thingTypeDescription":"A lamp","searchableAttributes":["room","w"]},"tags":[{"Key":"k","Value":"v"}]}"#
        let created = await c.call("POST", "/thing-types/Lamp", json: body)
        #expect(created.status == 200)
        #expect(created.keys == ["thingTypeArn", "thingTypeId", "thingTypeName"])
        #expect(created.string("thingTypeArn") == "arn:aws:iot:eu-west-1:\(TenantID.default.accountID):thingtype/Lamp")
        let again = await c.call("POST", "/thing-types/Lamp", json: body)
        #expect(again.status == 200 && again.string("thingTypeId") == created.string("thingTypeId"))
        let clash = await c.call("POST", "/thing-types/Lamp", json: #"{"thingTypeProperties":{"thingTypeDescription":"other"}}"#)
        #expect(clash.status == 409 && clash.errorType == "ResourceAlreadyExistsException")
        #expect(clash.string("resourceId") == created.string("thingTypeId"))
        #expect(clash.string("resourceArn") == created.string("thingTypeArn"))

        let d = await c.call("GET", "/thing-types/Lamp")
        #expect(d.status == 200)
        #expect(d.keys == ["thingTypeArn", "thingTypeId", "thingTypeMetadata", "thingTypeName", "thingTypeProperties"])
        let props = d.object("thingTypeProperties")
        #expect(props["thingTypeDescription"] as? String == "A lamp")
        #expect(props["searchableAttributes"] as? [String] == ["room", "w"])
        let meta = d.object("thingTypeMetadata")
        #expect(meta["deprecated"] as? Bool == false)
        #expect(meta["deprecationDate"] == nil)
        #expect((meta["creationDate"] as? NSNumber)?.doubleValue == 1_700_000_000)
    }

    @Test("bad input → InvalidRequestException 400; unknown type → ResourceNotFoundException 404")
    func errors() async {
        let c = Client()
        for (path, body) in [
            ("/thing-types/bad%20name", "{}"),
            ("/thing-types/T", #"{"thingTypeProperties":{"searchableAttributes":["a","b","c","d"]}}"#),
            ("/thing-types/T", #"{"thingTypeProperties":{"searchableAttributes":["no space"]}}"#),
            ("/thing-types/T", #"{"thingTypeProperties":{"thingTypeDescription":"\u0001"}}"#),
            ("/thing-types/T", #"{"thingTypeProperties":{"mqtt5Configuration":{"propagatingAttributes":[]}}}"#),
            ("/thing-types/T", #"{"thingTypeProperties":7}"#),
            ("/thing-types/T", #"{"tags":[{"Value":"v"}]}"#),
        ] {
            let a = await c.call("POST", path, json: body)
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(path) \(body)")
        }
        let four = await c.call("POST", "/thing-types/T",
                                json: #"{"thingTypeProperties":{"searchableAttributes":["a","b","c","d"]}}"#)
        #expect(four.message == "Only three searchable attributes are allowed for a thing type.")
        for (method, path) in [("GET", "/thing-types/Nope"), ("POST", "/thing-types/Nope/deprecate"),
                               ("DELETE", "/thing-types/Nope")] {
            let a = await c.call(method, path)
            #expect(a.status == 404 && a.errorType == "ResourceNotFoundException", "\(method) \(path)")
        }
        #expect(await c.call("GET", "/thing-types?maxResults=0").status == 400)
        #expect(await c.call("GET", "/thing-types?thingTypeName=a%20b").status == 400)
        #expect(await c.call("PUT", "/thing-types/T").errorType == "UnknownOperationException")
        #expect(c.backend.proposalCount == 2)  // deprecate and delete of Nope were proposed; no bad input was
        let t = await c.call("POST", "/things/t", json: #"{"thingTypeName":"Nope"}"#)
        #expect(t.status == 404 && t.errorType == "ResourceNotFoundException")
        #expect(t.message == "Thing type Nope cannot be found.")
        // DescribeThing of a thing named "thing-groups" is still the things API's.
        #expect(await c.call("GET", "/things/thing-groups").message == "Thing thing-groups cannot be found.")
    }

    @Test("deprecate → describe shows it; things cannot take it; delete waits 5 minutes (InvalidRequest), undo")
    func deprecateAndDelete() async {
        let c = Client()
        _ = await c.call("POST", "/thing-types/Old")
        let dep = await c.call("POST", "/thing-types/Old/deprecate", json: "{}")
        #expect(dep.status == 200 && dep.response.bodyText == "{}")
        let meta = await c.call("GET", "/thing-types/Old").object("thingTypeMetadata")
        #expect(meta["deprecated"] as? Bool == true)
        #expect((meta["deprecationDate"] as? NSNumber)?.doubleValue == 1_700_000_000)
        let t = await c.call("POST", "/things/t", json: #"{"thingTypeName":"Old"}"#)
        #expect(t.status == 400 && t.errorType == "InvalidRequestException")
        #expect(t.message == "Can not create new thing with depreated thing type:Old")
        // The fake clock does not move: the delete comes less than 5 minutes after the deprecation.
        let early = await c.call("DELETE", "/thing-types/Old")
        #expect(early.status == 400 && early.errorType == "InvalidRequestException")
        #expect(early.message.contains("5 minutes"))
        _ = await c.call("POST", "/thing-types/Old/deprecate", json: #"{"undoDeprecate":true}"#)
        #expect(await c.call("GET", "/thing-types/Old").object("thingTypeMetadata")["deprecated"] as? Bool == false)
        let notDeprecated = await c.call("DELETE", "/thing-types/Old")
        #expect(notDeprecated.status == 400 && notDeprecated.errorType == "InvalidRequestException")
        #expect(await c.call("POST", "/things/t", json: #"{"thingTypeName":"Old"}"#).status == 200)
    }

    @Test("DeleteThingType after the wait (state-level clock), ListThingTypes filter and pages")
    func deleteAndList() async {
        let c = Client()
        for n in ["a", "b", "c"] { _ = await c.call("POST", "/thing-types/\(n)") }
        // Deprecate "a" 5 minutes before the backend's clock.
        _ = c.backend.state.withLock {
            $0.apply(.deprecateThingType(tenant: .default, thingTypeName: "a", undo: false,
                                         nowMs: 1_700_000_000_000 - 300_000), index: 100)
        }
        let deleted = await c.call("DELETE", "/thing-types/a")
        #expect(deleted.status == 200 && deleted.response.bodyText == "{}")
        _ = await c.call("POST", "/thing-types/d")
        let first = await c.call("GET", "/thing-types?maxResults=2")
        let names = (first.json["thingTypes"] as? [[String: Any]] ?? []).compactMap { $0["thingTypeName"] as? String }
        #expect(names == ["b", "c"])
        let token = first.string("nextToken") ?? ""
        #expect(!token.isEmpty)
        let second = await c.call("GET", "/thing-types?maxResults=2&nextToken=\(token)")
        let rest = (second.json["thingTypes"] as? [[String: Any]] ?? []).compactMap { $0["thingTypeName"] as? String }
        #expect(rest == ["d"] && second.string("nextToken") == nil)
        let filtered = await c.call("GET", "/thing-types?thingTypeName=c")
        let row = (filtered.json["thingTypes"] as? [[String: Any]] ?? [])
        #expect(row.count == 1 && row.first?["thingTypeArn"] as? String != nil)
        #expect(Set((row.first ?? [:]).keys) == ["thingTypeName", "thingTypeArn", "thingTypeProperties",
                                                   "thingTypeMetadata"])
    }
}

/// Thing groups against the botocore `iot` model.
@Suite("ThingGroupsAPI")
struct ThingGroupsAPITests {
    @Test("Create / Describe (hierarchy, version, metadata) / Update (expectedVersion) / Delete")
    func lifecycle() async {
        let c = Client(region: "eu-west-1")
        let root = await c.call("POST", "/thing-groups/site",
                                json: #"{"thingGroupProperties":{"thingGroupDescription":"All","attributePayload":{"attributes":{"city":"Oslo"}}}}"#)
        #expect(root.status == 200 && root.keys == ["thingGroupArn", "thingGroupId", "thingGroupName"])
        #expect(root.string("thingGroupArn")?.hasPrefix("arn:aws:iot:eu-west-1:") == true)
        #expect(root.string("thingGroupArn")?.hasSuffix(":thinggroup/site") == true)
        #expect(await c.call("POST", "/thing-groups/floor", json: #"{"parentGroupName":"site"}"#).status == 200)
        #expect(await c.call("POST", "/thing-groups/room", json: #"{"parentGroupName":"floor"}"#).status == 200)

        let d = await c.call("GET", "/thing-groups/room")
        #expect(d.status == 200)
        #expect(d.keys == ["thingGroupArn", "thingGroupId", "thingGroupMetadata", "thingGroupName",
                           "thingGroupProperties", "version"])
        #expect(d.int("version") == 1)
        let meta = d.object("thingGroupMetadata")
        #expect(meta["parentGroupName"] as? String == "floor")
        #expect((meta["rootToParentThingGroups"] as? [[String: String]])?.map { $0["groupName"] ?? "" }
            == ["site", "floor"])
        #expect((meta["rootToParentThingGroups"] as? [[String: String]])?.first?["groupArn"]
            == root.string("thingGroupArn"))
        #expect((meta["creationDate"] as? NSNumber)?.doubleValue == 1_700_000_000)
        let siteProps = await c.call("GET", "/thing-groups/site").object("thingGroupProperties")
        #expect(siteProps["thingGroupDescription"] as? String == "All")
        #expect((siteProps["attributePayload"] as? [String: Any])?["attributes"] as? [String: String] == ["city": "Oslo"])

        let u = await c.call("PATCH", "/thing-groups/site",
                             json: #"{"thingGroupProperties":{"attributePayload":{"attributes":{"zip":"1"},"merge":true}},"expectedVersion":1}"#)
        #expect(u.status == 200 && u.keys == ["version"] && u.int("version") == 2)
        let conflict = await c.call("PATCH", "/thing-groups/site",
                                    json: #"{"thingGroupProperties":{},"expectedVersion":1}"#)
        #expect(conflict.status == 409 && conflict.errorType == "VersionConflictException")
        let missing = await c.call("PATCH", "/thing-groups/nope", json: #"{"thingGroupProperties":{}}"#)
        #expect(missing.status == 404 && missing.errorType == "ResourceNotFoundException")
        let noProps = await c.call("PATCH", "/thing-groups/site", json: "{}")
        #expect(noProps.status == 400 && noProps.errorType == "InvalidRequestException")

        let parent = await c.call("DELETE", "/thing-groups/floor")
        #expect(parent.status == 400 && parent.errorType == "InvalidRequestException")
        #expect(parent.message == "Cannot delete thing group : floor when there are still child groups attached to it")
        let wrongVersion = await c.call("DELETE", "/thing-groups/room?expectedVersion=7")
        #expect(wrongVersion.status == 409 && wrongVersion.errorType == "VersionConflictException")
        #expect(await c.call("DELETE", "/thing-groups/room?expectedVersion=1").status == 200)
        #expect(await c.call("DELETE", "/thing-groups/room").status == 200)  // missing: success, as AWS
        #expect(await c.call("GET", "/thing-groups/room").status == 404)
    }

    @Test("create errors: missing parent, depth over 7, different config, bad names → exact shapes")
    func createErrors() async {
        let c = Client()
        let orphan = await c.call("POST", "/thing-groups/x", json: #"{"parentGroupName":"nope"}"#)
        #expect(orphan.status == 400 && orphan.errorType == "InvalidRequestException")
        _ = await c.call("POST", "/thing-groups/g1")
        for i in 2...7 { _ = await c.call("POST", "/thing-groups/g\(i)", json: #"{"parentGroupName":"g\#(i - 1)"}"#) }
        let deep = await c.call("POST", "/thing-groups/g8", json: #"{"parentGroupName":"g7"}"#)
        #expect(deep.status == 400 && deep.errorType == "InvalidRequestException")
        let clash = await c.call("POST", "/thing-groups/g2")  // exists with a parent
        #expect(clash.status == 409 && clash.errorType == "ResourceAlreadyExistsException")
        #expect(clash.string("resourceArn")?.hasSuffix(":thinggroup/g2") == true)
        for (path, body) in [("/thing-groups/bad%20name", "{}"), ("/thing-groups/x", #"{"parentGroupName":"a b"}"#),
                             ("/thing-groups/x", #"{"thingGroupProperties":{"attributePayload":{"attributes":{"k":1}}}}"#),
                             ("/thing-groups/x", "[")] {
            let a = await c.call("POST", path, json: body)
            #expect(a.status == 400 && a.errorType == "InvalidRequestException", "\(path) \(body)")
        }
    }

    @Test("ListThingGroups: all (recursive by default), roots only, parentGroup (direct / recursive), prefix, pages")
    func listGroups() async {
        let c = Client()
        _ = await c.call("POST", "/thing-groups/a")
        _ = await c.call("POST", "/thing-groups/b", json: #"{"parentGroupName":"a"}"#)
        _ = await c.call("POST", "/thing-groups/c", json: #"{"parentGroupName":"b"}"#)
        _ = await c.call("POST", "/thing-groups/d")
        #expect(await c.call("GET", "/thing-groups").groupNames == ["a", "b", "c", "d"])
        #expect(await c.call("GET", "/thing-groups?recursive=false").groupNames == ["a", "d"])
        #expect(await c.call("GET", "/thing-groups?parentGroup=a&recursive=false").groupNames == ["b"])
        #expect(await c.call("GET", "/thing-groups?parentGroup=a").groupNames == ["b", "c"])
        #expect(await c.call("GET", "/thing-groups?namePrefixFilter=c").groupNames == ["c"])
        let page = await c.call("GET", "/thing-groups?maxResults=3")
        #expect(page.groupNames == ["a", "b", "c"])
        let next = await c.call("GET", "/thing-groups?maxResults=3&nextToken=\(page.string("nextToken") ?? "")")
        #expect(next.groupNames == ["d"] && next.string("nextToken") == nil)
        let row = (page.json["thingGroups"] as? [[String: String]])?.first
        #expect(row?.keys.sorted() == ["groupArn", "groupName"])
        let missing = await c.call("GET", "/thing-groups?parentGroup=zz")
        #expect(missing.status == 404 && missing.errorType == "ResourceNotFoundException")
        #expect(await c.call("GET", "/thing-groups?recursive=yes").status == 400)
        #expect(await c.call("GET", "/thing-groups?maxResults=251").status == 400)
    }

    @Test("Add/Remove by name or ARN; ListThingsInThingGroup (recursive); ListThingGroupsForThing; errors")
    func memberships() async {
        let c = Client(region: "eu-west-1")
        let account = TenantID.default.accountID
        _ = await c.call("POST", "/thing-groups/root")
        _ = await c.call("POST", "/thing-groups/leaf", json: #"{"parentGroupName":"root"}"#)
        _ = await c.call("POST", "/thing-groups/other")
        _ = await c.call("POST", "/things/t1")
        _ = await c.call("POST", "/things/t2")
        var a = await c.call("PUT", "/thing-groups/addThingToThingGroup",
                             json: #"{"thingGroupName":"leaf","thingName":"t1"}"#)
        #expect(a.status == 200 && a.response.bodyText == "{}")
        a = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: """
            {"thingGroupArn":"arn:aws:iot:eu-west-1:\(account):thinggroup/root",\
            "thingArn":"arn:aws:iot:eu-west-1:\(account):thing/t2","overrideDynamicGroups":true}
            """)
        #expect(a.status == 200)
        _ = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: #"{"thingGroupName":"other","thingName":"t1"}"#)
        #expect(await c.call("GET", "/thing-groups/root/things").nameList == ["t2"])
        #expect(await c.call("GET", "/thing-groups/root/things?recursive=true").nameList == ["t1", "t2"])
        let page = await c.call("GET", "/thing-groups/root/things?recursive=true&maxResults=1")
        #expect(page.nameList == ["t1"] && page.string("nextToken") != nil)
        let forThing = await c.call("GET", "/things/t1/thing-groups")
        #expect(forThing.status == 200 && forThing.groupNames == ["leaf", "other"])
        #expect((forThing.json["thingGroups"] as? [[String: String]])?.first?["groupArn"]
            == "arn:aws:iot:eu-west-1:\(account):thinggroup/leaf")

        // Same hierarchy, unknown group or thing, missing members, another account's ARN.
        let same = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: #"{"thingGroupName":"root","thingName":"t1"}"#)
        #expect(same.status == 400 && same.errorType == "InvalidRequestException")
        let noGroup = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: #"{"thingGroupName":"zz","thingName":"t1"}"#)
        #expect(noGroup.status == 404 && noGroup.errorType == "ResourceNotFoundException")
        #expect(noGroup.message == "Thing group zz cannot be found.")
        let noThing = await c.call("PUT", "/thing-groups/removeThingFromThingGroup",
                                   json: #"{"thingGroupName":"root","thingName":"zz"}"#)
        #expect(noThing.status == 404 && noThing.message == "Thing zz cannot be found.")
        let neither = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: #"{"thingName":"t1"}"#)
        #expect(neither.status == 400 && neither.errorType == "InvalidRequestException")
        let noThingMember = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: #"{"thingGroupName":"root"}"#)
        #expect(noThingMember.status == 400 && noThingMember.message == "Both thingName and thingArn cannot be null")
        let foreign = await c.call("PUT", "/thing-groups/addThingToThingGroup",
                                   json: #"{"thingGroupArn":"arn:aws:iot:eu-west-1:999999999999:thinggroup/root","thingName":"t1"}"#)
        #expect(foreign.status == 404 && foreign.errorType == "ResourceNotFoundException")
        #expect(await c.call("GET", "/things/zz/thing-groups").status == 404)
        #expect(await c.call("GET", "/thing-groups/zz/things").status == 404)

        let removed = await c.call("PUT", "/thing-groups/removeThingFromThingGroup",
                                   json: #"{"thingGroupName":"other","thingName":"t1"}"#)
        #expect(removed.status == 200)
        #expect(await c.call("GET", "/things/t1/thing-groups").groupNames == ["leaf"])
        // Deleting the thing removes its memberships.
        #expect(await c.call("DELETE", "/things/t1").status == 200)
        #expect(await c.call("GET", "/thing-groups/root/things?recursive=true").nameList == ["t2"])
    }

    @Test("UpdateThingGroupsForThing: all or nothing; missing group or thing → 404; no thingName → 400")
    func updateGroupsForThing() async {
        let c = Client()
        _ = await c.call("POST", "/thing-groups/a")
        _ = await c.call("POST", "/thing-groups/b")
        _ = await c.call("POST", "/things/t")
        let path = "/thing-groups/updateThingGroupsForThing"
        var r = await c.call("PUT", path, json: #"{"thingName":"t","thingGroupsToAdd":["a","zz"]}"#)
        #expect(r.status == 404 && r.errorType == "ResourceNotFoundException" && r.message == "Thing group zz cannot be found.")
        #expect(await c.call("GET", "/things/t/thing-groups").groupNames == [])
        r = await c.call("PUT", path, json: #"{"thingName":"t","thingGroupsToAdd":["a","b"],"overrideDynamicGroups":false}"#)
        #expect(r.status == 200 && r.response.bodyText == "{}")
        r = await c.call("PUT", path, json: #"{"thingName":"t","thingGroupsToRemove":["a"]}"#)
        #expect(await c.call("GET", "/things/t/thing-groups").groupNames == ["b"])
        r = await c.call("PUT", path, json: #"{"thingName":"ghost","thingGroupsToAdd":["a"]}"#)
        #expect(r.status == 404 && r.message == "Thing ghost cannot be found.")
        r = await c.call("PUT", path, json: #"{"thingGroupsToAdd":["a"]}"#)
        #expect(r.status == 400 && r.errorType == "InvalidRequestException")
        r = await c.call("PUT", path, json: #"{"thingName":"t","thingGroupsToAdd":["bad name"]}"#)
        #expect(r.status == 400 && r.errorType == "InvalidRequestException")
    }

    @Test("policies attach to existing thing groups only, and are inherited through the hierarchy")
    func policyInheritance() async {
        let c = Client(region: "us-east-1")
        let account = TenantID.default.accountID
        let arn = { (g: String) in "arn:aws:iot:us-east-1:\(account):thinggroup/\(g)" }
        let doc = #"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}"#
        _ = await c.call("POST", "/policies/p", json: #"{"policyDocument":"\#(doc)"}"#)
        let early = await c.call("PUT", "/target-policies/p", json: #"{"target":"\#(arn("root"))"}"#)
        #expect(early.status == 404 && early.errorType == "ResourceNotFoundException")
        _ = await c.call("POST", "/thing-groups/root")
        _ = await c.call("POST", "/thing-groups/leaf", json: #"{"parentGroupName":"root"}"#)
        #expect(await c.call("PUT", "/target-policies/p", json: #"{"target":"\#(arn("root"))"}"#).status == 200)
        _ = await c.call("POST", "/things/dev")
        _ = await c.call("PUT", "/thing-groups/addThingToThingGroup", json: #"{"thingGroupName":"leaf","thingName":"dev"}"#)
        let arns = c.backend.read { $0.thingGroupArns(containing: "dev", tenant: .default, region: "us-east-1") }
        #expect(arns == [arn("leaf"), arn("root")])
        let docs = c.backend.read { $0.effectivePolicyDocuments(tenant: .default, targets: arns) }
        #expect(docs.map(\.policyName) == ["p"])
    }
}
