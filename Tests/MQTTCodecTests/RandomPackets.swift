import BrokerTestKit
import MQTTCodec
import NIOCore


/// Generates random packets that are valid for `version` (what a well-behaved peer could send), so that
/// `decode(encode(p)) == p` must hold for every one of them.
struct PacketGenerator {
    var rng: SplitMix64
    let version: ProtocolVersion
    private var v5: Bool { version == .v5 }

    /// Code points of 1 to 4 UTF-8 bytes, wildcards, a BOM (kept as is, [MQTT-1.5.4-3]) and a non-character.
    private static let scalars: [Unicode.Scalar] = [
        "a", "Z", "0", "/", "+", "#", "$", " ", "\u{7F}", "é", "ß", "日", "語", "😀", "\u{FEFF}", "\u{FFFF}",
        "\u{10FFFF}",
    ]

    init(seed: UInt64, version: ProtocolVersion) {
        rng = SplitMix64(seed: seed)
        self.version = version
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func u16() -> UInt16 { UInt16.random(in: 0...UInt16.max, using: &rng) }
    mutating func u32() -> UInt32 { UInt32.random(in: 0...UInt32.max, using: &rng) }
    mutating func nonZeroID() -> UInt16 { UInt16.random(in: 1...UInt16.max, using: &rng) }

    mutating func string(max: Int = 12) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<int(0...max) { s.append(Self.scalars.randomElement(using: &rng)!) }
        return String(s)
    }

    mutating func bytes(max: Int = 40) -> ByteBuffer {
        ByteBuffer(bytes: (0..<int(0...max)).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    mutating func qos() -> QoS { QoS(rawValue: UInt8(int(0...2)))! }

    /// A reason code valid in `type` ([MQTT-2.4] per-packet tables).
    mutating func reason(_ type: PacketType) -> ReasonCode {
        let valid = (0...255).map { ReasonCode(UInt8($0)) }.filter { $0.isValid(in: type) }
        return valid.randomElement(using: &rng)!
    }

    mutating func properties(_ context: PropertyID.Context) -> MQTTProperties {
        guard v5 else { return [] }
        let candidates = PropertyID.allCases.filter { $0.allowed(in: context) }
        var used = Set<UInt8>()
        var list: [MQTTProperty] = []
        for _ in 0..<int(0...5) {
            let id = candidates.randomElement(using: &rng)!
            if used.contains(id.rawValue) && !id.mayRepeat(in: context) { continue }
            used.insert(id.rawValue)
            list.append(value(for: id))
        }
        // Authentication Data needs an Authentication Method.
        if used.contains(PropertyID.authenticationData.rawValue)
            && !used.contains(PropertyID.authenticationMethod.rawValue) {
            list.append(.authenticationMethod(string()))
        }
        return MQTTProperties(list)
    }

    private mutating func value(for id: PropertyID) -> MQTTProperty {
        let flag = UInt8(int(0...1))
        switch id {
        case .payloadFormatIndicator: return .payloadFormatIndicator(flag)
        case .messageExpiryInterval: return .messageExpiryInterval(u32())
        case .contentType: return .contentType(string())
        case .responseTopic: return .responseTopic(string())
        case .correlationData: return .correlationData(bytes())
        case .subscriptionIdentifier: return .subscriptionIdentifier(UInt32(int(1...268_435_455)))
        case .sessionExpiryInterval: return .sessionExpiryInterval(u32())
        case .assignedClientIdentifier: return .assignedClientIdentifier(string())
        case .serverKeepAlive: return .serverKeepAlive(u16())
        case .authenticationMethod: return .authenticationMethod(string())
        case .authenticationData: return .authenticationData(bytes())
        case .requestProblemInformation: return .requestProblemInformation(flag)
        case .willDelayInterval: return .willDelayInterval(u32())
        case .requestResponseInformation: return .requestResponseInformation(flag)
        case .responseInformation: return .responseInformation(string())
        case .serverReference: return .serverReference(string())
        case .reasonString: return .reasonString(string())
        case .receiveMaximum: return .receiveMaximum(nonZeroID())
        case .topicAliasMaximum: return .topicAliasMaximum(u16())
        case .topicAlias: return .topicAlias(u16())
        case .maximumQoS: return .maximumQoS(flag)
        case .retainAvailable: return .retainAvailable(flag)
        case .userProperty: return .userProperty(string(), string())
        case .maximumPacketSize: return .maximumPacketSize(UInt32.random(in: 1...UInt32.max, using: &rng))
        case .wildcardSubscriptionAvailable: return .wildcardSubscriptionAvailable(flag)
        case .subscriptionIdentifierAvailable: return .subscriptionIdentifierAvailable(flag)
        case .sharedSubscriptionAvailable: return .sharedSubscriptionAvailable(flag)
        }
    }

    mutating func packet() -> MQTTPacket {
        let types = PacketType.allCases.filter { v5 || $0 != .auth }
        switch types.randomElement(using: &rng)! {
        case .connect: return .connect(connect())
        case .connack:
            let code = v5 ? reason(.connack) : [.success, .unsupportedProtocolVersion, .clientIdentifierNotValid,
                                                .serverUnavailable, .badUserNameOrPassword, .notAuthorized]
                .randomElement(using: &rng)!
            return .connack(ConnAckPacket(sessionPresent: bool(), reasonCode: code, properties: properties(.connack)))
        case .publish:
            let q = qos()
            return .publish(PublishPacket(topic: string(), payload: bytes(max: 300), qos: q, retain: bool(),
                                          dup: q != .atMostOnce && bool(), packetID: q == .atMostOnce ? nil : nonZeroID(),
                                          properties: properties(.publish)))
        case .puback: return .puback(ack(.puback))
        case .pubrec: return .pubrec(ack(.pubrec))
        case .pubrel: return .pubrel(ack(.pubrel))
        case .pubcomp: return .pubcomp(ack(.pubcomp))
        case .subscribe:
            let subs = (0..<int(1...4)).map { _ in
                TopicSubscription(filter: string(), options: v5
                    ? SubscriptionOptions(qos: qos(), noLocal: bool(), retainAsPublished: bool(),
                                          retainHandling: RetainHandling(rawValue: UInt8(int(0...2)))!)
                    : SubscriptionOptions(qos: qos()))
            }
            return .subscribe(SubscribePacket(packetID: nonZeroID(), subscriptions: subs,
                                              properties: properties(.subscribe)))
        case .suback:
            let codes = (0..<int(0...4)).map { _ in
                v5 ? reason(.suback) : [ReasonCode.grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError]
                    .randomElement(using: &rng)!
            }
            return .suback(SubAckPacket(packetID: u16(), reasonCodes: codes, properties: properties(.suback)))
        case .unsubscribe:
            return .unsubscribe(UnsubscribePacket(packetID: nonZeroID(), filters: (0..<int(1...4)).map { _ in string() },
                                                  properties: properties(.unsubscribe)))
        case .unsuback:
            let codes = v5 ? (0..<int(0...4)).map { _ in reason(.unsuback) } : []
            return .unsuback(UnsubAckPacket(packetID: u16(), reasonCodes: codes, properties: properties(.unsuback)))
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect:
            return .disconnect(DisconnectPacket(reasonCode: v5 ? reason(.disconnect) : .normalDisconnection,
                                                properties: properties(.disconnect)))
        case .auth:
            return .auth(AuthPacket(reasonCode: reason(.auth), properties: properties(.auth)))
        }
    }

    private mutating func ack(_ type: PacketType) -> PubAckPacket {
        PubAckPacket(packetID: u16(), reasonCode: v5 ? reason(type) : .success, properties: properties(.pubAck))
    }

    mutating func connect() -> ConnectPacket {
        var will: WillMessage?
        if bool() {
            will = WillMessage(topic: string(), payload: bytes(), qos: qos(), retain: bool(),
                               properties: properties(.will))
        }
        let username = bool() ? string() : nil
        // [MQTT-3.1.2-22]: 3.1.1 has no password without a user name.
        let password = (v5 || username != nil) && bool() ? bytes() : nil
        return ConnectPacket(protocolVersion: version, cleanStart: bool(), keepAlive: u16(), clientID: string(max: 23),
                             will: will, username: username, password: password, properties: properties(.connect))
    }
}
