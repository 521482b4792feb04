import ClusterState
import IoTTypes
import Shadow
import Testing

/// Device shadows in the replicated state (issue 6): the pure `Shadow` rules applied with the command's time, the
/// answer and messages every node publishes, tombstones, tenant isolation, snapshots.
@Suite("ClusterState device shadows")
struct ShadowStateTests {
    static let lamp = ShadowKey(thingName: "lamp", shadowName: nil)
    static let cfg = ShadowKey(thingName: "lamp", shadowName: "cfg")

    static func update(_ key: ShadowKey, _ json: String, tenant: TenantID = acme, at ms: Int64 = 1_000_000,
                       viaHTTP: Bool = false) -> ClusterCommand {
        .shadow(ShadowCommand(tenant: tenant, key: key, operation: .update, payload: Array(json.utf8), nowMs: ms,
                              viaHTTP: viaHTTP))
    }

    static func emission(_ o: ClusterOutcome) -> ShadowEmission? {
        if case .success(.shadow(let e)) = o { return e }
        return nil
    }

    @Test("an accepted update stores the document and answers accepted, delta and documents, in that order")
    func acceptedUpdate() throws {
        var h = Harness()
        let e = try #require(Self.emission(h.apply(Self.update(Self.lamp, #"{"state":{"desired":{"on":true}}}"#))))
        #expect(e.status == 200 && e.errorMessage.isEmpty)
        #expect(e.messages.map(\.suffix) == ["update/accepted", "update/delta", "update/documents"])
        #expect(e.body == e.messages[0].payload)
        #expect(e.topicPrefix == "$aws/things/lamp/shadow")
        #expect(h.state.shadow(tenant: acme, key: Self.lamp)?.version == 1)
        // Reported catching up: no delta message any more.
        let e2 = try #require(Self.emission(h.apply(Self.update(Self.lamp, #"{"state":{"reported":{"on":true}}}"#))))
        #expect(e2.messages.map(\.suffix) == ["update/accepted", "update/documents"])
        #expect(h.state.shadow(tenant: acme, key: Self.lamp)?.version == 2)
    }

    @Test("a rejected update changes nothing: MQTT gets /update/rejected, HTTP only the answer (no message)")
    func rejectedUpdate() throws {
        var h = Harness()
        _ = h.apply(Self.update(Self.lamp, #"{"state":{"desired":{"on":true}}}"#))
        let before = h.state.shadow(tenant: acme, key: Self.lamp)
        let mqtt = try #require(Self.emission(h.apply(Self.update(Self.lamp, #"{"state":{"desired":{"on":false}},"version":7}"#))))
        #expect(mqtt.status == 409 && mqtt.errorMessage == "Version conflict")
        #expect(mqtt.messages.map(\.suffix) == ["update/rejected"])
        let http = try #require(Self.emission(h.apply(Self.update(Self.lamp, "{not json", viaHTTP: true))))
        #expect(http.status == 400 && http.errorMessage == "Invalid JSON" && http.messages.isEmpty)
        #expect(h.state.shadow(tenant: acme, key: Self.lamp) == before)
        let badName = try #require(Self.emission(h.apply(Self.update(ShadowKey(thingName: "a b", shadowName: nil), "{}"))))
        #expect(badName.status == 400)
    }

    @Test("delete leaves a tombstone: gone for get and list, and a recreate within 48 h continues the version")
    func deleteAndRecreate() throws {
        var h = Harness()
        _ = h.apply(Self.update(Self.cfg, #"{"state":{"reported":{"fw":"1"}}}"#))
        _ = h.apply(Self.update(Self.cfg, #"{"state":{"reported":{"fw":"2"}}}"#))
        #expect(h.state.namedShadows(tenant: acme, thingName: "lamp") == ["cfg"])
        let del = try #require(Self.emission(h.apply(.shadow(ShadowCommand(
            tenant: acme, key: Self.cfg, operation: .delete, payload: [], nowMs: 2_000_000)))))
        #expect(del.status == 200 && del.messages.map(\.suffix) == ["delete/accepted"])
        #expect(h.state.namedShadows(tenant: acme, thingName: "lamp").isEmpty)
        #expect(h.state.shadow(tenant: acme, key: Self.cfg)?.isDeleted == true)
        let again = try #require(Self.emission(h.apply(.shadow(ShadowCommand(
            tenant: acme, key: Self.cfg, operation: .delete, payload: [], nowMs: 2_000_001)))))
        #expect(again.status == 404 && again.messages.map(\.suffix) == ["delete/rejected"])
        _ = h.apply(Self.update(Self.cfg, #"{"state":{"reported":{"fw":"3"}}}"#, at: 3_000_000))
        #expect(h.state.shadow(tenant: acme, key: Self.cfg)?.version == 3)
    }

    @Test("shadows are per tenant: the same thing and shadow name in two tenants are two shadows")
    func perTenant() {
        var h = Harness()
        _ = h.apply(Self.update(Self.lamp, #"{"state":{"desired":{"a":1}}}"#, tenant: acme))
        #expect(h.state.shadow(tenant: globex, key: Self.lamp) == nil)
        _ = h.apply(Self.update(Self.lamp, #"{"state":{"desired":{"a":2}}}"#, tenant: globex))
        _ = h.apply(Self.update(Self.lamp, #"{"state":{"desired":{"a":3}}}"#, tenant: globex))
        #expect(h.state.shadow(tenant: acme, key: Self.lamp)?.version == 1)
        #expect(h.state.shadow(tenant: globex, key: Self.lamp)?.version == 2)
    }

    @Test("shadows and tombstones survive a snapshot exactly; a version-5 snapshot restores with none")
    func snapshot() throws {
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        let snap = h.state.snapshot()
        #expect(snap[4] == ClusterState.snapshotFormatVersion)
        let r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        #expect(r.shadow(tenant: acme, key: ShadowKey(thingName: "sensor-1", shadowName: nil))?.version == 1)
        #expect(r.shadow(tenant: globex, key: ShadowKey(thingName: "gone", shadowName: nil))?.isDeleted == true)
        #expect(r.namedShadows(tenant: acme, thingName: "sensor-1") == ["cfg"])

        var old = Harness()
        for c in everyCommand where !c.isSessionQueueCommand { if case .shadow = c { continue }; _ = old.apply(c) }
        let v6 = old.state.snapshot()
        // The shadows count and the version-7 session-queues count, both empty.
        #expect(Array(v6.suffix(8)) == [UInt8](repeating: 0, count: 8))
        var v5 = Array(v6.dropLast(8))
        v5[4] = 5
        #expect(try ClusterState.restore(v5).snapshot() == v6)
    }
}
