import Broker
import ClusterRouting
import ClusterService
import Foundation
import Gossip
import GossipNIO
import IoTTypes
import Logging
import NIOCore
import ServiceLifecycle

/// The node's gossip (ARCHITECTURE §3, regime 2): SWIM membership carrying the subscription table, seen by the
/// broker as its ``RouteDirectory`` and by session takeover as the list of live nodes.
final class GossipWiring: Sendable {
    typealias Service = GossipService<SubscriptionTable>
    let gossip: Service
    let nodeID: UInt64

    /// - Parameters:
    ///   - seeds: the other members' gossip addresses (`--peers`).
    ///   - dataDir: where the table's epoch is remembered, so a restart's rows always supersede the old ones.
    init(nodeID: UInt64, host: String, port: Int, seeds: [GossipAddress], dataDir: String, group: any EventLoopGroup,
         logger: Logger) throws {
        self.nodeID = nodeID
        let epoch = try Self.nextEpoch(dataDir: dataDir)
        let configuration = Service.Configuration(
            id: nodeID, address: GossipAddress(host: host, port: UInt16(port)), seeds: seeds)
        gossip = Service(configuration: configuration, app: SubscriptionTable(node: nodeID, epoch: epoch),
                         group: group, logger: logger)
    }

    /// max(now in ms, last + 1), written back before use: rows of this run always carry a higher epoch than any
    /// earlier run's, even if the wall clock stepped back.
    static func nextEpoch(dataDir: String) throws -> UInt64 {
        let path = (dataDir as NSString).appendingPathComponent("gossip-epoch")
        let last = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
            UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines))
        } ?? 0
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        let epoch = max(now, last + 1)
        try "\(epoch)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return epoch
    }

    /// The broker's view of the table.
    var routes: any RouteDirectory { GossipRouteDirectory(gossip: gossip) }

    /// The other nodes a connecting client's id must be asked of: every node the raft configuration or the node
    /// directory knows, less those the gossip has declared dead or gone, plus any live gossip member not (yet) in
    /// either — so neither a slow gossip start nor a dead node holds a CONNECT up.
    func takeoverPeers(known: [UInt64]) -> [UInt64] {
        let view = gossip.members()
        var gone = Set<UInt64>()
        var live = Set<UInt64>()
        for m in view {
            if m.state.isLive { live.insert(m.id) } else { gone.insert(m.id) }
        }
        var out = Set(known.filter { !gone.contains($0) })
        out.formUnion(live)
        out.remove(nodeID)
        return out.sorted()
    }

    /// Drops the forwarding link of a member declared dead or gone (its queued messages fail at once instead of
    /// waiting for the bus timeout).
    func closeLinks(of forwarder: ClusterForwarder) {
        gossip.onMemberEvent { event in
            switch event.kind {
            case .dead, .left: forwarder.removeLink(to: event.node)
            case .joined, .alive, .suspect: break
            }
        }
    }

    /// `GET /cluster/members`.
    func membersJSON() -> String {
        struct Row: Encodable {
            var id: UInt64
            var address: String
            var state: String
            var incarnation: UInt64
        }
        struct Body: Encodable { var members: [Row] }
        let rows = gossip.members().map {
            Row(id: $0.id, address: "\($0.address)", state: "\($0.state)", incarnation: $0.incarnation)
        }
        let data = (try? JSONEncoder().encode(Body(members: rows))) ?? Data("{\"members\":[]}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// The subscription table as the broker's ``RouteDirectory``: each call takes the gossip machine's lock briefly.
/// The broker calls `localRow…` under its own lock; the gossip never calls into the broker under its lock, so the
/// order broker → gossip is the only one and cannot deadlock.
struct GossipRouteDirectory: RouteDirectory {
    let gossip: GossipService<SubscriptionTable>

    func remoteMatches(tenant: TenantID, topic: String) -> [RemoteRoute] {
        gossip.withApp { $0.matches(tenant: tenant, topic: topic) }.map {
            RemoteRoute(node: $0.node, filter: $0.filter, shareGroup: $0.shareGroup)
        }
    }

    func localRowAdded(tenant: TenantID, filter: String) {
        gossip.withApp { _ = $0.addLocal(tenant: tenant, filter: filter) }
    }

    func localRowRemoved(tenant: TenantID, filter: String) {
        gossip.withApp { _ = $0.removeLocal(tenant: tenant, filter: filter) }
    }

    /// See ``GossipService/seesMajority`` (refreshed every tick, read without a lock).
    var seesMajority: Bool { gossip.seesMajority }
}

/// Runs the gossip inside the ServiceGroup: binds and joins in `run()`, and on graceful shutdown leaves (the others
/// drop this node at once instead of suspecting it first).
final class GossipLifecycleService: ServiceLifecycle.Service, Sendable {
    let wiring: GossipWiring
    let logger: Logger

    init(wiring: GossipWiring, logger: Logger) {
        self.wiring = wiring
        self.logger = logger
    }

    func run() async throws {
        do {
            try await wiring.gossip.start()
        } catch {
            logger.critical("gossip failed to start", metadata: ["error": "\(error)"])
            throw error
        }
        // Until the ServiceGroup shuts down (gracefully, or cancelled), then leave.
        try? await gracefulShutdown()
        await wiring.gossip.leave()
    }
}
