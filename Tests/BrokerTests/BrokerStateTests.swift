import Broker
import IoTTypes
import MQTTCodec
import NIOCore
import Testing
import TopicTrie

/// Tier-1 tests of the node-wide registry and routing index, with integer connection handles.
@Suite struct BrokerStateTests {
    let t0 = Timestamp.seconds(1000)
    let tenant = TenantID.default

    func msg(_ topic: String, qos: QoS = .atLeastOnce, from publisher: String = "pub", tenant: TenantID = .default,
             retain: Bool = false) -> BrokerMessage {
        BrokerMessage(tenant: tenant, topic: topic, payload: ByteBuffer(string: "x"), qos: qos, retain: retain,
                      publisherClientID: publisher)
    }

    func filter(_ s: String) -> TopicFilter { try! Topic.parseFilter(s) }

    func open(_ s: inout BrokerState<Int>, _ client: String, _ handle: Int, clean: Bool = true) {
        _ = s.openSession(tenant: tenant, clientID: client, handle: handle, cleanStart: clean, now: t0)
    }

    @Test("a message reaches each matching session once, at the highest granted QoS capped by the published QoS")
    func overlappingSubscriptions() {
        var s = BrokerState<Int>()
        open(&s, "a", 1)
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("x/#"), options: SubscriptionOptions(qos: .atMostOnce))
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("x/+"), options: SubscriptionOptions(qos: .exactlyOnce))
        let d = s.route(msg("x/y", qos: .atLeastOnce), now: t0) { _ in 0 }
        #expect(d.count == 1)
        #expect(d.first?.handle == 1)
        #expect(d.first?.outbound.qos == .atLeastOnce)
    }

    @Test("[MQTT-3.8.3-3] No Local skips the publisher's own session")
    func noLocal() {
        var s = BrokerState<Int>()
        open(&s, "a", 1)
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("t"), options: SubscriptionOptions(noLocal: true))
        #expect(s.route(msg("t", from: "a"), now: t0) { _ in 0 }.isEmpty)
        #expect(s.route(msg("t", from: "b"), now: t0) { _ in 0 }.count == 1)
    }

    @Test("Retain As Published keeps the RETAIN flag on live delivery; otherwise it is cleared")
    func retainAsPublished() {
        var s = BrokerState<Int>()
        open(&s, "a", 1)
        open(&s, "b", 2)
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("t"), options: SubscriptionOptions(retainAsPublished: true))
        s.subscribe(tenant: tenant, clientID: "b", filter: filter("t"), options: SubscriptionOptions())
        let d = s.route(msg("t", retain: true), now: t0) { _ in 0 }
        #expect(d.first { $0.handle == 1 }?.outbound.retain == true)
        #expect(d.first { $0.handle == 2 }?.outbound.retain == false)
    }

    @Test("a parked session queues QoS 1, ignores QoS 0, and drops past the queue limit (counted)")
    func parkedQueue() {
        var limits = BrokerLimits()
        limits.maxQueuedMessages = 2
        var s = BrokerState<Int>(limits: limits)
        open(&s, "a", 1, clean: false)
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("t"), options: SubscriptionOptions(qos: .atLeastOnce))
        var st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        st.subscriptions["t"] = .init(filter: filter("t"), options: SubscriptionOptions(qos: .atLeastOnce))
        _ = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: 60, will: nil, willDelay: 0, now: t0)
        _ = s.route(msg("t", qos: .atMostOnce), now: t0) { _ in 0 }
        for _ in 0..<3 { _ = s.route(msg("t"), now: t0) { _ in 0 } }
        #expect(s.queuedMessages == 2)
        #expect(s.droppedQueueFull == 1)
        guard case .opened(let resumed?) = s.openSession(tenant: tenant, clientID: "a", handle: 2, cleanStart: false, now: t0) else {
            Issue.record("expected resumed session")
            return
        }
        #expect(resumed.pending.count == 2)
        #expect(s.queuedMessages == 0)
    }

    @Test("takeover: the second connection waits, and gets the first one's session when it closes")
    func takeover() {
        var s = BrokerState<Int>()
        open(&s, "a", 1, clean: false)
        guard case .takeOver(let prev) = s.openSession(tenant: tenant, clientID: "a", handle: 2, cleanStart: false, now: t0) else {
            Issue.record("expected takeover")
            return
        }
        #expect(prev == 1)
        var st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        st.inboundQoS2 = [9]
        let (r, _) = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: 60, will: nil, willDelay: 0, now: t0)
        #expect(r.handOver?.handle == 2)
        #expect(r.handOver?.state?.inboundQoS2 == [9])
        // Deliveries now go to the new connection.
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("t"), options: SubscriptionOptions())
        #expect(s.route(msg("t"), now: t0) { _ in 0 }.first?.handle == 2)
    }

    @Test("clean start discards a parked session and its subscriptions")
    func cleanStartDiscards() {
        var s = BrokerState<Int>()
        open(&s, "a", 1, clean: false)
        var st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        st.subscriptions["t"] = .init(filter: filter("t"), options: SubscriptionOptions())
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("t"), options: SubscriptionOptions())
        _ = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: 60, will: nil, willDelay: 0, now: t0)
        guard case .put(let record)? = s.takeRecordWrites().last else {
            Issue.record("parking a session writes its record")
            return
        }
        #expect(record.clientID == "a" && record.expiryInterval == 60 && record.disconnectedAt == t0)
        #expect(Array(record.subscriptions.keys) == ["t"])
        guard case .opened(nil) = s.openSession(tenant: tenant, clientID: "a", handle: 2, cleanStart: true, now: t0) else {
            Issue.record("expected a fresh session")
            return
        }
        #expect(s.subscriptionCount == 0)
        #expect(s.takeRecordWrites() == [.remove(tenant: tenant, clientID: "a")])
        #expect(s.takeRecordWrites().isEmpty)  // taken once
    }

    @Test("expiry 0 ends the session at close and publishes the Will immediately")
    func expiryZero() {
        var s = BrokerState<Int>()
        open(&s, "a", 1)
        let st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        let (_, will) = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: 0,
                                        will: msg("will"), willDelay: 30, now: t0)
        #expect(will?.topic == "will")
        #expect(!s.hasSession(tenant: tenant, clientID: "a"))
    }

    @Test("[MQTT-3.1.3-9] a delayed Will is published by the sweep when due, and cancelled by a reconnect")
    func delayedWill() {
        var s = BrokerState<Int>()
        open(&s, "a", 1)
        let st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        let (_, now) = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: 100,
                                       will: msg("will"), willDelay: 10, now: t0)
        #expect(now == nil)
        #expect(s.sweep(now: t0.adding(seconds: 9)).isEmpty)
        #expect(s.sweep(now: t0.adding(seconds: 10)).map(\.topic) == ["will"])
        #expect(s.sweep(now: t0.adding(seconds: 11)).isEmpty)
        #expect(s.hasSession(tenant: tenant, clientID: "a"))
        #expect(s.sweep(now: t0.adding(seconds: 100)).isEmpty)
        #expect(!s.hasSession(tenant: tenant, clientID: "a"))

        var r = BrokerState<Int>()
        open(&r, "b", 1)
        _ = r.sessionClosed(tenant: tenant, clientID: "b", handle: 1, state: SessionState(tenant: tenant, clientID: "b", protocolVersion: .v5),
                            expiry: 100, will: msg("will"), willDelay: 10, now: t0)
        open(&r, "b", 2, clean: false)
        #expect(r.sweep(now: t0.adding(seconds: 20)).isEmpty)
    }

    @Test("[MQTT-4.8.2] a shared group delivers each message to one member, preferring connected members")
    func sharedGroups() {
        var s = BrokerState<Int>()
        for (i, c) in ["a", "b", "c"].enumerated() {
            open(&s, c, i + 1, clean: false)
            s.subscribe(tenant: tenant, clientID: c, filter: filter("$share/g/t"), options: SubscriptionOptions(qos: .atLeastOnce))
        }
        var picks: [Int: Int] = [:]
        for i in 0..<30 {
            let d = s.route(msg("t"), now: t0) { n in i % n }
            #expect(d.count == 1)
            picks[d[0].handle, default: 0] += 1
        }
        #expect(picks.count == 3)
        // Park "a" and "b": "c" (connected) gets everything.
        for (c, h) in [("a", 1), ("b", 2)] {
            _ = s.sessionClosed(tenant: tenant, clientID: c, handle: h,
                                state: SessionState(tenant: tenant, clientID: c, protocolVersion: .v5),
                                expiry: 60, will: nil, willDelay: 0, now: t0)
        }
        for i in 0..<10 { #expect(s.route(msg("t"), now: t0) { n in i % n }.map(\.handle) == [3]) }
    }

    @Test("tenants are isolated: a subscriber of one tenant never sees another tenant's messages")
    func tenantIsolation() {
        var s = BrokerState<Int>()
        let other = TenantID("111111111111")
        _ = s.openSession(tenant: other, clientID: "a", handle: 1, cleanStart: true, now: t0)
        s.subscribe(tenant: other, clientID: "a", filter: filter("#"), options: SubscriptionOptions())
        #expect(s.route(msg("t", tenant: .default), now: t0) { _ in 0 }.isEmpty)
        #expect(s.route(msg("t", tenant: other), now: t0) { _ in 0 }.count == 1)
        var r = InMemoryRetainedStore()
        r.apply(msg("r", tenant: other, retain: true))
        #expect(r.matching(tenant: .default, filter: "#", now: t0).isEmpty)
        #expect(r.matching(tenant: other, filter: "#", now: t0).count == 1)
    }

    @Test("[MQTT-3.3.1-10] an empty retained payload clears the retained message")
    func retainedClear() {
        var r = InMemoryRetainedStore()
        r.apply(msg("r", retain: true))
        #expect(r.matching(tenant: tenant, filter: "r", now: t0).count == 1)
        var clear = msg("r", retain: true)
        clear.payload = ByteBuffer()
        r.apply(clear)
        #expect(r.matching(tenant: tenant, filter: "r", now: t0).isEmpty)
    }
}
