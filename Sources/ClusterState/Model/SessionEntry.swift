import IoTTypes
import MQTTCodec

/// A persistent session's durable description as replicated (mirrors the broker's `SessionRecord`, with the
/// disconnect time as wall-clock epoch milliseconds so it means the same on every node).
public struct SessionEntry: Sendable, Hashable {
    public var tenant: TenantID
    public var clientID: String
    public var protocolVersion: ProtocolVersion
    public var subscriptions: [String: SubscriptionOptions]
    public var expiryInterval: UInt32
    /// nil while connected.
    public var disconnectedAtMs: Int64?

    public init(tenant: TenantID, clientID: String, protocolVersion: ProtocolVersion,
                subscriptions: [String: SubscriptionOptions], expiryInterval: UInt32, disconnectedAtMs: Int64?) {
        self.tenant = tenant
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.subscriptions = subscriptions
        self.expiryInterval = expiryInterval
        self.disconnectedAtMs = disconnectedAtMs
    }
}
