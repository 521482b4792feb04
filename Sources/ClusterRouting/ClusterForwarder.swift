import Broker
import BrokerNIO
import ClusterBus
import ClusterService
import IoTTypes
import Logging
import NIOCore
import Synchronization

/// The broker's forwarding to other nodes (issue 7): one ``ForwardLink`` per peer, made on first use, and the
/// receiving side of bus kind 6, which routes what arrives to this node's subscribers only (never onwards).
///
/// Wiring: `let f = ClusterForwarder(core: core, cluster: service, logger: …)`, then `f.install()` registers the
/// kind 6 handler and attaches the forwarder to the core. Tests build it with their own `transport`.
public final class ClusterForwarder: MessageForwarding {
    let core: BrokerCore
    let limits: ForwardLink.Limits
    let metrics: ForwardingMetrics
    let logger: Logger
    let makeTransport: @Sendable (UInt64) -> ForwardLink.Transport
    let links = Mutex<[UInt64: ForwardLink]>([:])

    /// - Parameter transport: how to send a request to a node (tests); defaults to ``ClusterService``'s bus.
    public init(core: BrokerCore, limits: ForwardLink.Limits = ForwardLink.Limits(),
                metrics: ForwardingMetrics = ForwardingMetrics(), logger: Logger,
                transport: @escaping @Sendable (UInt64) -> ForwardLink.Transport) {
        self.core = core
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
        self.makeTransport = transport
    }

    /// Over the cluster bus of `cluster`.
    public convenience init(core: BrokerCore, cluster: ClusterService, limits: ForwardLink.Limits = ForwardLink.Limits(),
                            metrics: ForwardingMetrics = ForwardingMetrics(), logger: Logger) {
        self.init(core: core, limits: limits, metrics: metrics, logger: logger) { node in
            { (payload: ByteBuffer) async throws(ForwardingError) -> ByteBuffer in
                do {
                    return try await cluster.request(to: node, kind: ForwardedMessageWire.kind, payload: payload)
                } catch {
                    throw .transport("\(error)")
                }
            }
        }
    }

    /// Serves kind 6 on `cluster` and attaches to the core.
    public func install(on cluster: ClusterService) {
        cluster.serveRequests(kind: ForwardedMessageWire.kind) { [self] payload in receive(payload) }
        core.attachForwarder(self)
    }

    /// The link to `node` (made on first use).
    public func link(to node: UInt64) -> ForwardLink {
        links.withLock { table in
            if let l = table[node] { return l }
            let l = ForwardLink(peer: node, limits: limits, metrics: metrics.peer(node), logger: logger,
                                transport: makeTransport(node))
            table[node] = l
            return l
        }
    }

    /// A node left for good: fail what waits for it; a later message makes a fresh link.
    public func removeLink(to node: UInt64) {
        links.withLock { $0.removeValue(forKey: node) }?.close()
    }

    public func shutdown() {
        let all = links.withLock { t -> [ForwardLink] in
            defer { t.removeAll() }
            return Array(t.values)
        }
        for l in all { l.close() }
    }

    // MARK: MessageForwarding

    public func forward(_ message: BrokerMessage, to nodes: [UInt64: [SharedGroupKey]],
                        completion: (@Sendable (Bool) -> Void)?) {
        if nodes.count == 1, let (node, groups) = nodes.first {
            return link(to: node).send(message, groups: groups, completion: completion)
        }
        var each: (@Sendable (Bool) -> Void)?
        if let completion {
            let tally = AckTally(expected: nodes.count, completion: completion)
            each = { ok in tally.record(ok) }
        }
        for (node, groups) in nodes {
            link(to: node).send(message, groups: groups, completion: each)
        }
    }

    // MARK: receiving (kind 6)

    /// Decodes a batch and routes each message to this node's subscribers (its non-shared matches and the groups
    /// the sender asked it to serve). Malformed input gets error code 3 (bad request) and routes nothing.
    public func receive(_ payload: ByteBuffer) -> BusReply {
        let batch: [ForwardedMessage]
        do {
            batch = try ForwardedMessageWire.decode(payload, now: BrokerClock.now())
        } catch {
            metrics.malformed.increment()
            logger.warning("malformed forwarded batch", metadata: ["error": "\(error)"])
            return .error(code: Self.badRequest, message: "malformed forward batch: \(error)")
        }
        for item in batch {
            core.routeLocally(item.message, serving: Set(item.groups))
        }
        metrics.received.increment(by: batch.count)
        return .ok(ForwardedMessageWire.encodeAnswer(accepted: batch.count))
    }

    /// ClusterService's "bad request" code, so the sender's bus error reads as a refused request.
    static let badRequest: UInt16 = 3
}

/// Calls `completion` once: true when every expected answer was true, false as soon as one is false.
final class AckTally: Sendable {
    let state: Mutex<(remaining: Int, done: Bool)>
    let completion: @Sendable (Bool) -> Void

    init(expected: Int, completion: @escaping @Sendable (Bool) -> Void) {
        state = Mutex((expected, false))
        self.completion = completion
    }

    func record(_ ok: Bool) {
        let fire: Bool? = state.withLock { s in
            if s.done { return nil }
            s.remaining -= 1
            if !ok || s.remaining == 0 {
                s.done = true
                return ok
            }
            return nil
        }
        if let fire { completion(fire) }
    }
}
