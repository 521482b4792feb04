import ClusterBus
import ClusterNode
import ClusterService
import Foundation
import Logging
import NIOPosix

/// One benchmark cluster on loopback. Node 1 lives in this process and the load goes through it; nodes 2… are
/// child processes (the same binary, re-executed as `raft-node`), or more services in this process when
/// `separateProcesses` is off. Every member has its own raft port, bus port and data directory under `root`.
final class BenchCluster: Sendable {
    let local: ClusterService
    private let localGroup: MultiThreadedEventLoopGroup
    private let children: [ChildNode]
    private let siblings: [(service: ClusterService, group: MultiThreadedEventLoopGroup)]
    private let root: String

    private init(local: ClusterService, localGroup: MultiThreadedEventLoopGroup, children: [ChildNode],
                 siblings: [(service: ClusterService, group: MultiThreadedEventLoopGroup)], root: String) {
        self.local = local
        self.localGroup = localGroup
        self.children = children
        self.siblings = siblings
        self.root = root
    }

    /// Process ids of the members running in child processes.
    var childPIDs: [Int32] { children.map(\.pid) }

    /// Starts `size` members and waits until node 1 leads.
    static func start(size: Int, options: RaftBenchOptions, logger: Logger) async throws -> BenchCluster {
        let root = (options.dataRoot as NSString).appendingPathComponent(
            "flotilla-raftbench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let ports = try pickLoopbackPorts(2 * size)
        let members = (0..<size).map { i in
            ClusterServicePeer(
                nodeID: UInt64(i + 1), raftAddress: "127.0.0.1:\(ports[2 * i])",
                busAddress: PeerAddress(host: "127.0.0.1", port: ports[2 * i + 1]))
        }
        func dir(_ id: UInt64) -> String { (root as NSString).appendingPathComponent("node-\(id)") }
        // Node 1 times out first (1 s, production's default); the others wait 3 s, so node 1 normally wins the
        // first election and no transfer is needed.
        let others = members.dropFirst()
        var children: [ChildNode] = []
        var siblings: [(service: ClusterService, group: MultiThreadedEventLoopGroup)] = []
        func cleanUp() async {
            for child in children { await child.stop() }
            for s in siblings {
                await s.service.shutdown()
                try? await s.group.shutdownGracefully()
            }
            try? FileManager.default.removeItem(atPath: root)
        }
        do {
            if options.separateProcesses {
                let table = members.map { "\($0.nodeID)@127.0.0.1:\(port($0.raftAddress)):\($0.busAddress.port)" }
                    .joined(separator: ",")
                for m in others {
                    let child = try ChildNode(
                        nodeID: m.nodeID, executable: options.executablePath,
                        arguments: options.childCommand + [
                            "--node-id", "\(m.nodeID)", "--members", table, "--data-dir", dir(m.nodeID),
                            "--election-timeout-ms", "3000", "--event-loop-threads", "\(options.eventLoopThreads)",
                        ] + (options.snapshotThreshold.map { ["--snapshot-threshold", "\($0)"] } ?? []))
                    children.append(child)
                }
                for child in children {
                    let line = await child.nextLine(timeout: .seconds(30))
                    guard line == "ready" else {
                        throw BenchError.cluster("node \(child.nodeID) did not start: \(line ?? "no answer")")
                    }
                }
            } else {
                for m in others {
                    let group = MultiThreadedEventLoopGroup(numberOfThreads: options.eventLoopThreads)
                    let service = ClusterService(
                        configuration: BenchSettings.serviceConfiguration(
                            nodeID: m.nodeID, members: members, dataDirectory: dir(m.nodeID),
                            electionTimeout: .seconds(3), snapshotThreshold: options.snapshotThreshold),
                        group: group, logger: logger)
                    siblings.append((service, group))
                    try await service.start(.bootstrap(service.configuration.raftPeers))
                }
            }
        } catch {
            await cleanUp()
            throw error
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.eventLoopThreads)
        let local = ClusterService(
            configuration: BenchSettings.serviceConfiguration(
                nodeID: 1, members: members, dataDirectory: dir(1), electionTimeout: .seconds(1),
                snapshotThreshold: options.snapshotThreshold),
            group: group, logger: logger)
        let cluster = BenchCluster(
            local: local, localGroup: group, children: children, siblings: siblings, root: root)
        do {
            try await local.start(.bootstrap(local.configuration.raftPeers))
            try await cluster.moveLeadership(to: 1)
        } catch {
            await cluster.shutdown()
            throw error
        }
        return cluster
    }

    /// Makes `id` the leader (asking whoever leads now to transfer) and waits until node 1 sees it lead.
    func moveLeadership(to id: UInt64, timeout: Duration = .seconds(20)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var asked: (leader: UInt64, at: ContinuousClock.Instant)?
        while clock.now < deadline {
            let status = await local.status()
            if status.leaderID == id && (id != 1 || status.role == .leader) { return }
            if let leader = status.leaderID, leader != id,
               asked == nil || asked!.leader != leader || clock.now - asked!.at > .seconds(2) {
                asked = (leader, clock.now)
                if leader == 1 {
                    try? await local.node.transferLeadership(to: id)
                } else if let child = children.first(where: { $0.nodeID == leader }) {
                    child.send("transfer \(id)")
                    _ = await child.nextLine(timeout: .seconds(5))
                } else if let sibling = siblings.first(where: { $0.service.configuration.node.nodeID == leader }) {
                    try? await sibling.service.node.transferLeadership(to: id)
                }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError.cluster("node \(id) did not become leader within \(timeout)")
    }

    /// Stops every member and removes the data directories.
    func shutdown() async {
        await local.shutdown()
        try? await localGroup.shutdownGracefully()
        for child in children { await child.stop() }
        for s in siblings {
            await s.service.shutdown()
            try? await s.group.shutdownGracefully()
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

private func port(_ address: String) -> Int { Int(address.split(separator: ":").last ?? "") ?? 0 }

/// `count` distinct loopback ports in 20000–32767 (below the ephemeral range, as the test kit and run.sh do) that
/// can be bound right now.
func pickLoopbackPorts(_ count: Int) throws -> [Int] {
    var ports: [Int] = []
    for _ in 0..<2000 where ports.count < count {
        let candidate = Int.random(in: 20_000...32_767)
        if !ports.contains(candidate) && canBind(candidate) { ports.append(candidate) }
    }
    guard ports.count == count else { throw BenchError.cluster("no free loopback ports") }
    return ports
}

private func canBind(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
