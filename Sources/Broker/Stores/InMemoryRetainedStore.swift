import IoTTypes
import TopicTrie

/// Retained messages in memory ([MQTT-3.3.1-5]): one topic tree per tenant, so one tenant never sees another's
/// messages. The data structure behind a ``BrokerStore`` that lives in one process; on a node the replicated
/// `ClusterState` holds them.
public struct InMemoryRetainedStore: Sendable {
    private var trees: [TenantID: TopicTree<BrokerMessage>] = [:]
    public init() {}

    public mutating func apply(_ message: BrokerMessage) {
        if message.payload.readableBytes == 0 {
            trees[message.tenant]?[message.topic] = nil
        } else {
            var stored = message
            stored.retain = true
            // Own the bytes: the payload may be a slice of a large receive buffer.
            stored.payload = ByteBufferCopy.compact(message.payload)
            trees[message.tenant, default: TopicTree()][message.topic] = stored
        }
    }

    public func retained(tenant: TenantID, topic: String) -> BrokerMessage? { trees[tenant]?[topic] }

    public func matching(tenant: TenantID, filter: String, now: Timestamp) -> [BrokerMessage] {
        var out: [BrokerMessage] = []
        trees[tenant]?.forEachMatch(filter: filter) { _, m in
            if !m.isExpired(at: now) { out.append(m) }
        }
        return out
    }

    public func count(tenant: TenantID) -> Int { trees[tenant]?.count ?? 0 }
}
