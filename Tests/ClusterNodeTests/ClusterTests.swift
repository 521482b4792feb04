import NetTestKit
import ClusterNode
import ClusterState
import Foundation
import IoTTypes
import Testing

@Suite("ClusterNode, several voters in one process", .serialized)
struct ClusterTests {
    @Test("three nodes: writes replicate, a follower names the leader, the leader's loss elects another")
    func threeNodesFailover() async throws {
        let dirs = (1...3).map { makeTempDir("three-\($0)") }
        defer { dirs.forEach(removeDir) }
        let ports = (0..<3).map { _ in freeLoopbackPort() }
        let peers = (0..<3).map { ClusterPeer(id: UInt64($0 + 1), address: "127.0.0.1:\(ports[$0])") }
        let nodes = (0..<3).map {
            ClusterNode(configuration: testConfiguration(id: UInt64($0 + 1), port: ports[$0], dir: dirs[$0]))
        }
        try await withShutdown(nodes) {
            for n in nodes { try await n.start(.bootstrap(peers)) }
            let leader = try await waitForLeader(nodes)
            let leaderID = leader.configuration.nodeID

            #expect(try await leader.propose(.createTenant(acme, name: "Acme")) == .success(.done))
            let clock = ContinuousClock()
            let writeStart = clock.now
            try await withThrowingTaskGroup(of: ClusterOutcome.self) { group in
                for i in 0..<300 { group.addTask { try await leader.propose(createThing("t-\(i)")) } }
                for try await outcome in group {
                    guard case .success(.thing(_, 1)) = outcome else { Issue.record("\(outcome)"); continue }
                }
            }
            let writeTime = clock.now - writeStart
            let replicated = try await waitForEqualState(nodes)
            for n in nodes { #expect(n.read { $0.things(tenant: acme).count } == 300) }

            // A follower refuses, naming the leader and its raft address.
            let follower = nodes.first { $0 !== leader }!
            let notLeader = ClusterNodeError.notLeader(leaderID: leaderID, address: leader.configuration.raftAddress)
            await #expect(throws: notLeader) {
                try await follower.propose(createThing("via-follower"))
            }
            await #expect(throws: notLeader) {
                try await follower.linearizableRead { _ in 0 }
            }

            // The leader goes away: the survivors elect one of themselves and take writes again.
            await leader.shutdown()
            let survivors = nodes.filter { $0 !== leader }
            let failoverStart = clock.now
            let newLeader = try await waitForLeader(survivors)
            let electionTime = clock.now - failoverStart
            #expect(try await proposeOnLeader(survivors, setRetained("after/failover", "1")) == .success(.done))
            let firstWrite = clock.now - failoverStart
            #expect(newLeader !== leader)
            for i in 0..<100 {
                guard case .success(.thing) = try await proposeOnLeader(survivors, createThing("late-\(i)")) else {
                    Issue.record("late-\(i)")
                    continue
                }
            }
            let final = try await waitForEqualState(survivors)
            #expect(final != replicated)
            for n in survivors {
                #expect(n.read { $0.things(tenant: acme).count } == 400)
                #expect(n.read { $0.retained(tenant: acme, topic: "after/failover") } != nil)
            }
            log("""
                ClusterNode 3 nodes: 300 concurrent creates committed in \(writeTime) \
                (\(Int(300 / writeTime.seconds))/s); leader shut down → new leader \(electionTime), \
                first committed write \(firstWrite)
                """)
        }
    }

    @Test("a node added empty catches up by snapshot install and ends byte-identical")
    func addEmptyNode() async throws {
        let dirs = (1...2).map { makeTempDir("join-\($0)") }
        defer { dirs.forEach(removeDir) }
        let ports = (0..<2).map { _ in freeLoopbackPort() }
        // A small threshold and trailing: by the time node 2 joins, the entries it would need are compacted away.
        let configs = (0..<2).map {
            testConfiguration(id: UInt64($0 + 1), port: ports[$0], dir: dirs[$0], snapshotThreshold: 16,
                              snapshotTrailing: 4)
        }
        let first = ClusterNode(configuration: configs[0])
        let second = ClusterNode(configuration: configs[1])
        try await withShutdown([first, second]) {
            try await first.start(.bootstrap([ClusterPeer(id: 1, address: configs[0].raftAddress)]))
            _ = try await waitForLeader([first])
            #expect(try await first.propose(.createTenant(acme, name: "Acme")) == .success(.done))
            for i in 0..<80 { _ = try await first.propose(createThing("t-\(i)", attributes: ["k": "\(i)"])) }

            try await second.start(.join)
            let clock = ContinuousClock()
            let joinStart = clock.now
            try await first.addVoter(id: 2, address: configs[1].raftAddress)
            try await waitForEqualState([first, second])
            let catchUp = clock.now - joinStart
            #expect(second.snapshotsRestored >= 1, "caught up through an installed snapshot")
            #expect(second.read { $0.things(tenant: acme).count } == 80)

            // Both voters now: a write commits on both, and leadership can move to the newcomer.
            #expect(try await first.propose(setRetained("x", "y")) == .success(.done))
            try await waitForEqualState([first, second])
            try await first.transferLeadership(to: 2)
            let newLeader = try await waitForLeader([first, second])
            #expect(newLeader === second)
            #expect(try await second.propose(createThing("on-2")) != .failure(.malformedCommand))
            let equal = try await waitForEqualState([first, second])
            #expect(second.read { $0.snapshot() } == equal)
            log("ClusterNode join of an empty node: added and caught up (snapshot install) in \(catchUp)")
        }
    }
}
