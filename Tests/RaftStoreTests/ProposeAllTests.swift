import Foundation
import NetTestKit
import Testing

@testable import RaftStore

/// `proposeAll`: many commands in one hop to the raft thread, each answered as `propose` would answer it.
@Suite(.serialized) struct ProposeAllTests {
    @Test func eachCommandGetsItsOwnAnswerInOrder() async throws {
        let dirs = (1...3).map { makeTempDir("all-\($0)") }
        defer { dirs.forEach(removeDir) }
        let configs = (1...3).map { testConfiguration(id: UInt64($0), port: freeLoopbackPort(), dir: dirs[$0 - 1]) }
        let peers = configs.map { RaftPeer(id: $0.id, address: $0.address) }
        let fsms = configs.map { _ in TestFSM() }
        let nodes = (0..<3).map { RaftNode(configuration: configs[$0], stateMachine: fsms[$0].machine) }
        for n in nodes { try await n.start(.bootstrap(peers)) }
        var found: RaftNode?
        try await waitUntil("a leader") {
            found = await agreedLeader(nodes)
            return found != nil
        }
        let leader = found!
        let leaderFSM = fsms[nodes.firstIndex { $0 === leader }!]
        #expect(await leader.proposeAll([]).isEmpty)

        // 3 × 300 at once, from three tasks: every answer is its own command's position, in its caller's order.
        let answers = await withTaskGroup(of: (Int, [Result<[UInt8], RaftError>]).self) { group in
            for caller in 0..<3 {
                group.addTask {
                    (caller, await leader.proposeAll((0..<300).map { Array("c\(caller)-\($0)".utf8) }))
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let entries = leaderFSM.entries
        #expect(entries.count == 900)
        for caller in 0..<3 {
            let positions = try answers[caller]!.map { TestFSM.decode(try $0.get()) }
            #expect(positions == positions.sorted(), "caller \(caller)'s commands applied out of order")
            for (i, position) in positions.enumerated() {
                #expect(entries[Int(position) - 1] == Array("c\(caller)-\(i)".utf8))
            }
        }

        // On a follower every slot answers notLeader, naming the leader; nothing is proposed.
        let follower = nodes.first { $0 !== leader }!
        let refused = await follower.proposeAll([[1], [2], [3]])
        let notLeader = RaftError.notLeader(leaderID: leader.configuration.id, address: leader.configuration.address)
        #expect(refused.map { $0.failure } == [notLeader, notLeader, notLeader])

        for n in nodes { await n.shutdown() }
        #expect(await leader.proposeAll([[1], [2]]).map { $0.failure } == [.shuttingDown, .shuttingDown])
        #expect(leaderFSM.count == 900)
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
