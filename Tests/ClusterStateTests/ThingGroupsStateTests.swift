import ClusterState
import IoTTypes
import Testing

/// Thing types and static thing groups in the replicated state (AWS-IOT-SPEC §3.2, §3.3).
@Suite("ClusterState thing types and groups")
struct ThingGroupsStateTests {
    static func type(_ name: String, tenant: TenantID = acme, searchable: [String] = [], description: String? = nil,
                     at ms: Int64 = 1) -> ClusterCommand {
        .createThingType(tenant: tenant, thingTypeName: name, description: description,
                         searchableAttributes: searchable, nowMs: ms)
    }

    static func group(_ name: String, parent: String? = nil, tenant: TenantID = acme,
                      attributes: [String: String] = [:]) -> ClusterCommand {
        .createThingGroup(.init(tenant: tenant, thingGroupName: name, parentGroupName: parent,
                                attributes: attributes, nowMs: 10))
    }

    static func thing(_ name: String, type: String? = nil) -> ClusterCommand {
        .createThing(.init(tenant: acme, thingName: name, thingTypeName: type, nowMs: 5))
    }

    static func add(_ thing: String, to group: String) -> ClusterCommand {
        .addThingToThingGroup(tenant: acme, thingGroupName: group, thingName: thing)
    }

    static func isInvalid(_ o: ClusterOutcome) -> Bool {
        if case .failure(.invalidRequest) = o { true } else { false }
    }

    // MARK: Thing types

    @Test("createThingType: ids, idempotent for the same properties, 409 otherwise, ≤ 3 searchable attributes")
    func createThingType() {
        var h = Harness()
        guard case .success(.thingType(let id)) = h.apply(Self.type("Lamp", searchable: ["room"], description: "d"))
        else {
            Issue.record("create failed")
            return
        }
        #expect(id.count == 36)
        #expect(h.apply(Self.type("Lamp", searchable: ["room"], description: "d")) == .success(.thingType(thingTypeId: id)))
        #expect(h.apply(Self.type("Lamp", searchable: [], description: "d")) == .failure(.resourceAlreadyExists))
        #expect(h.apply(Self.type("Lamp", tenant: globex)) != .failure(.resourceAlreadyExists))
        #expect(h.apply(Self.type("Four", searchable: ["a", "b", "c", "d"]))
            == .failure(.invalidRequest("Only three searchable attributes are allowed for a thing type.")))
        #expect(Self.isInvalid(h.apply(Self.type("bad name"))))
        #expect(Self.isInvalid(h.apply(Self.type("T", searchable: ["bad attr"]))))
        #expect(Self.isInvalid(h.apply(Self.type("T", description: "tab\t"))))
        // A type id never equals a thing id.
        guard case .success(.thing(let thingId, _)) = h.apply(Self.thing("t1")) else {
            Issue.record("thing failed")
            return
        }
        #expect(thingId != id)
        let t = h.state.thingType(tenant: acme, name: "Lamp")
        #expect(t?.searchableAttributes == ["room"] && t?.description == "d" && t?.createdAtMs == 1)
        #expect(t?.thingTypeArn(region: "eu-west-1") == "arn:aws:iot:eu-west-1:111111111111:thingtype/Lamp")
        #expect(h.state.thingTypes(tenant: acme).map(\.thingTypeName) == ["Lamp"])
    }

    @Test("deprecate / undo; delete only 5 minutes after deprecation and with no things of the type")
    func deprecateAndDelete() {
        var h = Harness()
        _ = h.apply(Self.type("Lamp"))
        #expect(h.apply(.deprecateThingType(tenant: acme, thingTypeName: "Nope", undo: false, nowMs: 2))
            == .failure(.resourceNotFound))
        #expect(h.apply(.deleteThingType(tenant: acme, thingTypeName: "Nope", nowMs: 2)) == .failure(.resourceNotFound))
        #expect(Self.isInvalid(h.apply(.deleteThingType(tenant: acme, thingTypeName: "Lamp", nowMs: 2))))
        _ = h.apply(Self.thing("t1", type: "Lamp"))
        #expect(h.apply(.deprecateThingType(tenant: acme, thingTypeName: "Lamp", undo: false, nowMs: 1_000))
            == .success(.done))
        #expect(h.state.thingType(tenant: acme, name: "Lamp")?.deprecatedAtMs == 1_000)
        // Deprecating again keeps the first date (the 5-minute wait does not restart).
        _ = h.apply(.deprecateThingType(tenant: acme, thingTypeName: "Lamp", undo: false, nowMs: 2_000))
        #expect(h.state.thingType(tenant: acme, name: "Lamp")?.deprecatedAtMs == 1_000)
        // A deprecated type cannot be given to a new or an existing thing (AWS's message, typo included).
        #expect(h.apply(Self.thing("t2", type: "Lamp"))
            == .failure(.invalidRequest("Can not create new thing with depreated thing type:Lamp")))
        _ = h.apply(Self.thing("t3"))
        #expect(Self.isInvalid(h.apply(.updateThing(.init(tenant: acme, thingName: "t3", thingTypeName: "Lamp",
                                                          nowMs: 3)))))
        // 4:59 after deprecation: too early; 5:00 with a thing of the type: refused; without: deleted.
        #expect(Self.isInvalid(h.apply(.deleteThingType(tenant: acme, thingTypeName: "Lamp", nowMs: 300_999))))
        #expect(Self.isInvalid(h.apply(.deleteThingType(tenant: acme, thingTypeName: "Lamp", nowMs: 301_000))))
        _ = h.apply(.updateThing(.init(tenant: acme, thingName: "t1", removeThingType: true, nowMs: 4)))
        #expect(h.apply(.deleteThingType(tenant: acme, thingTypeName: "Lamp", nowMs: 301_000)) == .success(.done))
        #expect(h.state.thingType(tenant: acme, name: "Lamp") == nil)
        // Undo makes a type assignable again and clears the date.
        _ = h.apply(Self.type("Bulb"))
        _ = h.apply(.deprecateThingType(tenant: acme, thingTypeName: "Bulb", undo: false, nowMs: 5))
        #expect(h.apply(.deprecateThingType(tenant: acme, thingTypeName: "Bulb", undo: true, nowMs: 6)) == .success(.done))
        #expect(h.state.thingType(tenant: acme, name: "Bulb")?.deprecatedAtMs == nil)
        #expect(h.apply(Self.thing("t4", type: "Bulb")) != .failure(.resourceNotFound))
        #expect(h.state.thing(tenant: acme, name: "t4")?.thingTypeName == "Bulb")
    }

    @Test("things: an unknown type is resourceNotFound; 50 attributes with a type, 3 without")
    func thingsNeedRegisteredTypes() {
        var h = Harness()
        #expect(h.apply(Self.thing("t1", type: "Ghost")) == .failure(.resourceNotFound))
        #expect(h.state.thing(tenant: acme, name: "t1") == nil)
        _ = h.apply(Self.type("Ghost", tenant: globex))
        #expect(h.apply(Self.thing("t1", type: "Ghost")) == .failure(.resourceNotFound))  // another tenant's type
        _ = h.apply(Self.thing("t1"))
        #expect(h.apply(.updateThing(.init(tenant: acme, thingName: "t1", thingTypeName: "Ghost", nowMs: 6)))
            == .failure(.resourceNotFound))
        _ = h.apply(Self.type("Big"))
        var fifty: [String: String] = [:]
        for i in 0..<50 { fifty["a\(i)"] = "v" }
        #expect(h.apply(.createThing(.init(tenant: acme, thingName: "big", thingTypeName: "Big", attributes: fifty,
                                           nowMs: 7))) != .failure(.resourceNotFound))
        #expect(h.state.thing(tenant: acme, name: "big")?.attributes.count == 50)
        fifty["a50"] = "v"
        #expect(Self.isInvalid(h.apply(.createThing(.init(tenant: acme, thingName: "big2", thingTypeName: "Big",
                                                          attributes: fifty, nowMs: 7)))))
    }

    // MARK: Thing groups

    @Test("createThingGroup: idempotent, 409 on a different configuration, missing parent → invalidRequest")
    func createThingGroup() {
        var h = Harness()
        guard case .success(.thingGroup(let id, 1)) = h.apply(Self.group("site", attributes: ["a": "1"])) else {
            Issue.record("create failed")
            return
        }
        #expect(h.apply(Self.group("site", attributes: ["a": "1"])) == .success(.thingGroup(thingGroupId: id, version: 1)))
        #expect(h.apply(Self.group("site", attributes: ["a": "2"])) == .failure(.resourceAlreadyExists))
        #expect(h.apply(Self.group("child", parent: "nope"))
            == .failure(.invalidRequest("Parent thing group nope does not exist")))
        _ = h.apply(Self.group("child", parent: "site"))
        #expect(h.apply(Self.group("child")) == .failure(.resourceAlreadyExists))  // the parent cannot change
        #expect(h.state.thingGroup(tenant: acme, name: "child")?.parentGroupName == "site")
        #expect(Self.isInvalid(h.apply(Self.group("bad name"))))
        var many: [String: String] = [:]
        for i in 0..<51 { many["k\(i)"] = "v" }
        #expect(Self.isInvalid(h.apply(Self.group("big", attributes: many))))
        #expect(h.state.thingGroup(tenant: globex, name: "site") == nil)
    }

    @Test("the hierarchy is at most 7 levels deep; rootToParent lists the ancestors root first")
    func depthLimit() {
        var h = Harness()
        _ = h.apply(Self.group("g1"))
        for level in 2...7 {
            guard case .success = h.apply(Self.group("g\(level)", parent: "g\(level - 1)")) else {
                Issue.record("level \(level) refused")
                return
            }
        }
        #expect(h.apply(Self.group("g8", parent: "g7"))
            == .failure(.invalidRequest("A thing group hierarchy may be at most 7 levels deep")))
        #expect(h.state.rootToParentThingGroups(tenant: acme, of: "g7") == ["g1", "g2", "g3", "g4", "g5", "g6"])
        #expect(h.state.rootToParentThingGroups(tenant: acme, of: "g1") == [])
        #expect(h.state.childGroups(tenant: acme, of: "g5", recursive: true) == ["g6", "g7"])
        #expect(h.state.childGroups(tenant: acme, of: "g5", recursive: false) == ["g6"])
    }

    @Test("at most 100 direct children")
    func childLimit() {
        var h = Harness()
        _ = h.apply(Self.group("p"))
        for i in 0..<100 { _ = h.apply(Self.group("c\(i)", parent: "p")) }
        #expect(h.state.childGroups(tenant: acme, of: "p", recursive: false).count == 100)
        #expect(Self.isInvalid(h.apply(Self.group("c100", parent: "p"))))
    }

    @Test("updateThingGroup: merge, replace, description, versions, conflict, notFound")
    func updateThingGroup() {
        var h = Harness()
        _ = h.apply(Self.group("g", attributes: ["a": "1", "b": "2"]))
        #expect(h.apply(.updateThingGroup(.init(tenant: acme, thingGroupName: "x", nowMs: 1))) == .failure(.resourceNotFound))
        #expect(h.apply(.updateThingGroup(.init(tenant: acme, thingGroupName: "g", expectedVersion: 5, nowMs: 1)))
            == .failure(.versionConflict))
        #expect(h.apply(.updateThingGroup(.init(tenant: acme, thingGroupName: "g", description: "hello",
                                                attributes: ["a": "", "c": "3"], merge: true, expectedVersion: 1,
                                                nowMs: 20))) == .success(.thingGroup(
            thingGroupId: h.state.thingGroup(tenant: acme, name: "g")!.thingGroupId, version: 2)))
        var g = h.state.thingGroup(tenant: acme, name: "g")
        #expect(g?.attributes == ["b": "2", "c": "3"] && g?.description == "hello" && g?.lastModifiedAtMs == 20)
        _ = h.apply(.updateThingGroup(.init(tenant: acme, thingGroupName: "g", description: "",
                                            attributes: ["z": "9"], nowMs: 21)))
        g = h.state.thingGroup(tenant: acme, name: "g")
        #expect(g?.attributes == ["z": "9"] && g?.description == nil && g?.version == 3)
    }

    @Test("memberships: by name, idempotent, ≤ 10 groups, never two in one hierarchy, notFound for either side")
    func memberships() {
        var h = Harness()
        _ = h.apply(Self.thing("t"))
        _ = h.apply(Self.group("root"))
        _ = h.apply(Self.group("leaf", parent: "root"))
        #expect(h.apply(Self.add("t", to: "nope")) == .failure(.resourceNotFound))
        #expect(h.apply(Self.add("ghost", to: "root")) == .failure(.resourceNotFound))
        #expect(h.apply(Self.add("t", to: "leaf")) == .success(.done))
        #expect(h.apply(Self.add("t", to: "leaf")) == .success(.done))
        #expect(h.apply(Self.add("t", to: "root"))
            == .failure(.invalidRequest("Thing t is already in thing group leaf of the same hierarchy as root")))
        for i in 0..<9 { _ = h.apply(Self.group("solo\(i)")); _ = h.apply(Self.add("t", to: "solo\(i)")) }
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "t").count == 10)
        _ = h.apply(Self.group("eleventh"))
        #expect(h.apply(Self.add("t", to: "eleventh")) == .failure(.invalidRequest("Thing t is already in 10 thing groups")))
        #expect(h.apply(.removeThingFromThingGroup(tenant: acme, thingGroupName: "solo0", thingName: "t")) == .success(.done))
        #expect(h.apply(.removeThingFromThingGroup(tenant: acme, thingGroupName: "solo0", thingName: "t")) == .success(.done))
        #expect(h.apply(.removeThingFromThingGroup(tenant: acme, thingGroupName: "nope", thingName: "t"))
            == .failure(.resourceNotFound))
        #expect(h.apply(Self.add("t", to: "eleventh")) == .success(.done))
        #expect(h.state.thingsInGroup(tenant: acme, group: "leaf", recursive: false) == ["t"])
        #expect(h.state.thingsInGroup(tenant: acme, group: "root", recursive: false) == [])
        #expect(h.state.thingsInGroup(tenant: acme, group: "root", recursive: true) == ["t"])
    }

    @Test("updateThingGroupsForThing: removes then adds, all or nothing")
    func updateGroupsForThing() {
        var h = Harness()
        _ = h.apply(Self.thing("t"))
        _ = h.apply(Self.group("root"))
        _ = h.apply(Self.group("leaf", parent: "root"))
        _ = h.apply(Self.group("solo"))
        _ = h.apply(Self.add("t", to: "leaf"))
        let update = { (add: [String], remove: [String]) in
            ClusterCommand.updateThingGroupsForThing(tenant: acme, thingName: "t", groupsToAdd: add,
                                                     groupsToRemove: remove)
        }
        // A missing group anywhere, or a second group of one hierarchy: nothing changes.
        #expect(h.apply(update(["solo", "nope"], [])) == .failure(.resourceNotFound))
        #expect(Self.isInvalid(h.apply(update(["solo", "root"], []))))
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "t") == ["leaf"])
        #expect(h.apply(.updateThingGroupsForThing(tenant: acme, thingName: "ghost", groupsToAdd: ["solo"],
                                                   groupsToRemove: [])) == .failure(.resourceNotFound))
        // Moving within a hierarchy works when the old group is removed in the same call.
        #expect(h.apply(update(["solo", "root"], ["leaf"])) == .success(.done))
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "t") == ["root", "solo"])
        var many: [String] = []
        for i in 0..<9 { _ = h.apply(Self.group("m\(i)")); many.append("m\(i)") }
        #expect(Self.isInvalid(h.apply(update(many, []))))  // 11 groups
        #expect(h.apply(update(many, ["solo"])) == .success(.done))
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "t").count == 10)
    }

    @Test("deleteThingGroup: missing succeeds, children refuse, version conflict, memberships and attachments go")
    func deleteThingGroup() {
        var h = Harness()
        #expect(h.apply(.deleteThingGroup(tenant: acme, thingGroupName: "none", expectedVersion: nil)) == .success(.done))
        _ = h.apply(Self.group("root"))
        _ = h.apply(Self.group("leaf", parent: "root"))
        _ = h.apply(Self.thing("t"))
        _ = h.apply(Self.add("t", to: "leaf"))
        _ = h.apply(.createPolicy(tenant: acme, policyName: "p", document: policyDoc, nowMs: 1))
        let leafArn = "arn:aws:iot:us-east-1:111111111111:thinggroup/leaf"
        let leafArnOtherRegion = "arn:aws:iot:eu-west-1:111111111111:thinggroup/leaf"
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p", target: leafArn)) == .success(.done))
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p", target: leafArnOtherRegion)) == .success(.done))
        #expect(h.apply(.deleteThingGroup(tenant: acme, thingGroupName: "root", expectedVersion: nil))
            == .failure(.invalidRequest("Cannot delete thing group : root when there are still child groups attached to it")))
        #expect(h.apply(.deleteThingGroup(tenant: acme, thingGroupName: "leaf", expectedVersion: 2))
            == .failure(.versionConflict))
        let before = h.state.authorizationGeneration
        #expect(h.apply(.deleteThingGroup(tenant: acme, thingGroupName: "leaf", expectedVersion: 1)) == .success(.done))
        #expect(h.state.authorizationGeneration == before + 1)
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "t") == [])
        #expect(h.state.attachedPolicies(tenant: acme, target: leafArn) == [])
        #expect(h.state.attachedPolicies(tenant: acme, target: leafArnOtherRegion) == [])
        #expect(h.state.targets(tenant: acme, policyName: "p") == [])
        #expect(h.apply(.deleteThingGroup(tenant: acme, thingGroupName: "root", expectedVersion: nil)) == .success(.done))
        #expect(h.state.thingGroups(tenant: acme).isEmpty)
    }

    @Test("deleting a thing drops its memberships")
    func deleteThingDropsMemberships() {
        var h = Harness()
        _ = h.apply(Self.thing("t"))
        _ = h.apply(Self.group("g"))
        _ = h.apply(Self.add("t", to: "g"))
        #expect(h.apply(.deleteThing(tenant: acme, thingName: "t", expectedVersion: nil)) == .success(.done))
        #expect(h.state.thingsInGroup(tenant: acme, group: "g", recursive: true) == [])
        _ = h.apply(Self.thing("t"))  // a new thing of the same name starts in no group
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "t") == [])
    }

    // MARK: Policy inheritance

    @Test("thingGroupArns: the thing's groups, then their ancestors, nearest first, each level in name order")
    func inheritedArns() {
        var h = Harness()
        _ = h.apply(Self.thing("t"))
        _ = h.apply(Self.group("a-root"))
        _ = h.apply(Self.group("a-mid", parent: "a-root"))
        _ = h.apply(Self.group("a-leaf", parent: "a-mid"))
        _ = h.apply(Self.group("z-root"))
        _ = h.apply(Self.group("b-leaf", parent: "z-root"))
        _ = h.apply(Self.add("t", to: "a-leaf"))
        _ = h.apply(Self.add("t", to: "b-leaf"))
        let arn = { (n: String) in "arn:aws:iot:ap-south-1:111111111111:thinggroup/\(n)" }
        #expect(h.state.thingGroupArns(containing: "t", tenant: acme, region: "ap-south-1")
            == [arn("a-leaf"), arn("b-leaf"), arn("a-mid"), arn("z-root"), arn("a-root")])
        #expect(h.state.thingGroupArns(containing: "t", tenant: globex, region: "ap-south-1") == [])
        #expect(h.state.thingGroupArns(containing: "nobody", tenant: acme, region: "ap-south-1") == [])
        // With a policy on the root, the thing's effective documents include it.
        _ = h.apply(.createPolicy(tenant: acme, policyName: "inherited", document: policyDoc, nowMs: 1))
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "inherited", target: arn("a-root"))) == .success(.done))
        let targets = h.state.thingGroupArns(containing: "t", tenant: acme, region: "ap-south-1")
        #expect(h.state.effectivePolicyDocuments(tenant: acme, targets: targets).map(\.policyName) == ["inherited"])
    }

    @Test("attaching a policy to a thing group ARN needs the group (in the tenant's account)")
    func attachToGroup() {
        var h = Harness()
        _ = h.apply(.createPolicy(tenant: acme, policyName: "p", document: policyDoc, nowMs: 1))
        let arn = "arn:aws:iot:us-east-1:111111111111:thinggroup/g"
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p", target: arn)) == .failure(.resourceNotFound))
        _ = h.apply(Self.group("g"))
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p", target: arn)) == .success(.done))
        #expect(h.apply(.attachPolicy(tenant: acme, policyName: "p",
                                      target: "arn:aws:iot:us-east-1:222222222222:thinggroup/g"))
            == .failure(.resourceNotFound))
    }

    @Test("membership and hierarchy changes move the authorization generation; types and updates do not")
    func authorizationGeneration() {
        var h = Harness()
        _ = h.apply(Self.thing("t"))
        let moves: [(ClusterCommand, Bool)] = [
            (Self.type("T"), false),
            (Self.group("g"), true),
            (.updateThingGroup(.init(tenant: acme, thingGroupName: "g", description: "x", nowMs: 1)), false),
            (Self.add("t", to: "g"), true),
            (.removeThingFromThingGroup(tenant: acme, thingGroupName: "g", thingName: "t"), true),
            (.updateThingGroupsForThing(tenant: acme, thingName: "t", groupsToAdd: ["g"], groupsToRemove: []), true),
            (.deleteThingGroup(tenant: acme, thingGroupName: "g", expectedVersion: nil), true),
            (.deleteThing(tenant: acme, thingName: "t", expectedVersion: nil), true),
        ]
        for (c, moved) in moves {
            let before = h.state.authorizationGeneration
            _ = h.apply(c)
            #expect((h.state.authorizationGeneration != before) == moved, "\(c)")
        }
    }

    // MARK: Snapshots

    @Test("types, groups and memberships restore exactly, with the derived indexes; a version-4 snapshot still reads")
    func snapshots() throws {
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        #expect(h.state.thingGroup(tenant: acme, name: "floor-1") != nil)
        #expect(h.state.groupsOfThing(tenant: acme, thingName: "sensor-1") == ["floor-1"])
        let snap = h.state.snapshot()
        var r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        #expect(r.thingTypes(tenant: acme) == h.state.thingTypes(tenant: acme))
        #expect(r.thingTypes(tenant: globex).first?.isDeprecated == true)
        #expect(r.thingGroups(tenant: acme) == h.state.thingGroups(tenant: acme))
        #expect(r.thingsInGroup(tenant: acme, group: "site", recursive: true) == ["sensor-1"])
        #expect(r.thingGroupArns(containing: "sensor-1", tenant: acme, region: "r")
            == h.state.thingGroupArns(containing: "sensor-1", tenant: acme, region: "r"))
        // Derived indexes work after restore: the child still blocks deleting its parent, ids keep counting.
        #expect(Self.isInvalid(r.apply(.deleteThingGroup(tenant: acme, thingGroupName: "site", expectedVersion: nil),
                                       index: 1_000)))
        var o = h
        #expect(r.apply(Self.group("new"), index: 1_001) == o.apply(Self.group("new")))

        var old = Harness()
        for c in everyCommand where !c.isVersion5Command { _ = old.apply(c) }
        let v5 = old.state.snapshot()
        let tail = version5Tail(old.state)  // the certificates' mode rows are not zeros; the rest is
        #expect(Array(v5.suffix(tail).prefix(32)) == [UInt8](repeating: 0, count: 32))
        var v4 = Array(v5.dropLast(tail))
        v4[4] = 4
        #expect(try ClusterState.restore(v4).snapshot() == v5)
    }

    @Test("restore refuses a group whose parent is missing")
    func orphanRefused() throws {
        var h = Harness()
        _ = h.apply(Self.group("p"))
        _ = h.apply(Self.group("c", parent: "p"))
        let snap = h.state.snapshot()
        #expect(try ClusterState.restore(snap).snapshot() == snap)
        // Rename the parent's row ("p" → "q", same length; "q" still sorts after "c"): "c" is now an orphan.
        let needle: [UInt8] = [0, 0, 0, 1, UInt8(ascii: "p"), 0, 0, 0, 36]
        guard let at = find(needle, in: snap) else {
            Issue.record("row not found")
            return
        }
        var bad = snap
        bad[at + 4] = UInt8(ascii: "q")
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(bad) }
    }

    func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
