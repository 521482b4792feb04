import IoTTypes
import MQTTCodec
import NIOCore

/// An application message on its way through the broker: what a PUBLISH (or a Will) carries, after the
/// publisher-specific parts (packet id, topic alias, DUP) have been stripped.
public struct BrokerMessage: Sendable, Hashable {
    public var tenant: TenantID
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    /// The RETAIN flag as published.
    public var retain: Bool
    /// Properties forwarded to subscribers unchanged ([MQTT-3.3.2-18]): Payload Format Indicator, Content Type,
    /// Response Topic, Correlation Data, User Properties (order kept). Message Expiry is kept in `expiresAt`.
    public var properties: MQTTProperties
    public var expiresAt: Timestamp?
    /// For No Local ([MQTT-3.8.3-3]).
    public var publisherClientID: String

    public init(tenant: TenantID, topic: String, payload: ByteBuffer, qos: QoS, retain: Bool,
                properties: MQTTProperties = [], expiresAt: Timestamp? = nil, publisherClientID: String) {
        self.tenant = tenant
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.publisherClientID = publisherClientID
    }

    public func isExpired(at now: Timestamp) -> Bool {
        if let e = expiresAt { return e <= now }
        return false
    }

    /// Keeps only the properties that travel with the message to subscribers.
    public static func forwardedProperties(_ p: MQTTProperties) -> MQTTProperties {
        var out = MQTTProperties()
        for prop in p.list {
            switch prop {
            case .payloadFormatIndicator, .contentType, .responseTopic, .correlationData, .userProperty:
                out.append(prop)
            default: continue
            }
        }
        return out
    }
}

/// A message bound for one session, with the QoS and RETAIN flag that subscription grants.
public struct OutboundMessage: Sendable, Hashable {
    public var message: BrokerMessage
    public var qos: QoS
    public var retain: Bool
    public init(message: BrokerMessage, qos: QoS, retain: Bool) {
        self.message = message
        self.qos = qos
        self.retain = retain
    }
}
