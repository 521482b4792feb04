import CRaft
import Foundation
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

    /// A seeded schedule on five servers: proposals (some to killed or deposed leaders, which keep stale tails),
    /// kills, revives and election timeouts, with a snapshot every 16 entries; every apply is checked against the
    /// shared history as it happens. Then the cluster heals and one server catches up by snapshot install. Replay
    /// one schedule with FIXTURE_SEED=<seed>.
    ///
    /// Two libraft 0.15 limits shape it. The fixture's in-memory io indexes its stored entries from 1 even after a
    /// snapshot install (fixture.c `ioMethodTruncate`), so a server that installed a snapshot must never truncate
    /// its log again: during the chaos every server keeps its whole log (trailing 10,000) and installs happen only
    /// once the cluster is healed. And a follower with a stale tail can stay behind a leader (see the heal loop),
    /// so healing changes the leader, a bounded number of times, until every server has applied everything.
    @Test(arguments: FixtureSeeds.all)
    func randomScheduleKeepsEveryMachineOnOneHistory(seed: UInt64) throws {
        var rng = FixtureRandom(seed: seed)
        let servers = 5
        let threshold: UInt32 = 16
        let cluster = try FixtureCluster(
            servers: servers, snapshotThreshold: threshold, snapshotTrailing: 10_000,
            electionTimeouts: (0..<servers).map { _ in 1000 + UInt32(rng.below(1000)) })
        defer { cluster.close() }
        let tag = "FIXTURE_SEED=\(seed)"
        var kills = 0
        var staleProposals = 0
        for _ in 0..<300 {
            switch rng.below(100) {
            case 0..<50:
                let stale = (0..<servers).filter { cluster.state($0) == RAFT_LEADER && $0 != cluster.leader }
                let target = rng.below(10) == 0 && !stale.isEmpty ? stale[rng.below(stale.count)] : cluster.leader
                if let target {
                    let commands = (0..<(1 + rng.below(4))).map { _ in
                        cluster.makeCommand(length: 9 + 2 * rng.below(20))
                    }
                    if cluster.propose(on: target, commands) != nil, target != cluster.leader { staleProposals += 1 }
                }
            case 50..<60:
                let alive = (0..<servers).filter { cluster.isAlive($0) }
                if alive.count > 1 {
                    cluster.kill(alive[rng.below(alive.count)])
                    kills += 1
                }
            case 60..<72:
                let dead = (0..<servers).filter { !cluster.isAlive($0) }
                if !dead.isEmpty { cluster.revive(dead[rng.below(dead.count)]) }
            case 72..<80:
                raft_fixture_set_randomized_election_timeout(
                    cluster.fixture, UInt32(rng.below(servers)), 1000 + UInt32(rng.below(1000)))
            default:
                break
            }
            cluster.step(atMost: 1 + rng.below(60))
            let violations = cluster.ledger.violations
            try #require(violations.isEmpty, "\(tag): \(violations) \(cluster.summary)")
        }

        // Heal: everyone back; a leader commits one more entry; every server must apply it.
        for i in 0..<servers where !cluster.isAlive(i) { cluster.revive(i) }
        var leaderChanges = 0
        var converged = false
        for attempt in 0..<5 {
            try #require(cluster.step(atMost: 20_000) { cluster.leader != nil }, "\(tag): no leader \(cluster.summary)")
            let leader = try #require(cluster.leader)
            let closing = try #require(cluster.propose(on: leader, [cluster.makeCommand(length: 11)]), "\(tag)")
            converged = cluster.step(atMost: 20_000) {
                closing.status != nil && cluster.allProposalsResolved && cluster.allApplied(through: closing.index)
            }
            if converged || attempt == 4 { break }
            // libraft 0.15 liveness bug (seeds 12, 13): a follower whose log ends in an uncommitted entry of an
            // older term answers an empty heartbeat with its last stored index, stale tail included
            // (recv_append_entries.c echoes `last_stored`). When that answer arrives after the leader has appended
            // its own entry at that index, the leader records it as the follower's match index and never sends the
            // entry that would overwrite the tail: the follower stays behind (applying nothing wrong) for as long
            // as that leader leads. Only that may keep a server behind here; a new leader probes from scratch.
            let behind = (0..<servers).filter { cluster.lastApplied($0) < closing.index }
            let stuck = cluster.staleTailFollowers(leader: leader)
            try #require(
                !behind.isEmpty && Set(behind).isSubset(of: stuck),
                "\(tag): \(behind) behind, stale tails \(stuck) \(cluster.summary)")
            log("fixture \(tag): libraft 0.15 stale-tail livelock on \(stuck); changing the leader")
            cluster.kill(leader)
            try #require(
                cluster.step(atMost: 20_000) { cluster.leader.map { $0 != leader } ?? false },
                "\(tag): no new leader \(cluster.summary)")
            cluster.revive(leader)
            leaderChanges += 1
        }
        try #require(converged, "\(tag): not converged \(cluster.summary)")
        #expect(cluster.problems() == [], "\(tag): \(cluster.summary)")

        // Catch-up by snapshot install once the cluster is healed: compact the logs, let one follower lag past them.
        let leader = try #require(cluster.leader)
        let followers = (0..<servers).filter { $0 != leader }
        let lagging = followers[rng.below(followers.count)]
        for i in 0..<servers { raft_set_snapshot_trailing(cluster.raft(i), 2) }
        let restoresBefore = cluster.machines[lagging].restores
        cluster.kill(lagging)
        let others = (0..<servers).filter { $0 != lagging }
        var last = cluster.lastIndex(leader)
        // Until the leader's log (trailing 2 behind its snapshot) starts past the lagging server's last entry.
        for _ in 0..<5 where cluster.snapshotIndex(leader) < cluster.lastIndex(lagging) + 3 {
            _ = cluster.proposeBatches(on: leader, entries: Int(threshold) + 1)
            last = cluster.lastIndex(leader)
            #expect(cluster.step(atMost: 10_000) { cluster.allApplied(through: last, servers: others) }, "\(tag)")
        }
        cluster.revive(lagging)
        let caughtUp = cluster.step(atMost: 20_000) {
            cluster.allApplied(through: last) && cluster.allProposalsResolved
        }
        try #require(caughtUp, "\(tag): server \(lagging) did not catch up \(cluster.summary)")
        #expect(cluster.machines[lagging].restores > restoresBefore, "\(tag): \(cluster.summary)")

        #expect(cluster.problems() == [], "\(tag): \(cluster.summary)")
        let reference = cluster.machines[leader].applied
        for (i, machine) in cluster.machines.enumerated() {
            #expect(machine.applied == reference, "\(tag): server \(i) \(cluster.summary)")
        }
        let acked = cluster.proposals.filter { $0.status == 0 }
        let applied = Set(reference.map { FixtureCluster.commandID($0.command) })
        let lost = acked.flatMap(\.commands).map(FixtureCluster.commandID).filter { !applied.contains($0) }
        #expect(lost.isEmpty, "\(tag): acknowledged but not applied: \(lost.prefix(10))")
        #expect(acked.count > 20, "\(tag): the schedule committed something")
        let snapshots = cluster.machines.map(\.snapshots).reduce(0, +)
        log(
            "fixture \(tag): \(cluster.proposals.count) proposals (\(acked.count) acked, \(staleProposals) to stale "
                + "leaders), \(kills) kills, \(leaderChanges) leader changes to heal, \(snapshots) snapshots; "
                + cluster.summary)
    }
}

enum FixtureSeeds {
    /// Fixed seeds, so every run is the same (12 and 13 need a leader change to heal); FIXTURE_SEED=<n> runs
    /// just that one.
    static var all: [UInt64] {
        if let text = ProcessInfo.processInfo.environment["FIXTURE_SEED"], let seed = UInt64(text) { return [seed] }
        return Array(1...16)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, seedable, good enough to pick a schedule.
struct FixtureRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform enough in 0..<n for scheduling (n > 0).
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
