import CRaft
import Testing

@testable import RaftStore

/// RaftNode's fsm glue (fsmApplyThunk → applyEntry → EntryBatch.decode → RaftStateMachine, fsmSnapshotThunk,
/// fsmRestoreThunk, the apply index) run by the real libraft 0.15 inside raft_fixture: servers in one process,
/// network, disk and clock simulated and stepped event by event, so every run is the same. What this cannot
/// cover (the uv transport, segments on disk, the loop thread) stays with the real-socket tests.
@Suite(.serialized) struct FixtureTests {
    @Test func threeServersApplyTheSameCommandsInTheSameOrder() throws {
        let cluster = try FixtureCluster(servers: 3)
        defer { cluster.close() }
        cluster.elect(0)
        try #require(cluster.leader == 0, "\(cluster.summary)")

        let proposed = cluster.proposeBatches(on: 0, entries: 30)
        let last = cluster.lastIndex(0)
        #expect(cluster.step(atMost: 5_000) { cluster.allApplied(through: last) && cluster.allProposalsResolved })

        #expect(proposed.count == 90)
        #expect(cluster.paddedEntries > 0, "some entries needed padding")
        for (i, machine) in cluster.machines.enumerated() {
            #expect(machine.commands == proposed, "server \(i) applied the proposals in order")
        }
        #expect(cluster.proposals.allSatisfy { $0.statuses == [0] })
        // Commands packed into one entry share its index; entries get consecutive indices.
        let indices = cluster.machines[0].applied.map(\.index)
        #expect(Set(indices).count == 30 && indices == indices.sorted())
        #expect(cluster.problems() == [], "\(cluster.summary)")
    }

    @Test func laggingAndNewServersCatchUpThroughSnapshotInstall() throws {
        let cluster = try FixtureCluster(servers: 3, snapshotThreshold: 8, snapshotTrailing: 2)
        defer { cluster.close() }
        cluster.elect(0)
        try #require(cluster.leader == 0)
        var proposed = cluster.proposeBatches(on: 0, entries: 5)
        #expect(cluster.step(atMost: 2_000) { cluster.allApplied(through: cluster.lastIndex(0)) })

        // Server 2 misses 40 entries while the others snapshot (threshold 8) and compact their logs past it.
        // (libraft checks the threshold once per burst of applied entries, hence few snapshots here.)
        let lagging = cluster.lastApplied(2)
        cluster.kill(2)
        var last: UInt64 = 0
        for _ in 0..<4 {
            proposed += cluster.proposeBatches(on: 0, entries: 10)
            last = cluster.lastIndex(0)
            #expect(cluster.step(atMost: 5_000) { cluster.allApplied(through: last, servers: [0, 1]) })
        }
        #expect(cluster.machines[0].snapshots >= 4 && cluster.machines[1].snapshots >= 4, "\(cluster.summary)")
        #expect(cluster.snapshotIndex(0) - UInt64(cluster.snapshotTrailing) > lagging, "log compacted past server 2")
        #expect(cluster.machines[2].restores == 0)

        cluster.revive(2)
        #expect(cluster.step(atMost: 10_000) { cluster.allApplied(through: last) }, "\(cluster.summary)")
        #expect(cluster.machines[2].restores >= 1, "server 2 caught up by snapshot install: \(cluster.summary)")
        #expect(cluster.machines[2].commands == proposed)

        // A new, empty server joins (raft_add, then raft_assign as voter) and gets the state by snapshot too.
        let joined = try cluster.grow()
        try #require(raft_start(cluster.raft(joined)) == 0)
        try cluster.addVoter(joined, on: 0, maxSteps: 20_000)
        proposed += cluster.proposeBatches(on: 0, entries: 10)
        let final = cluster.lastIndex(0)
        #expect(cluster.step(atMost: 10_000) { cluster.allApplied(through: final) }, "\(cluster.summary)")
        #expect(cluster.machines[joined].restores >= 1, "\(cluster.summary)")
        for (i, machine) in cluster.machines.enumerated() {
            #expect(machine.commands == proposed, "server \(i)")
            #expect(machine.applied == cluster.machines[0].applied, "server \(i): same indices too")
        }
        #expect(cluster.proposals.allSatisfy { $0.statuses == [0] })
        #expect(cluster.problems() == [], "\(cluster.summary)")
    }

    @Test func killedLeaderDropsItsUncommittedEntryAndTheNewLeaderCarriesOn() throws {
        let cluster = try FixtureCluster(servers: 3)
        defer { cluster.close() }
        cluster.elect(0)
        try #require(cluster.leader == 0)
        var proposed = cluster.proposeBatches(on: 0, entries: 10)
        #expect(cluster.step(atMost: 2_000) { cluster.allApplied(through: cluster.lastIndex(0)) })

        // Killed, server 0 still thinks it leads: it appends an entry nobody else will see.
        cluster.kill(0)
        let orphan = try #require(cluster.propose(on: 0, [cluster.makeCommand(length: 13)]))
        #expect(cluster.step(atMost: 10_000) { cluster.leader.map { $0 != 0 } ?? false }, "\(cluster.summary)")
        let newLeader = try #require(cluster.leader)

        proposed += cluster.proposeBatches(on: newLeader, entries: 10)
        let last = cluster.lastIndex(newLeader)
        #expect(last >= orphan.index, "the new leader reuses the orphan's index")
        cluster.revive(0)
        #expect(
            cluster.step(atMost: 10_000) { cluster.allApplied(through: last) && cluster.allProposalsResolved },
            "\(cluster.summary)")

        #expect(orphan.status != 0, "uncommitted entry of a deposed leader fails (status \(orphan.status ?? -1))")
        #expect(cluster.state(0) == RAFT_FOLLOWER)
        for (i, machine) in cluster.machines.enumerated() {
            #expect(machine.commands == proposed, "server \(i): the orphan never applies")
        }
        #expect(cluster.proposals.filter { $0 !== orphan }.allSatisfy { $0.statuses == [0] })
        #expect(cluster.problems() == [], "\(cluster.summary)")
    }

    /// The snapshot closure throwing makes fsmSnapshotThunk return RAFT_BUSY: libraft skips that snapshot, keeps
    /// applying, and asks again after the next applied entry (not a whole threshold later).
    @Test func failedSnapshotIsSkippedAndRetried() throws {
        let cluster = try FixtureCluster(servers: 3, snapshotThreshold: 8, snapshotTrailing: 2)
        defer { cluster.close() }
        cluster.machines[0].state.withLock { $0.failingSnapshots = 2 }
        cluster.elect(0)
        try #require(cluster.leader == 0)
        var proposed: [[UInt8]] = []
        for _ in 0..<20 {  // one entry per step-until-applied, so each is applied on its own
            proposed += cluster.proposeBatches(on: 0, entries: 1)
            let last = cluster.lastIndex(0)
            #expect(cluster.step(atMost: 2_000) { cluster.allApplied(through: last) && cluster.allProposalsResolved })
        }

        let leader = cluster.machines[0].state.withLock { $0 }
        let calls = leader.snapshotCalls
        try #require(calls.count >= 4, "snapshot calls at \(calls)")
        #expect(calls[1] == calls[0] + 1 && calls[2] == calls[1] + 1, "BUSY is retried at the next entry: \(calls)")
        #expect(calls[3] == calls[2] + 8, "then every threshold again: \(calls)")
        #expect(leader.failedSnapshots == 2)
        #expect(leader.snapshots >= 1 && cluster.snapshotIndex(0) > 0, "a later snapshot succeeded: \(cluster.summary)")
        #expect(cluster.nodes[0].lastThunkError?.contains("snapshot failed") == true)
        for machine in cluster.machines { #expect(machine.commands == proposed) }
        #expect(cluster.problems() == [], "\(cluster.summary)")
    }
}
