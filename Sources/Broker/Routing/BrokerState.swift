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
/// and the session-record changes to replicate. A pure value: the shell (`BrokerCore`) keeps it behind a lock
/// and carries out what the methods return. Retained messages are not here: they live in the replicated
/// ``BrokerStore``, which the shell consults directly.
///
/// Rules implemented here:
/// - Routing: every subscription whose filter matches gets the message once per session, at the highest
///   granted QoS among its matching subscriptions ([MQTT-3.3.4-2]) capped by the published QoS; No Local
///   subscriptions skip their own publisher ([MQTT-3.8.3-3]); each `$share` group matching the topic picks
///   one member, preferring connected ones ([MQTT-4.8.2-?], AWS §1.6).
/// - Parked sessions queue QoS 1/2 deliveries up to `maxQueuedMessages`, then drop (counted); QoS 0 is not kept.
/// - Takeover: a second connection with the same client id gets the session once the first has closed.
/// - Across nodes (issue 7): another node's takeover request (``handOff(tenant:clientID:cleanStart:token:)``) kicks
///   the connection or takes the parked session out; a connection may open with a session imported from another
///   node (``openSession(tenant:clientID:handle:cleanStart:imported:now:)``). With ``replicateQueues`` on, every
///   message queued for a parked session is also written to the replicated queue (``SessionRecordWrite/enqueue``),
///   and cleared when a connection takes the queue back.
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
        /// When another node took the client id over: the shell answers that node's request `token` with the
        /// session (nil: discarded — clean start, or a session that ended with its connection).
        public var remoteHandOff: (token: UInt64, state: SessionState?, expiry: UInt32)?
    }

    /// What ``handOff(tenant:clientID:cleanStart:token:)`` found.
    public enum HandOffResult: Sendable {
        /// No session for the client id here.
        case absent
        /// A parked session discarded (the new connection asked for a clean start).
        case discarded
        /// A parked session taken out, with its expiry interval: hand it to the asking node.
        case handedOver(SessionState, expiry: UInt32)
        /// A live connection holds the client id: the shell kicks it (0x8E); the answer comes with its close, in
        /// ``CloseResult/remoteHandOff``.
        case kick(Handle)
    }

    struct Parked: Sendable {
        var state: SessionState
        var expiresAt: Timestamp
        var expiry: UInt32 = 0
        var will: BrokerMessage?
        var willDueAt: Timestamp?
        /// Something of its queue was written to the replicated queue (which must then be cleared on resume).
        var replicated = false
    }

    enum Entry: Sendable {
        case connected(Handle, cleanStart: Bool, waitingForTakeover: Bool)
        case parked(Parked)
    }

    struct Tenant: Sendable {
        var subscriptions = SubscriptionTrie<SubscriberKey, SubscriptionOptions>()
        var sessions: [String: Entry] = [:]
        /// Connections kicked for another node's takeover: client id → the request's token and clean start.
        var leaving: [String: (token: UInt64, cleanStart: Bool)] = [:]
        /// This node's rows (filter as subscribed, `$share/<group>/` included) and how many sessions hold each;
        /// kept only when ``BrokerState/tracksRows``.
        var rows: [String: Int] = [:]
    }

    public let limits: BrokerLimits
    var tenants: [TenantID: Tenant] = [:]
    /// Persistent-session record changes, in the order they happened, for the shell to replicate
    /// (``takeRecordWrites()``). The state never reads records back: the parked sessions above are the truth on
    /// this node; the records let other nodes know a session exists.
    public private(set) var recordWrites: [SessionRecordWrite] = []
    /// Whether this node's rows are counted and their edges collected (``takeRowChanges()``): on in a cluster with
    /// a ``RouteDirectory``, off on a single node so subscribing costs nothing extra.
    public let tracksRows: Bool
    /// This node's row edges since the last ``takeRowChanges()``, in order.
    public private(set) var rowChanges: [LocalRowChange] = []
    /// Counters for metrics.
    public private(set) var droppedQueueFull: UInt64 = 0
    public private(set) var queuedMessages: Int = 0
    /// Write messages queued for parked sessions to the replicated queue too (a node of a cluster: the queue then
    /// survives this node). Off for a lone node and in unit tests: no extra writes.
    public var replicateQueues = false

    public init(limits: BrokerLimits = BrokerLimits(), replicateQueues: Bool = false, tracksRows: Bool = false) {
        self.limits = limits
        self.replicateQueues = replicateQueues
        self.tracksRows = tracksRows
    }

    /// The row edges since the last call, oldest first.
    public mutating func takeRowChanges() -> [LocalRowChange] {
        if rowChanges.isEmpty { return [] }
        defer { rowChanges.removeAll(keepingCapacity: true) }
        return rowChanges
    }

    /// The row a subscription contributes to: the filter as subscribed.
    static func rowFilter(_ filter: String, shareGroup: String?) -> String {
        guard let g = shareGroup else { return filter }
        return "$share/" + g + "/" + filter
    }

    private static func rowUp(_ row: String, in t: inout Tenant, tenant: TenantID, changes: inout [LocalRowChange]) {
        let n = t.rows[row, default: 0]
        t.rows[row] = n + 1
        if n == 0 { changes.append(.added(tenant: tenant, filter: row)) }
    }

    private static func rowDown(_ row: String, in t: inout Tenant, tenant: TenantID, changes: inout [LocalRowChange]) {
        guard let n = t.rows[row] else { return }
        if n <= 1 {
            t.rows[row] = nil
            changes.append(.removed(tenant: tenant, filter: row))
        } else {
            t.rows[row] = n - 1
        }
    }

    /// A connected persistent session's record (written again whenever its subscriptions change), so the session
    /// outlives this node even while its client is connected.
    public mutating func noteConnected(_ record: SessionRecord) {
        recordWrites.append(.put(record))
    }

    /// The record changes since the last call, oldest first.
    public mutating func takeRecordWrites() -> [SessionRecordWrite] {
        if recordWrites.isEmpty { return [] }
        defer { recordWrites.removeAll(keepingCapacity: true) }
        return recordWrites
    }

    // MARK: - Sessions

    /// A CONNECT was accepted for `clientID` on `handle`. `imported` is the session another node handed over (or
    /// rebuilt from the replicated record and queue); a session held here wins over it (by the takeover protocol
    /// only one node holds a client id, so both exist only after a race).
    public mutating func openSession(tenant: TenantID, clientID: String, handle: Handle, cleanStart: Bool,
                                     imported: SessionState? = nil, now: Timestamp) -> OpenResult {
        // Move the tenant out and back: `var t = tenants[id]` would copy its session table on every connect.
        var t = tenants.removeValue(forKey: tenant) ?? Tenant()
        defer { tenants[tenant] = t }
        if let imported, !cleanStart, t.sessions[clientID] == nil {
            t.sessions[clientID] = .connected(handle, cleanStart: cleanStart, waitingForTakeover: false)
            for sub in imported.subscriptions.values {
                let previous = t.subscriptions.insert(
                    filter: sub.filter.filter, key: SubscriberKey(clientID: clientID, shareGroup: sub.filter.shareGroup),
                    value: sub.options)
                if tracksRows && previous == nil {
                    Self.rowUp(Self.rowFilter(sub.filter.filter, shareGroup: sub.filter.shareGroup), in: &t,
                               tenant: tenant, changes: &rowChanges)
                }
            }
            return .opened(resumed: imported)
        }
        return openSession(in: &t, tenant: tenant, clientID: clientID, handle: handle, cleanStart: cleanStart)
    }

    /// Another node asks for `clientID` (a client connected there). A parked session is taken out of this node —
    /// subscriptions and all — and handed over (or discarded on clean start); a connected one is kicked and
    /// answered when it closes (``CloseResult/remoteHandOff``).
    public mutating func handOff(tenant: TenantID, clientID: String, cleanStart: Bool, token: UInt64) -> HandOffResult {
        guard tenants[tenant]?.sessions[clientID] != nil else { return .absent }
        var t = tenants.removeValue(forKey: tenant)!
        defer { tenants[tenant] = t }
        switch t.sessions[clientID]! {
        case .connected(let h, _, _):
            t.leaving[clientID] = (token, cleanStart)
            return .kick(h)
        case .parked(let p):
            t.sessions[clientID] = nil
            queuedMessages -= p.state.pending.count
            Self.removeSubscriptions(of: p.state, from: &t, tenant: tenant, tracksRows: tracksRows,
                                     changes: &rowChanges)
            if cleanStart {
                recordWrites.append(.remove(tenant: tenant, clientID: clientID))
                return .discarded
            }
            // The messages travel in the answer; the replicated copy goes (the record stays: the session lives on).
            if p.replicated { recordWrites.append(.clearQueue(tenant: tenant, clientID: clientID)) }
            return .handedOver(p.state, expiry: p.expiry)
        }
    }

    private static func withTenant<R>(_ t: inout Tenant, _ body: (inout Tenant) -> R) -> R { body(&t) }

    private mutating func openSession(in t: inout Tenant, tenant: TenantID, clientID: String, handle: Handle,
                                      cleanStart: Bool) -> OpenResult {
        switch t.sessions[clientID] {
        case .none:
            t.sessions[clientID] = .connected(handle, cleanStart: cleanStart, waitingForTakeover: false)
            return .opened(resumed: nil)
        case .parked(let p):
            // Reconnecting in time cancels a delayed Will ([MQTT-3.1.3-9]).
            t.sessions[clientID] = .connected(handle, cleanStart: cleanStart, waitingForTakeover: false)
            queuedMessages -= p.state.pending.count
            if cleanStart {
                Self.removeSubscriptions(of: p.state, from: &t, tenant: tenant, tracksRows: tracksRows,
                                        changes: &rowChanges)
                recordWrites.append(.remove(tenant: tenant, clientID: clientID))
                return .opened(resumed: nil)
            }
            // The connection takes the queue: the replicated copy goes.
            if p.replicated { recordWrites.append(.clearQueue(tenant: tenant, clientID: clientID)) }
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
        var t = tenants.removeValue(forKey: tenant) ?? Tenant()  // moved out and back: no copy of the tables
        defer { tenants[tenant] = t }
        var result = CloseResult(handOver: nil, remoteHandOff: nil)
        if case .connected(let h, _, _) = t.sessions[clientID], h == handle,
           let leaving = t.leaving.removeValue(forKey: clientID)
        {
            // Kicked for another node: the session leaves this node (its subscriptions with it). It continues there
            // if it is persistent and the new connection did not ask for a clean start; otherwise it ends.
            t.sessions[clientID] = nil
            Self.removeSubscriptions(of: state, from: &t, tenant: tenant, tracksRows: tracksRows,
                                     changes: &rowChanges)
            let keep = !leaving.cleanStart && expiry > 0
            if !keep { recordWrites.append(.remove(tenant: tenant, clientID: clientID)) }
            result.remoteHandOff = (leaving.token, keep ? state : nil, expiry)
            // Will on takeover, as for a local one: published unless delayed.
            return (result, willDelay == 0 ? will : nil)
        }
        switch t.sessions[clientID] {
        case .connected(let h, let cleanStart, let waiting) where h != handle:
            // Taken over: the new connection gets the session (or a fresh one if it asked for a clean start).
            if waiting {
                t.sessions[clientID] = .connected(h, cleanStart: cleanStart, waitingForTakeover: false)
                if cleanStart {
                    Self.removeSubscriptions(of: state, from: &t, tenant: tenant, tracksRows: tracksRows,
                                        changes: &rowChanges)
                    recordWrites.append(.remove(tenant: tenant, clientID: clientID))
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
            Self.removeSubscriptions(of: state, from: &t, tenant: tenant, tracksRows: tracksRows,
                                        changes: &rowChanges)
            t.sessions[clientID] = nil
            recordWrites.append(.remove(tenant: tenant, clientID: clientID))
            return (result, will)  // the session ends now, so a delayed Will is due now ([MQTT-3.1.2-8])
        }
        let expiresAt = now.adding(seconds: Int64(expiry))
        var willNow: BrokerMessage?
        var parked = Parked(state: state, expiresAt: expiresAt, expiry: expiry, will: nil, willDueAt: nil)
        if let w = will {
            if willDelay == 0 {
                willNow = w
            } else {
                parked.will = w
                parked.willDueAt = min(now.adding(seconds: Int64(willDelay)), expiresAt)
            }
        }
        queuedMessages += state.pending.count
        recordWrites.append(.put(
            SessionRecord(tenant: tenant, clientID: clientID, protocolVersion: state.protocolVersion,
                          subscriptions: state.subscriptions.mapValues(\.options), expiryInterval: expiry,
                          disconnectedAt: now)))
        if replicateQueues {
            // What the client is still owed when it left: unacknowledged deliveries first, then the queue.
            let owed = state.owedMessages
            if !owed.isEmpty {
                recordWrites.append(.enqueue(tenant: tenant, clientID: clientID, messages: owed))
                parked.replicated = true
            }
        }
        t.sessions[clientID] = .parked(parked)
        return (result, willNow)
    }

    /// Expires parked sessions and releases delayed Wills that are due. Returns the Wills to publish.
    public mutating func sweep(now: Timestamp) -> [BrokerMessage] {
        var wills: [BrokerMessage] = []
        for tenantID in Array(tenants.keys) {
            // Read-only scan first; then edit the few due entries in place (no copy of the session table).
            var due: [(String, Parked)] = []
            for (clientID, entry) in tenants[tenantID]!.sessions {
                guard case .parked(let p) = entry else { continue }
                if p.expiresAt <= now || (p.willDueAt.map { $0 <= now } ?? false) { due.append((clientID, p)) }
            }
            for (clientID, var p) in due {
                if let at = p.willDueAt, at <= now, let w = p.will {
                    wills.append(w)
                    p.will = nil
                    p.willDueAt = nil
                }
                if p.expiresAt <= now {
                    Self.removeSubscriptions(of: p.state, from: &tenants[tenantID]!, tenant: tenantID,
                                            tracksRows: tracksRows, changes: &rowChanges)
                    queuedMessages -= p.state.pending.count
                    tenants[tenantID]!.sessions[clientID] = nil
                    recordWrites.append(.remove(tenant: tenantID, clientID: clientID))
                } else {
                    tenants[tenantID]!.sessions[clientID] = .parked(p)
                }
            }
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
        let previous = tenants[tenant, default: Tenant()].subscriptions.insert(
            filter: filter.filter, key: SubscriberKey(clientID: clientID, shareGroup: filter.shareGroup), value: options)
        if tracksRows && previous == nil {
            Self.rowUp(Self.rowFilter(filter.filter, shareGroup: filter.shareGroup), in: &tenants[tenant]!,
                       tenant: tenant, changes: &rowChanges)
        }
    }

    public mutating func unsubscribe(tenant: TenantID, clientID: String, filter: TopicFilter) {
        guard tenants[tenant] != nil else { return }
        let removed = tenants[tenant]!.subscriptions.remove(
            filter: filter.filter, key: SubscriberKey(clientID: clientID, shareGroup: filter.shareGroup))
        if tracksRows && removed != nil {
            Self.rowDown(Self.rowFilter(filter.filter, shareGroup: filter.shareGroup), in: &tenants[tenant]!,
                         tenant: tenant, changes: &rowChanges)
        }
    }

    /// This node's rows for a tenant and how many subscriptions hold each (tests, status); empty unless
    /// ``tracksRows``.
    public func rows(tenant: TenantID) -> [String: Int] { tenants[tenant]?.rows ?? [:] }

    /// The `$share` groups with members here whose filter matches `topic` (the local half of a ``ForwardPlan``).
    public func matchingSharedGroups(tenant: TenantID, topic: String) -> Set<SharedGroupKey> {
        var out: Set<SharedGroupKey> = []
        tenants[tenant]?.subscriptions.match(topic: topic) { filter, key, _ in
            if let g = key.shareGroup { out.insert(SharedGroupKey(group: g, filter: filter)) }
        }
        return out
    }

    private static func removeSubscriptions(of state: SessionState, from t: inout Tenant, tenant: TenantID,
                                            tracksRows: Bool, changes: inout [LocalRowChange]) {
        for sub in state.subscriptions.values {
            let removed = t.subscriptions.remove(
                filter: sub.filter.filter, key: SubscriberKey(clientID: state.clientID, shareGroup: sub.filter.shareGroup))
            if tracksRows && removed != nil {
                rowDown(rowFilter(sub.filter.filter, shareGroup: sub.filter.shareGroup), in: &t, tenant: tenant,
                        changes: &changes)
            }
        }
    }

    // MARK: - Routing

    /// Matches `message` against the tenant's subscriptions. Connected targets come back as deliveries for the
    /// shell to hand to their connections; parked targets get QoS 1/2 copies queued here.
    /// `pick(n)` chooses a member index in `0..<n` for shared groups (random in production, seeded in tests).
    /// `serving` names the `$share` groups this node delivers to (``SharedGroupSelection/all`` on a single node; the
    /// groups a ``ForwardPlan`` gave this node, or a forwarded message asked it to serve, in a cluster).
    public mutating func route(_ message: BrokerMessage, now: Timestamp, serving: SharedGroupSelection = .all,
                               pick: (Int) -> Int) -> [Delivery] {
        guard tenants[message.tenant] != nil else { return [] }
        // 1. Match (read only). Most topics match one or a few subscriptions: collect into an array and only
        //    build a per-client table when a client could appear twice.
        var matches: [(clientID: String, options: SubscriptionOptions)] = []
        var groups: [SharedGroupKey: [(String, SubscriptionOptions)]] = [:]
        tenants[message.tenant]!.subscriptions.match(topic: message.topic) { filter, key, options in
            if let g = key.shareGroup {
                let k = SharedGroupKey(group: g, filter: filter)
                if serving.includes(k) { groups[k, default: []].append((key.clientID, options)) }
                return
            }
            if options.noLocal && key.clientID == message.publisherClientID { return }
            matches.append((key.clientID, options))
        }
        if matches.count > 1 { matches = Self.mergePerClient(matches) }
        // 2. Decide and queue, mutating the tenant in place.
        var deliveries: [Delivery] = []
        deliveries.reserveCapacity(matches.count + groups.count)
        let limit = limits.maxQueuedMessages
        var queued = 0
        var dropped: UInt64 = 0
        var writes = Writes(tenant: message.tenant, enabled: replicateQueues)
        Self.withTenant(&tenants[message.tenant]!) { t in
            for m in matches {
                Self.deliver(message, to: m.clientID, options: m.options, in: &t, limit: limit, into: &deliveries,
                             queued: &queued, dropped: &dropped, writes: &writes)
            }
            for (_, members) in groups.sorted(by: { $0.key < $1.key }) {
                // Prefer members that are online; fall back to a parked (persistent) member, which queues.
                let online = members.filter { if case .connected = t.sessions[$0.0] { return true } else { return false } }
                let pool = online.isEmpty ? members : online
                let chosen = pool[min(max(0, pick(pool.count)), pool.count - 1)]
                Self.deliver(message, to: chosen.0, options: chosen.1, in: &t, limit: limit, into: &deliveries,
                             queued: &queued, dropped: &dropped, writes: &writes)
            }
        }
        queuedMessages += queued
        droppedQueueFull += dropped
        if !writes.writes.isEmpty { recordWrites.append(contentsOf: writes.writes) }
        return deliveries
    }

    /// A QoS 1/2 delivery that reached a connection after it handed its session back: queue it on the parked
    /// session, or return it for the connection that now holds the session.
    public mutating func requeue(_ outbound: OutboundMessage, tenant: TenantID, clientID: String, now: Timestamp)
        -> Delivery?
    {
        guard tenants[tenant] != nil else { return nil }
        var deliveries: [Delivery] = []
        var queued = 0
        var dropped: UInt64 = 0
        var writes = Writes(tenant: tenant, enabled: replicateQueues)
        let limit = limits.maxQueuedMessages
        Self.withTenant(&tenants[tenant]!) { t in
            Self.place(outbound, for: clientID, in: &t, limit: limit, into: &deliveries, queued: &queued,
                       dropped: &dropped, writes: &writes)
        }
        queuedMessages += queued
        droppedQueueFull += dropped
        if !writes.writes.isEmpty { recordWrites.append(contentsOf: writes.writes) }
        return deliveries.first
    }

    /// One entry per client: highest QoS, Retain As Published if any matching subscription asked for it.
    private static func mergePerClient(_ matches: [(clientID: String, options: SubscriptionOptions)])
        -> [(clientID: String, options: SubscriptionOptions)]
    {
        var index: [String: Int] = [:]
        var out: [(clientID: String, options: SubscriptionOptions)] = []
        out.reserveCapacity(matches.count)
        for m in matches {
            if let i = index[m.clientID] {
                out[i].options.qos = max(out[i].options.qos, m.options.qos)
                out[i].options.retainAsPublished = out[i].options.retainAsPublished || m.options.retainAsPublished
            } else {
                index[m.clientID] = out.count
                out.append(m)
            }
        }
        return out
    }

    /// Replicated-queue appends collected while routing one message (one write per parked session).
    struct Writes {
        let tenant: TenantID
        let enabled: Bool
        var writes: [SessionRecordWrite] = []
    }

    private static func deliver(_ message: BrokerMessage, to clientID: String, options: SubscriptionOptions,
                                in t: inout Tenant, limit: Int, into deliveries: inout [Delivery],
                                queued: inout Int, dropped: inout UInt64, writes: inout Writes) {
        let outbound = OutboundMessage(message: message, qos: min(options.qos, message.qos),
                                       retain: options.retainAsPublished ? message.retain : false)
        place(outbound, for: clientID, in: &t, limit: limit, into: &deliveries, queued: &queued, dropped: &dropped,
              writes: &writes)
    }

    private static func place(_ outbound: OutboundMessage, for clientID: String, in t: inout Tenant, limit: Int,
                              into deliveries: inout [Delivery], queued: inout Int, dropped: inout UInt64,
                              writes: inout Writes) {
        switch t.sessions[clientID] {
        case .connected(let h, _, _):
            deliveries.append(Delivery(handle: h, outbound: outbound))
        case .parked(var p):
            guard outbound.qos > .atMostOnce else { return }
            t.sessions[clientID] = nil  // move out so the queue is uniquely referenced while appending
            if p.state.enqueue(outbound, limit: limit) {
                queued += 1
                if writes.enabled {
                    writes.writes.append(.enqueue(tenant: writes.tenant, clientID: clientID, messages: [outbound]))
                    p.replicated = true
                }
            } else {
                dropped += 1
            }
            t.sessions[clientID] = .parked(p)
        case .none:
            break
        }
    }
}
