import IoTTypes
import MQTTCodec
import TopicTrie

/// The part of a session that outlives a connection ([MQTT-4.1]): subscriptions, QoS 1/2 messages in flight
/// and queued towards the client, and the ids of QoS 2 messages received but not yet released.
/// While the client is connected its connection's ``SessionStateMachine`` owns it; otherwise ``BrokerState``
/// holds it parked.
public struct SessionState: Sendable, Equatable {
    public struct Subscription: Sendable, Hashable {
        public var filter: TopicFilter
        public var options: SubscriptionOptions
        public init(filter: TopicFilter, options: SubscriptionOptions) {
            self.filter = filter
            self.options = options
        }
    }

    public enum InflightPhase: Sendable, Hashable {
        /// QoS 1 PUBLISH sent, waiting for PUBACK.
        case awaitingPubAck
        /// QoS 2 PUBLISH sent, waiting for PUBREC.
        case awaitingPubRec
        /// PUBREL sent, waiting for PUBCOMP.
        case awaitingPubComp
    }

    public struct Inflight: Sendable, Hashable {
        public var outbound: OutboundMessage
        public var phase: InflightPhase
        /// Send order, for retransmission in order on resume ([MQTT-4.6.0-1]).
        public var sequence: UInt64
    }

    public let tenant: TenantID
    public let clientID: String
    public var protocolVersion: ProtocolVersion
    /// Keyed by the raw filter string (including any `$share/` prefix).
    public var subscriptions: [String: Subscription] = [:]
    public var inflight: [UInt16: Inflight] = [:]
    public var pending = MessageQueue<OutboundMessage>()
    /// Packet ids of inbound QoS 2 messages answered with PUBREC and awaiting PUBREL (method A of [MQTT-4.3.3]).
    public var inboundQoS2: Set<UInt16> = []
    public var nextPacketID: UInt16 = 1
    public var nextSequence: UInt64 = 0

    public init(tenant: TenantID, clientID: String, protocolVersion: ProtocolVersion) {
        self.tenant = tenant
        self.clientID = clientID
        self.protocolVersion = protocolVersion
    }

    /// The next free packet identifier, skipping ids still in flight ([MQTT-2.2.1-4]); nil if all 65535 are in use.
    public mutating func allocatePacketID() -> UInt16? {
        guard inflight.count < Int(UInt16.max) else { return nil }
        while true {
            let id = nextPacketID
            nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
            if inflight[id] == nil { return id }
        }
    }

    /// Queues a message for later delivery; returns false (and drops it) when the queue is full.
    public mutating func enqueue(_ m: OutboundMessage, limit: Int) -> Bool {
        guard pending.count < limit else { return false }
        pending.append(m)
        return true
    }
}
