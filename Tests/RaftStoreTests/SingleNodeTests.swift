import NetTestKit
import Foundation
import Testing

@testable import RaftStore

/// One voter on a real data directory and a real loopback port: the same code path as a cluster.
@Suite(.serialized) struct SingleNodeTests {
    @Test func proposeInOrderThenRestartRestoresTheSameState() async throws {
        let dir = makeTempDir("single")
        defer { removeDir(dir) }
        let port = freeLoopbackPort()
        var config = testConfiguration(id: 1, port: port, dir: dir)
        config.snapshotThreshold = 64  // take several snapshots during the run, so restart restores one
        config.snapshotTrailing = 16
        let peers = [RaftPeer(id: 1, address: config.address)]

        let fsm = TestFSM()
        let node = RaftNode(configuration: config, stateMachine: fsm.machine)
        try await node.start(.bootstrap(peers))
        try await waitUntil("single node leads") { await node.status().role == .leader }

        // Sequential: each result is the command's position, in order.
        let clock = ContinuousClock()
        var t0 = clock.now
        for i in 1...500 {
            let result = try await node.propose(Array("seq-\(i)".utf8))
            #expect(TestFSM.decode(result) == UInt64(i))
        }
        let sequentialRate = 500 / (clock.now - t0).seconds

        // Concurrent: packed into few entries; every result points at exactly the bytes that were proposed.
        t0 = clock.now
        let results = try await withThrowingTaskGroup(of: ([UInt8], UInt64).self) { group in
            for i in 1...500 {
                group.addTask {
                    let command = Array("par-\(i)".utf8)
                    return (command, TestFSM.decode(try await node.propose(command)))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let concurrentRate = 500 / (clock.now - t0).seconds
        let entries = fsm.entries
        #expect(entries.count == 1000)
        #expect(Set(results.map(\.1)) == Set(501...1000))
        for (command, position) in results { #expect(entries[Int(position) - 1] == command) }
        let status = await node.status()
        #expect(status.appliedIndex == status.commitIndex)
        #expect(status.inFlightBytes == 0 && status.queuedProposals == 0)
        log(
            "RaftStore single node: sequential \(Int(sequentialRate)) proposals/s, "
                + "500 concurrent \(Int(concurrentRate)) proposals/s (debug, \(status.lastIndex) log entries)")
        await node.shutdown()
        #expect(await node.status().role == .stopped)

        // Restart on the same directory: bootstrap is skipped, the snapshot restored, the tail replayed.
        let fsm2 = TestFSM()
        let node2 = RaftNode(configuration: config, stateMachine: fsm2.machine)
        t0 = clock.now
        try await node2.start(.bootstrap(peers))
        try await waitUntil("restarted node leads") { await node2.status().role == .leader }
        try await node2.barrier()
        log("RaftStore single node: restart + barrier in \(clock.now - t0), restores=\(fsm2.restores)")
        #expect(fsm2.restores >= 1)
        #expect(fsm2.count == entries.count)
        let firstDifference = zip(fsm2.entries, entries).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil)
        if fsm2.entries != entries {
            log("DEBUG restored \(fsm2.count) vs \(entries.count), first difference at \(String(describing: firstDifference)); status \(await node2.status())")
        }
        #expect(TestFSM.decode(try await node2.propose([1, 2, 3])) == 1001)
        await node2.shutdown()
    }

    @Test func shutdownResumesQueuedProposalsWithShuttingDown() async throws {
        let dir = makeTempDir("pending")
        defer { removeDir(dir) }
        let config = testConfiguration(id: 1, port: freeLoopbackPort(), dir: dir)
        let fsm = TestFSM()
        let node = RaftNode(configuration: config, stateMachine: fsm.machine)
        try await node.start(.bootstrap([RaftPeer(id: 1, address: config.address)]))
        try await waitUntil("leads") { await node.status().role == .leader }

        // Block the raft thread inside apply, queue 100 proposals and the shutdown behind it, then release it.
        let gated = Task { try await node.propose(TestFSM.gateCommand) }
        try await waitUntil("raft thread inside apply") { fsm.gateEntered.load(ordering: .sequentiallyConsistent) }
        let pending = (0..<100).map { i in
            Task { () -> Result<[UInt8], RaftError> in
                do throws(RaftError) { return .success(try await node.propose([UInt8(i)])) } catch { return .failure(error) }
            }
        }
        try await waitUntil("proposals queued") { node.inbox.withLock { $0.jobs.count } == 100 }
        let closing = Task { await node.shutdown() }
        try await waitUntil("shutdown queued") { node.inbox.withLock { $0.closeRequested } }
        fsm.gate.signal()

        #expect(TestFSM.decode(try await gated.value) == 1)
        for task in pending {
            let result = await task.value
            #expect(result.failureValue == .shuttingDown)
        }
        await closing.value
        await #expect(throws: RaftError.shuttingDown) { try await node.propose([1]) }
        await #expect(throws: RaftError.shuttingDown) { try await node.barrier() }
    }

    @Test func lifecycleMisuseIsAnError() async throws {
        let dir = makeTempDir("misuse")
        defer { removeDir(dir) }
        let config = testConfiguration(id: 1, port: freeLoopbackPort(), dir: dir)
        let node = RaftNode(configuration: config, stateMachine: TestFSM().machine)
        await #expect(throws: RaftError.notStarted) { try await node.propose([1]) }
        try await node.start(.bootstrap([RaftPeer(id: 1, address: config.address)]))
        await #expect(throws: RaftError.alreadyStarted) { try await node.start(.join) }
        await node.shutdown()
        await node.shutdown()  // idempotent
    }

    @Test func startOnAnUnusableDirectoryFailsWithLibraftsMessage() async throws {
        let config = testConfiguration(id: 1, port: freeLoopbackPort(), dir: "/proc/raftstore-not-writable")
        let node = RaftNode(configuration: config, stateMachine: TestFSM().machine)
        do {
            try await node.start(.bootstrap([RaftPeer(id: 1, address: config.address)]))
            Issue.record("start succeeded on /proc")
        } catch {
            guard case .raft(_, let message) = error else { return #expect(Bool(false), "\(error)") }
            #expect(!message.isEmpty)
        }
        await node.shutdown()
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}
