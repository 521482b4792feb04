import MQTTCodec
import TopicTrie

/// Every limit the broker enforces. Defaults are AWS IoT Core's quotas (AWS-IOT-SPEC §1.8); each is configurable
/// (see ops/configuration.md).
public struct BrokerLimits: Sendable, Hashable {
    /// Largest packet accepted or sent, fixed header included; announced as Maximum Packet Size in v5 CONNACK.
    public var maxPacketSize: UInt32 = 131_072
    public var maxClientIDLength: Int = 128
    public var topic: TopicLimits = TopicLimits()
    /// Filters per SUBSCRIBE packet; the excess gets 0x97 (v5) / 0x80 (v3.1.1).
    public var maxFiltersPerSubscribe: Int = 8
    /// Subscriptions per session; a subscribe beyond it gets 0x97 / 0x80.
    public var maxSubscriptionsPerSession: Int = 50
    /// Receive Maximum we announce: unacknowledged inbound QoS 2 publishes a client may have open.
    public var receiveMaximum: UInt16 = 100
    /// Our own cap on unacknowledged outbound QoS 1/2 messages per session (min with the client's Receive Maximum).
    public var maxInflightOutbound: UInt16 = 100
    /// Topic aliases a v5 client may use towards us.
    public var topicAliasMaximum: UInt16 = 8
    /// Keep alive is clamped into this range; 0 (no keep alive) becomes `maxKeepAlive`.
    public var minKeepAlive: UInt16 = 30
    public var maxKeepAlive: UInt16 = 1200
    /// Upper bound on a session's expiry interval, in seconds; 3.1.1 persistent sessions get exactly this.
    public var maxSessionExpiry: UInt32 = 3600
    /// Upper bound on Message Expiry Interval, in seconds (7 days).
    public var maxMessageExpiry: UInt32 = 604_800
    /// Messages queued per session (offline or over the in-flight window); newer messages are dropped beyond it.
    public var maxQueuedMessages: Int = 1000
    /// Seconds a new connection has to send CONNECT before it is closed ([MQTT-3.1.4] "reasonable time"), so idle
    /// sockets cannot hold connection slots.
    public var connectTimeout: UInt16 = 10
    public var maxQoS: QoS = .exactlyOnce
    public var retainAvailable: Bool = true
    /// Policy decisions a connection keeps (one per action and topic or filter); past it the cache starts empty.
    public var maxAuthorizationCacheEntries: Int = 256

    public init() {}
}
