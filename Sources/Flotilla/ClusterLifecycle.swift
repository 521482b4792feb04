import ClusterNode
import ClusterService
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Runs the node's `ClusterService` inside the ServiceGroup: starts it in `run()`, keeps a status snapshot and the
/// `iot_raft_*` gauges fresh (every `refreshInterval`), and shuts it down on graceful shutdown. Registered before
/// the broker, so it stops after it.
final class ClusterLifecycleService: Service, Sendable {
    let cluster: ClusterService
    let mode: ClusterStartMode
    let logger: Logger
    let refreshInterval: Duration
    /// The last status read, for `GET /cluster/status` (nil until the service has started).
    private let latest = Mutex<ClusterStatus?>(nil)

    private let roleGauge = Gauge(label: "iot_raft_role")
    private let termGauge = Gauge(label: "iot_raft_term")
    private let commitGauge = Gauge(label: "iot_raft_commit_index")
    private let appliedGauge = Gauge(label: "iot_raft_applied_index")
    private let lastIndexGauge = Gauge(label: "iot_raft_last_index")
    private let leaderGauge = Gauge(label: "iot_raft_leader_id")
    private let memberGauges: [ClusterMemberRole: Gauge] = Dictionary(
        uniqueKeysWithValues: ClusterMemberRole.allCases.map {
            ($0, Gauge(label: "iot_raft_members", dimensions: [("role", $0.rawValue)]))
        })
    private let inFlightGauge = Gauge(label: "iot_raft_inflight_bytes")
    private let queuedGauge = Gauge(label: "iot_raft_queued_proposals")

    init(cluster: ClusterService, mode: ClusterStartMode, logger: Logger,
         refreshInterval: Duration = .milliseconds(200)) {
        self.cluster = cluster
        self.mode = mode
        self.logger = logger
        self.refreshInterval = refreshInterval
    }

    func run() async throws {
        do {
            try await cluster.start(mode)
        } catch {
            logger.critical("cluster service failed to start", metadata: ["error": "\(error)"])
            throw error
        }
        let first = await refresh()
        logger.notice(
            "cluster service started",
            metadata: [
                "raft.role": "\(first.role.rawValue)", "raft.term": "\(first.term)",
                "raft.leader": "\(first.leaderID.map(String.init) ?? "none")",
                "raft.members": "\(first.peers.map { "\($0.id)@\($0.address)" }.joined(separator: ","))",
                "raft.mode": "\(modeName)",
            ])
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                var lastLeader = first.leaderID
                while !Task.isCancelled {
                    try? await Task.sleep(for: refreshInterval)
                    if Task.isCancelled { break }
                    let s = await refresh()
                    if s.leaderID != lastLeader {
                        if let old = lastLeader {
                            let answered = cluster.leaderMoved(from: old)
                            if answered > 0 {
                                logger.info("forwards to the previous leader answered 'outcome unknown'", metadata: [
                                    "raft.previous_leader": "\(old)", "forwards": "\(answered)",
                                ])
                            }
                        }
                        lastLeader = s.leaderID
                        logger.notice(
                            "raft leader changed",
                            metadata: [
                                "raft.leader": "\(s.leaderID.map(String.init) ?? "none")", "raft.term": "\(s.term)",
                                "raft.role": "\(s.role.rawValue)",
                            ])
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        logger.notice("cluster service stopping")
        await cluster.shutdown()
        latest.withLock { $0 = nil }
    }

    private var modeName: String {
        switch mode {
        case .bootstrap: "bootstrap"
        case .join: "join"
        }
    }

    @discardableResult
    private func refresh() async -> ClusterStatus {
        let s = await cluster.status()
        latest.withLock { $0 = s }
        roleGauge.record(Self.roleNumber(s))
        termGauge.record(Int64(clamping: s.term))
        commitGauge.record(Int64(clamping: s.commitIndex))
        appliedGauge.record(Int64(clamping: s.appliedIndex))
        lastIndexGauge.record(Int64(clamping: s.lastIndex))
        leaderGauge.record(Int64(clamping: s.leaderID ?? 0))
        for (role, gauge) in memberGauges { gauge.record(s.peers.filter { $0.role == role }.count) }
        inFlightGauge.record(s.inFlightBytes)
        queuedGauge.record(s.queuedProposals)
        return s
    }

    /// `iot_raft_role`: 0 stopped or unavailable, 1 follower, 2 candidate, 3 leader.
    static func roleNumber(_ status: ClusterStatus) -> Int64 {
        switch status.role {
        case .stopped, .unavailable: 0
        case .follower: 1
        case .candidate: 2
        case .leader: 3
        }
    }

    /// `GET /cluster/status` body, or nil while the service is not running.
    func statusJSON() -> String? {
        guard let s = latest.withLock({ $0 }) else { return nil }
        let cluster = self.cluster
        return Self.json(s) { cluster.busAddress(of: $0)?.description }
    }

    /// The status as JSON; each peer's `busAddress` (from `--peers` or the node directory) when `busAddress` knows it.
    static func json(_ s: ClusterStatus, busAddress: (UInt64) -> String? = { _ in nil }) -> String {
        let peers = s.peers.map { p in
            let bus = busAddress(p.id).map { ",\"busAddress\":\(quoted($0))" } ?? ""
            return "{\"id\":\(p.id),\"address\":\(quoted(p.address)),\"role\":\(quoted(p.role.rawValue))\(bus)}"
        }
        let leader = s.leaderID.map(String.init) ?? "null"
        return "{\"nodeID\":\(s.id),\"role\":\(quoted(s.role.rawValue)),\"term\":\(s.term),\"leaderID\":\(leader),"
            + "\"commitIndex\":\(s.commitIndex),\"appliedIndex\":\(s.appliedIndex),"
            + "\"peers\":[\(peers.joined(separator: ","))]}\n"
    }

    private static func quoted(_ text: String) -> String { AnyJSON.string(text).text }
}
