import IoTTypes
import MQTTCodec

/// The durable description of a persistent session: who it is, what it subscribed to, and when it expires.
/// Replicated state (issue 3 moves it into Raft so a client finds its session on any node); the queued messages
/// themselves stay with the node that holds the session.
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

public protocol SessionRecordStore: Sendable {
    mutating func put(_ record: SessionRecord)
    mutating func remove(tenant: TenantID, clientID: String)
    func record(tenant: TenantID, clientID: String) -> SessionRecord?
    var count: Int { get }
}

public struct InMemorySessionRecordStore: SessionRecordStore {
    private var records: [TenantID: [String: SessionRecord]] = [:]
    public init() {}
    public mutating func put(_ record: SessionRecord) { records[record.tenant, default: [:]][record.clientID] = record }
    public mutating func remove(tenant: TenantID, clientID: String) { records[tenant]?[clientID] = nil }
    public func record(tenant: TenantID, clientID: String) -> SessionRecord? { records[tenant]?[clientID] }
    public var count: Int { records.values.reduce(0) { $0 + $1.count } }
}
