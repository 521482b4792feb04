import Broker
import BrokerNIO
import ClusterService
import ClusterState
import Foundation
import IoTTypes
import Logging
import NIOCore
import Shadow

/// Device shadows over MQTT (issue 6) on this node:
///
/// - `…/get` is answered from this node's applied state after a read barrier through raft (`/get/accepted` or
///   `/get/rejected`): linearizable, like the HTTP GET;
/// - `…/update` and `…/delete` are proposed through raft as `ClusterCommand.shadow`; the answer's messages
///   (`/update/accepted`, `/update/delta`, `/update/documents`, `/…/rejected`) are published by *every* node when it
///   applies the command (`observeApplied`), each to its own subscribers — so a device on node 3 gets the delta of
///   an update made through node 1, once;
/// - a request that gets no answer from the cluster (no leader, timeout) is rejected locally with 500.
///
/// Authorization is the broker's: the request was routed only if `iot:Publish` allowed it, and each response is
/// delivered only to subscribers `iot:Receive` allows.
final class ShadowService: ReservedTopicHandling {
    let cluster: ClusterService
    let core: BrokerCore
    let logger: Logger

    init(cluster: ClusterService, core: BrokerCore, logger: Logger) {
        self.cluster = cluster
        self.core = core
        self.logger = logger
    }

    /// Starts serving: the broker hands over reserved topics, the cluster node hands over applied shadow answers.
    func install() {
        core.handleReservedTopics(self)
        cluster.node.observeApplied { [self] outcome in
            if case .success(.shadow(let emission)) = outcome { publish(emission) }
        }
    }

    func published(_ message: BrokerMessage) {
        guard let request = ShadowTopic(message.topic) else { return }
        let payload = Array(message.payload.readableBytesView)
        let tenant = message.tenant
        let nowMs = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        switch request.operation {
        case .get:
            // Linearizable: after a no-op through raft, every update acknowledged anywhere before this request is
            // in this node's state.
            Task { [self] in
                do {
                    _ = try await cluster.propose(.readBarrier)
                } catch {
                    logger.warning("shadow get: no read barrier", metadata: [
                        "shadow.thing": "\(request.key.thingName)", "error": "\(error)",
                    ])
                    let failure = ShadowError.internalFailure.with(clientToken: Shadow.clientToken(in: payload))
                    send(tenant: tenant, key: request.key, suffix: "get/rejected", failure.payload(timestamp: nowMs / 1000))
                    return
                }
                let answer = cluster.read {
                    Shadow.get($0.shadow(tenant: tenant, key: request.key), request: payload,
                               thingName: request.key.thingName, shadowName: request.key.shadowName, now: nowMs / 1000)
                }
                switch answer {
                case .success(let body): send(tenant: tenant, key: request.key, suffix: "get/accepted", body)
                case .failure(let e):
                    send(tenant: tenant, key: request.key, suffix: "get/rejected", e.payload(timestamp: nowMs / 1000))
                }
            }
        case .update, .delete:
            let command = ShadowCommand(tenant: tenant, key: request.key,
                                        operation: request.operation == .update ? .update : .delete,
                                        payload: payload, nowMs: nowMs)
            Task { [self] in
                do {
                    _ = try await cluster.propose(.shadow(command))  // the observer publishes the answer
                } catch {
                    logger.warning("shadow request not applied", metadata: [
                        "shadow.thing": "\(request.key.thingName)", "error": "\(error)",
                    ])
                    let verb = request.operation == .update ? "update" : "delete"
                    let failure = ShadowError.internalFailure.with(clientToken: Shadow.clientToken(in: payload))
                    send(tenant: tenant, key: request.key, suffix: "\(verb)/rejected",
                         failure.payload(timestamp: nowMs / 1000))
                }
            }
        }
    }

    /// Publishes an applied answer's messages to this node's subscribers.
    func publish(_ emission: ShadowEmission) {
        for m in emission.messages {
            // Every node applies the command and publishes the answer to its own subscribers: local only.
            send(tenant: emission.tenant, key: emission.key, suffix: m.suffix, m.payload, local: true)
        }
    }

    private func send(tenant: TenantID, key: ShadowKey, suffix: String, _ payload: [UInt8], local: Bool = false) {
        let message = BrokerMessage(tenant: tenant, topic: ShadowKey.topicPrefix(key) + "/" + suffix,
                                    payload: ByteBuffer(bytes: payload), qos: .atLeastOnce, retain: false,
                                    publisherClientID: "")
        if local { core.routeLocally(message) } else { core.route(message) }
    }
}

/// A shadow request topic: `$aws/things/<thing>/shadow[/name/<name>]/(get|update|delete)`, exactly. Response
/// topics (`…/update/accepted`, …) and anything else are not requests (nil).
struct ShadowTopic: Equatable {
    enum Operation: Equatable { case get, update, delete }
    var key: ShadowKey
    var operation: Operation

    init?(_ topic: String) {
        let p = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard p.count == 5 || p.count == 7, p[0] == "$aws", p[1] == "things", !p[2].isEmpty, p[3] == "shadow"
        else { return nil }
        var name: String?
        if p.count == 7 {
            guard p[4] == "name", !p[5].isEmpty else { return nil }
            name = String(p[5])
        }
        switch p[p.count - 1] {
        case "get": operation = .get
        case "update": operation = .update
        case "delete": operation = .delete
        default: return nil
        }
        key = ShadowKey(thingName: String(p[2]), shadowName: name)
    }
}
