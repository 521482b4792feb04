import IoTTypes
import MQTTCodec
import TopicTrie

/// Who subscribed: a session, and the `$share` group when the subscription is shared (the same client may hold
/// `a/b` and `$share/g/a/b` at once).
public struct SubscriberKey: Hashable, Sendable {
    public var clientID: String
    public var shareGroup: String?
    public init(clientID: String, shareGroup: String?) {
        self.clientID = clientID
        self.shareGroup = shareGroup
    }
}

/// The node-wide broker state shared by all connections: per tenant, the subscription index and the session
/// registry (which sessions are connected, and through which handle; which are parked, with their queues),
/// plus the retained and session-record stores. A pure value: the shell (`BrokerCore`) keeps it behind a lock
/// and carries out what the methods return.
///
/// Rules implemented here:
/// - Routing: every subscription whose filter matches gets the message once per session, at the highest
///   granted QoS among its matching subscriptions ([MQTT-3.3.4-2]) capped by the published QoS; No Local
///   subscriptions skip their own publisher ([MQTT-3.8.3-3]); each `$share` group matching the topic picks
///   one member, preferring connected ones ([MQTT-4.8.2-?], AWS §1.6).
/// - Parked sessions queue QoS 1/2 deliveries up to `maxQueuedMessages`, then drop (counted); QoS 0 is not kept.
/// - Takeover: a second connection with the same client id gets the session once the first has closed.
public struct BrokerState<Handle: Hashable & Sendable>: Sendable {
    public struct Delivery: Sendable {
        public var handle: Handle
        public var outbound: OutboundMessage
    }

    public enum OpenResult: Sendable {
        /// Session attached: `resumed` is the previous state (nil: fresh).
        case opened(resumed: SessionState?)
        /// A live connection holds the client id: the shell must kick it (0x8E); the session arrives through
        /// ``sessionClosed(tenant:clientID:handle:state:expiry:now:)``'s `handOver`.
        case takeOver(previous: Handle)
    }

    public struct CloseResult: Sendable {
        /// When the session was taken over: give it to this handle's ``SessionStateMachine/onSessionOpened``.
        public var handOver: (handle: Handle, state: SessionState?)?
    }

    struct Parked: Sendable {
        var state: SessionState
        var expiresAt: Timestamp
        var will: BrokerMessage?
        var willDueAt: Timestamp?
    }

    enum Entry: Sendable {
        case connected(Handle, cleanStart: Bool, waitingForTakeover: Bool)
        case parked(Parked)
    }

    struct Tenant: Sendable {
        var subscriptions = SubscriptionTrie<SubscriberKey, SubscriptionOptions>()
        var sessions: [String: Entry] = [:]
    }

    public let limits: BrokerLimits
    var tenants: [TenantID: Tenant] = [:]
    public var retained: any RetainedMessageStore
    public var records: any SessionRecordStore
    /// Counters for metrics.
    public private(set) var droppedQueueFull: UInt64 = 0
    public private(set) var queuedMessages: Int = 0

    public init(limits: BrokerLimits = BrokerLimits(), retained: any RetainedMessageStore = InMemoryRetainedStore(),
                records: any SessionRecordStore = InMemorySessionRecordStore()) {
        self.limits = limits
        self.retained = retained
        self.records = records
    }

    // MARK: - Sessions

    /// A CONNECT was accepted for `clientID` on `handle`.
    public mutating func openSession(tenant: TenantID, clientID: String, handle: Handle, cleanStart: Bool,
                                     now: Timestamp) -> OpenResult {
        var t = tenants[tenant, default: Tenant()]
        defer { tenants[tenant] = t }
        switch t.sessions[clientID] {
        case .none:
            t.sessions[clientID] = .connected(handle, cleanStart: cleanStart, waitingForTakeover: false)
            return .opened(resumed: nil)
        case .parked(let p):
            // Reconnecting in time cancels a delayed Will ([MQTT-3.1.3-9]).
            t.sessions[clientID] = .connected(handle, cleanStart: cleanStart, waitingForTakeover: false)
            queuedMessages -= p.state.pending.count
            if cleanStart {
                Self.removeSubscriptions(of: p.state, from: &t)
                records.remove(tenant: tenant, clientID: clientID)
                return .opened(resumed: nil)
            }
            return .opened(resumed: p.state)
        case .connected(let previous, _, _):
            t.sessions[clientID] = .connected(handle, cleanStart: cleanStart, waitingForTakeover: true)
            return .takeOver(previous: previous)
        }
    }

    /// The connection on `handle` closed and returns its session. Parks it (expiry > 0), discards it (expiry 0),
    /// or, if another connection took the client id over meanwhile, hands it to that connection.
    public mutating func sessionClosed(tenant: TenantID, clientID: String, handle: Handle, state: SessionState,
                                       expiry: UInt32, will: BrokerMessage?, willDelay: UInt32,
                                       now: Timestamp) -> (CloseResult, willNow: BrokerMessage?) {
        var t = tenants[tenant, default: Tenant()]
        defer { tenants[tenant] = t }
        var result = CloseResult(handOver: nil)
        switch t.sessions[clientID] {
        case .connected(let h, let cleanStart, let waiting) where h != handle:
            // Taken over: the new connection gets the session (or a fresh one if it asked for a clean start).
            if waiting {
                t.sessions[clientID] = .connected(h, cleanStart: cleanStart, waitingForTakeover: false)
                if cleanStart {
                    Self.removeSubscriptions(of: state, from: &t)
                    records.remove(tenant: tenant, clientID: clientID)
                    result.handOver = (h, nil)
                } else {
                    result.handOver = (h, state)
                }
            }
            // Will on takeover: published unless delayed (a resumed session cancels a delayed Will).
            return (result, willDelay == 0 ? will : nil)
        case .connected:
            break
        case .parked, .none:
            // Not ours (already expired or replaced): nothing to park.
            return (result, willDelay == 0 ? will : nil)
        }
        if expiry == 0 {
            Self.removeSubscriptions(of: state, from: &t)
            t.sessions[clientID] = nil
            records.remove(tenant: tenant, clientID: clientID)
            return (result, will)  // the session ends now, so a delayed Will is due now ([MQTT-3.1.2-8])
        }
        let expiresAt = now.adding(seconds: Int64(expiry))
        var willNow: BrokerMessage?
        var parked = Parked(state: state, expiresAt: expiresAt, will: nil, willDueAt: nil)
        if let w = will {
            if willDelay == 0 {
                willNow = w
            } else {
                parked.will = w
                parked.willDueAt = min(now.adding(seconds: Int64(willDelay)), expiresAt)
            }
        }
        queuedMessages += state.pending.count
        t.sessions[clientID] = .parked(parked)
        records.put(
            SessionRecord(tenant: tenant, clientID: clientID, protocolVersion: state.protocolVersion,
                          subscriptions: state.subscriptions.mapValues(\.options), expiryInterval: expiry,
                          disconnectedAt: now))
        return (result, willNow)
    }

    /// Expires parked sessions and releases delayed Wills that are due. Returns the Wills to publish.
    public mutating func sweep(now: Timestamp) -> [BrokerMessage] {
        var wills: [BrokerMessage] = []
        for (tenantID, var t) in tenants {
            var changed = false
            for (clientID, entry) in t.sessions {
                guard case .parked(var p) = entry else { continue }
                if let due = p.willDueAt, due <= now, let w = p.will {
                    wills.append(w)
                    p.will = nil
                    p.willDueAt = nil
                    t.sessions[clientID] = .parked(p)
                    changed = true
                }
                if p.expiresAt <= now {
                    Self.removeSubscriptions(of: p.state, from: &t)
                    queuedMessages -= p.state.pending.count
                    t.sessions[clientID] = nil
                    records.remove(tenant: tenantID, clientID: clientID)
                    changed = true
                }
            }
            if changed { tenants[tenantID] = t }
        }
        return wills
    }

    /// Whether a session exists (connected or parked) for the client id.
    public func hasSession(tenant: TenantID, clientID: String) -> Bool { tenants[tenant]?.sessions[clientID] != nil }

    public func connectedHandles() -> [Handle] {
        var out: [Handle] = []
        for t in tenants.values {
            for e in t.sessions.values { if case .connected(let h, _, _) = e { out.append(h) } }
        }
        return out
    }

    public var sessionCount: Int { tenants.values.reduce(0) { $0 + $1.sessions.count } }
    public var subscriptionCount: Int { tenants.values.reduce(0) { $0 + $1.subscriptions.count } }

    // MARK: - Subscriptions

    public mutating func subscribe(tenant: TenantID, clientID: String, filter: TopicFilter, options: SubscriptionOptions) {
        tenants[tenant, default: Tenant()].subscriptions.insert(
            filter: filter.filter, key: SubscriberKey(clientID: clientID, shareGroup: filter.shareGroup), value: options)
    }

    public mutating func unsubscribe(tenant: TenantID, clientID: String, filter: TopicFilter) {
        tenants[tenant]?.subscriptions.remove(
            filter: filter.filter, key: SubscriberKey(clientID: clientID, shareGroup: filter.shareGroup))
    }

    private static func removeSubscriptions(of state: SessionState, from t: inout Tenant) {
        for sub in state.subscriptions.values {
            t.subscriptions.remove(
                filter: sub.filter.filter, key: SubscriberKey(clientID: state.clientID, shareGroup: sub.filter.shareGroup))
        }
    }

    // MARK: - Routing

    /// Matches `message` against the tenant's subscriptions. Connected targets come back as deliveries for the
    /// shell to hand to their connections; parked targets get QoS 1/2 copies queued here.
    /// `pick(n)` chooses a member index in `0..<n` for shared groups (random in production, seeded in tests).
    public mutating func route(_ message: BrokerMessage, now: Timestamp, pick: (Int) -> Int) -> [Delivery] {
        guard var t = tenants[message.tenant] else { return [] }
        var perClient: [String: SubscriptionOptions] = [:]
        var groups: [String: [(String, SubscriptionOptions)]] = [:]
        t.subscriptions.match(topic: message.topic) { filter, key, options in
            if let g = key.shareGroup {
                groups[g + "/" + filter, default: []].append((key.clientID, options))
                return
            }
            if options.noLocal && key.clientID == message.publisherClientID { return }
            if let existing = perClient[key.clientID] {
                var merged = existing
                merged.qos = max(existing.qos, options.qos)
                merged.retainAsPublished = existing.retainAsPublished || options.retainAsPublished
                perClient[key.clientID] = merged
            } else {
                perClient[key.clientID] = options
            }
        }
        var deliveries: [Delivery] = []
        deliveries.reserveCapacity(perClient.count + groups.count)
        var touched = false
        for (clientID, options) in perClient {
            Self.deliver(message, to: clientID, options: options, in: &t, into: &deliveries, state: &self, touched: &touched)
        }
        for (_, members) in groups.sorted(by: { $0.key < $1.key }) {
            // Prefer members that are online; fall back to a parked (persistent) member, which queues.
            let online = members.filter { if case .connected = t.sessions[$0.0] { return true } else { return false } }
            let pool = online.isEmpty ? members : online
            let chosen = pool[min(max(0, pick(pool.count)), pool.count - 1)]
            Self.deliver(message, to: chosen.0, options: chosen.1, in: &t, into: &deliveries, state: &self, touched: &touched)
        }
        if touched { tenants[message.tenant] = t }
        return deliveries
    }

    private static func deliver(_ message: BrokerMessage, to clientID: String, options: SubscriptionOptions,
                                in t: inout Tenant, into deliveries: inout [Delivery], state: inout BrokerState,
                                touched: inout Bool) {
        let outbound = OutboundMessage(message: message, qos: min(options.qos, message.qos),
                                       retain: options.retainAsPublished ? message.retain : false)
        switch t.sessions[clientID] {
        case .connected(let h, _, _):
            deliveries.append(Delivery(handle: h, outbound: outbound))
        case .parked(var p):
            guard outbound.qos > .atMostOnce else { return }
            touched = true
            if p.state.enqueue(outbound, limit: state.limits.maxQueuedMessages) {
                state.queuedMessages += 1
            } else {
                state.droppedQueueFull += 1
            }
            t.sessions[clientID] = .parked(p)
        case .none:
            break
        }
    }

    // MARK: - Retained

    public mutating func storeRetained(_ message: BrokerMessage) { retained.apply(message) }

    public func retainedMessages(tenant: TenantID, filter: TopicFilter, now: Timestamp) -> [BrokerMessage] {
        retained.matching(tenant: tenant, filter: filter.filter, now: now)
    }
}
