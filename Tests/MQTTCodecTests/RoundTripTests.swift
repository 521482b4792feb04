import BrokerTestKit
import MQTTCodec
import NIOCore
import Testing

@Suite("Round trip: decode(encode(p)) == p")
struct RoundTripTests {
    @Test("every packet type round-trips", arguments: [ProtocolVersion.v311, .v5])
    func everyPacketType(version: ProtocolVersion) {
        let samples = Samples.all(version)
        #expect(Set(samples.map(\.type)).count == (version == .v5 ? 15 : 14))
        for packet in samples { expectRoundTrip(packet, version) }
    }

    @Test("the v5 samples use every property kind")
    func everyPropertyKind() {
        var seen = Set<UInt8>()
        for packet in Samples.all(.v5) {
            for p in properties(of: packet) { seen.insert(p.id.rawValue) }
        }
        #expect(seen == Set(PropertyID.allCases.map(\.rawValue)))
    }

    @Test("3.1.1 encoding drops v5-only fields and maps reason codes down")
    func v311Lossy() throws {
        let cases: [(MQTTPacket, MQTTPacket)] = [
            (.puback(PubAckPacket(packetID: 5, reasonCode: .notAuthorized, properties: [.reasonString("x")])),
             .puback(PubAckPacket(packetID: 5))),
            (.connack(ConnAckPacket(reasonCode: .banned)), .connack(ConnAckPacket(reasonCode: .notAuthorized))),
            (.connack(ConnAckPacket(reasonCode: .serverBusy)), .connack(ConnAckPacket(reasonCode: .serverUnavailable))),
            (.suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1, .quotaExceeded])),
             .suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1, .unspecifiedError]))),
            (.unsuback(UnsubAckPacket(packetID: 2, reasonCodes: [.success])), .unsuback(UnsubAckPacket(packetID: 2))),
            (.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown)), .disconnect(DisconnectPacket())),
            (.publish(PublishPacket(topic: "t", payload: buf("p"), properties: [.topicAlias(1)])),
             .publish(PublishPacket(topic: "t", payload: buf("p")))),
        ]
        for (input, expected) in cases {
            var buffer = ByteBuffer()
            MQTTEncoder.encode(input, version: .v311, into: &buffer)
            var decoder = MQTTDecoder(role: receiverRole(of: input), version: .v311)
            #expect(try decoder.decode(&buffer) == expected)
        }
    }

    @Test("v3.1.1 CONNACK return codes map to v5 reasons", arguments: [
        (UInt8(0), ReasonCode.success), (1, .unsupportedProtocolVersion), (2, .clientIdentifierNotValid),
        (3, .serverUnavailable), (4, .badUserNameOrPassword), (5, .notAuthorized),
    ])
    func v311ConnAckCodes(code: UInt8, reason: ReasonCode) {
        let packet = decodeOne(PacketBytes.connack(version: .v311, returnCode: code), role: .client, version: .v311)
        #expect(packet == .connack(ConnAckPacket(reasonCode: reason)))
        #expect(reason.v311ConnAckReturnCode == code)
    }

    @Test("v5 short forms are used when encoding and understood when decoding")
    func shortForms() {
        func encoded(_ p: MQTTPacket) -> [UInt8] {
            var b = ByteBuffer()
            MQTTEncoder.encode(p, version: .v5, into: &b)
            return Array(b.readableBytesView)
        }
        #expect(encoded(.puback(PubAckPacket(packetID: 0x0102))) == [0x40, 0x02, 0x01, 0x02])
        #expect(encoded(.pubrel(PubAckPacket(packetID: 1, reasonCode: .packetIdentifierNotFound)))
                == [0x62, 0x03, 0x00, 0x01, 0x92])
        #expect(encoded(.disconnect(DisconnectPacket())) == [0xE0, 0x00])
        #expect(encoded(.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown))) == [0xE0, 0x01, 0x8B])
        #expect(encoded(.auth(AuthPacket())) == [0xF0, 0x00])
        // Long forms with an empty property block decode to the same packets.
        #expect(decodeOne(PacketBytes.ack(.pubcomp, packetID: 3, reason: 0, properties: []))
                == .pubcomp(PubAckPacket(packetID: 3)))
        #expect(decodeOne(PacketBytes.disconnect(reason: 0, properties: [])) == .disconnect(DisconnectPacket()))
        #expect(decodeOne(PacketBytes.auth(reason: 0x18)) == .auth(AuthPacket(reasonCode: .continueAuthentication)))
    }

    @Test("encodePublishHeader + payload == encode", arguments: [ProtocolVersion.v311, .v5])
    func publishHeader(version: ProtocolVersion) {
        let p = PublishPacket(topic: "x/y", payload: buf("payload bytes"), qos: .atLeastOnce, packetID: 9,
                              properties: version == .v5 ? Samples.publishProperties : [])
        var whole = ByteBuffer()
        MQTTEncoder.encode(.publish(p), version: version, into: &whole)
        var split = ByteBuffer()
        MQTTEncoder.encodePublishHeader(p, version: version, into: &split)
        split.writeImmutableBuffer(p.payload)
        #expect(whole == split)
    }

    @Test("encoder output matches independently built bytes")
    func goldenBytes() {
        func encoded(_ p: MQTTPacket, _ v: ProtocolVersion) -> [UInt8] {
            var b = ByteBuffer()
            MQTTEncoder.encode(p, version: v, into: &b)
            return Array(b.readableBytesView)
        }
        let willProps = prop(0x18, Wire().u32(5))
        #expect(encoded(.connect(ConnectPacket(
            protocolVersion: .v5, keepAlive: 10, clientID: "c",
            will: WillMessage(topic: "w", payload: buf("x"), qos: .atLeastOnce, properties: [.willDelayInterval(5)]),
            username: "u", password: buf("p"), properties: [.sessionExpiryInterval(7)])), .v5)
            == PacketBytes.connect(version: .v5, clientID: "c", keepAlive: 10,
                                   will: .init(topic: "w", payload: Array("x".utf8), qos: 1, properties: willProps),
                                   username: "u", password: Array("p".utf8), properties: prop(0x11, Wire().u32(7))))
        #expect(encoded(.connect(ConnectPacket(protocolVersion: .v311, cleanStart: false, clientID: "id")), .v311)
                == PacketBytes.connect(version: .v311, clientID: "id", cleanStart: false))
        #expect(encoded(.publish(PublishPacket(topic: "a", payload: buf("hi"), qos: .exactlyOnce, retain: true,
                                               dup: true, packetID: 300,
                                               properties: [.subscriptionIdentifier(200)])), .v5)
                == PacketBytes.publish(topic: "a", payload: Array("hi".utf8), qos: 2, retain: true, dup: true,
                                       packetID: 300, properties: prop(0x0B, Wire().varint(200))))
        #expect(encoded(.subscribe(SubscribePacket(packetID: 2, subscriptions: [
            TopicSubscription(filter: "s/#", options: SubscriptionOptions(
                qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .sendIfNewSubscription)),
        ])), .v5) == PacketBytes.subscribe(packetID: 2, filters: [("s/#", 0b0001_1101)]))
        #expect(encoded(.suback(SubAckPacket(packetID: 2, reasonCodes: [.grantedQoS2, .notAuthorized])), .v311)
                == PacketBytes.suback(version: .v311, packetID: 2, codes: [2, 0x80]))
        #expect(encoded(.unsuback(UnsubAckPacket(packetID: 4, reasonCodes: [.success])), .v5)
                == PacketBytes.unsuback(packetID: 4, codes: [0]))
        #expect(encoded(.connack(ConnAckPacket(sessionPresent: true, reasonCode: .success)), .v311)
                == PacketBytes.connack(version: .v311, sessionPresent: true))
    }

    @Test("independently built bytes decode to the expected packets")
    func goldenDecode() {
        let userProp = prop(0x26, Wire().string("a").string("b"))
        #expect(decodeOne(PacketBytes.publish(topic: "t/1", payload: [1, 2, 3], qos: 1, packetID: 77,
                                              properties: prop(0x23, Wire().u16(0)) + userProp))
                == .publish(PublishPacket(topic: "t/1", payload: ByteBuffer(bytes: [1, 2, 3]), qos: .atLeastOnce,
                                          packetID: 77, properties: [.topicAlias(0), .userProperty("a", "b")])))
        #expect(decodeOne(PacketBytes.subscribe(version: .v311, packetID: 1, filters: [("a", 1), ("b/#", 2)]),
                          version: .v311)
                == .subscribe(SubscribePacket(packetID: 1, subscriptions: [
                    TopicSubscription(filter: "a", options: SubscriptionOptions(qos: .atLeastOnce)),
                    TopicSubscription(filter: "b/#", options: SubscriptionOptions(qos: .exactlyOnce)),
                ])))
        #expect(decodeOne(PacketBytes.unsubscribe(packetID: 3, filters: ["x"])) ==
                .unsubscribe(UnsubscribePacket(packetID: 3, filters: ["x"])))
        #expect(decodeOne(PacketBytes.pingreq) == .pingreq)
        #expect(decodeOne(PacketBytes.pingresp, role: .client) == .pingresp)
    }

    private func properties(of packet: MQTTPacket) -> [MQTTProperty] {
        switch packet {
        case .connect(let p): return p.properties.list + (p.will?.properties.list ?? [])
        case .connack(let p): return p.properties.list
        case .publish(let p): return p.properties.list
        case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p): return p.properties.list
        case .subscribe(let p): return p.properties.list
        case .suback(let p): return p.properties.list
        case .unsubscribe(let p): return p.properties.list
        case .unsuback(let p): return p.properties.list
        case .pingreq, .pingresp: return []
        case .disconnect(let p): return p.properties.list
        case .auth(let p): return p.properties.list
        }
    }
}
