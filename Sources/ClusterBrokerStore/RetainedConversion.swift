import Broker
import ClusterState
import IoTTypes
import MQTTCodec
import NIOCore

/// Converts between the broker's view of a message (a `ByteBuffer`, the node's monotonic clock) and the replicated
/// one (owned bytes, wall-clock epoch milliseconds). Pure: both clocks are read by the caller, once per call, and
/// passed in, so an expiry means the same instant on every node however their monotonic clocks differ.
enum RetainedConversion {
    /// Both clocks read at the same moment.
    struct Clocks: Sendable {
        var monotonic: Timestamp
        var wallMs: Int64

        /// A monotonic instant as epoch milliseconds.
        func wallMs(of t: Timestamp) -> Int64 { wallMs &+ (t.nanoseconds &- monotonic.nanoseconds) / 1_000_000 }
        /// Epoch milliseconds as a monotonic instant.
        func monotonic(ofWallMs ms: Int64) -> Timestamp { monotonic.adding(nanoseconds: (ms &- wallMs) &* 1_000_000) }
    }

    static func replicated(_ m: BrokerMessage, clocks: Clocks) -> RetainedMessage {
        RetainedMessage(
            tenant: m.tenant, topic: m.topic, payload: Array(m.payload.readableBytesView), qos: m.qos,
            properties: properties(m.properties),
            expiresAtMs: m.expiresAt.map(clocks.wallMs(of:)))
    }

    static func broker(_ r: RetainedMessage, clocks: Clocks) -> BrokerMessage {
        BrokerMessage(
            tenant: r.tenant, topic: r.topic, payload: ByteBuffer(bytes: r.payload), qos: r.qos, retain: true,
            properties: properties(r.properties),
            expiresAt: r.expiresAtMs.map(clocks.monotonic(ofWallMs:)),
            publisherClientID: "")
    }

    /// The properties that travel with a retained message ([MQTT-3.3.2-18]); the others were already dropped
    /// by `BrokerMessage.forwardedProperties`.
    static func properties(_ p: MQTTProperties) -> RetainedProperties {
        RetainedProperties(
            payloadFormatIndicator: p.payloadFormatIndicator, contentType: p.contentType,
            responseTopic: p.responseTopic, correlationData: p.correlationData.map { Array($0.readableBytesView) },
            userProperties: p.userProperties.map { UserProperty($0.0, $0.1) })
    }

    static func properties(_ r: RetainedProperties) -> MQTTProperties {
        var p = MQTTProperties()
        if let v = r.payloadFormatIndicator { p.append(.payloadFormatIndicator(v)) }
        if let v = r.contentType { p.append(.contentType(v)) }
        if let v = r.responseTopic { p.append(.responseTopic(v)) }
        if let v = r.correlationData { p.append(.correlationData(ByteBuffer(bytes: v))) }
        for u in r.userProperties { p.append(.userProperty(u.name, u.value)) }
        return p
    }

    static func replicated(_ r: SessionRecord, clocks: Clocks) -> SessionEntry {
        SessionEntry(
            tenant: r.tenant, clientID: r.clientID, protocolVersion: r.protocolVersion, subscriptions: r.subscriptions,
            expiryInterval: r.expiryInterval,
            disconnectedAtMs: r.disconnectedAt.map(clocks.wallMs(of:)))
    }
}

extension RetainedConversion {
    /// A message owed to a session, as replicated (its `qos` is the delivery QoS).
    static func queued(_ o: OutboundMessage, clocks: Clocks) -> QueuedMessage {
        var m = replicated(o.message, clocks: clocks)
        m.qos = o.qos
        return QueuedMessage(message: m, retain: o.retain)
    }

    /// A replicated queued message as the broker delivers it.
    static func outbound(_ q: QueuedMessage, clocks: Clocks) -> OutboundMessage {
        var m = broker(q.message, clocks: clocks)
        m.retain = q.retain
        return OutboundMessage(message: m, qos: q.message.qos, retain: q.retain)
    }
}
