import Broker
import IoTTypes
import MQTTCodec
import NIOCore
import Testing
import TopicTrie

/// Tier-1 tests of the per-connection protocol core. No sockets, no clocks: time is `t0 + n`.
@Suite struct SessionStateMachineTests {
    let t0 = Timestamp.seconds(1000)

    func payload(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    @Test("the connect deadline: armed once when the connection opens, closes with 0xA0 before CONNECT only")
    func connectDeadline() {
        var m = SessionStateMachine()
        let armed = m.onConnectionOpened(now: t0)
        #expect(armed == [.armKeepAlive(at: t0.adding(seconds: 10))])
        #expect(m.onConnectionOpened(now: t0.adding(seconds: 5)).isEmpty)
        #expect(m.onKeepAliveCheck(now: t0.adding(seconds: 9)) == [.armKeepAlive(at: t0.adding(seconds: 10))])
        #expect(m.onKeepAliveCheck(now: t0.adding(seconds: 10)) == [.close(.maximumConnectTime)])
        #expect(m.phase == .closed)

        var late = SessionStateMachine()
        _ = late.onConnectionOpened(now: t0)
        _ = late.onPacket(.connect(ConnectPacket(protocolVersion: .v5, keepAlive: 60, clientID: "c")), now: t0.adding(seconds: 3))
        // After CONNECT the old deadline means nothing: the check only re-arms keep alive.
        #expect(!late.onKeepAliveCheck(now: t0.adding(seconds: 11)).contains(.close(.maximumConnectTime)))
    }

    /// A machine that has completed CONNECT/CONNACK for `clientID`.
    func connected(_ version: ProtocolVersion = .v5, clientID: String = "c1", keepAlive: UInt16 = 60,
                   properties: MQTTProperties = [], cleanStart: Bool = true, will: WillMessage? = nil,
                   limits: BrokerLimits = BrokerLimits()) -> SessionStateMachine {
        var m = SessionStateMachine(limits: limits)
        let a = m.onConnect(
            ConnectPacket(protocolVersion: version, cleanStart: cleanStart, keepAlive: keepAlive, clientID: clientID,
                          will: will, properties: properties), assignedID: "assigned-1", now: t0)
        #expect(a == [.openSession(clientID: clientID, cleanStart: cleanStart)])
        _ = m.onSessionOpened(nil, now: t0)
        #expect(m.phase == .connected)
        return m
    }

    func sent(_ actions: [SessionStateMachine.Action]) -> [MQTTPacket] {
        actions.compactMap { if case .send(let p) = $0 { return p } else { return nil } }
    }

    // MARK: CONNECT

    @Test("CONNECT v5: CONNACK announces our limits, clamps keep alive and assigns an id to an empty client id")
    func connectV5Properties() {
        var m = SessionStateMachine()
        let a = m.onConnect(ConnectPacket(protocolVersion: .v5, keepAlive: 10, clientID: ""), assignedID: "gen-1", now: t0)
        #expect(a == [.openSession(clientID: "gen-1", cleanStart: true)])
        let b = m.onSessionOpened(nil, now: t0)
        guard case .send(.connack(let ack)) = b.first else {
            Issue.record("expected CONNACK, got \(b)")
            return
        }
        #expect(ack.reasonCode == .success)
        #expect(ack.sessionPresent == false)
        #expect(ack.properties.assignedClientIdentifier == "gen-1")
        #expect(ack.properties.serverKeepAlive == 30)  // AWS: 1–29 → 30
        #expect(ack.properties.receiveMaximum == 100)
        #expect(ack.properties.maximumPacketSize == 131_072)
        #expect(ack.properties.topicAliasMaximum == 8)
        #expect(ack.properties.list.contains(.subscriptionIdentifierAvailable(0)))
        #expect(ack.properties.list.contains(.sharedSubscriptionAvailable(1)))
        #expect(m.keepAlive == 30)
        #expect(b.contains(.armKeepAlive(at: t0.adding(seconds: 45))))
    }

    @Test("keep alive 0 becomes the maximum (1200 s); above the maximum is clamped")
    func keepAliveClamp() {
        #expect(connected(keepAlive: 0).keepAlive == 1200)
        #expect(connected(keepAlive: 5000).keepAlive == 1200)
        #expect(connected(keepAlive: 300).keepAlive == 300)
    }

    @Test("[MQTT-3.1.3-8] 3.1.1 empty client id with clean session 0 is refused with identifier rejected")
    func emptyIDPersistentV311() {
        var m = SessionStateMachine()
        let a = m.onConnect(ConnectPacket(protocolVersion: .v311, cleanStart: false, clientID: ""), assignedID: "x", now: t0)
        #expect(a == [.send(.connack(ConnAckPacket(reasonCode: .clientIdentifierNotValid))), .close(.clientIdentifierNotValid)])
        #expect(ReasonCode.clientIdentifierNotValid.v311ConnAckReturnCode == 2)
    }

    @Test("client ids over 128 bytes or starting with $ are refused (AWS IoT limits)")
    func clientIDLimits() {
        for id in [String(repeating: "a", count: 129), "$aws"] {
            var m = SessionStateMachine()
            let a = m.onConnect(ConnectPacket(protocolVersion: .v5, clientID: id), assignedID: "x", now: t0)
            #expect(a.last == .close(.clientIdentifierNotValid))
        }
    }

    @Test("[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection without a reply")
    func firstPacketNotConnect() {
        var m = SessionStateMachine()
        let a = m.onPacket(.pingreq, now: t0)
        #expect(a == [.close(.protocolError)])
    }

    @Test("[MQTT-3.1.0-2] a second CONNECT is a protocol error (v5 DISCONNECT 0x82)")
    func secondConnect() {
        var m = connected()
        let a = m.onPacket(.connect(ConnectPacket(protocolVersion: .v5, clientID: "c1")), now: t0)
        #expect(a == [.send(.disconnect(DisconnectPacket(reasonCode: .protocolError))), .close(.protocolError)])
    }

    @Test("enhanced authentication (Authentication Method) is refused with 0x8C")
    func authMethodRefused() {
        var m = SessionStateMachine()
        let a = m.onConnect(
            ConnectPacket(protocolVersion: .v5, clientID: "c", properties: [.authenticationMethod("SCRAM")]),
            assignedID: "x", now: t0)
        #expect(a.last == .close(.badAuthenticationMethod))
    }

    @Test("a Will with a wildcard topic is refused in CONNACK with 0x90")
    func badWillTopic() {
        var m = SessionStateMachine()
        let w = WillMessage(topic: "a/#", payload: payload("x"))
        let a = m.onConnect(ConnectPacket(protocolVersion: .v5, clientID: "c", will: w), assignedID: "x", now: t0)
        #expect(a.last == .close(.topicNameInvalid))
    }

    // MARK: PUBLISH in

    @Test("QoS 1 PUBLISH is routed, then acknowledged")
    func publishQoS1() {
        var m = connected()
        let a = m.onPacket(.publish(PublishPacket(topic: "a/b", payload: payload("hi"), qos: .atLeastOnce, packetID: 7)), now: t0)
        #expect(a.count == 2)
        guard case .route(let msg, _) = a[0] else {
            Issue.record("expected route first: \(a)")
            return
        }
        #expect(msg.topic == "a/b")
        #expect(msg.publisherClientID == "c1")
        #expect(a[1] == .send(.puback(PubAckPacket(packetID: 7))))
    }

    @Test("retained PUBLISH stores before routing")
    func publishRetained() {
        var m = connected()
        let a = m.onPacket(.publish(PublishPacket(topic: "a/b", payload: payload("hi"), retain: true)), now: t0)
        guard a.count == 2, case .retain = a[0], case .route = a[1] else {
            Issue.record("unexpected \(a)")
            return
        }
    }

    // MARK: Retained messages: acknowledged once stored

    func storeToken(_ actions: [SessionStateMachine.Action]) -> UInt64? {
        for a in actions { if case .retain(_, let token?) = a { return token } }
        return nil
    }

    @Test("[MQTT-4.6.0-2] a retained QoS 1 PUBACK waits for the store; later PUBACKs queue behind it, in order")
    func retainedAckWaitsForStore() {
        var m = connected()
        let a = m.onPacket(.publish(PublishPacket(topic: "r", payload: payload("1"), qos: .atLeastOnce, retain: true,
                                                  packetID: 1)), now: t0)
        guard let token = storeToken(a) else {
            Issue.record("expected a store token in \(a)")
            return
        }
        #expect(sent(a).isEmpty)
        #expect(a.contains { if case .route = $0 { true } else { false } })  // live subscribers get it at once
        let b = m.onPacket(.publish(PublishPacket(topic: "n", payload: payload("2"), qos: .atLeastOnce, packetID: 2)),
                           now: t0)
        #expect(sent(b).isEmpty)
        #expect(m.onRetainStored(token: token &+ 99, success: true).isEmpty)  // unknown token: nothing
        #expect(m.onRetainStored(token: token, success: true)
                    == [.send(.puback(PubAckPacket(packetID: 1))), .send(.puback(PubAckPacket(packetID: 2)))])
        // Nothing pending: the next PUBACK goes out at once.
        let c = m.onPacket(.publish(PublishPacket(topic: "n", payload: payload("3"), qos: .atLeastOnce, packetID: 3)),
                           now: t0)
        #expect(sent(c) == [.puback(PubAckPacket(packetID: 3))])
    }

    func routeToken(_ actions: [SessionStateMachine.Action]) -> UInt64? {
        for a in actions { if case .route(_, let token?) = a { return token } }
        return nil
    }

    @Test("in a cluster, PUBACK/PUBREC wait for routing (in order, with the store); a failed route answers 0x80")
    func ackWaitsForRouting() {
        var m = connected()
        m.acknowledgeAfterRouting = true
        let q0 = m.onPacket(.publish(PublishPacket(topic: "z", payload: payload("0"), qos: .atMostOnce)), now: t0)
        #expect(routeToken(q0) == nil)  // QoS 0 waits for nothing
        let a = m.onPacket(.publish(PublishPacket(topic: "r", payload: payload("1"), qos: .atLeastOnce, retain: true,
                                                  packetID: 1)), now: t0)
        let b = m.onPacket(.publish(PublishPacket(topic: "n", payload: payload("2"), qos: .exactlyOnce, packetID: 2)),
                           now: t0)
        guard let store1 = storeToken(a), let route1 = routeToken(a), let route2 = routeToken(b) else {
            Issue.record("expected tokens in \(a) and \(b)")
            return
        }
        #expect(sent(a).isEmpty && sent(b).isEmpty)
        #expect(m.onRouted(token: route2, success: false).isEmpty)  // behind PUBACK 1
        #expect(m.onRouted(token: route1, success: true).isEmpty)  // still waits for its store
        #expect(m.onRetainStored(token: store1, success: true)
                    == [.send(.puback(PubAckPacket(packetID: 1))),
                        .send(.pubrec(PubAckPacket(packetID: 2, reasonCode: .unspecifiedError)))])
    }

    @Test("stores completing out of order still release acknowledgements in PUBLISH order")
    func retainedAcksOutOfOrder() {
        var m = connected()
        let t1 = storeToken(m.onPacket(.publish(PublishPacket(topic: "r1", payload: payload("1"), qos: .atLeastOnce,
                                                              retain: true, packetID: 1)), now: t0))
        let t2 = storeToken(m.onPacket(.publish(PublishPacket(topic: "r2", payload: payload("2"), qos: .exactlyOnce,
                                                              retain: true, packetID: 2)), now: t0))
        guard let t1, let t2 else {
            Issue.record("expected two store tokens")
            return
        }
        #expect(t1 != t2)
        #expect(m.onRetainStored(token: t2, success: true).isEmpty)
        #expect(m.onRetainStored(token: t1, success: true)
                    == [.send(.puback(PubAckPacket(packetID: 1))), .send(.pubrec(PubAckPacket(packetID: 2)))])
    }

    @Test("a failed store: MQTT 5 gets 0x80 on PUBACK/PUBREC, and the QoS 2 exchange ends")
    func retainedStoreFailsV5() {
        var m = connected(.v5)
        let p2 = PublishPacket(topic: "r", payload: payload("x"), qos: .exactlyOnce, retain: true, packetID: 9)
        guard let token = storeToken(m.onPacket(.publish(p2), now: t0)) else {
            Issue.record("expected a store token")
            return
        }
        // A retransmission while the store is pending: no second route, no early PUBREC.
        var dup = p2
        dup.dup = true
        #expect(m.onPacket(.publish(dup), now: t0).isEmpty)
        #expect(m.onRetainStored(token: token, success: false)
                    == [.send(.pubrec(PubAckPacket(packetID: 9, reasonCode: .unspecifiedError)))])
        // The exchange ended: PUBREL is now unknown, and a new PUBLISH with id 9 is routed again.
        #expect(m.onPacket(.pubrel(PubAckPacket(packetID: 9)), now: t0)
                    == [.send(.pubcomp(PubAckPacket(packetID: 9, reasonCode: .packetIdentifierNotFound)))])
        let again = m.onPacket(.publish(p2), now: t0)
        #expect(again.contains { if case .route = $0 { true } else { false } })
        let p1 = PublishPacket(topic: "r", payload: payload("y"), qos: .atLeastOnce, retain: true, packetID: 10)
        guard let tAgain = storeToken(again), let t10 = storeToken(m.onPacket(.publish(p1), now: t0)) else {
            Issue.record("expected store tokens")
            return
        }
        #expect(m.onRetainStored(token: t10, success: true).isEmpty)  // behind the new PUBREC 9
        #expect(m.onRetainStored(token: tAgain, success: true)
                    == [.send(.pubrec(PubAckPacket(packetID: 9))), .send(.puback(PubAckPacket(packetID: 10)))])
        #expect(m.phase == .connected)
    }

    @Test("a failed store on MQTT 3.1.1 closes the connection without acknowledging it or anything behind it")
    func retainedStoreFailsV311() {
        var m = connected(.v311)
        _ = m.onPacket(.publish(PublishPacket(topic: "n", payload: payload("0"), qos: .atLeastOnce, packetID: 1)),
                       now: t0)
        let token = storeToken(m.onPacket(.publish(PublishPacket(topic: "r", payload: payload("1"), qos: .atLeastOnce,
                                                                 retain: true, packetID: 2)), now: t0))
        _ = m.onPacket(.publish(PublishPacket(topic: "n", payload: payload("3"), qos: .atLeastOnce, packetID: 3)),
                       now: t0)
        guard let token else {
            Issue.record("expected a store token")
            return
        }
        let a = m.onRetainStored(token: token, success: false)
        #expect(sent(a).isEmpty)
        #expect(a.last == .close(.unspecifiedError))
        #expect(m.phase == .closed)
        #expect(m.onRetainStored(token: token, success: true).isEmpty)
    }

    @Test("a retained QoS 0 PUBLISH is stored without a token (nothing to acknowledge)")
    func retainedQoS0() {
        var m = connected()
        let a = m.onPacket(.publish(PublishPacket(topic: "r", payload: payload("1"), retain: true)), now: t0)
        guard case .retain(_, nil) = a.first else {
            Issue.record("expected .retain without a token, got \(a)")
            return
        }
    }

    @Test("[MQTT-4.3.3] QoS 2: PUBREC, a retransmission is not routed twice, PUBREL → PUBCOMP, unknown PUBREL → 0x92")
    func publishQoS2() {
        var m = connected()
        let p = PublishPacket(topic: "a", payload: payload("x"), qos: .exactlyOnce, packetID: 5)
        let first = m.onPacket(.publish(p), now: t0)
        #expect(first.filter { if case .route = $0 { return true } else { return false } }.count == 1)
        #expect(first.last == .send(.pubrec(PubAckPacket(packetID: 5))))
        var dup = p
        dup.dup = true
        #expect(m.onPacket(.publish(dup), now: t0) == [.send(.pubrec(PubAckPacket(packetID: 5)))])
        #expect(m.onPacket(.pubrel(PubAckPacket(packetID: 5)), now: t0) == [.send(.pubcomp(PubAckPacket(packetID: 5)))])
        #expect(m.onPacket(.pubrel(PubAckPacket(packetID: 5)), now: t0)
                == [.send(.pubcomp(PubAckPacket(packetID: 5, reasonCode: .packetIdentifierNotFound)))])
    }

    @Test("[MQTT-3.3.4-7] more unacknowledged QoS 2 publishes than Receive Maximum → DISCONNECT 0x93")
    func receiveMaximumExceeded() {
        var limits = BrokerLimits()
        limits.receiveMaximum = 2
        var m = connected(limits: limits)
        for id: UInt16 in 1...2 {
            _ = m.onPacket(.publish(PublishPacket(topic: "a", payload: payload("x"), qos: .exactlyOnce, packetID: id)), now: t0)
        }
        let a = m.onPacket(.publish(PublishPacket(topic: "a", payload: payload("x"), qos: .exactlyOnce, packetID: 3)), now: t0)
        #expect(a == [.send(.disconnect(DisconnectPacket(reasonCode: .receiveMaximumExceeded))), .close(.receiveMaximumExceeded)])
    }

    @Test("[MQTT-3.3.2-2] wildcard in a PUBLISH topic: v5 DISCONNECT 0x90, 3.1.1 close")
    func wildcardTopic() {
        var m5 = connected(.v5)
        #expect(m5.onPacket(.publish(PublishPacket(topic: "a/+", payload: payload("x"))), now: t0)
                == [.send(.disconnect(DisconnectPacket(reasonCode: .topicNameInvalid))), .close(.topicNameInvalid)])
        var m3 = connected(.v311)
        #expect(m3.onPacket(.publish(PublishPacket(topic: "a/#", payload: payload("x"))), now: t0) == [.close(.topicNameInvalid)])
    }

    @Test("topics over 256 bytes or 7 slashes are invalid (AWS IoT limits)")
    func topicLimits() {
        var m = connected()
        #expect(m.onPacket(.publish(PublishPacket(topic: "a/b/c/d/e/f/g/h/i", payload: payload("x"))), now: t0).last
                == .close(.topicNameInvalid))
    }

    @Test("[MQTT-3.3.2-8..12] topic aliases: set then use; 0 or above the maximum → 0x94; unknown alias → 0x82")
    func topicAliases() {
        var m = connected()
        _ = m.onPacket(.publish(PublishPacket(topic: "long/topic", payload: payload("1"), properties: [.topicAlias(3)])), now: t0)
        let a = m.onPacket(.publish(PublishPacket(topic: "", payload: payload("2"), properties: [.topicAlias(3)])), now: t0)
        guard case .route(let msg, _) = a.first else {
            Issue.record("expected route: \(a)")
            return
        }
        #expect(msg.topic == "long/topic")
        #expect(msg.properties.topicAlias == nil)  // not forwarded
        var z = connected()
        #expect(z.onPacket(.publish(PublishPacket(topic: "t", payload: payload("x"), properties: [.topicAlias(0)])), now: t0).last
                == .close(.topicAliasInvalid))
        var big = connected()
        #expect(big.onPacket(.publish(PublishPacket(topic: "t", payload: payload("x"), properties: [.topicAlias(9)])), now: t0).last
                == .close(.topicAliasInvalid))
        var unknown = connected()
        #expect(unknown.onPacket(.publish(PublishPacket(topic: "", payload: payload("x"), properties: [.topicAlias(2)])), now: t0).last
                == .close(.protocolError))
    }

    @Test("[MQTT-3.3.2-4] Payload Format Indicator 1 with invalid UTF-8 at QoS 1 → PUBACK 0x99, not routed")
    func payloadFormatInvalid() {
        var m = connected()
        let bad = ByteBuffer(bytes: [0xFF, 0xFE])
        let a = m.onPacket(.publish(PublishPacket(topic: "a", payload: bad, qos: .atLeastOnce, packetID: 1,
                                                  properties: [.payloadFormatIndicator(1)])), now: t0)
        #expect(a == [.send(.puback(PubAckPacket(packetID: 1, reasonCode: .payloadFormatInvalid)))])
    }

    @Test("Message Expiry is clamped to 7 days and the remaining time is sent to subscribers")
    func messageExpiry() {
        var pub = connected(clientID: "p")
        let a = pub.onPacket(.publish(PublishPacket(topic: "a", payload: payload("x"), properties: [.messageExpiryInterval(10)])), now: t0)
        guard case .route(let msg, _) = a.first else {
            Issue.record("expected route")
            return
        }
        #expect(msg.expiresAt == t0.adding(seconds: 10))
        var sub = connected(clientID: "s")
        let d = sub.onDeliver(OutboundMessage(message: msg, qos: .atMostOnce, retain: false), now: t0.adding(seconds: 4))
        guard case .send(.publish(let p)) = d.first else {
            Issue.record("expected publish: \(d)")
            return
        }
        #expect(p.properties.messageExpiryInterval == 6)
        #expect(sub.onDeliver(OutboundMessage(message: msg, qos: .atMostOnce, retain: false), now: t0.adding(seconds: 10))
                == [.dropped(.expired)])
    }

    // MARK: SUBSCRIBE

    @Test("SUBSCRIBE: routing entries, then SUBACK with granted QoS, then retained delivery")
    func subscribeOrder() {
        var m = connected()
        let a = m.onPacket(.subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription(filter: "a/+", options: SubscriptionOptions(qos: .atLeastOnce)),
            TopicSubscription(filter: "a/#/b"),
        ])), now: t0)
        #expect(a.count == 3)
        guard case .addSubscription(let f, _) = a[0] else {
            Issue.record("expected addSubscription first: \(a)")
            return
        }
        #expect(f.filter == "a/+")
        #expect(a[1] == .send(.suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1, .topicFilterInvalid]))))
        guard case .deliverRetained = a[2] else {
            Issue.record("expected retained last")
            return
        }
    }

    @Test("more than 8 filters in one SUBSCRIBE: the excess gets 0x97")
    func tooManyFilters() {
        var m = connected()
        let subs = (0..<10).map { TopicSubscription(filter: "t/\($0)") }
        let a = m.onPacket(.subscribe(SubscribePacket(packetID: 2, subscriptions: subs)), now: t0)
        guard case .send(.suback(let ack)) = a.first(where: { if case .send = $0 { return true } else { return false } }) else {
            Issue.record("no SUBACK")
            return
        }
        #expect(ack.reasonCodes.prefix(8).allSatisfy { $0 == .grantedQoS0 })
        #expect(Array(ack.reasonCodes.suffix(2)) == [.quotaExceeded, .quotaExceeded])
    }

    @Test("Subscription Identifier in SUBSCRIBE → DISCONNECT 0xA1 (not available, as on AWS IoT)")
    func subscriptionIdentifier() {
        var m = connected()
        let a = m.onPacket(.subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter: "a")],
                                                      properties: [.subscriptionIdentifier(4)])), now: t0)
        #expect(a.last == .close(.subscriptionIdentifiersNotSupported))
    }

    @Test("[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error")
    func noLocalShared() {
        var m = connected()
        let a = m.onPacket(.subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription(filter: "$share/g/a", options: SubscriptionOptions(noLocal: true)),
        ])), now: t0)
        #expect(a.last == .close(.protocolError))
    }

    @Test("Retain Handling 1 sends retained messages only for a new subscription; 2 never; shared never")
    func retainHandling() {
        var m = connected()
        let opt1 = SubscriptionOptions(retainHandling: .sendIfNewSubscription)
        func retainedCount(_ a: [SessionStateMachine.Action]) -> Int {
            a.filter { if case .deliverRetained = $0 { return true } else { return false } }.count
        }
        #expect(retainedCount(m.onPacket(.subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter: "a", options: opt1)])), now: t0)) == 1)
        #expect(retainedCount(m.onPacket(.subscribe(SubscribePacket(packetID: 2, subscriptions: [TopicSubscription(filter: "a", options: opt1)])), now: t0)) == 0)
        #expect(retainedCount(m.onPacket(.subscribe(SubscribePacket(packetID: 3, subscriptions: [
            TopicSubscription(filter: "b", options: SubscriptionOptions(retainHandling: .doNotSend))])), now: t0)) == 0)
        #expect(retainedCount(m.onPacket(.subscribe(SubscribePacket(packetID: 4, subscriptions: [TopicSubscription(filter: "$share/g/c")])), now: t0)) == 0)
    }

    @Test("UNSUBSCRIBE: 0x00 for an existing subscription, 0x11 otherwise")
    func unsubscribe() {
        var m = connected()
        _ = m.onPacket(.subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter: "a")])), now: t0)
        let a = m.onPacket(.unsubscribe(UnsubscribePacket(packetID: 2, filters: ["a", "b"])), now: t0)
        #expect(a.last == .send(.unsuback(UnsubAckPacket(packetID: 2, reasonCodes: [.success, .noSubscriptionExisted]))))
    }

    // MARK: Deliveries out

    func message(_ topic: String = "a", qos: QoS = .atLeastOnce) -> BrokerMessage {
        BrokerMessage(tenant: .default, topic: topic, payload: payload("m"), qos: qos, retain: false, publisherClientID: "p")
    }

    @Test("outbound QoS 1 respects the client's Receive Maximum, queues the rest, and PUBACK drains the queue in order")
    func outboundWindow() {
        var m = connected(properties: [.receiveMaximum(2)])
        var ids: [UInt16] = []
        for i in 0..<4 {
            for p in sent(m.onDeliver(OutboundMessage(message: message("t/\(i)"), qos: .atLeastOnce, retain: false), now: t0)) {
                if case .publish(let pub) = p { ids.append(pub.packetID ?? 0) }
            }
        }
        #expect(ids.count == 2)
        #expect(m.session.pending.count == 2)
        let after = sent(m.onPacket(.puback(PubAckPacket(packetID: ids[0])), now: t0))
        guard case .publish(let next) = after.first else {
            Issue.record("expected the queued publish")
            return
        }
        #expect(next.topic == "t/2")
    }

    @Test("QoS 2 outbound: PUBREC → PUBREL, PUBCOMP ends it")
    func outboundQoS2() {
        var m = connected()
        let a = sent(m.onDeliver(OutboundMessage(message: message(qos: .exactlyOnce), qos: .exactlyOnce, retain: false), now: t0))
        guard case .publish(let p) = a.first, let id = p.packetID else {
            Issue.record("expected publish")
            return
        }
        #expect(m.onPacket(.pubrec(PubAckPacket(packetID: id)), now: t0) == [.send(.pubrel(PubAckPacket(packetID: id)))])
        _ = m.onPacket(.pubcomp(PubAckPacket(packetID: id)), now: t0)
        #expect(m.session.inflight.isEmpty)
    }

    @Test("outbound topic aliases are assigned when the client allows them and reused after")
    func outboundAliases() {
        var m = connected(properties: [.topicAliasMaximum(1)])
        let first = sent(m.onDeliver(OutboundMessage(message: message("x/y", qos: .atMostOnce), qos: .atMostOnce, retain: false), now: t0))
        let second = sent(m.onDeliver(OutboundMessage(message: message("x/y", qos: .atMostOnce), qos: .atMostOnce, retain: false), now: t0))
        guard case .publish(let p1) = first.first, case .publish(let p2) = second.first else {
            Issue.record("expected publishes")
            return
        }
        #expect(p1.topic == "x/y" && p1.properties.topicAlias == 1)
        #expect(p2.topic == "" && p2.properties.topicAlias == 1)
    }

    @Test("[MQTT-4.4.0-1] on resume, unacknowledged messages are resent with DUP=1 and PUBREL is resent")
    func resumeResends() {
        var old = connected(cleanStart: false)
        _ = old.onDeliver(OutboundMessage(message: message("q1"), qos: .atLeastOnce, retain: false), now: t0)
        _ = old.onDeliver(OutboundMessage(message: message("q2", qos: .exactlyOnce), qos: .exactlyOnce, retain: false), now: t0)
        let id2 = old.session.inflight.first { $0.value.phase == .awaitingPubRec }!.key
        _ = old.onPacket(.pubrec(PubAckPacket(packetID: id2)), now: t0)
        var m = SessionStateMachine()
        _ = m.onConnect(ConnectPacket(protocolVersion: .v5, cleanStart: false, clientID: "c1",
                                      properties: [.sessionExpiryInterval(60)]), assignedID: "x", now: t0)
        let a = sent(m.onSessionOpened(old.session, now: t0))
        #expect(a.first == .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success, properties: a.first.flatMap {
            if case .connack(let c) = $0 { return c.properties } else { return nil }
        } ?? [])))
        #expect(a.contains { if case .publish(let p) = $0 { return p.dup && p.topic == "q1" } else { return false } })
        #expect(a.contains(.pubrel(PubAckPacket(packetID: id2))))
    }

    // MARK: Keep alive, Will, DISCONNECT

    @Test("[MQTT-3.1.2-22] nothing for 1.5× keep alive → DISCONNECT 0x8D; activity re-arms the check")
    func keepAliveTimeout() {
        var m = connected(keepAlive: 60)
        _ = m.onPacket(.pingreq, now: t0.adding(seconds: 50))
        #expect(m.onKeepAliveCheck(now: t0.adding(seconds: 90)) == [.armKeepAlive(at: t0.adding(seconds: 140))])
        #expect(m.onKeepAliveCheck(now: t0.adding(seconds: 140))
                == [.send(.disconnect(DisconnectPacket(reasonCode: .keepAliveTimeout))), .close(.keepAliveTimeout)])
    }

    @Test("[MQTT-3.1.2-8] the Will is handed over on an abnormal close, and dropped on a normal DISCONNECT")
    func willOnClose() {
        let w = WillMessage(topic: "will/c1", payload: payload("gone"), qos: .atLeastOnce)
        var lost = connected(will: w)
        let a = lost.onConnectionClosed(now: t0)
        guard case .endSession(_, _, let will, _) = a.first else {
            Issue.record("expected endSession")
            return
        }
        #expect(will?.topic == "will/c1")
        var clean = connected(will: w)
        _ = clean.onPacket(.disconnect(DisconnectPacket()), now: t0)
        guard case .endSession(_, _, let none, _) = clean.onConnectionClosed(now: t0).first else {
            Issue.record("expected endSession")
            return
        }
        #expect(none == nil)
        var withWill = connected(will: w)
        _ = withWill.onPacket(.disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage)), now: t0)
        guard case .endSession(_, _, let kept, _) = withWill.onConnectionClosed(now: t0).first else {
            Issue.record("expected endSession")
            return
        }
        #expect(kept != nil)
    }

    @Test("[MQTT-3.14.2-2] DISCONNECT may not turn a session expiry of 0 into a positive one")
    func disconnectExpiry() {
        var m = connected()
        let a = m.onPacket(.disconnect(DisconnectPacket(properties: [.sessionExpiryInterval(30)])), now: t0)
        #expect(a.last == .close(.protocolError))
    }

    @Test("session expiry is clamped to 3600 s and reported in CONNACK; 3.1.1 clean session 0 gets the maximum")
    func sessionExpiry() {
        var m = SessionStateMachine()
        _ = m.onConnect(ConnectPacket(protocolVersion: .v5, clientID: "c", properties: [.sessionExpiryInterval(99_999)]),
                        assignedID: "x", now: t0)
        let a = sent(m.onSessionOpened(nil, now: t0))
        guard case .connack(let ack) = a.first else {
            Issue.record("no CONNACK")
            return
        }
        #expect(ack.properties.sessionExpiryInterval == 3600)
        var v3 = connected(.v311, cleanStart: false)
        guard case .endSession(_, let expiry, _, _) = v3.onConnectionClosed(now: t0).first else {
            Issue.record("expected endSession")
            return
        }
        #expect(expiry == 3600)
    }

    @Test("takeover: v5 client gets DISCONNECT 0x8E; server shutdown: 0x8B")
    func takeoverAndShutdown() {
        var a = connected()
        #expect(a.onTakenOver() == [.send(.disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))), .close(.sessionTakenOver)])
        var b = connected()
        #expect(b.onServerShutdown() == [.send(.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown))), .close(.serverShuttingDown)])
        var c = connected(.v311)
        #expect(c.onServerShutdown() == [.close(.serverShuttingDown)])
    }

    @Test("packets that arrive while the session is opening are handled after CONNACK, in order")
    func bufferedWhileOpening() {
        var m = SessionStateMachine()
        _ = m.onConnect(ConnectPacket(protocolVersion: .v5, clientID: "c"), assignedID: "x", now: t0)
        #expect(m.onPacket(.pingreq, now: t0).isEmpty)
        let a = sent(m.onSessionOpened(nil, now: t0))
        #expect(a.count == 2)
        #expect(a.last == .pingresp)
    }
}
