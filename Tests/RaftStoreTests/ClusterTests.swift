import NetTestKit
import Foundation
import Testing

@testable import RaftStore

/// Three (then four) RaftNodes in one process, each with its own thread, loop, port and data directory.
@Suite(.serialized) struct ClusterTests {
    @Test func threeNodesReplicateSurviveTheLeaderAndChangeMembership() async throws {
        let clock = ContinuousClock()
        let dirs = (1...4).map { makeTempDir("n\($0)") }
        defer { dirs.forEach(removeDir) }
        let configs = (1...4).map { i in testConfiguration(id: UInt64(i), port: freeLoopbackPort(), dir: dirs[i - 1]) }
        let peers = configs.prefix(3).map { RaftPeer(id: $0.id, address: $0.address) }
        let fsms = (0..<4).map { _ in TestFSM() }
        let nodes = (0..<4).map { RaftNode(configuration: configs[$0], stateMachine: fsms[$0].machine) }
        var running = Array(nodes.prefix(3))
        defer {
            // Continuations are always resumed, but make sure no loop thread outlives a failed expectation.
            let all = nodes
            Task { for n in all { await n.shutdown() } }
        }

        var t0 = clock.now
        for n in running { try await n.start(.bootstrap(peers)) }
        var leader: RaftNode! = nil
        try await waitUntil("first leader") {
            leader = await agreedLeader(running)
            return leader != nil
        }
        log("RaftStore cluster: first leader n\(leader.configuration.id) after \(clock.now - t0)")

        // A follower refuses and names the leader.
        let follower = running.first { $0 !== leader }!
        await #expect(throws: RaftError.notLeader(leaderID: leader.configuration.id, address: leader.configuration.address)) {
            try await follower.propose([0])
        }

        // 200 sequential + 300 concurrent on the leader reach all three state machines in the same order.
        t0 = clock.now
        for i in 1...200 { _ = try await leader.propose(Array("a\(i)".utf8)) }
        let current = leader!
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...300 { group.addTask { _ = try await current.propose(Array("b\(i)".utf8)) } }
            try await group.waitForAll()
        }
        log("RaftStore cluster: 500 proposals committed on 3 nodes in \(clock.now - t0)")
        try await leader.barrier()
        try await waitUntil("3 replicas converge") { fsms[0].count == 500 && fsms[1].count == 500 && fsms[2].count == 500 }
        #expect(fsms[0].entries == fsms[1].entries && fsms[1].entries == fsms[2].entries)

        // Leader goes away: the two survivors elect a new one within a bounded time and keep committing.
        let old = leader!
        await old.shutdown()
        running.removeAll { $0 === old }
        t0 = clock.now
        try await waitUntil("new leader", timeout: .seconds(5)) {
            leader = await agreedLeader(running)
            return leader != nil
        }
        let failover = clock.now - t0
        log("RaftStore cluster: failover n\(old.configuration.id) → n\(leader.configuration.id) in \(failover) (election timeout 300 ms)")
        #expect(failover < .seconds(5))
        let newLeader = leader!
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...100 { group.addTask { _ = try await newLeader.propose(Array("c\(i)".utf8)) } }
            try await group.waitForAll()
        }
        let survivorFSMs = running.map { fsms[Int($0.configuration.id) - 1] }
        try await waitUntil("survivors converge") { survivorFSMs.allSatisfy { $0.count == 600 } }
        #expect(survivorFSMs[0].entries == survivorFSMs[1].entries)

        // Membership: n4 joins empty and catches up, takes over leadership, then the shut-down member is removed.
        t0 = clock.now
        let n4 = nodes[3]
        try await n4.start(.join)
        do {
            try await newLeader.addVoter(id: 4, address: configs[3].address)
        } catch {
            log("DEBUG addVoter failed after \(clock.now - t0): \(error); n4 \(await n4.status()) fsm4=\(fsms[3].count); leader \(await newLeader.status()) ports \(configs.map(\.address))")
            throw error
        }
        running.append(n4)
        try await waitUntil("n4 catches up") { fsms[3].count == 600 }
        #expect(fsms[3].entries == survivorFSMs[0].entries)
        try await newLeader.transferLeadership(to: 4)
        try await waitUntil("n4 leads") { await agreedLeader(running) === n4 }
        try await n4.remove(id: old.configuration.id)
        let status = await n4.status()
        #expect(Set(status.peers.map(\.id)) == Set(running.map(\.configuration.id)))
        #expect(status.peers.allSatisfy { $0.role == .voter })
        _ = try await n4.propose(Array("d".utf8))
        try await waitUntil("all members apply after the change") { running.allSatisfy { fsms[Int($0.configuration.id) - 1].count == 601 } }
        log("RaftStore cluster: join + catch-up + transfer + remove in \(clock.now - t0)")

        for n in running { await n.shutdown() }
    }
}
