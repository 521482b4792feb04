import Broker
import ClusterNode
import ClusterService
import ClusterState
import IoTTypes
import Logging
import NIOCore

/// Client ids unique across the cluster, and persistent sessions that move between nodes (issue 7; the protocol and
/// its guarantees are in ops/design-notes.md, "Sessions across nodes").
///
/// Asking side (``takeOver(tenant:clientID:cleanStart:heldHere:limits:)``): before CONNACK, every other live node is
/// asked at once (bus request kind 7) to give up the client id, each bounded by `Settings.timeout`; a node that does
/// not answer is treated as gone. A session handed over by its holder is authoritative (the holder cleared the
/// replicated queue before answering). When no node handed one over and this node holds none, the replicated
/// record and queue are the session — read here, and the queue taken (`trimSessionQueue` through the last position
/// read, through the store's ordered queue).
///
/// Answering side (``serve(handOff:)``): the broker gives up the session (`BrokerCore.handOff`) and the answer
/// carries its subscriptions and the messages still owed.
public final class SessionTakeover: SessionTakeoverClient {
    public struct Settings: Sendable {
        /// How long the asking node waits for each other node.
        public var timeout: Duration = .seconds(2)
        /// How long an answering node waits for a kicked connection to close (less than `timeout`, so the answer
        /// still arrives in time).
        public var kickTimeout: Duration = .seconds(1)
        public init() {}
    }

    let cluster: ClusterService
    let store: ClusterBrokerStore
    let peers: @Sendable () -> [UInt64]
    let settings: Settings
    let logger: Logger

    /// `peers`: the other live nodes (for now `ClusterService.knownPeers`; membership will feed it from gossip).
    public init(cluster: ClusterService, store: ClusterBrokerStore, peers: @escaping @Sendable () -> [UInt64],
                settings: Settings = Settings(), logger: Logger) {
        self.cluster = cluster
        self.store = store
        self.peers = peers
        self.settings = settings
        self.logger = logger
    }

    static func now() -> Timestamp { Timestamp(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }

    public var asksPeers: Bool { !peers().isEmpty }

    // MARK: asking

    public func takeOver(tenant: TenantID, clientID: String, cleanStart: Bool, heldHere: Bool, limits: BrokerLimits)
        async -> SessionState?
    {
        let request = SessionTakeoverWire.Request(tenant: tenant, clientID: clientID, cleanStart: cleanStart,
                                                  askingNode: cluster.configuration.node.nodeID)
        let payload = ByteBuffer(bytes: SessionTakeoverWire.encode(request))
        let (cluster, timeout, logger) = (self.cluster, settings.timeout, self.logger)
        let replies = await withTaskGroup(of: (UInt64, SessionTakeoverWire.Reply?).self) { group in
            for node in peers() {
                group.addTask {
                    do {
                        let reply = try await cluster.request(to: node, kind: SessionTakeoverWire.kind, payload: payload,
                                                              timeout: timeout)
                        return (node, SessionTakeoverWire.decodeReply(Array(reply.readableBytesView)))
                    } catch {
                        logger.debug("takeover: node did not answer, treated as gone",
                                     metadata: ["node": "\(node)", "error": "\(error)"])
                        return (node, nil)
                    }
                }
            }
            var out: [(UInt64, SessionTakeoverWire.Reply?)] = []
            for await a in group { out.append(a) }
            return out.sorted { $0.0 < $1.0 }
        }
        // Apply as far as every answering node had when it answered: their writes for this session (a cleared queue,
        // a removed record) are then visible here before anything is read or written.
        let seen = replies.compactMap { $0.1?.appliedIndex }.max() ?? 0
        if seen > cluster.node.appliedPosition.index {
            do {
                try await cluster.node.waitForApplied(AppliedPosition(index: seen, ordinal: 0), timeout: settings.timeout)
            } catch {
                logger.warning("takeover: this node did not catch up with the nodes that answered",
                               metadata: ["mqtt.client_id": "\(clientID)", "index": "\(seen)", "error": "\(error)"])
            }
        }
        let answers = replies.map { ($0.0, $0.1?.answer) }
        let now = Self.now()
        let clocks = RetainedConversion.Clocks(monotonic: now, wallMs: store.wallClockMs())
        var handed: (node: UInt64, session: SessionHandoff)?
        for (node, answer) in answers {
            guard case .handedOver(let h) = answer else { continue }
            if handed == nil {
                handed = (node, h)
            } else {
                logger.warning("takeover: two nodes handed over the same client id; the lower node id's copy wins",
                               metadata: ["mqtt.client_id": "\(clientID)", "node": "\(node)"])
            }
        }
        if let handed, !cleanStart, !heldHere {
            logger.info("session resumed from another node",
                        metadata: ["mqtt.client_id": "\(clientID)", "node": "\(handed.node)",
                                   "messages": "\(handed.session.messages.count)"])
            return SessionState.rebuilt(
                tenant: tenant, clientID: clientID, protocolVersion: handed.session.protocolVersion,
                subscriptions: handed.session.subscriptions,
                messages: handed.session.messages.map { RetainedConversion.outbound($0, clocks: clocks) },
                topicLimits: limits.topic)
        }
        if heldHere || handed != nil { return nil }
        return fromReplica(tenant: tenant, clientID: clientID, cleanStart: cleanStart, limits: limits, now: now,
                           clocks: clocks)
    }

    /// No holder handed the session over: the replicated record and queue, if the session has not expired.
    func fromReplica(tenant: TenantID, clientID: String, cleanStart: Bool, limits: BrokerLimits, now: Timestamp,
                     clocks: RetainedConversion.Clocks) -> SessionState? {
        let (record, queue) = cluster.read {
            ($0.sessionRecord(tenant: tenant, clientID: clientID), $0.sessionQueue(tenant: tenant, clientID: clientID))
        }
        guard record != nil || queue != nil else { return nil }
        let expired = record.map { r in
            r.disconnectedAtMs.map { $0 + Int64(r.expiryInterval) * 1000 <= clocks.wallMs } ?? false
        } ?? true
        guard let record, !cleanStart, !expired else {
            // A clean start, an expired session, or a queue without a record: the session ends here.
            store.record([.remove(tenant: tenant, clientID: clientID)], now: now)
            return nil
        }
        let entries = (queue?.entries ?? []).filter { !$0.message.message.isExpired(nowMs: clocks.wallMs) }
        if let queue, !queue.entries.isEmpty {
            _ = store.enqueue(.trimSessionQueue(tenant: tenant, clientID: clientID, through: queue.lastPosition),
                              bytes: 64, completion: nil, overlay: { _ in nil })
        }
        logger.info("session resumed from the replicated record (no node handed it over)",
                    metadata: ["mqtt.client_id": "\(clientID)", "messages": "\(entries.count)"])
        return SessionState.rebuilt(
            tenant: tenant, clientID: clientID, protocolVersion: record.protocolVersion,
            subscriptions: record.subscriptions,
            messages: entries.map { RetainedConversion.outbound($0.message, clocks: clocks) },
            topicLimits: limits.topic)
    }

    // MARK: answering

    /// Serves bus request kind 7 with `handOff` (on a node: `BrokerCore.handOff`, given `Settings.kickTimeout`).
    public func serve(handOff: @escaping @Sendable (_ tenant: TenantID, _ clientID: String, _ cleanStart: Bool,
                                                   _ kickTimeout: Duration) async -> RemoteHandOff) {
        let (cluster, store, kickTimeout) = (self.cluster, self.store, settings.kickTimeout)
        cluster.serveRequests(kind: SessionTakeoverWire.kind) { payload in
            guard let q = SessionTakeoverWire.decodeRequest(Array(payload.readableBytesView)) else {
                return .error(code: 1, message: "malformed takeover request")
            }
            let outcome = await handOff(q.tenant, q.clientID, q.cleanStart, kickTimeout)
            let appliedIndex = cluster.node.appliedPosition.index
            let answer: SessionTakeoverWire.Answer
            switch outcome {
            case .absent: answer = .none
            case .discarded, .timedOut: answer = .discarded
            case .handedOver(let session, let expiry):
                let clocks = RetainedConversion.Clocks(monotonic: Self.now(), wallMs: store.wallClockMs())
                answer = .handedOver(SessionHandoff(
                    protocolVersion: session.protocolVersion,
                    subscriptions: session.subscriptions.mapValues(\.options), expiryInterval: expiry,
                    messages: session.owedMessages.map { RetainedConversion.queued($0, clocks: clocks) }))
            }
            return .ok(ByteBuffer(bytes: SessionTakeoverWire.encode(
                SessionTakeoverWire.Reply(answer: answer, appliedIndex: appliedIndex))))
        }
    }
}
