import NIOCore

/// The protocol level in CONNECT: 4 is MQTT 3.1.1, 5 is MQTT 5.0. (MQTT 3.1, level 3, is refused with
/// CONNACK return code 1.)
public enum ProtocolVersion: UInt8, Sendable, Hashable, Comparable {
    case v311 = 4
    case v5 = 5
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public enum QoS: UInt8, Sendable, Hashable, Comparable, CaseIterable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The fixed-header packet type ([MQTT-2.1.2]).
public enum PacketType: UInt8, Sendable, Hashable, CaseIterable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback, unsubscribe, unsuback,
        pingreq, pingresp, disconnect, auth
}

/// Every MQTT control packet, for both 3.1.1 and 5.0. Fields that exist only in v5 (properties, reason codes in
/// acknowledgements) are ignored when encoding for 3.1.1 and are empty/success when decoding 3.1.1.
public enum MQTTPacket: Sendable, Hashable {
    case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(PubAckPacket)
    case pubrec(PubAckPacket)
    case pubrel(PubAckPacket)
    case pubcomp(PubAckPacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    case auth(AuthPacket)

    public var type: PacketType {
        switch self {
        case .connect: return .connect
        case .connack: return .connack
        case .publish: return .publish
        case .puback: return .puback
        case .pubrec: return .pubrec
        case .pubrel: return .pubrel
        case .pubcomp: return .pubcomp
        case .subscribe: return .subscribe
        case .suback: return .suback
        case .unsubscribe: return .unsubscribe
        case .unsuback: return .unsuback
        case .pingreq: return .pingreq
        case .pingresp: return .pingresp
        case .disconnect: return .disconnect
        case .auth: return .auth
        }
    }
}

// MARK: - CONNECT / CONNACK

public struct ConnectPacket: Sendable, Hashable {
    public var protocolVersion: ProtocolVersion
    /// Clean Session (3.1.1) or Clean Start (5).
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var clientID: String
    public var will: WillMessage?
    public var username: String?
    public var password: ByteBuffer?
    public var properties: MQTTProperties

    public init(
        protocolVersion: ProtocolVersion, cleanStart: Bool = true, keepAlive: UInt16 = 60, clientID: String,
        will: WillMessage? = nil, username: String? = nil, password: ByteBuffer? = nil,
        properties: MQTTProperties = []
    ) {
        self.protocolVersion = protocolVersion
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.clientID = clientID
        self.will = will
        self.username = username
        self.password = password
        self.properties = properties
    }
}

/// The Will in CONNECT. `properties` holds the Will Properties (v5), including Will Delay Interval.
public struct WillMessage: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
                properties: MQTTProperties = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

public struct ConnAckPacket: Sendable, Hashable {
    public var sessionPresent: Bool
    /// The v5 reason code. Encoded for 3.1.1 through ``ReasonCode/v311ConnAckReturnCode``; a decoded 3.1.1
    /// return code is mapped back (0→0x00, 1→0x84, 2→0x85, 3→0x88, 4→0x86, 5→0x87).
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool = false, reasonCode: ReasonCode = .success, properties: MQTTProperties = []) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

// MARK: - PUBLISH and its acknowledgements

public struct PublishPacket: Sendable, Hashable {
    /// May be empty in v5 when a Topic Alias property stands for it.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present iff qos > 0 ([MQTT-2.2.1-2]).
    public var packetID: UInt16?
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
                packetID: UInt16? = nil, properties: MQTTProperties = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape ([MQTT-3.4]–[MQTT-3.7]).
public struct PubAckPacket: Sendable, Hashable {
    public var packetID: UInt16
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties

    public init(packetID: UInt16, reasonCode: ReasonCode = .success, properties: MQTTProperties = []) {
        self.packetID = packetID
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

// MARK: - SUBSCRIBE / UNSUBSCRIBE

public enum RetainHandling: UInt8, Sendable, Hashable {
    /// Send retained messages at the time of the subscribe.
    case sendOnSubscribe = 0
    /// Send retained messages only if the subscription did not exist.
    case sendIfNewSubscription = 1
    /// Never send retained messages on subscribe.
    case doNotSend = 2
}

public struct SubscriptionOptions: Sendable, Hashable {
    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(qos: QoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
                retainHandling: RetainHandling = .sendOnSubscribe) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }
}

public struct TopicSubscription: Sendable, Hashable {
    public var filter: String
    public var options: SubscriptionOptions
    public init(filter: String, options: SubscriptionOptions = SubscriptionOptions()) {
        self.filter = filter
        self.options = options
    }
}

public struct SubscribePacket: Sendable, Hashable {
    public var packetID: UInt16
    public var subscriptions: [TopicSubscription]
    public var properties: MQTTProperties
    public init(packetID: UInt16, subscriptions: [TopicSubscription], properties: MQTTProperties = []) {
        self.packetID = packetID
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

public struct SubAckPacket: Sendable, Hashable {
    public var packetID: UInt16
    /// One per requested filter; for 3.1.1 encoded through ``ReasonCode/v311SubAckReturnCode``.
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties
    public init(packetID: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = []) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

public struct UnsubscribePacket: Sendable, Hashable {
    public var packetID: UInt16
    public var filters: [String]
    public var properties: MQTTProperties
    public init(packetID: UInt16, filters: [String], properties: MQTTProperties = []) {
        self.packetID = packetID
        self.filters = filters
        self.properties = properties
    }
}

public struct UnsubAckPacket: Sendable, Hashable {
    public var packetID: UInt16
    /// v5 only; 3.1.1 UNSUBACK has no payload (decoded as an empty list).
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties
    public init(packetID: UInt16, reasonCodes: [ReasonCode] = [], properties: MQTTProperties = []) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

// MARK: - DISCONNECT / AUTH

public struct DisconnectPacket: Sendable, Hashable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties
    public init(reasonCode: ReasonCode = .normalDisconnection, properties: MQTTProperties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

public struct AuthPacket: Sendable, Hashable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties
    public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}
