import ClusterBus
import ClusterNode
import ClusterState
import IoTTypes
import NIOPosix
import NetTestKit
import Testing

@testable import ClusterService

@Suite("ClusterService: a new leader commits in its own term", .serialized)
struct TermCommitTests {
    @Test("a one-voter cluster restarted on its data directory applies its log with no new write")
    func restartAppliesTail() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let dir = makeTempDir("term-commit")
        let raft = "127.0.0.1:\(freeLoopbackPort())"
        let bus = PeerAddress(host: "127.0.0.1", port: freeLoopbackPort())
        func make() -> ClusterService {
            var node = ClusterNodeConfiguration(nodeID: 1, raftAddress: raft, dataDirectory: dir)
            node.electionTimeout = .milliseconds(300)
            node.heartbeatTimeout = .milliseconds(50)
            // No snapshot in between: the writes must come back from the log tail alone.
            node.snapshotThreshold = 1_000_000
            let peer = ClusterServicePeer(nodeID: 1, raftAddress: raft, busAddress: bus)
            return ClusterService(configuration: ClusterServiceConfiguration(node: node, peers: [peer]),
                                  group: group, logger: quiet)
        }
        let first = make()
        try await first.start(.bootstrap(first.configuration.raftPeers))
        for i in 0..<20 {
            _ = try await first.propose(createThing("tail-\(i)"))
        }
        let before = first.node.stateSnapshot()
        await first.shutdown()

        let second = make()
        try await second.start(.bootstrap(second.configuration.raftPeers))
        try await waitUntil("the log tail applied after the restart", timeout: .seconds(10)) {
            second.read { $0.things(tenant: acme).count } == 20
        }
        #expect(second.read { $0.thing(tenant: acme, name: "tail-19") } != nil)
        #expect(second.node.stateSnapshot().count == before.count)
        await second.shutdown()
        removeDir(dir)
        try await group.shutdownGracefully()
    }
}
