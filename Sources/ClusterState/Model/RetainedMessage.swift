import IoTTypes
import MQTTCodec

/// One MQTT v5 User Property, in the order the publisher sent it.
public struct UserProperty: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The properties a retained message carries to later subscribers ([MQTT-3.3.2-18]). Message Expiry is not here:
/// it is `RetainedMessage.expiresAtMs`, a wall-clock instant, so every node expires the message at the same time.
public struct RetainedProperties: Sendable, Hashable {
    public var payloadFormatIndicator: UInt8?
    public var contentType: String?
    public var responseTopic: String?
    public var correlationData: [UInt8]?
    public var userProperties: [UserProperty]

    public init(payloadFormatIndicator: UInt8? = nil, contentType: String? = nil, responseTopic: String? = nil,
                correlationData: [UInt8]? = nil, userProperties: [UserProperty] = []) {
        self.payloadFormatIndicator = payloadFormatIndicator
        self.contentType = contentType
        self.responseTopic = responseTopic
        self.correlationData = correlationData
        self.userProperties = userProperties
    }
}

/// A retained message as replicated: owned bytes and wall-clock times only (the broker's `BrokerMessage` uses the
/// node's monotonic clock and a `ByteBuffer`; its adapter converts at the edge).
public struct RetainedMessage: Sendable, Hashable {
    public var tenant: TenantID
    public var topic: String
    public var payload: [UInt8]
    public var qos: QoS
    public var properties: RetainedProperties
    /// Epoch milliseconds after which the message is no longer delivered; nil: never expires.
    public var expiresAtMs: Int64?

    public init(tenant: TenantID, topic: String, payload: [UInt8], qos: QoS,
                properties: RetainedProperties = RetainedProperties(), expiresAtMs: Int64? = nil) {
        self.tenant = tenant
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.properties = properties
        self.expiresAtMs = expiresAtMs
    }

    public func isExpired(nowMs: Int64) -> Bool {
        if let e = expiresAtMs { return e <= nowMs }
        return false
    }
}
