import IoTTypes
import TopicTrie

/// Where retained messages live ([MQTT-3.3.1-5]). Replicated state: the in-memory store serves a single node
/// today; the Raft-backed `ClusterState` store (issue 3) implements the same protocol, so the broker does not
/// change when it arrives. Every call is scoped by tenant: one tenant never sees another's messages.
public protocol RetainedMessageStore: Sendable {
    /// Stores `message` as the retained message of its topic, or deletes it when the payload is empty.
    mutating func apply(_ message: BrokerMessage)
    func retained(tenant: TenantID, topic: String) -> BrokerMessage?
    /// Every unexpired retained message of `tenant` whose topic `filter` matches.
    func matching(tenant: TenantID, filter: String, now: Timestamp) -> [BrokerMessage]
    func count(tenant: TenantID) -> Int
}

/// A retained store in memory: one topic tree per tenant.
public struct InMemoryRetainedStore: RetainedMessageStore {
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
