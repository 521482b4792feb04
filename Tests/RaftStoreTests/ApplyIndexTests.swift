import NetTestKit
import Synchronization
import Testing

@testable import RaftStore

/// `RaftStateMachine(applyAtIndex:)` hands each command the raft index of its entry: strictly after the snapshot
/// index, never decreasing, shared by the commands of one packed entry, and in step with `status().appliedIndex`.
@Suite(.serialized) struct ApplyIndexTests {
    @Test func applyReceivesTheEntryIndex() async throws {
        let dir = makeTempDir("index")
        defer { removeDir(dir) }
        let port = freeLoopbackPort()
        let config = testConfiguration(id: 1, port: port, dir: dir)
        let seen = Mutex<[UInt64]>([])
        let machine = RaftStateMachine(
            applyAtIndex: { _, index in
                seen.withLock { $0.append(index) }
                return TestFSM.encode(index)
            },
            snapshot: { [] },
            restore: { _ in })
        let node = RaftNode(configuration: config, stateMachine: machine)
        try await node.start(.bootstrap([RaftPeer(id: 1, address: config.address)]))
        try await waitUntil("single node leads") { await node.status().role == .leader }

        var answers: [UInt64] = []
        for i in 0..<20 { answers.append(TestFSM.decode(try await node.propose([UInt8(i)]))) }
        #expect(answers == answers.sorted() && Set(answers).count == 20, "one entry each: distinct, increasing")
        let lastSequential = try #require(answers.last)
        #expect(await node.status().appliedIndex == lastSequential)

        let packed = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for i in 0..<200 { group.addTask { TestFSM.decode(try await node.propose([UInt8(i % 256)])) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(packed.allSatisfy { $0 > lastSequential })
        #expect(Set(packed).count < 200, "concurrent commands share entries, hence indices")
        let indices = seen.withLock { $0 }
        #expect(indices == indices.sorted())
        #expect(await node.status().appliedIndex == indices.last)
        await node.shutdown()
    }
}
