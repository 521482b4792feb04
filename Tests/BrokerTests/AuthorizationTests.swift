import Broker
import IoTTypes
import MQTTCodec
import NIOCore
import Synchronization
import Testing

/// A scriptable policy source: the actions it allows, an epoch the test moves, whether the principal is active,
/// and a log of the evaluations it was asked for (to see the cache at work).
final class FakeAuthorization: Authorizing, ConnectionAuthorizer {
    struct State {
        var allowed: Set<AuthorizationAction> = [.connect]
        var generation: UInt64 = 1
        var active = true
        var evaluations: [AuthorizationAction] = []
        var identities: [ConnectionIdentity] = []
    }
    let state = Mutex(State())

    func allow(_ actions: AuthorizationAction...) { state.withLock { $0.allowed.formUnion(actions) } }
    func revoke(_ action: AuthorizationAction) { _ = state.withLock { $0.allowed.remove(action) } }
    func bump() { state.withLock { $0.generation += 1 } }
    var evaluations: [AuthorizationAction] { state.withLock { $0.evaluations } }

    func epoch() -> AuthorizationEpoch { AuthorizationEpoch(restores: 0, generation: state.withLock { $0.generation }) }
    func principalIsActive() -> Bool { state.withLock { $0.active } }
    func isAllowed(_ action: AuthorizationAction) -> Bool {
        state.withLock {
            $0.evaluations.append(action)
            return $0.allowed.contains(action)
        }
    }
    func authorizer(for identity: ConnectionIdentity) -> (any ConnectionAuthorizer)? {
        state.withLock { $0.identities.append(identity) }
        return identity.principal == .anonymous ? nil : self
    }
}

/// Policy enforcement in the session state machine (AWS-IOT-SPEC §1.3, §2.4), with an injected authorizer.
@Suite struct AuthorizationTests {
    let t0 = Timestamp.seconds(1000)
    let cert = Principal.certificate(id: String(repeating: "ab", count: 32))

    func machine(_ auth: FakeAuthorization, principal: Principal? = nil) -> SessionStateMachine {
        SessionStateMachine(tenant: .default, principal: principal ?? cert, authorizing: auth)
    }

    func connected(_ auth: FakeAuthorization, _ version: ProtocolVersion, clientID: String = "dev-1")
        -> SessionStateMachine
    {
        var m = machine(auth)
        let a = m.onConnect(ConnectPacket(protocolVersion: version, keepAlive: 60, clientID: clientID),
                            assignedID: "x", now: t0)
        #expect(a == [.openSession(clientID: clientID, cleanStart: true)])
        _ = m.onSessionOpened(nil, now: t0)
        #expect(m.phase == .connected)
        return m
    }

    func sent(_ actions: [SessionStateMachine.Action]) -> [MQTTPacket] {
        actions.compactMap { if case .send(let p) = $0 { return p } else { return nil } }
    }

    func routed(_ actions: [SessionStateMachine.Action]) -> Bool {
        actions.contains { if case .route = $0 { true } else { false } }
    }

    func publish(_ topic: String, qos: QoS = .atLeastOnce, retain: Bool = false, id: UInt16 = 7) -> MQTTPacket {
        .publish(PublishPacket(topic: topic, payload: ByteBuffer(string: "m"), qos: qos, retain: retain,
                               packetID: qos == .atMostOnce ? nil : id))
    }

    func outbound(_ topic: String, qos: QoS = .atMostOnce) -> OutboundMessage {
        OutboundMessage(message: BrokerMessage(tenant: .default, topic: topic, payload: ByteBuffer(string: "m"),
                                               qos: qos, retain: false, publisherClientID: "p"),
                        qos: qos, retain: false)
    }

    // MARK: CONNECT

    @Test("iot:Connect denied: CONNACK 0x87 on MQTT 5, return code 5 on 3.1.1 (the encoder maps it), then close")
    func connectDenied() {
        for version in [ProtocolVersion.v5, .v311] {
            let auth = FakeAuthorization()
            auth.revoke(.connect)
            var m = machine(auth)
            let a = m.onConnect(ConnectPacket(protocolVersion: version, keepAlive: 60, clientID: "nope"),
                                assignedID: "x", now: t0)
            #expect(a == [.denied(.connect), .send(.connack(ConnAckPacket(reasonCode: .notAuthorized))),
                          .close(.notAuthorized)])
            #expect(m.phase == .closed)
            #expect(ReasonCode.notAuthorized.v311ConnAckReturnCode == 5)
        }
    }

    @Test("the authorizer is made at CONNECT with tenant, principal, client id, source address and attributes")
    func connectIdentity() {
        let auth = FakeAuthorization()
        var m = machine(auth)
        m.sourceIP = "192.0.2.7"
        let will = WillMessage(topic: "w", payload: ByteBuffer(string: "x"))
        _ = m.onConnect(ConnectPacket(protocolVersion: .v311, cleanStart: false, keepAlive: 60, clientID: "dev-9",
                                      will: will), assignedID: "x", now: t0)
        let id = auth.state.withLock { $0.identities }
        #expect(id == [ConnectionIdentity(tenant: .default, principal: cert, clientID: "dev-9", sourceIP: "192.0.2.7",
                                          persistentConnect: true, lastWill: true)])
        #expect(auth.evaluations == [.connect])
    }

    @Test("no authorizer (the dev listener's anonymous principal): nothing is checked")
    func anonymousUnenforced() {
        let auth = FakeAuthorization()
        auth.revoke(.connect)
        var m = machine(auth, principal: .anonymous)
        let a = m.onConnect(ConnectPacket(protocolVersion: .v5, keepAlive: 60, clientID: "c"), assignedID: "x", now: t0)
        #expect(a == [.openSession(clientID: "c", cleanStart: true)])
        _ = m.onSessionOpened(nil, now: t0)
        #expect(routed(m.onPacket(publish("any/topic"), now: t0)))
        #expect(auth.evaluations.isEmpty)
    }

    // MARK: PUBLISH

    @Test("iot:Publish denied on MQTT 5: PUBACK 0x87 for QoS 1, QoS 0 dropped silently; nothing routed")
    func publishDeniedV5() {
        let auth = FakeAuthorization()
        auth.allow(.publish(topic: "ok"))
        var m = connected(auth, .v5)
        let a = m.onPacket(publish("no", qos: .atLeastOnce, id: 3), now: t0)
        #expect(a == [.denied(.publish(topic: "no")),
                      .send(.puback(PubAckPacket(packetID: 3, reasonCode: .notAuthorized)))])
        let b = m.onPacket(publish("no", qos: .atMostOnce), now: t0)
        #expect(b == [.denied(.publish(topic: "no"))])
        #expect(m.phase == .connected)
        let c = m.onPacket(publish("ok", qos: .atLeastOnce, id: 4), now: t0)
        #expect(routed(c))
        #expect(sent(c) == [.puback(PubAckPacket(packetID: 4))])
    }

    @Test("iot:Publish denied on MQTT 3.1.1: the connection is closed, no PUBACK")
    func publishDeniedV311() {
        let auth = FakeAuthorization()
        var m = connected(auth, .v311)
        let a = m.onPacket(publish("no", qos: .atLeastOnce), now: t0)
        #expect(a == [.denied(.publish(topic: "no")), .close(.notAuthorized)])
        #expect(m.phase == .closed)
    }

    @Test("a retained publish needs iot:RetainPublish too")
    func retainPublish() {
        let auth = FakeAuthorization()
        auth.allow(.publish(topic: "r"))
        var m = connected(auth, .v5)
        let a = m.onPacket(publish("r", qos: .atLeastOnce, retain: true, id: 5), now: t0)
        #expect(a == [.denied(.retainPublish(topic: "r")),
                      .send(.puback(PubAckPacket(packetID: 5, reasonCode: .notAuthorized)))])
        auth.allow(.retainPublish(topic: "r"))
        auth.bump()
        let b = m.onPacket(publish("r", qos: .atLeastOnce, retain: true, id: 6), now: t0)
        #expect(b.contains { if case .retain = $0 { true } else { false } })
        #expect(routed(b))
    }

    // MARK: SUBSCRIBE

    @Test("iot:Subscribe denied: 0x87 for that filter only (3.1.1: 0x80), the others are granted")
    func subscribeDenied() {
        for version in [ProtocolVersion.v5, .v311] {
            let auth = FakeAuthorization()
            auth.allow(.subscribe(filter: "ok/#"))
            var m = connected(auth, version)
            let a = m.onPacket(.subscribe(SubscribePacket(packetID: 9, subscriptions: [
                TopicSubscription(filter: "no/+", options: SubscriptionOptions(qos: .atLeastOnce)),
                TopicSubscription(filter: "ok/#", options: SubscriptionOptions(qos: .atLeastOnce)),
            ])), now: t0)
            #expect(a.contains(.denied(.subscribe(filter: "no/+"))))
            #expect(sent(a) == [.suback(SubAckPacket(packetID: 9, reasonCodes: [.notAuthorized, .grantedQoS1]))])
            #expect(m.session.subscriptions.keys.sorted() == ["ok/#"])
            #expect(m.phase == .connected)
            #expect(ReasonCode.notAuthorized.v311SubAckReturnCode == 0x80)
        }
    }

    // MARK: Receive

    @Test("iot:Receive is checked at delivery: a denied message is not delivered to this subscriber")
    func receiveDenied() {
        let auth = FakeAuthorization()
        auth.allow(.receive(topic: "ok"))
        var m = connected(auth, .v5)
        #expect(m.onDeliver(outbound("no"), now: t0) == [.denied(.receive(topic: "no"))])
        #expect(m.onDeliver(outbound("no", qos: .atLeastOnce), now: t0) == [.denied(.receive(topic: "no"))])
        #expect(m.session.inflight.isEmpty)
        let ok = sent(m.onDeliver(outbound("ok"), now: t0))
        #expect(ok.count == 1)
    }

    @Test("a Will whose topic the policy does not allow to publish is dropped when the connection is lost")
    func willDenied() {
        for (topic, published) in [("w/ok", true), ("w/no", false)] {
            let auth = FakeAuthorization()
            auth.allow(.publish(topic: "w/ok"))
            var m = machine(auth)
            let will = WillMessage(topic: topic, payload: ByteBuffer(string: "bye"))
            _ = m.onConnect(ConnectPacket(protocolVersion: .v5, keepAlive: 60, clientID: "dev-w", will: will),
                            assignedID: "x", now: t0)
            _ = m.onSessionOpened(nil, now: t0)
            let a = m.onConnectionClosed(now: t0)
            guard case .endSession(_, _, let w, _) = a.last else {
                Issue.record("expected endSession, got \(a)")
                continue
            }
            #expect((w != nil) == published)
            #expect(a.contains(.denied(.publish(topic: topic))) == !published)
        }
    }

    // MARK: Cache

    @Test("decisions are cached per connection and dropped when the epoch moves: a change applies at once")
    func cacheInvalidation() {
        let auth = FakeAuthorization()
        auth.allow(.publish(topic: "t"))
        var m = connected(auth, .v5)
        for id in 1...3 { #expect(routed(m.onPacket(publish("t", id: UInt16(id)), now: t0))) }
        #expect(auth.evaluations == [.connect, .publish(topic: "t")])  // evaluated once, then cached
        #expect(m.authorization?.hits == 2)

        auth.revoke(.publish(topic: "t"))
        #expect(routed(m.onPacket(publish("t", id: 4), now: t0)))  // same epoch: still the cached answer
        auth.bump()  // e.g. DetachPolicy applied
        let a = m.onPacket(publish("t", id: 5), now: t0)
        #expect(!routed(a))
        #expect(sent(a) == [.puback(PubAckPacket(packetID: 5, reasonCode: .notAuthorized))])
    }

    @Test("the cache is bounded: past the limit it starts again empty")
    func cacheBound() {
        let auth = FakeAuthorization()
        var cache = AuthorizationCache(auth, limit: 4)
        for i in 0..<10 { _ = cache.check(.publish(topic: "t/\(i)")) }
        #expect(cache.count <= 4)
        #expect(cache.count >= 1)
    }

    @Test("a certificate that leaves ACTIVE: the next epoch change disconnects (v5 DISCONNECT 0x87), idle or not")
    func principalInactive() {
        let auth = FakeAuthorization()
        auth.allow(.publish(topic: "t"))
        var idle = connected(auth, .v5)
        var busy = connected(auth, .v311)
        #expect(idle.onAuthorizationChanged().isEmpty)  // nothing changed yet
        auth.state.withLock { $0.active = false }
        auth.bump()
        let a = idle.onAuthorizationChanged()
        #expect(a == [.denied(.connect), .send(.disconnect(DisconnectPacket(reasonCode: .notAuthorized))),
                      .close(.notAuthorized)])
        #expect(idle.phase == .closed)
        let b = busy.onPacket(publish("t"), now: t0)
        #expect(b == [.denied(.publish(topic: "t")), .close(.notAuthorized)])
        #expect(busy.phase == .closed)
    }
}
