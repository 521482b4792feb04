import MQTTCodec
import Metrics

/// The broker's metrics, created once (names follow `iot_<subsystem>_<what>_<unit>`). Counters are resolved up
/// front so the hot path never looks a metric up by name.
public final class BrokerMetrics: Sendable {
    public let connections: Meter
    public let connectionsAccepted: Counter
    let packetsReceived: [Counter]  // indexed by PacketType.rawValue
    let packetsSent: [Counter]
    let bytesReceivedByType: [Counter]  // indexed by PacketType.rawValue
    let bytesSentByType: [Counter]
    public let bytesReceived: Counter
    public let bytesSent: Counter
    public let messagesRouted: Counter
    public let messagesDelivered: Counter
    public let messagesDroppedQueueFull: Counter
    public let messagesDroppedTooLarge: Counter
    public let messagesDroppedExpired: Counter
    public let messagesDroppedBackpressure: Counter
    public let messagesQueued: Gauge
    public let sessions: Gauge
    public let subscriptions: Gauge
    /// Retained messages written (stored or cleared) and the writes that failed to become durable.
    public let retainedWrites: Counter
    public let retainedWriteFailures: Counter
    /// QoS 1/2 publishes not acknowledged because this node saw no majority of the cluster alive.
    public let minorityRefusals: Counter
    public let protocolErrors: Counter
    /// Operations a policy refused, by `iot:` action (connect, publish, retain_publish, subscribe, receive).
    let authorizationDenied: [String: Counter]

    public init() {
        connections = Meter(label: "iot_mqtt_connections")
        connectionsAccepted = Counter(label: "iot_mqtt_connections_accepted_total")
        var received: [Counter] = []
        var sent: [Counter] = []
        var bytesIn: [Counter] = []
        var bytesOut: [Counter] = []
        for raw in 0...15 {
            let name = PacketType(rawValue: UInt8(raw)).map { "\($0)" } ?? "reserved"
            received.append(Counter(label: "iot_mqtt_packets_received_total", dimensions: [("type", name)]))
            sent.append(Counter(label: "iot_mqtt_packets_sent_total", dimensions: [("type", name)]))
            bytesIn.append(Counter(label: "iot_mqtt_packet_bytes_received_total", dimensions: [("type", name)]))
            bytesOut.append(Counter(label: "iot_mqtt_packet_bytes_sent_total", dimensions: [("type", name)]))
        }
        packetsReceived = received
        packetsSent = sent
        bytesReceivedByType = bytesIn
        bytesSentByType = bytesOut
        bytesReceived = Counter(label: "iot_mqtt_bytes_received_total")
        bytesSent = Counter(label: "iot_mqtt_bytes_sent_total")
        messagesRouted = Counter(label: "iot_mqtt_messages_routed_total")
        messagesDelivered = Counter(label: "iot_mqtt_messages_delivered_total")
        messagesDroppedQueueFull = Counter(label: "iot_mqtt_messages_dropped_total", dimensions: [("reason", "queue_full")])
        messagesDroppedTooLarge = Counter(label: "iot_mqtt_messages_dropped_total", dimensions: [("reason", "too_large")])
        messagesDroppedExpired = Counter(label: "iot_mqtt_messages_dropped_total", dimensions: [("reason", "expired")])
        messagesDroppedBackpressure = Counter(
            label: "iot_mqtt_messages_dropped_total", dimensions: [("reason", "backpressure")])
        messagesQueued = Gauge(label: "iot_mqtt_messages_queued")
        sessions = Gauge(label: "iot_mqtt_sessions")
        subscriptions = Gauge(label: "iot_mqtt_subscriptions")
        retainedWrites = Counter(label: "iot_mqtt_retained_writes_total")
        retainedWriteFailures = Counter(label: "iot_mqtt_retained_write_failures_total")
        minorityRefusals = Counter(label: "iot_mqtt_publishes_refused_minority_total")
        protocolErrors = Counter(label: "iot_mqtt_protocol_errors_total")
        var denied: [String: Counter] = [:]
        for action in ["iot:Connect", "iot:Publish", "iot:RetainPublish", "iot:Subscribe", "iot:Receive"] {
            denied[action] = Counter(label: "iot_authorization_denied_total", dimensions: [("action", action)])
        }
        authorizationDenied = denied
    }

    /// Counts one refused operation (`iot:Publish`, …); `protocol` is `mqtt` or `https`.
    public func denied(_ action: String) {
        authorizationDenied[action]?.increment()
    }

    func received(_ type: PacketType, bytes: Int) {
        packetsReceived[Int(type.rawValue)].increment()
        bytesReceivedByType[Int(type.rawValue)].increment(by: bytes)
    }
    func sent(_ type: PacketType, bytes: Int) {
        packetsSent[Int(type.rawValue)].increment()
        bytesSentByType[Int(type.rawValue)].increment(by: bytes)
    }
}
