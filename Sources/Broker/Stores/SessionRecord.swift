import IoTTypes
import MQTTCodec

/// The durable description of a persistent session: who it is, what it subscribed to, and when it expires.
/// Replicated through the ``BrokerStore`` (Raft), so every node knows the session exists. On a node of a cluster the
/// messages queued for a parked session are replicated too (``SessionRecordWrite/enqueue``), so another node can
/// resume the session if its holder is gone (issue 7).
public struct SessionRecord: Sendable, Hashable {
    public var tenant: TenantID
    public var clientID: String
    public var protocolVersion: ProtocolVersion
    public var subscriptions: [String: SubscriptionOptions]
    public var expiryInterval: UInt32
    /// nil while connected.
    public var disconnectedAt: Timestamp?

    public init(tenant: TenantID, clientID: String, protocolVersion: ProtocolVersion,
                subscriptions: [String: SubscriptionOptions], expiryInterval: UInt32, disconnectedAt: Timestamp?) {
        self.tenant = tenant
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.subscriptions = subscriptions
        self.expiryInterval = expiryInterval
        self.disconnectedAt = disconnectedAt
    }
}
