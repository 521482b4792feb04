import ClusterState
import IoTTypes
import MQTTCodec
import Testing

/// A state and the next log index.
struct Harness {
    var state = ClusterState()
    var index: UInt64 = 0

    mutating func apply(_ c: ClusterCommand) -> ClusterOutcome {
        index += 1
        return state.apply(c, index: index)
    }
}

@Suite("ClusterState.apply")
struct ClusterStateApplyTests {
    static func create(_ name: String, tenant: TenantID = acme, type: String? = nil,
                       attributes: [String: String] = [:]) -> ClusterCommand {
        .createThing(.init(tenant: tenant, thingName: name, thingTypeName: type, attributes: attributes, nowMs: 100))
    }

    // MARK: Tenants and access keys

    @Test("tenants: create, duplicate → alreadyExists, bad account id → invalidRequest")
    func tenants() {
        var h = Harness()
        #expect(h.apply(.createTenant(acme, name: "Acme")) == .success(.done))
        #expect(h.apply(.createTenant(acme, name: "Other")) == .failure(.resourceAlreadyExists))
        #expect(h.state.tenant(acme)?.name == "Acme")
        guard case .failure(.invalidRequest) = h.apply(.createTenant(TenantID("12ab"), name: "x")) else {
            Issue.record("expected invalidRequest")
            return
        }
        #expect(h.state.lastAppliedIndex == 3)
    }

    @Test("access keys: need their tenant, are unique across tenants, delete of a missing key → notFound")
    func accessKeys() {
        var h = Harness()
        let key = AccessKey(tenant: acme, accessKeyID: "AKIA1", secretKey: "s", createdAtMs: 1)
        #expect(h.apply(.createAccessKey(key)) == .failure(.resourceNotFound))
        _ = h.apply(.createTenant(acme, name: "Acme"))
        _ = h.apply(.createTenant(globex, name: "Globex"))
        #expect(h.apply(.createAccessKey(key)) == .success(.done))
        #expect(h.state.accessKey(id: "AKIA1") == key)
        var stolen = key
        stolen.tenant = globex
        #expect(h.apply(.createAccessKey(stolen)) == .failure(.resourceAlreadyExists))
        #expect(h.apply(.deleteAccessKey(tenant: globex, accessKeyID: "AKIA1")) == .failure(.resourceNotFound))
        #expect(h.apply(.deleteAccessKey(tenant: acme, accessKeyID: "AKIA1")) == .success(.done))
        #expect(h.state.accessKey(id: "AKIA1") == nil)
        #expect(h.apply(.deleteAccessKey(tenant: acme, accessKeyID: "AKIA1")) == .failure(.resourceNotFound))
    }

    @Test("bootstrap key: creates its tenant, first writer wins, refused once the tenant has any key")
    func bootstrapAccessKey() {
        var h = Harness()
        let first = AccessKey(tenant: acme, accessKeyID: "AKIAFIRST", secretKey: "s1", createdAtMs: 1)
        var second = first
        second.accessKeyID = "AKIASECOND"
        #expect(h.apply(.bootstrapAccessKey(first, tenantName: "Acme")) == .success(.done))
        #expect(h.state.tenant(acme)?.name == "Acme")
        #expect(h.apply(.bootstrapAccessKey(second, tenantName: "Acme")) == .failure(.resourceAlreadyExists))
        #expect(h.state.accessKeys(tenant: acme).map(\.accessKeyID) == ["AKIAFIRST"])
        // A tenant that exists without keys (made by the admin) takes its first key this way too.
        _ = h.apply(.createTenant(globex, name: "Globex"))
        var g = second
        g.tenant = globex
        #expect(h.apply(.bootstrapAccessKey(g, tenantName: "ignored")) == .success(.done))
        #expect(h.state.tenant(globex)?.name == "Globex")
        var bad = first
        bad.tenant = TenantID("12ab")
        bad.accessKeyID = "AKIABAD"
        #expect(h.apply(.bootstrapAccessKey(bad, tenantName: "x")) == .failure(.invalidRequest("account id must be 12 digits")))
    }

    // MARK: Retained messages

    @Test("retained: set, replace, clear, empty payload clears, wildcard topic refused [MQTT-3.3.1-5/6]")
    func retained() {
        var h = Harness()
        let m = RetainedMessage(tenant: acme, topic: "a/b", payload: [1], qos: .atLeastOnce)
        #expect(h.apply(.setRetained(m)) == .success(.done))
        #expect(h.state.retained(tenant: acme, topic: "a/b") == m)
        var m2 = m
        m2.payload = [2]
        _ = h.apply(.setRetained(m2))
        #expect(h.state.retained(tenant: acme, topic: "a/b")?.payload == [2])
        #expect(h.state.retainedCount(tenant: acme) == 1)
        #expect(h.apply(.clearRetained(tenant: acme, topic: "a/b")) == .success(.done))
        #expect(h.state.retained(tenant: acme, topic: "a/b") == nil)
        #expect(h.apply(.clearRetained(tenant: acme, topic: "a/b")) == .success(.done))  // idempotent
        _ = h.apply(.setRetained(m))
        var empty = m
        empty.payload = []
        #expect(h.apply(.setRetained(empty)) == .success(.done))
        #expect(h.state.retainedCount(tenant: acme) == 0)
        var wild = m
        wild.topic = "a/+"
        guard case .failure(.invalidRequest) = h.apply(.setRetained(wild)) else {
            Issue.record("expected invalidRequest")
            return
        }
    }

    @Test("retainedMatching follows the filter, skips expired messages, and never crosses tenants")
    func retainedMatching() {
        var h = Harness()
        for (tenant, topic, expiry) in [(acme, "a/b", nil), (acme, "a/c", Int64(1_000)), (acme, "$SYS/x", nil),
                                        (globex, "a/b", nil)] as [(TenantID, String, Int64?)] {
            _ = h.apply(.setRetained(.init(tenant: tenant, topic: topic, payload: Array(tenant.accountID.utf8),
                                         qos: .atMostOnce, expiresAtMs: expiry)))
        }
        #expect(h.state.retainedMatching(tenant: acme, filter: "a/+", nowMs: 999).map(\.topic) == ["a/b", "a/c"])
        #expect(h.state.retainedMatching(tenant: acme, filter: "a/+", nowMs: 1_000).map(\.topic) == ["a/b"])
        #expect(h.state.retainedMatching(tenant: acme, filter: "#", nowMs: 0).map(\.topic) == ["a/b", "a/c"])
        #expect(h.state.retainedMatching(tenant: acme, filter: "$SYS/#", nowMs: 0).map(\.topic) == ["$SYS/x"])
        let theirs = h.state.retainedMatching(tenant: globex, filter: "#", nowMs: 0)
        #expect(theirs.map(\.payload) == [Array(globex.accountID.utf8)])
        #expect(h.state.retainedMatching(tenant: TenantID("333333333333"), filter: "#", nowMs: 0).isEmpty)
    }

    // MARK: Sessions

    @Test("session records: put replaces, remove is idempotent, tenants are separate")
    func sessions() {
        var h = Harness()
        let s = SessionEntry(tenant: acme, clientID: "c1", protocolVersion: .v5,
                             subscriptions: ["a/#": SubscriptionOptions(qos: .atLeastOnce)], expiryInterval: 60,
                             disconnectedAtMs: nil)
        #expect(h.apply(.putSessionRecord(s)) == .success(.done))
        var s2 = s
        s2.disconnectedAtMs = 42
        _ = h.apply(.putSessionRecord(s2))
        #expect(h.state.sessionRecord(tenant: acme, clientID: "c1") == s2)
        #expect(h.state.sessionRecord(tenant: globex, clientID: "c1") == nil)
        #expect(h.apply(.removeSessionRecord(tenant: globex, clientID: "c1")) == .success(.done))
        #expect(h.state.sessionRecord(tenant: acme, clientID: "c1") != nil)
        #expect(h.apply(.removeSessionRecord(tenant: acme, clientID: "c1")) == .success(.done))
        #expect(h.state.sessionRecord(tenant: acme, clientID: "c1") == nil)
    }

    // MARK: Things (AWS-IOT-SPEC §3.1)

    @Test("createThing: version 1, deterministic UUID-shaped id, idempotent for the same config, else alreadyExists")
    func createThing() throws {
        var h = Harness()
        guard case .success(.thing(let id, let version)) = h.apply(Self.create("lamp", attributes: ["a": "1"])) else {
            Issue.record("create failed")
            return
        }
        #expect(version == 1)
        #expect(id.count == 36 && id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        #expect(h.apply(Self.create("lamp", attributes: ["a": "1"])) == .success(.thing(thingId: id, version: 1)))
        #expect(h.apply(Self.create("lamp", attributes: ["a": "2"])) == .failure(.resourceAlreadyExists))
        let thing = try #require(h.state.thing(tenant: acme, name: "lamp"))
        #expect(thing.thingArn(region: "eu-west-1") == "arn:aws:iot:eu-west-1:111111111111:thing/lamp")
        #expect(thing.defaultClientId == "lamp")
        #expect(thing.createdAtMs == 100)
        // Same name in another tenant: a different thing.
        guard case .success(.thing(let otherID, _)) = h.apply(Self.create("lamp", tenant: globex)) else {
            Issue.record("create in other tenant failed")
            return
        }
        #expect(otherID != id)
        #expect(h.state.things(tenant: acme).map(\.thingName) == ["lamp"])
    }

    @Test("createThing validates the name, attributes, and the 3-without-type / 50-with-type limits")
    func createThingValidation() {
        var h = Harness()
        for bad in ["", "has space", String(repeating: "x", count: 129), "é"] {
            guard case .failure(.invalidRequest) = h.apply(Self.create(bad)) else {
                Issue.record("accepted name \(bad)")
                continue
            }
        }
        #expect(h.apply(Self.create(String(repeating: "x", count: 128))) != .failure(.resourceAlreadyExists))
        guard case .failure(.invalidRequest) = h.apply(Self.create("t", attributes: ["bad key": "v"])) else {
            Issue.record("accepted attribute name")
            return
        }
        guard case .failure(.invalidRequest) = h.apply(Self.create("t", attributes: ["k": "v v"])) else {
            Issue.record("accepted attribute value")
            return
        }
        let four = ["a": "1", "b": "2", "c": "3", "d": "4"]
        guard case .failure(.invalidRequest) = h.apply(Self.create("t", attributes: four)) else {
            Issue.record("accepted 4 attributes without a type")
            return
        }
        _ = h.apply(.createThingType(tenant: acme, thingTypeName: "Sensor", description: nil,
                                     searchableAttributes: [], nowMs: 1))
        guard case .success = h.apply(Self.create("t", type: "Sensor", attributes: four)) else {
            Issue.record("refused 4 attributes with a type")
            return
        }
        #expect(h.state.thing(tenant: acme, name: "t")?.thingTypeName == "Sensor")
    }

    @Test("updateThing: merge (empty deletes), replace, versions, expectedVersion conflict, notFound")
    func updateThing() {
        var h = Harness()
        _ = h.apply(Self.create("t", attributes: ["a": "1", "b": "2"]))
        _ = h.apply(.createThingType(tenant: acme, thingTypeName: "T", description: nil, searchableAttributes: [],
                                     nowMs: 1))
        #expect(h.apply(.updateThing(.init(tenant: acme, thingName: "nope", nowMs: 1))) == .failure(.resourceNotFound))
        #expect(h.apply(.updateThing(.init(tenant: acme, thingName: "t", expectedVersion: 2, nowMs: 1)))
            == .failure(.versionConflict))
        let merge = ClusterCommand.updateThing(.init(tenant: acme, thingName: "t", attributes: ["a": "", "c": "3"],
                                                     merge: true, expectedVersion: 1, nowMs: 200))
        guard case .success(.thing(_, 2)) = h.apply(merge) else {
            Issue.record("merge failed")
            return
        }
        #expect(h.state.thing(tenant: acme, name: "t")?.attributes == ["b": "2", "c": "3"])
        #expect(h.state.thing(tenant: acme, name: "t")?.lastModifiedAtMs == 200)
        _ = h.apply(.updateThing(.init(tenant: acme, thingName: "t", attributes: ["z": "9"], merge: false, nowMs: 3)))
        #expect(h.state.thing(tenant: acme, name: "t")?.attributes == ["z": "9"])
        #expect(h.state.thing(tenant: acme, name: "t")?.version == 3)
        // Setting and removing the type together is invalid; removing it works.
        guard case .failure(.invalidRequest) = h.apply(.updateThing(.init(
            tenant: acme, thingName: "t", thingTypeName: "T", removeThingType: true, nowMs: 4)))
        else {
            Issue.record("accepted set + remove type")
            return
        }
        _ = h.apply(.updateThing(.init(tenant: acme, thingName: "t", thingTypeName: "T", nowMs: 5)))
        #expect(h.state.thing(tenant: acme, name: "t")?.thingTypeName == "T")
        // With a type, more than 3 attributes are fine; removing the type then would leave too many.
        _ = h.apply(.updateThing(.init(tenant: acme, thingName: "t", attributes: ["a": "1", "b": "1", "c": "1"],
                                     merge: true, nowMs: 6)))
        #expect(h.state.thing(tenant: acme, name: "t")?.attributes.count == 4)
        guard case .failure(.invalidRequest) = h.apply(.updateThing(.init(
            tenant: acme, thingName: "t", removeThingType: true, nowMs: 7)))
        else {
            Issue.record("removed the type leaving 4 attributes")
            return
        }
        #expect(h.state.thing(tenant: acme, name: "t")?.version == 5)
    }

    @Test("deleteThing: missing succeeds (AWS), expectedVersion conflicts, tenants are separate")
    func deleteThing() {
        var h = Harness()
        #expect(h.apply(.deleteThing(tenant: acme, thingName: "t", expectedVersion: nil)) == .success(.done))
        _ = h.apply(Self.create("t"))
        _ = h.apply(Self.create("t", tenant: globex))
        #expect(h.apply(.deleteThing(tenant: acme, thingName: "t", expectedVersion: 2)) == .failure(.versionConflict))
        #expect(h.apply(.deleteThing(tenant: acme, thingName: "t", expectedVersion: 1)) == .success(.done))
        #expect(h.state.thing(tenant: acme, name: "t") == nil)
        #expect(h.state.thing(tenant: globex, name: "t") != nil)
        // A re-created thing gets a new id.
        let firstID = h.state.thing(tenant: globex, name: "t")!.thingId
        _ = h.apply(.deleteThing(tenant: globex, thingName: "t", expectedVersion: nil))
        _ = h.apply(Self.create("t", tenant: globex))
        #expect(h.state.thing(tenant: globex, name: "t")!.thingId != firstID)
    }

    @Test("a failed command changes nothing but the applied index")
    func failureLeavesStateAlone() {
        var h = Harness()
        _ = h.apply(Self.create("t", attributes: ["a": "1"]))
        let before = h.state.snapshot()
        _ = h.apply(.updateThing(.init(tenant: acme, thingName: "t", attributes: ["b": "2"], merge: true,
                                     expectedVersion: 9, nowMs: 1)))
        var restored = try? ClusterState.restore(before)
        _ = restored?.apply(.createTenant(TenantID("x"), name: ""), index: h.index)  // fails; only moves the index
        #expect(restored?.snapshot() == h.state.snapshot())
    }

    // MARK: Node directory

    @Test("node directory: set, replace, remove (idempotent), invalid rows refused and not stored")
    func nodeDirectory() {
        var h = Harness()
        let four = NodeAddress(nodeID: 4, busHost: "127.0.0.1", busPort: 7031)
        #expect(h.apply(.setNodeAddress(four)) == .success(.done))
        #expect(h.state.nodeAddress(4) == four)
        let moved = NodeAddress(nodeID: 4, busHost: "10.0.0.4", busPort: 7001)
        #expect(h.apply(.setNodeAddress(moved)) == .success(.done))
        #expect(h.state.nodeAddress(4) == moved)
        #expect(h.apply(.setNodeAddress(NodeAddress(nodeID: 2, busHost: "h", busPort: 1))) == .success(.done))
        #expect(h.state.nodeDirectory().map(\.nodeID) == [2, 4])

        let before = h.state.snapshot()
        for bad in [NodeAddress(nodeID: 0, busHost: "h", busPort: 1), NodeAddress(nodeID: 5, busHost: "", busPort: 1),
                    NodeAddress(nodeID: 5, busHost: "h", busPort: 0),
                    NodeAddress(nodeID: 5, busHost: "a b", busPort: 1),
                    NodeAddress(nodeID: 5, busHost: String(repeating: "h", count: 254), busPort: 1)] {
            guard case .failure(.invalidRequest) = h.apply(.setNodeAddress(bad)) else {
                Issue.record("accepted \(bad)")
                continue
            }
        }
        #expect(h.state.nodeAddress(5) == nil)
        var restored = try? ClusterState.restore(before)
        _ = restored?.apply(.removeNodeAddress(nodeID: 99), index: h.index)  // no row: still succeeds
        #expect(restored?.snapshot() == h.state.snapshot())

        #expect(h.apply(.removeNodeAddress(nodeID: 4)) == .success(.done))
        #expect(h.apply(.removeNodeAddress(nodeID: 4)) == .success(.done))
        #expect(h.state.nodeAddress(4) == nil)
        #expect(h.state.nodeDirectory().map(\.nodeID) == [2])
    }

    // MARK: Batches

    @Test("batch: members apply in order, each on its own; failures are counted, the rest still applies")
    func batch() {
        var h = Harness()
        _ = h.apply(.createTenant(acme, name: "Acme"))
        let outcome = h.apply(.batch([
            .setRetained(RetainedMessage(tenant: acme, topic: "t", payload: [1], qos: .atLeastOnce)),
            Self.create("a"),
            Self.create("a", attributes: ["different": "config"]),  // already exists, other configuration
            .setRetained(RetainedMessage(tenant: acme, topic: "t", payload: [2], qos: .atLeastOnce)),
            .setRetained(RetainedMessage(tenant: acme, topic: "bad/+", payload: [3], qos: .atMostOnce)),
        ]))
        #expect(outcome == .success(.batch(failed: 2)))
        #expect(h.state.retained(tenant: acme, topic: "t")?.payload == [2])  // the later write wins
        #expect(h.state.thing(tenant: acme, name: "a") != nil)
        #expect(h.state.retainedCount(tenant: acme) == 1)
        #expect(h.state.lastAppliedIndex == 2)
    }

    @Test("batch: a batch nested in memory is refused, not applied")
    func nestedBatch() {
        var h = Harness()
        let outcome = h.apply(.batch([.batch([.createTenant(acme, name: "Acme")]), .createTenant(globex, name: "G")]))
        #expect(outcome == .success(.batch(failed: 1)))
        #expect(h.state.tenant(acme) == nil)
        #expect(h.state.tenant(globex) != nil)
    }
}
