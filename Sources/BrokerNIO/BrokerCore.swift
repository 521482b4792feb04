import Broker
import IoTTypes
import Logging
import MQTTCodec
import NIOConcurrencyHelpers
import NIOCore
import TopicTrie

/// The shell around the node-wide ``BrokerState``: one lock, held only for the pure state's short methods,
/// and the fan-out of routed messages to connections, batched per event loop.
public final class BrokerCore: Sendable {
    public let limits: BrokerLimits
    public let metrics: BrokerMetrics
    /// Retained messages and session records: replicated on a node, in memory in unit tests.
    public let store: any BrokerStore
    let logger: Logger
    private let state: NIOLockedValueBox<BrokerState<ConnectionHandle>>
    private let rng = NIOLockedValueBox(SystemRandomNumberGenerator())
    /// IoT policies for the connections they apply to (nil: none are enforced, as in unit tests).
    public let authorizing: (any Authorizing)?
    /// The authorization epoch the last sweep saw: when it moves, every connection re-checks its principal.
    private let lastEpoch = NIOLockedValueBox<AuthorizationEpoch?>(nil)
    let mailboxes = LoopMailboxes()
    /// Told of every routed message under `$aws/` (device shadow requests, …), once set; nil in unit tests.
    private let reserved = NIOLockedValueBox<(any ReservedTopicHandling)?>(nil)
    /// Asks the other nodes for a connecting client's id (issue 7), once set; nil on a lone node and in unit tests.
    private let takeover = NIOLockedValueBox<(any SessionTakeoverClient)?>(nil)
    /// Other nodes' takeover requests waiting for a kicked connection to close: token → continuation.
    private let handOffs = NIOLockedValueBox<[UInt64: CheckedContinuation<RemoteHandOff, Never>]>([:])
    private let handOffTokens = NIOLockedValueBox<UInt64>(0)
    /// The cluster's subscription table (issue 7); nil on a single node: no lookup, no forwarding, no row tracking.
    public let routes: (any RouteDirectory)?
    /// Carries messages to the other nodes a ``ForwardPlan`` names; set once at start (``attachForwarder(_:)``).
    private let forwarder = NIOLockedValueBox<(any MessageForwarding)?>(nil)

    public init(limits: BrokerLimits, metrics: BrokerMetrics, store: any BrokerStore = LocalBrokerStore(),
                authorizing: (any Authorizing)? = nil, routes: (any RouteDirectory)? = nil, logger: Logger) {
        self.authorizing = authorizing
        self.limits = limits
        self.metrics = metrics
        self.store = store
        self.logger = logger
        self.routes = routes
        self.state = NIOLockedValueBox(BrokerState(limits: limits, tracksRows: routes != nil))
    }

    /// Installs the links to the other nodes (the forwarder needs the core to exist first: it routes what it
    /// receives here). Until then, and without a ``routes`` directory, routing is local only.
    public func attachForwarder(_ forwarder: any MessageForwarding) {
        self.forwarder.withLockedValue { $0 = forwarder }
    }

    /// Monotonic now, on the same clock as NIO's deadlines.
    static func now() -> Timestamp { Timestamp(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    // MARK: - Sessions

    func openSession(tenant: TenantID, clientID: String, handle: ConnectionHandle, cleanStart: Bool,
                     imported: SessionState? = nil) -> BrokerState<ConnectionHandle>.OpenResult
    {
        let now = Self.now()
        return state.withLockedValue {
            let result = $0.openSession(tenant: tenant, clientID: clientID, handle: handle, cleanStart: cleanStart,
                                        imported: imported, now: now)
            replicateRecords(&$0, now: now)
            publishRows(&$0)
            return result
        }
    }

    func sessionClosed(tenant: TenantID, clientID: String, handle: ConnectionHandle, session: SessionState,
                       expiry: UInt32, will: BrokerMessage?, willDelay: UInt32) {
        let now = Self.now()
        let (result, willNow) = state.withLockedValue {
            let r = $0.sessionClosed(tenant: tenant, clientID: clientID, handle: handle, state: session,
                                     expiry: expiry, will: will, willDelay: willDelay, now: now)
            replicateRecords(&$0, now: now)
            publishRows(&$0)
            return r
        }
        if let (next, handed) = result.handOver {
            next.withHandler { $0.sessionHandedOver(handed) }
        }
        if let (token, handed, expiry) = result.remoteHandOff {
            finishHandOff(token, handed.map { .handedOver($0, expiry: expiry) } ?? .discarded)
        }
        if let w = willNow { publish(w) }
    }

    /// Expires parked sessions, publishes delayed Wills and refreshes the session gauges; the service calls it
    /// every second (so the gauges lag by at most a second, and connects and closes don't pay for them).
    public func sweep() {
        let now = Self.now()
        let (wills, sessions, subscriptions, queued) = state.withLockedValue { s in
            let wills = s.sweep(now: now)
            replicateRecords(&s, now: now)
            publishRows(&s)
            return (wills, s.sessionCount, s.subscriptionCount, s.queuedMessages)
        }
        for w in wills { publish(w) }
        checkAuthorizationEpoch()
        metrics.sessions.record(sessions)
        metrics.subscriptions.record(subscriptions)
        metrics.messagesQueued.record(queued)
    }

    /// When authorization changed since the last look (a certificate deactivated, a policy detached, …), every
    /// connection re-checks whether its principal still authenticates and is closed if not. Policy decisions are
    /// re-evaluated by each connection at its next operation, not here.
    public func checkAuthorizationEpoch() {
        guard let authorizing else { return }
        let now = authorizing.epoch()
        let moved = lastEpoch.withLockedValue { last in
            defer { last = now }
            return last != nil && last != now
        }
        guard moved else { return }
        for handle in connectedHandles() { handle.withHandler { $0.authorizationChanged() } }
    }

    /// Hands the state's record changes to the store while the lock is held, so they reach it in the order
    /// they happened (the store only enqueues).
    private func replicateRecords(_ s: inout BrokerState<ConnectionHandle>, now: Timestamp) {
        let writes = s.takeRecordWrites()
        if !writes.isEmpty { store.record(writes, now: now) }
    }

    /// Tells the directory of this node's row edges while the lock is held, so they reach it in order.
    private func publishRows(_ s: inout BrokerState<ConnectionHandle>) {
        guard let routes else { return }
        for change in s.takeRowChanges() {
            switch change {
            case .added(let tenant, let filter): routes.localRowAdded(tenant: tenant, filter: filter)
            case .removed(let tenant, let filter): routes.localRowRemoved(tenant: tenant, filter: filter)
            }
        }
    }

    /// This node's rows for a tenant (tests, status); empty without a directory.
    public func localRows(tenant: TenantID) -> [String: Int] { state.withLockedValue { $0.rows(tenant: tenant) } }

    /// The record of a connected persistent session (expiry > 0), on a cluster node (one that asks peers on
    /// takeover); nothing on a lone node or for a session that ends with its connection.
    func recordConnected(tenant: TenantID, clientID: String, session: SessionState, expiry: UInt32) {
        guard expiry > 0, sessionTakeover != nil else { return }
        let now = Self.now()
        let record = SessionRecord(tenant: tenant, clientID: clientID, protocolVersion: session.protocolVersion,
                                   subscriptions: session.subscriptions.mapValues(\.options), expiryInterval: expiry,
                                   disconnectedAt: nil)
        state.withLockedValue { s in
            s.noteConnected(record)
            replicateRecords(&s, now: now)
        }
    }

    func connectedHandles() -> [ConnectionHandle] { state.withLockedValue { $0.connectedHandles() } }

    // MARK: - Sessions across nodes (issue 7)

    /// Installs the client that asks other nodes for a connecting client's id, and turns on the replicated queues of
    /// parked sessions. Set once at start, before the listeners open, on a node of a cluster only.
    public func useSessionTakeover(_ client: any SessionTakeoverClient) {
        takeover.withLockedValue { $0 = client }
        state.withLockedValue { $0.replicateQueues = true }
    }

    func hasSession(tenant: TenantID, clientID: String) -> Bool {
        state.withLockedValue { $0.hasSession(tenant: tenant, clientID: clientID) }
    }

    /// The takeover client, when this node asks other nodes before answering CONNACK.
    var sessionTakeover: (any SessionTakeoverClient)? { takeover.withLockedValue { $0 } }

    /// Another node asks for `clientID`: a parked session is taken out at once; a connected one is kicked (0x8E) and
    /// the answer waits for its close, at most `timeout` (then `.timedOut`: whatever the close later returns is
    /// lost). Answers once this node's record writes for the session are durable, so a later write by the asking
    /// node cannot be overtaken by them.
    public func handOff(tenant: TenantID, clientID: String, cleanStart: Bool, timeout: TimeAmount) async -> RemoteHandOff {
        let token = handOffTokens.withLockedValue { t -> UInt64 in
            t &+= 1
            return t
        }
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<RemoteHandOff, Never>) in
            handOffs.withLockedValue { $0[token] = continuation }
            let now = Self.now()
            let found = state.withLockedValue { s in
                let r = s.handOff(tenant: tenant, clientID: clientID, cleanStart: cleanStart, token: token)
                replicateRecords(&s, now: now)
                publishRows(&s)
                return r
            }
            switch found {
            case .absent: finishHandOff(token, .absent)
            case .discarded: finishHandOff(token, .discarded)
            case .handedOver(let session, let expiry): finishHandOff(token, .handedOver(session, expiry: expiry))
            case .kick(let previous):
                logger.info("session taken over by another node", metadata: ["mqtt.client_id": "\(clientID)"])
                previous.withHandler { $0.takeOver() }
                previous.eventLoop.scheduleTask(in: timeout) { self.finishHandOff(token, .timedOut) }
            }
        }
        if case .absent = outcome { return outcome }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in store.afterWrites { _ in c.resume() } }
        return outcome
    }

    /// Resumes a takeover request once (later calls for the same token do nothing).
    private func finishHandOff(_ token: UInt64, _ outcome: RemoteHandOff) {
        handOffs.withLockedValue { $0.removeValue(forKey: token) }?.resume(returning: outcome)
    }

    /// A session came back for a connection that had already gone: park it here so it is not lost.
    func parkImported(_ session: SessionState, tenant: TenantID, clientID: String, handle: ConnectionHandle,
                      expiry: UInt32) {
        if case .opened = openSession(tenant: tenant, clientID: clientID, handle: handle, cleanStart: false,
                                      imported: session) {
            sessionClosed(tenant: tenant, clientID: clientID, handle: handle, session: session, expiry: expiry,
                          will: nil, willDelay: 0)
        }
    }

    // MARK: - Subscriptions and retained messages

    func subscribe(tenant: TenantID, clientID: String, filter: TopicFilter, options: SubscriptionOptions) {
        state.withLockedValue {
            $0.subscribe(tenant: tenant, clientID: clientID, filter: filter, options: options)
            publishRows(&$0)
        }
    }

    func unsubscribe(tenant: TenantID, clientID: String, filter: TopicFilter) {
        state.withLockedValue {
            $0.unsubscribe(tenant: tenant, clientID: clientID, filter: filter)
            publishRows(&$0)
        }
    }

    func retained(tenant: TenantID, filter: TopicFilter) -> [BrokerMessage] {
        store.retained(tenant: tenant, filter: filter.filter, now: Self.now())
    }

    // MARK: - Routing

    /// Stores a retained message if flagged, then routes. Used for Wills; connections call the two steps.
    func publish(_ message: BrokerMessage) {
        if message.retain { storeRetained(message, completion: nil) }
        route(message)
    }

    /// Stores (or clears) a retained message; `completion` runs once it is durable or has failed.
    func storeRetained(_ message: BrokerMessage, completion: (@Sendable (Bool) -> Void)?) {
        metrics.retainedWrites.increment()
        store.storeRetained(message, now: Self.now()) { [metrics] ok in
            if !ok { metrics.retainedWriteFailures.increment() }
            completion?(ok)
        }
    }

    /// Installs the handler of AWS's reserved request topics (`$aws/things/…/shadow/update`, …). Set once at start,
    /// before the listeners open; the handler answers by routing its own messages through `route`.
    public func handleReservedTopics(_ handler: any ReservedTopicHandling) {
        reserved.withLockedValue { $0 = handler }
    }

    /// Routes a message published on this node: to this node's subscribers and, in a cluster, to every other node
    /// with a matching row (``ForwardPlan``). Matches under the lock, then hands each delivery to its connection:
    /// inline on the caller's loop, and with one task per other loop carrying that loop's whole batch.
    ///
    /// Returns true when `completion` will be called: a QoS 1/2 message went to other nodes, and `completion` runs
    /// once each has taken it (true) or the forwarding bound passed (false). False: routing is complete now and
    /// `completion` is never called (no remote node involved, QoS 0, or no completion given).
    @discardableResult
    public func route(_ message: BrokerMessage, completion: (@Sendable (Bool) -> Void)? = nil) -> Bool {
        // A request on a reserved topic is also an ordinary message: subscribers of `…/update` get it as well.
        if message.topic.hasPrefix("$aws/"), let handler = reserved.withLockedValue({ $0 }) { handler.published(message) }
        guard let routes else {
            routeHere(message, serving: .all)
            return false
        }
        if message.qos != .atMostOnce, let completion, !routes.seesMajority {
            // Cut off from the majority: deliver here, but do not acknowledge — the publisher hears of the failure
            // (MQTT 5: 0x80; 3.1.1: closed) and sends again, to this node once it is healed or to another one.
            routeHere(message, serving: .all)
            metrics.minorityRefusals.increment()
            Task { completion(false) }
            return true
        }
        let remote = routes.remoteMatches(tenant: message.tenant, topic: message.topic)
        if remote.isEmpty {
            routeHere(message, serving: .all)
            return false
        }
        let plan = state.withLockedValue { s in
            ForwardPlan.make(localGroups: s.matchingSharedGroups(tenant: message.tenant, topic: message.topic),
                             remote: remote, pick: pick)
        }
        routeHere(message, serving: .only(plan.localGroups))
        guard !plan.remote.isEmpty, let forwarder = forwarder.withLockedValue({ $0 }) else { return false }
        let wait = message.qos == .atMostOnce ? nil : completion
        forwarder.forward(message, to: plan.remote, completion: wait)
        return wait != nil
    }

    /// Routes a message to this node's subscribers only: no reserved-topic handling, no forwarding. For messages
    /// that every node produces on its own (shadow answers applied on every node) and for messages another node
    /// forwarded here, which serve their non-shared matches and the `$share` groups named in `serving`.
    public func routeLocally(_ message: BrokerMessage, serving: Set<SharedGroupKey>? = nil) {
        routeHere(message, serving: serving.map { .only($0) } ?? .all)
    }

    private func pick(_ n: Int) -> Int {
        n <= 1 ? 0 : rng.withLockedValue { Int.random(in: 0..<n, using: &$0) }
    }

    private func routeHere(_ message: BrokerMessage, serving: SharedGroupSelection) {
        let now = Self.now()
        let deliveries = state.withLockedValue { s in
            let d = s.route(message, now: now, serving: serving, pick: pick)
            if !s.recordWrites.isEmpty { replicateRecords(&s, now: now) }  // replicated-queue appends
            return d
        }
        metrics.messagesRouted.increment()
        guard !deliveries.isEmpty else { return }
        if deliveries.count == 1 {
            let d = deliveries[0]
            if d.handle.eventLoop.inEventLoop {
                d.handle.deliverOnLoop(d.outbound)
            } else {
                d.handle.mailbox.post(d.handle, d.outbound)
            }
            return
        }
        var remote: [ObjectIdentifier: [(ConnectionHandle, OutboundMessage)]] = [:]
        for d in deliveries {
            if d.handle.eventLoop.inEventLoop {
                d.handle.deliverOnLoop(d.outbound)
            } else {
                remote[ObjectIdentifier(d.handle.mailbox), default: []].append((d.handle, d.outbound))
            }
        }
        for (_, batch) in remote { batch[0].0.mailbox.post(batch) }
    }

    /// A delivery reached a connection whose session had already been handed back (closed meanwhile): put it
    /// in the session's queue wherever the session now is, so no QoS 1/2 message is lost in that window.
    func requeue(_ outbound: OutboundMessage, tenant: TenantID, clientID: String) {
        let now = Self.now()
        let d = state.withLockedValue { s in
            let d = s.requeue(outbound, tenant: tenant, clientID: clientID, now: now)
            if !s.recordWrites.isEmpty { replicateRecords(&s, now: now) }
            return d
        }
        if let d {
            d.handle.mailbox.post(d.handle, d.outbound)
        }
    }
}

/// Carries messages to other nodes (issue 7): the per-peer forwarding links. `nodes` maps each node to the
/// `$share` groups it is to serve. With a `completion` (QoS 1/2) it is called exactly once: true when every node
/// acknowledged the message (handed it to its local routing), false when one did not within the bound.
public protocol MessageForwarding: Sendable {
    func forward(_ message: BrokerMessage, to nodes: [UInt64: [SharedGroupKey]],
                 completion: (@Sendable (Bool) -> Void)?)
}

/// AWS's reserved request topics (`$aws/…`) served by the node: the broker hands every routed message under `$aws/`
/// to the handler (after the publisher's `iot:Publish` was allowed, as AWS authorizes shadow requests by topic). The
/// handler must return quickly; it answers later by routing messages of its own.
public protocol ReservedTopicHandling: Sendable {
    func published(_ message: BrokerMessage)
}

