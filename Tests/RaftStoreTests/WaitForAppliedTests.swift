import Foundation
import NetTestKit
import Testing

@testable import RaftStore

/// `waitForApplied(index:)`: the wake-up a follower uses instead of polling for a write the leader answered.
@Suite(.serialized) struct WaitForAppliedTests {
    @Test func resolvesAtOnceWhenAppliedTimesOutOtherwiseAndFailsOnShutdown() async throws {
        let dir = makeTempDir("wait-single")
        defer { removeDir(dir) }
        let config = testConfiguration(id: 1, port: freeLoopbackPort(), dir: dir)
        let node = RaftNode(configuration: config, stateMachine: TestFSM().machine)
        try await node.start(.bootstrap([RaftPeer(id: 1, address: config.address)]))
        try await waitUntil("single node leads") { await node.status().role == .leader }
        for i in 0..<10 { _ = try await node.propose([UInt8(i)]) }
        let applied = await node.status().appliedIndex

        // Already applied: returns without waiting.
        try await node.waitForApplied(index: applied)
        try await node.waitForApplied(index: 1)

        // Not applied by the deadline: `.timeout`, after roughly the timeout (the 20 ms tick decides).
        let clock = ContinuousClock()
        let t0 = clock.now
        await #expect(throws: RaftError.timeout) {
            try await node.waitForApplied(index: applied + 1_000, timeout: .milliseconds(100))
        }
        #expect(clock.now - t0 >= .milliseconds(90))

        // A wait for the next entry resolves once a proposal has been applied.
        let next = waiting(node, for: applied + 1)
        try await waitUntil("the wait is registered") { await node.appliedWaitCount() == 1 }
        _ = try await node.propose([42])
        #expect(await next.value == nil)
        #expect(await node.appliedWaitCount() == 0)

        // Waiting at shutdown: `.shuttingDown`, never left hanging.
        let never = waiting(node, for: applied + 1_000_000)
        try await waitUntil("the wait is registered") { await node.appliedWaitCount() == 1 }
        await node.shutdown()
        #expect(await never.value == .shuttingDown)
        await #expect(throws: RaftError.shuttingDown) { try await node.waitForApplied(index: 1) }
    }

    @Test func aFollowerWakesWhenItAppliesTheLeadersEntry() async throws {
        let dirs = (1...3).map { makeTempDir("wait-\($0)") }
        defer { dirs.forEach(removeDir) }
        let configs = (1...3).map { testConfiguration(id: UInt64($0), port: freeLoopbackPort(), dir: dirs[$0 - 1]) }
        let peers = configs.map { RaftPeer(id: $0.id, address: $0.address) }
        let fsms = configs.map { _ in TestFSM() }
        let nodes = (0..<3).map { RaftNode(configuration: configs[$0], stateMachine: fsms[$0].machine) }
        for n in nodes { try await n.start(.bootstrap(peers)) }
        var leader: RaftNode?
        try await waitUntil("a leader") {
            leader = await agreedLeader(nodes)
            return leader != nil
        }
        let followerIndex = nodes.firstIndex { $0 !== leader }!
        let follower = nodes[followerIndex]
        for round in 0..<20 {
            _ = try await leader!.propose(Array("r\(round)".utf8))
            let index = await leader!.status().appliedIndex
            try await follower.waitForApplied(index: index, timeout: .seconds(5))
            // Woken after the entry's apply returned: the follower's state machine already holds the command.
            #expect(fsms[followerIndex].entries.last == Array("r\(round)".utf8))
        }
        for n in nodes { await n.shutdown() }
    }
}

/// A task waiting for `index` (30 s at most); its value is the error, nil once applied.
private func waiting(_ node: RaftNode, for index: UInt64) -> Task<RaftError?, Never> {
    Task {
        do throws(RaftError) {
            try await node.waitForApplied(index: index, timeout: .seconds(30))
            return nil
        } catch {
            return error
        }
    }
}
