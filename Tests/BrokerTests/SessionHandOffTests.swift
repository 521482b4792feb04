@testable import Broker
import IoTTypes
import MQTTCodec
import NIOCore
import Testing
import TopicTrie

/// Sessions moving between nodes (issue 7): the pure side — what a node gives up, what another imports, and the
/// replicated-queue writes that go with it.
@Suite struct SessionHandOffTests {
    let t0 = Timestamp.seconds(1000)
    let tenant = TenantID.default

    func msg(_ topic: String, qos: QoS = .atLeastOnce, payload: String = "x") -> BrokerMessage {
        BrokerMessage(tenant: tenant, topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: false,
                      publisherClientID: "pub")
    }

    func filter(_ s: String) -> TopicFilter { try! Topic.parseFilter(s) }

    /// A persistent session subscribed to `t` (QoS 1), parked on `s` with `expiry`.
    func park(_ s: inout BrokerState<Int>, _ client: String = "a", expiry: UInt32 = 60, handle: Int = 1) {
        _ = s.openSession(tenant: tenant, clientID: client, handle: handle, cleanStart: false, now: t0)
        s.subscribe(tenant: tenant, clientID: client, filter: filter("t"), options: SubscriptionOptions(qos: .atLeastOnce))
        var st = SessionState(tenant: tenant, clientID: client, protocolVersion: .v5)
        st.subscriptions["t"] = .init(filter: filter("t"), options: SubscriptionOptions(qos: .atLeastOnce))
        _ = s.sessionClosed(tenant: tenant, clientID: client, handle: handle, state: st, expiry: expiry, will: nil,
                            willDelay: 0, now: t0)
    }

    @Test("with replicated queues on, each message queued for a parked session is also a write; resume clears it")
    func replicatedQueueWrites() {
        var s = BrokerState<Int>(replicateQueues: true)
        park(&s)
        #expect(s.takeRecordWrites().count == 1)  // the record
        _ = s.route(msg("t", qos: .atMostOnce), now: t0) { _ in 0 }  // QoS 0 is not kept, not written
        _ = s.route(msg("t", payload: "1"), now: t0) { _ in 0 }
        _ = s.route(msg("t", payload: "2"), now: t0) { _ in 0 }
        let writes = s.takeRecordWrites()
        #expect(writes.count == 2)
        guard case .enqueue(let t, let c, let ms) = writes.first else {
            Issue.record("expected an enqueue write, got \(writes)")
            return
        }
        #expect(t == tenant && c == "a" && ms.count == 1 && ms[0].qos == .atLeastOnce)
        guard case .opened(let resumed?) = s.openSession(tenant: tenant, clientID: "a", handle: 2, cleanStart: false,
                                                         now: t0) else {
            Issue.record("expected a resumed session")
            return
        }
        #expect(resumed.pending.count == 2)
        #expect(s.takeRecordWrites() == [.clearQueue(tenant: tenant, clientID: "a")])
    }

    @Test("with replicated queues off (a lone node), queueing writes nothing")
    func noReplicationOnALoneNode() {
        var s = BrokerState<Int>()
        park(&s)
        _ = s.takeRecordWrites()
        _ = s.route(msg("t"), now: t0) { _ in 0 }
        #expect(s.takeRecordWrites().isEmpty)
        _ = s.openSession(tenant: tenant, clientID: "a", handle: 2, cleanStart: false, now: t0)
        #expect(s.takeRecordWrites().isEmpty)
    }

    @Test("parking writes what the client is still owed: unacknowledged deliveries (in send order), then the queue")
    func parkingReplicatesOwedMessages() {
        var s = BrokerState<Int>(replicateQueues: true)
        _ = s.openSession(tenant: tenant, clientID: "a", handle: 1, cleanStart: false, now: t0)
        var st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        let o = { (p: String) in OutboundMessage(message: msg("t", payload: p), qos: .atLeastOnce, retain: false) }
        st.inflight[7] = .init(outbound: o("second"), phase: .awaitingPubAck, sequence: 2)
        st.inflight[3] = .init(outbound: o("first"), phase: .awaitingPubRec, sequence: 1)
        st.inflight[4] = .init(outbound: o("received"), phase: .awaitingPubComp, sequence: 3)
        st.pending.append(o("queued"))
        _ = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: 60, will: nil, willDelay: 0,
                            now: t0)
        let writes = s.takeRecordWrites()
        guard writes.count == 2, case .put = writes[0], case .enqueue(_, _, let ms) = writes[1] else {
            Issue.record("expected a record then an enqueue, got \(writes)")
            return
        }
        #expect(ms.map { String(buffer: $0.message.payload) } == ["first", "second", "queued"])
    }

    @Test("handing off a parked session takes it out (subscriptions too) and clears its replicated queue")
    func handOffParked() {
        var s = BrokerState<Int>(replicateQueues: true)
        park(&s)
        _ = s.route(msg("t", payload: "q"), now: t0) { _ in 0 }
        _ = s.takeRecordWrites()
        guard case .handedOver(let st, let expiry) = s.handOff(tenant: tenant, clientID: "a", cleanStart: false, token: 1)
        else {
            Issue.record("expected the parked session")
            return
        }
        #expect(expiry == 60)
        #expect(st.pending.count == 1)
        #expect(st.subscriptions.keys.sorted() == ["t"])
        #expect(!s.hasSession(tenant: tenant, clientID: "a"))
        #expect(s.subscriptionCount == 0)
        #expect(s.queuedMessages == 0)
        #expect(s.takeRecordWrites() == [.clearQueue(tenant: tenant, clientID: "a")])
        #expect(s.route(msg("t"), now: t0) { _ in 0 }.isEmpty)
        // Asked again: nothing here any more.
        guard case .absent = s.handOff(tenant: tenant, clientID: "a", cleanStart: false, token: 2) else {
            Issue.record("expected absent")
            return
        }
    }

    @Test("a clean start elsewhere discards the parked session and its record")
    func handOffCleanStart() {
        var s = BrokerState<Int>()
        park(&s)
        _ = s.takeRecordWrites()
        guard case .discarded = s.handOff(tenant: tenant, clientID: "a", cleanStart: true, token: 1) else {
            Issue.record("expected discarded")
            return
        }
        #expect(s.takeRecordWrites() == [.remove(tenant: tenant, clientID: "a")])
        #expect(s.sessionCount == 0 && s.subscriptionCount == 0)
    }

    @Test("a connected session is kicked; its close answers the request with the session (persistent) or nothing")
    func handOffConnected() {
        for (expiry, cleanStart) in [(UInt32(60), false), (0, false), (60, true)] {
            var s = BrokerState<Int>()
            _ = s.openSession(tenant: tenant, clientID: "a", handle: 1, cleanStart: false, now: t0)
            s.subscribe(tenant: tenant, clientID: "a", filter: filter("t"), options: SubscriptionOptions(qos: .atLeastOnce))
            guard case .kick(let h) = s.handOff(tenant: tenant, clientID: "a", cleanStart: cleanStart, token: 42) else {
                Issue.record("expected a kick")
                return
            }
            #expect(h == 1)
            var st = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
            st.subscriptions["t"] = .init(filter: filter("t"), options: SubscriptionOptions(qos: .atLeastOnce))
            let will = msg("will")
            let (r, willNow) = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: st, expiry: expiry,
                                               will: will, willDelay: 0, now: t0)
            #expect(r.remoteHandOff?.token == 42)
            let keep = expiry > 0 && !cleanStart
            #expect((r.remoteHandOff?.state != nil) == keep)
            #expect(willNow?.topic == "will")  // as a local takeover: a Will without delay is published
            #expect(r.handOver == nil)
            #expect(s.sessionCount == 0 && s.subscriptionCount == 0)
            // Not kept: the session ended, so its record goes; kept: the record stays (the session lives on).
            #expect(s.takeRecordWrites() == (keep ? [] : [.remove(tenant: tenant, clientID: "a")]))
        }
    }

    @Test("an imported session opens with its subscriptions routed here; a session held here wins over it")
    func importSession() {
        var s = BrokerState<Int>()
        let imported = SessionState.rebuilt(
            tenant: tenant, clientID: "a", protocolVersion: .v5,
            subscriptions: ["t": SubscriptionOptions(qos: .atLeastOnce), "$share/g/u": SubscriptionOptions(qos: .exactlyOnce),
                            "bad/#/x": SubscriptionOptions()],
            messages: [OutboundMessage(message: msg("t", payload: "owed"), qos: .atLeastOnce, retain: false)])
        #expect(imported.subscriptions.keys.sorted() == ["$share/g/u", "t"])  // an unparsable filter is skipped
        guard case .opened(let resumed?) = s.openSession(tenant: tenant, clientID: "a", handle: 5, cleanStart: false,
                                                         imported: imported, now: t0) else {
            Issue.record("expected the imported session")
            return
        }
        #expect(resumed.pending.count == 1)
        #expect(s.route(msg("t"), now: t0) { _ in 0 }.first?.handle == 5)
        #expect(s.route(msg("u"), now: t0) { _ in 0 }.first?.handle == 5)
        // A client with a session parked here: the local one wins.
        var h = BrokerState<Int>()
        park(&h, "b")
        guard case .opened(let local?) = h.openSession(tenant: tenant, clientID: "b", handle: 2, cleanStart: false,
                                                      imported: imported, now: t0) else {
            Issue.record("expected the local session")
            return
        }
        #expect(local.clientID == "b" && local.pending.isEmpty)
        // A clean start ignores an import.
        var c = BrokerState<Int>()
        guard case .opened(nil) = c.openSession(tenant: tenant, clientID: "a", handle: 1, cleanStart: true,
                                                imported: imported, now: t0) else {
            Issue.record("expected a fresh session")
            return
        }
        #expect(c.subscriptionCount == 0)
    }
}
