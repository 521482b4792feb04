import IoTTypes
import MQTTCodec
import TopicTrie

// Moving a session between nodes (issue 7): what leaves a node is its subscriptions and the QoS 1/2 messages still
// owed to the client; what arrives is a session with those subscriptions and those messages queued.
extension SessionState {
    /// The QoS 1/2 messages the client is still owed, oldest first: outbound messages sent but not acknowledged
    /// (waiting for PUBACK or PUBREC, in send order) requeued for redelivery, then the queue. Messages whose PUBREC
    /// arrived (PUBREL sent) were received by the client and are not repeated; neither are the packet ids of inbound
    /// QoS 2 messages (a repeated PUBREL is answered anyway).
    public var owedMessages: [OutboundMessage] {
        let sent = inflight.values
            .filter { $0.phase != .awaitingPubComp }
            .sorted { $0.sequence < $1.sequence }
            .map(\.outbound)
        return sent + Array(pending.elements)
    }

    /// A session rebuilt on another node from its subscriptions (raw filter → options) and the messages it is owed.
    /// Filters that no longer parse are skipped (they were valid when subscribed; a stricter limit may refuse them).
    public static func rebuilt(tenant: TenantID, clientID: String, protocolVersion: ProtocolVersion,
                               subscriptions: [String: SubscriptionOptions], messages: [OutboundMessage],
                               topicLimits: TopicLimits = TopicLimits()) -> SessionState {
        var s = SessionState(tenant: tenant, clientID: clientID, protocolVersion: protocolVersion)
        for (raw, options) in subscriptions {
            guard let filter = try? Topic.parseFilter(raw, limits: topicLimits) else { continue }
            s.subscriptions[raw] = Subscription(filter: filter, options: options)
        }
        for m in messages { s.pending.append(m) }
        return s
    }
}
