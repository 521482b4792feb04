import MQTTCodec
import NIOCore

/// Hand-written packets covering every packet type and, for v5, every property kind in a context where it is allowed.
enum Samples {
    static let user: MQTTProperty = .userProperty("k", "värde")

    static let connectProperties: MQTTProperties = [
        .sessionExpiryInterval(3600), .receiveMaximum(20), .maximumPacketSize(1 << 20), .topicAliasMaximum(10),
        .requestResponseInformation(1), .requestProblemInformation(0), user, .userProperty("k", "second"),
        .authenticationMethod("SCRAM-SHA-256"), .authenticationData(buf("client-first")),
    ]
    static let willProperties: MQTTProperties = [
        .willDelayInterval(30), .payloadFormatIndicator(1), .messageExpiryInterval(600), .contentType("text/plain"),
        .responseTopic("reply/to"), .correlationData(buf("corr")), user,
    ]
    static let connackProperties: MQTTProperties = [
        .sessionExpiryInterval(0), .receiveMaximum(100), .maximumQoS(1), .retainAvailable(1),
        .maximumPacketSize(65_536), .assignedClientIdentifier("auto-1234"), .topicAliasMaximum(16),
        .reasonString("welcome"), user, .wildcardSubscriptionAvailable(1), .subscriptionIdentifierAvailable(1),
        .sharedSubscriptionAvailable(0), .serverKeepAlive(120), .responseInformation("resp/"),
        .serverReference("other:1883"), .authenticationMethod("SCRAM-SHA-256"), .authenticationData(buf("final")),
    ]
    static let publishProperties: MQTTProperties = [
        .payloadFormatIndicator(0), .messageExpiryInterval(60), .topicAlias(3), .responseTopic("r/1"),
        .correlationData(ByteBuffer(bytes: [0, 1, 2, 0xFF])), user, .subscriptionIdentifier(1),
        .subscriptionIdentifier(268_435_455), .contentType("application/json"),
    ]
    static let reasonProperties: MQTTProperties = [.reasonString("why"), user]

    static func connect(_ v: ProtocolVersion) -> MQTTPacket {
        let v5 = v == .v5
        return .connect(ConnectPacket(
            protocolVersion: v, cleanStart: false, keepAlive: 30, clientID: "dev-😀-1",
            will: WillMessage(topic: "dt/last-will", payload: buf("gone"), qos: .exactlyOnce, retain: true,
                              properties: v5 ? willProperties : []),
            username: "user", password: ByteBuffer(bytes: [0, 0xFF, 7]), properties: v5 ? connectProperties : []))
    }

    /// One packet per type (and per variant: short forms, empty payloads, minimal CONNECT).
    static func all(_ v: ProtocolVersion) -> [MQTTPacket] {
        let v5 = v == .v5
        var packets: [MQTTPacket] = [
            connect(v),
            .connect(ConnectPacket(protocolVersion: v, clientID: "")),
            .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success,
                                   properties: v5 ? connackProperties : [])),
            .connack(ConnAckPacket(reasonCode: .notAuthorized)),
            .publish(PublishPacket(topic: "a/b", payload: buf("hello"), qos: .atMostOnce, retain: true,
                                   properties: v5 ? publishProperties : [])),
            .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(), qos: .atLeastOnce, dup: true, packetID: 1)),
            .publish(PublishPacket(topic: "日本/語", payload: ByteBuffer(repeating: 0xAB, count: 70_000),
                                   qos: .exactlyOnce, packetID: 65_535)),
            .puback(PubAckPacket(packetID: 7)),
            .pubrec(PubAckPacket(packetID: 8)),
            .pubrel(PubAckPacket(packetID: 9)),
            .pubcomp(PubAckPacket(packetID: 10)),
            .subscribe(SubscribePacket(packetID: 11, subscriptions: [
                TopicSubscription(filter: "a/+", options: SubscriptionOptions(qos: .atLeastOnce)),
                TopicSubscription(filter: "#", options: SubscriptionOptions(
                    qos: .exactlyOnce, noLocal: v5, retainAsPublished: v5,
                    retainHandling: v5 ? .doNotSend : .sendOnSubscribe)),
            ], properties: v5 ? [.subscriptionIdentifier(42), user] : [])),
            .suback(SubAckPacket(packetID: 11, reasonCodes: [.grantedQoS1, .grantedQoS2, .grantedQoS0,
                                                             .unspecifiedError],
                                 properties: v5 ? reasonProperties : [])),
            .unsubscribe(UnsubscribePacket(packetID: 12, filters: ["a/+", "b"], properties: v5 ? [user] : [])),
            .unsuback(UnsubAckPacket(packetID: 12, reasonCodes: v5 ? [.success, .noSubscriptionExisted] : [],
                                     properties: v5 ? reasonProperties : [])),
            .pingreq,
            .pingresp,
            .disconnect(DisconnectPacket()),
        ]
        if v5 {
            packets += [
                .puback(PubAckPacket(packetID: 7, reasonCode: .noMatchingSubscribers)),
                .puback(PubAckPacket(packetID: 7, reasonCode: .notAuthorized, properties: reasonProperties)),
                .pubrec(PubAckPacket(packetID: 8, reasonCode: .quotaExceeded, properties: reasonProperties)),
                .pubrel(PubAckPacket(packetID: 9, reasonCode: .packetIdentifierNotFound, properties: [user])),
                .pubcomp(PubAckPacket(packetID: 10, reasonCode: .success, properties: reasonProperties)),
                .disconnect(DisconnectPacket(reasonCode: .disconnectWithWillMessage)),
                .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown, properties: [
                    .sessionExpiryInterval(0), .reasonString("bye"), .serverReference("b:1883"), user,
                ])),
                .auth(AuthPacket()),
                .auth(AuthPacket(reasonCode: .continueAuthentication, properties: [
                    .authenticationMethod("SCRAM-SHA-256"), .authenticationData(buf("server-first")),
                    .reasonString("continue"), user,
                ])),
            ]
        }
        return packets
    }
}
