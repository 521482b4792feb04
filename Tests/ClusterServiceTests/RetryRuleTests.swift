import ClusterBus
import ClusterNode
import NIOPosix
import NetTestKit
import Testing

@testable import ClusterService

@Suite("ClusterService: which failed forwards are retried (rule 1)")
struct RetryRuleTests {
    @Test("retried only when the forward provably did not run; otherwise the caller hears 'outcome unknown'")
    func table() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let node = ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:1", dataDirectory: "/nonexistent")
        let peer = ClusterServicePeer(nodeID: 1, raftAddress: "127.0.0.1:1",
                                      busAddress: PeerAddress(host: "127.0.0.1", port: 2))
        let service = ClusterService(configuration: ClusterServiceConfiguration(node: node, peers: [peer]),
                                     group: group, logger: quiet)  // never started: the rule is a pure mapping
        let unavailable = ForwardWire.ErrorCode.unavailable.rawValue
        let retried: [(BusError, ClusterServiceError)] = [
            (.unreachable, .noLeader),
            (.overloaded, .unavailable("the leader is overloaded")),
            (.remote(code: unavailable, message: "shutting down"), .unavailable("shutting down")),
        ]
        for (error, refusal) in retried {
            #expect(try service.refusalToRetry(error) == refusal, "\(error)")
        }
        let thrown: [(BusError, ClusterServiceError)] = [
            (.timeout, .timeout), (.connectionLost, .timeout), (.cancelled, .timeout),
            (.remote(code: ForwardWire.ErrorCode.outcomeUnknown.rawValue, message: "x"), .timeout),
            (.remote(code: ForwardWire.ErrorCode.internal.rawValue, message: "boom"), .internal("boom")),
        ]
        for (error, expected) in thrown {
            #expect(throws: expected, "\(error)") { try service.refusalToRetry(error) }
        }
        try await group.shutdownGracefully()
    }
}
