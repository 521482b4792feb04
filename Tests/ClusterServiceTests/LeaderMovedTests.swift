import ClusterBus
import ClusterNode
import NIOCore
import NIOPosix
import NetTestKit
import Synchronization
import Testing

@testable import ClusterService

/// Forwards to a leader that stopped answering (SIGSTOP, a partition) end when raft names another leader, not at
/// their deadline. The chaos suite's 30-minute run saw every write in flight at a leader pause stuck for the whole
/// request timeout (10 s), though a new leader was elected within 1.3 s.
@Suite("ClusterService: forwards to a leader that is no longer the leader")
struct LeaderMovedTests {
    @Test("in flight: 'outcome unknown' at once; queued behind them: not sent, so retried elsewhere")
    func abandon() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // The old leader: takes requests and never answers until the test lets it go.
        let release = Mutex<[CheckedContinuation<Void, Never>]>([])
        let arrived = AsyncStream<Void>.makeStream()
        let silent = ClusterBus(
            configuration: .init(nodeID: "2", host: "127.0.0.1", port: freeLoopbackPort()), group: group,
            logger: quiet,
            handler: { _, _, _ in
                arrived.continuation.yield()
                await withCheckedContinuation { c in release.withLock { $0.append(c) } }
                return .error(code: ForwardWire.ErrorCode.internal.rawValue, message: "released")
            })
        let silentAddress = try await silent.start()
        let bus = ClusterBus(configuration: .init(nodeID: "1", host: "127.0.0.1", port: freeLoopbackPort()),
                             group: group, logger: quiet, handler: { _, _, _ in .error(code: 0, message: "no") })
        _ = try await bus.start()
        let dir = makeTempDir("svc-leader-moved")
        defer { removeDir(dir) }
        let node = ClusterNode(
            configuration: ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:1", dataDirectory: dir))
        let batcher = ForwardBatcher(bus: bus, node: node,
                                     limits: .init(maxRequestsInFlight: 1, maxCommands: 1, maxBytes: 1 << 20))
        let leader = PeerAddress(host: "127.0.0.1", port: silentAddress.port!)
        let deadline = ContinuousClock.now + .seconds(60)  // far: only `abandon` can end these in time

        let first = Task { await batcher.forward([1], to: leader, deadline: deadline) }
        var arrivals = arrived.stream.makeAsyncIterator()
        _ = await arrivals.next()  // the first request is on the wire (one in flight at most)
        let second = Task { await batcher.forward([2], to: leader, deadline: deadline) }
        // The second waits in the queue behind the first (bounded wait until it is there), then the leader moves.
        for _ in 0..<1_000_000 where batcher.queued(for: leader) < 1 { await Task.yield() }
        #expect(batcher.queued(for: leader) == 1)
        #expect(batcher.abandon(leader) == 2)
        let a = await first.value
        let b = await second.value
        guard case .bus(.timeout) = a else {
            Issue.record("in flight → \(a)")
            return
        }
        guard case .bus(.unreachable) = b else {
            Issue.record("queued → \(b)")
            return
        }
        // The old leader answers late: nobody is resumed twice (a crash if they were), nothing is left waiting.
        release.withLock { $0.forEach { $0.resume() }; $0.removeAll() }
        #expect(batcher.abandon(leader) == 0)
        await bus.shutdown()
        await silent.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("a follower's ClusterService maps the leader's id to its bus address; its own id is not a forward target")
    func leaderMovedByID() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let node = ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:1", dataDirectory: "/nonexistent")
        let peers = [ClusterServicePeer(nodeID: 1, raftAddress: "127.0.0.1:1",
                                        busAddress: PeerAddress(host: "127.0.0.1", port: 2)),
                     ClusterServicePeer(nodeID: 2, raftAddress: "127.0.0.1:3",
                                        busAddress: PeerAddress(host: "127.0.0.1", port: 4))]
        let service = ClusterService(configuration: ClusterServiceConfiguration(node: node, peers: peers),
                                     group: group, logger: quiet)  // never started: nothing in flight
        service.leaderHint.store(2, ordering: .relaxed)
        #expect(service.leaderMoved(from: 2) == 0)
        #expect(service.leaderHint.load(ordering: .relaxed) == 0, "the hint to the old leader is forgotten")
        #expect(service.leaderMoved(from: 1) == 0)
        #expect(service.leaderMoved(from: 9) == 0)  // unknown id: nothing to do
        try await group.shutdownGracefully()
    }
}
