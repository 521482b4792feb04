import Foundation
import Gossip
import IoTTypes
import SimKit
import Testing

/// The membership and the subscription table together: `Simulation<SubscriptionTable>` runs real tables on SimKit's
/// virtual network (issue 7, "Done when" 1: tables identical on all live nodes after every scenario, nothing routed
/// to a dead node). Every run is deterministic and bounded; every failure carries `replayNote` (seed and time).
@Suite struct RoutedSimulationTests {
    static let period = GossipConfiguration().probeIntervalMs

    // MARK: - 1. convergence of rows added while the cluster forms

    /// Everyone starts at t = 0 from one seed; each node adds 3 random rows at random times in the first two
    /// periods (while the membership itself is still forming). Measured from the last row change: when 99 % and
    /// 99.9 % of the (node, row) pairs are in place, and when every running node holds every running owner's rows
    /// at the owner's version.
    ///
    /// Bounds. A delta rides the membership's epidemic (5 gossip rounds per period to 3 members, ×4 informed per
    /// round), each relay sending it `4 · ceil(log10(live + 1))` times: 8 below 99 live members, 12 from 99. An
    /// epidemic in which every node pushes k times misses a given node with probability ≈ e^−k (3·10⁻⁴ at k = 8),
    /// and a missed *last* delta of an owner leaves no gap to notice, so the tail is repaired only by the periodic
    /// push/pull (every 30 s, the first one after 30–60 s) or the early push/pull two periods after a join. Hence two
    /// assertions: 99.9 % of the pairs within log2(n) periods (measured 0.5 at n = 25, 4.25 at n = 100: the
    /// spread is also bandwidth-bound, ~300 deltas and 100 joins sharing 1,400-byte datagrams), and all of them
    /// within two push/pull intervals plus log2(n) periods (measured 4.6 periods at n = 25, 8.0 at n = 100; 30.1
    /// at n = 50, where one missed pair waited for a periodic push/pull).
    /// n = 50 (0.7 / 1.5 periods to 99 / 99.9 %, one pair missed until the push/pull at 30.1 periods) and a second
    /// seed at n = 100 (2.25 / 4.45 periods, all at 9.85) were measured too; they are left out to keep the suite
    /// near a minute in a debug build (n = 100 alone takes ~25 s, mostly the piggyback queue's per-datagram sort).
    @Test(arguments: [25, 100])
    func rowsAddedWhileFormingConvergeWithinLogNPeriods(n: Int) {
        for seed: UInt64 in [1] {
            var sim = Self.makeSimulation(count: n, seed: seed)
            var rng = GossipRNG(seed: seed &* 31 &+ 7)
            var plan: [(time: UInt64, node: GossipNodeID, row: RouteRow)] = []
            for node in sim.ids {
                for _ in 0..<3 {
                    plan.append((rng.next() % (2 * Self.period), node, Self.randomRow(&rng, node: node)))
                }
            }
            plan.sort { ($0.time, $0.node) < ($1.time, $1.node) }
            for step in plan {
                sim.run(until: step.time)
                sim.withApp(step.node) { $0.addLocal(tenant: step.row.tenant, filter: step.row.filter) }
            }
            let last = sim.now
            let rows = sim.runningNodes.reduce(0) { $0 + sim.app($1)!.localRowCount }
            #expect(rows >= n * 2, "rows: \(rows) [\(sim.replayNote)]")  // 3 draws per node, a few repeat
            // Rows are only added here, so the rows a view lacks are Σ(expected) − Σ(held): O(n) per check.
            let pairs = Double(rows * n)
            func inPlace(_ s: Simulation<SubscriptionTable>) -> Double {
                Double(s.runningNodes.reduce(0) { $0 + s.app($1)!.digest.rows }) / pairs
            }
            let logBound = UInt64((log2(Double(n)) * Double(Self.period)).rounded(.up))
            let fullBound = 2 * GossipConfiguration().pushPullIntervalMs + logBound
            let p99 = sim.run(untilTrue: { inPlace($0) >= 0.99 }, checkEveryMs: 50, timeoutMs: logBound)
            let p999 = sim.run(untilTrue: { inPlace($0) >= 0.999 }, checkEveryMs: 50, timeoutMs: logBound - (p99 ?? logBound))
            #expect(p999 != nil, "n=\(n): \(inPlace(sim) * 100)% of \(Int(pairs)) pairs in place \(logBound)ms after the last row [\(sim.replayNote)]")
            sim.run(until: max(sim.now, last + logBound))
            let missingAtBound = Int(pairs) - sim.runningNodes.reduce(0) { $0 + sim.app($1)!.digest.rows }
            let beforeFull = sim.now - last
            let full = sim.run(untilTrue: { $0.tablesAgree && $0.isConverged }, checkEveryMs: 50, timeoutMs: fullBound - beforeFull)
            #expect(full != nil, "n=\(n): tables differ \(fullBound)ms after the last row: \(sim.tableDisagreements()) [\(sim.replayNote)]")
            // Every live node's view of every live owner is the owner's own rows; every lookup agrees.
            Self.expectViewsEqualOwners(sim)
            Self.expectMatchesAgree(sim, observers: [1, GossipNodeID(n / 2), GossipNodeID(n)])
            func fmt(_ ms: UInt64?) -> String { ms.map { Self.periods($0) } ?? "never" }
            print("routed converge n=\(n) seed=\(seed): \(rows) rows (last at \(fmt(last))); after the last row: 99% of \(Int(pairs)) pairs \(fmt(p99)), 99.9% \(fmt(p99.flatMap { a in p999.map { a + $0 } })), \(missingAtBound) missing at log2(n) = \(fmt(logBound)), all \(fmt(full.map { $0 + beforeFull }))")
        }
    }

    // MARK: - 2. loss, reordering and row churn

    /// 10 % datagram loss, 1–20 ms delay, 5 % reordered 50 ms later; 60 periods of row churn (a random node adds or
    /// removes a row every 100 ms); then quiet: the tables agree within 90 periods (three periodic push/pull
    /// intervals, for the gaps loss leaves after the piggyback retransmits run out), and nobody was declared dead.
    @Test func lossReorderAndRowChurnEndIdentical() {
        let n = Self.churnSize
        var network = SimNetwork(lossRate: 0.1, minDelayMs: 1, maxDelayMs: 20)
        network.reorderRate = 0.05
        var sim = Self.makeSimulation(count: n, seed: 12, network: network)
        sim.recordEvents = false
        #expect(sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil, "[\(sim.replayNote)]")
        var rng = GossipRNG(seed: 1_212)
        var changes = 0
        let churnEnd = sim.now + 60 * Self.period
        while sim.now < churnEnd {
            sim.run(for: 100)
            changes += Self.churn(&sim, &rng) ? 1 : 0
        }
        let settle = 90 * Self.period
        let took = sim.run(untilTrue: { $0.tablesAgree }, checkEveryMs: 100, timeoutMs: settle)
        #expect(took != nil, "tables differ after \(settle)ms quiet: \(sim.tableDisagreements()) [\(sim.replayNote)]")
        #expect(sim.falseDeaths.isEmpty, "\(sim.falseDeaths.count) false deaths [\(sim.replayNote)]")
        Self.expectViewsEqualOwners(sim)
        Self.expectMatchesAgree(sim, observers: [1, 7, GossipNodeID(n)])
        let counters = sim.runningNodes.map { sim.app($0)!.counters }
        let buffered = counters.reduce(0) { $0 + $1.deltasBuffered }
        let blocks = counters.reduce(0) { $0 + $1.blocksApplied }
        print("routed churn n=\(n): \(changes) row changes, \(sim.app(1)!.digest.rows) rows, datagrams \(sim.datagramsSent) (lost \(sim.datagramsLost)), deltas buffered \(buffered), push/pull blocks applied \(blocks); agree \(took.map { Self.periods($0) } ?? "never") after the churn stopped")
    }
    static let churnSize = 50

    // MARK: - 3. partition with rows changing on both sides

    /// 30 | 20 for 60 periods with rows added and removed on both sides (each side declares the other dead and
    /// drops its rows); after the heal: one membership, then identical tables.
    @Test func partitionWithRowChangesOnBothSidesHealsIntoIdenticalTables() {
        let n = 50
        let majority = Array(GossipNodeID(1)...30)
        let minority = Array(GossipNodeID(31)...GossipNodeID(n))
        var sim = Self.makeSimulation(count: n, seed: 13, seedNodes: [1, 2, 31])
        var rng = GossipRNG(seed: 1_313)
        for node in sim.ids { sim.withApp(node) { $0.addLocal(tenant: Self.tenants[0], filter: "dev/\(node)/state") } }
        #expect(sim.run(untilTrue: { $0.tablesAgree && $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil, "[\(sim.replayNote)]")
        sim.partition(majority, minority)
        let healAt = sim.now + 60 * Self.period
        var changes = 0
        while sim.now < healAt {
            sim.run(for: 250)
            changes += Self.churn(&sim, &rng) ? 1 : 0
        }
        // Each side holds the other dead and none of its rows.
        #expect(sim.membership(1)!.aliveMembers == majority, "[\(sim.replayNote)]")
        #expect(sim.membership(40)!.aliveMembers == minority, "[\(sim.replayNote)]")
        #expect(sim.app(1)!.rows(of: 40).isEmpty && sim.app(40)!.rows(of: 1).isEmpty, "[\(sim.replayNote)]")
        #expect(sim.rowsOfDeadMembers.isEmpty, "\(sim.rowsOfDeadMembers.prefix(3)) [\(sim.replayNote)]")
        sim.heal()
        let healed = sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 60 * Self.period)
        #expect(healed != nil, "membership not healed [\(sim.replayNote)]")
        let agree = sim.run(untilTrue: { $0.tablesAgree }, checkEveryMs: 100, timeoutMs: 90 * Self.period)
        #expect(agree != nil, "tables differ after the heal: \(sim.tableDisagreements()) [\(sim.replayNote)]")
        Self.expectViewsEqualOwners(sim)
        Self.expectMatchesAgree(sim, observers: [1, 40])
        print("routed partition 30|20: \(changes) row changes during it; one membership \(healed.map { Self.periods($0) } ?? "never") after the heal, tables agree \(agree.map { Self.periods($0) } ?? "never") later")
    }

    /// The chaos suite's case, at the size it runs: three nodes, a 10-period partition [1] | [2, 3] (long enough
    /// for both sides to declare the other dead and drop its rows), then heal. Rows must be back within a few
    /// periods of the heal, not at the next 30 s anti-entropy round: until they are, a publish on node 2 matching
    /// node 1's subscribers is acknowledged and goes nowhere. (Before a member back from dead got a push/pull at
    /// once, node 2 held none of node 1's rows for up to `reconnectIntervalMs`/`pushPullIntervalMs` after the heal.)
    @Test func rowsOfAMemberBackFromDeadReturnWithinAFewPeriods() {
        var slowest: UInt64 = 0
        for seed in UInt64(1)...32 {
            var sim = Self.makeSimulation(count: 3, seed: seed, seedNodes: [1, 2, 3])
            for node in sim.ids { sim.withApp(node) { $0.addLocal(tenant: Self.tenants[0], filter: "chaos/\(node)/#") } }
            #expect(sim.run(untilTrue: { $0.tablesAgree && $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil, "[\(sim.replayNote)]")
            sim.partition([1], [2, 3])
            sim.run(for: 10 * Self.period)
            #expect(sim.app(2)!.rows(of: 1).isEmpty, "node 2 still holds node 1's rows [\(sim.replayNote)]")
            sim.heal()
            let back = sim.run(untilTrue: { $0.tablesAgree && $0.isConverged }, checkEveryMs: 50, timeoutMs: 60 * Self.period)
            #expect(back != nil && back! <= 4 * Self.period,
                    "seed \(seed): tables agree \(back.map { Self.periods($0) } ?? "never") after the heal [\(sim.replayNote)]")
            slowest = max(slowest, back ?? .max)
        }
        print("routed 3-node heal: tables agree at most \(Self.periods(slowest)) after the heal over 32 seeds")
    }

    // MARK: - 4. nothing routed to a dead node; a restart brings new rows only

    /// Kills three nodes (two with rows, one without). From the kill on, after every event any node handles, that
    /// node routes nothing to a killed node it holds dead or left: no rows of it, and no `matches` hit on the
    /// topics its rows matched. Then one of them restarts with a higher epoch and different rows: it rejoins, its
    /// old rows are gone everywhere and its new rows spread; the check keeps running for the two still dead.
    @Test func nothingIsRoutedToADeadNodeAndARestartBringsOnlyItsNewRows() {
        let n = 40
        let killed: [GossipNodeID] = [5, 17, 23]
        var sim = Self.makeSimulation(count: n, seed: 14)
        var rng = GossipRNG(seed: 1_414)
        for node in sim.ids where node != 23 {
            for _ in 0..<3 {
                let row = Self.randomRow(&rng, node: node)
                sim.withApp(node) { $0.addLocal(tenant: row.tenant, filter: row.filter) }
            }
        }
        #expect(sim.run(untilTrue: { $0.tablesAgree && $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil, "[\(sim.replayNote)]")
        // Topics each killed node's rows matched (with a share group, the topic under it).
        var probes: [GossipNodeID: [(TenantID, String)]] = [:]
        for k in killed { probes[k] = sim.app(k)!.rows(of: k).map { ($0.tenant, Self.topic(matching: $0.filter)) } }
        for k in killed where k != 23 {
            #expect(probes[k]!.contains { t in sim.app(1)!.matches(tenant: t.0, topic: t.1).contains { $0.node == k } }, "probe topics hit \(k) before the kill [\(sim.replayNote)]")
        }
        let oldRows17 = Set(sim.app(17)!.rows(of: 17))
        for k in killed { sim.kill(k) }

        var checks = 0
        var violations: [String] = []
        var oldRowsSeenAfterRestart = 0
        var restarted = false
        func check(_ s: Simulation<SubscriptionTable>, _ v: GossipNodeID) {
            guard let m = s.membership(v) else { return }
            for k in killed where k != v {
                let state = m.member(k)?.state
                if restarted, k == 17, state == .alive || state == .suspect {
                    // The documented window: a late delta of the earlier epoch may be applied above the floor.
                    if !oldRows17.isDisjoint(with: m.app.rows(of: 17)) { oldRowsSeenAfterRestart += 1 }
                    continue
                }
                guard state == .dead || state == .left else { continue }
                checks += 1
                if !m.app.rows(of: k).isEmpty || !m.app.isDead(k) {
                    violations.append("t=\(s.now) node \(v) holds \(m.app.rows(of: k).count) rows of dead \(k)")
                }
                for (tenant, topic) in probes[k]! where m.app.matches(tenant: tenant, topic: topic).contains(where: { $0.node == k }) {
                    violations.append("t=\(s.now) node \(v) routes \(tenant.accountID)/\(topic) to dead \(k)")
                }
            }
        }
        func runChecked(until condition: (Simulation<SubscriptionTable>) -> Bool, timeoutMs: UInt64) -> UInt64? {
            let start = sim.now
            while !condition(sim) {
                guard sim.now - start < timeoutMs, violations.count < 10 else { return nil }
                sim.run(until: sim.now + 100, afterEach: check)
            }
            return sim.now - start
        }

        let dead = runChecked(until: { s in killed.allSatisfy { s.allSee($0, gone: true) } }, timeoutMs: 60 * Self.period)
        #expect(dead != nil, "killed nodes not dead everywhere [\(sim.replayNote)]")
        #expect(sim.tablesAgree, "after the deaths: \(sim.tableDisagreements()) [\(sim.replayNote)]")
        #expect(sim.falseDeaths.isEmpty, "[\(sim.replayNote)]")

        sim.restart(17)
        restarted = true
        #expect(sim.app(17)!.epoch == 2, "a restart gets a higher epoch [\(sim.replayNote)]")
        let newRows = [RouteRow(tenant: Self.tenants[1], filter: "restarted/17/#"), RouteRow(tenant: Self.tenants[2], filter: "$share/g/restarted/+")]
        for row in newRows { sim.withApp(17) { $0.addLocal(tenant: row.tenant, filter: row.filter) } }
        let back = runChecked(until: { $0.isConverged && $0.tablesAgree }, timeoutMs: 120 * Self.period)
        #expect(back != nil, "restarted 17 not back with its new rows: \(sim.tableDisagreements()) [\(sim.replayNote)]")
        for v in sim.runningNodes where v != 17 {
            let view = sim.app(v)!
            #expect(view.rows(of: 17) == newRows.sorted() && view.version(of: 17)?.epoch == 2, "node \(v): \(view.rows(of: 17)) [\(sim.replayNote)]")
            #expect(view.matches(tenant: Self.tenants[1], topic: "restarted/17/x").contains { $0.node == 17 && $0.filter == "restarted/17/#" }, "[\(sim.replayNote)]")
            #expect(view.matches(tenant: Self.tenants[2], topic: "restarted/x").contains { $0.node == 17 && $0.shareGroup == "g" }, "[\(sim.replayNote)]")
        }
        #expect(violations.isEmpty, "\(violations.prefix(5)) [\(sim.replayNote)]")
        // Not vacuous: thousands of per-event checks (fewer since a member back from dead gets a push/pull at once
        // and the restart converges sooner: 3,878 at seed 14).
        #expect(checks > 1_000, "the per-event check ran \(checks) times [\(sim.replayNote)]")
        print("routed kill n=\(n): 3 killed dead everywhere after \(dead.map { Self.periods($0) } ?? "never"); \(checks) per-event checks, \(violations.count) violations; restart of 17: back with only its new rows \(back.map { Self.periods($0) } ?? "never") later; old rows seen by \(oldRowsSeenAfterRestart) events after the restart")
    }

    // MARK: - 5. scenario file with rows

    @Test func scenarioFilesWithRows() throws {
        let dir = #filePath.split(separator: "/").dropLast().joined(separator: "/")
        for name in ["rows-kill-partition"] {
            let text = try String(contentsOfFile: "/\(dir)/Scenarios/\(name).scenario", encoding: .utf8)
            let scenario = try Scenario.parse(text).get()
            let epochs = Epochs()
            let outcome = scenario.run(makeApp: { SubscriptionTable(node: $0, epoch: epochs.next($0)) })
            #expect(outcome.failures.isEmpty, "\(name): \(outcome.failures)")
            print("scenario \(name): \(outcome.measured.map { "line \($0.line): \($0.ms)ms" }.joined(separator: ", "))")
        }
    }

    @Test func scenarioRowStepsParseAndNeedATable() throws {
        let text = "nodes 3\nat 1s subscribe 1,3 111111111111 $share/g/a/+\nat 2s unsubscribe 3 111111111111 $share/g/a/+\nexpect tables agree within 5 periods\nexpect no routes to dead"
        let scenario = try Scenario.parse(text).get()
        #expect(scenario.steps == [
            .at(1_000, .subscribe([1, 3], tenant: "111111111111", filter: "$share/g/a/+"), line: 2),
            .at(2_000, .unsubscribe([3], tenant: "111111111111", filter: "$share/g/a/+"), line: 3),
            .expectTablesAgree(withinMs: 5_000, line: 4),
            .expectNoRoutesToDead(line: 5),
        ])
        let epochs = Epochs()
        let outcome = scenario.run(makeApp: { SubscriptionTable(node: $0, epoch: epochs.next($0)) })
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        // Without a table the row steps fail, naming the line.
        let plain = scenario.run(makeApp: { _ in NoApp() })
        // Two nodes subscribe, one unsubscribes, two expectations: five failures.
        #expect(plain.failures.count == 5 && plain.failures.allSatisfy { $0.hasPrefix("line ") }, "\(plain.failures)")
        #expect(throws: Scenario.ParseError(line: 2, message: "bad filter 'a/#/b'")) {
            try Scenario.parse("nodes 3\nat 1s subscribe 1 111111111111 a/#/b").get()
        }
        // `#` inside a filter, or a lone `#` ending the line, is a filter; ` # ` starts a comment.
        let hashes = try Scenario.parse("nodes 3 # three\n# whole line\nat 1s subscribe 1 111111111111 a/#  # c\nat 2s subscribe 2 111111111111 #").get()
        #expect(hashes.steps == [
            .at(1_000, .subscribe([1], tenant: "111111111111", filter: "a/#"), line: 3),
            .at(2_000, .subscribe([2], tenant: "111111111111", filter: "#"), line: 4),
        ])
        #expect(throws: Scenario.ParseError(line: 2, message: "subscribe LIST TENANT FILTER")) {
            try Scenario.parse("nodes 3\nat 1s subscribe 1 a/b").get()
        }
        #expect(throws: Scenario.ParseError(line: 2, message: "expect tables agree within D")) {
            try Scenario.parse("nodes 3\nexpect tables differ").get()
        }
    }

    // MARK: - helpers

    /// Epochs per node id: 1 at the first start, +1 at each restart (SimKit calls `makeApp` at every start).
    final class Epochs {
        private var starts: [GossipNodeID: UInt64] = [:]
        func next(_ id: GossipNodeID) -> UInt64 {
            starts[id, default: 0] += 1
            return starts[id]!
        }
    }

    static func makeSimulation(
        count: Int, seed: UInt64, network: SimNetwork = .init(), seedNodes: [GossipNodeID] = [1]
    ) -> Simulation<SubscriptionTable> {
        let epochs = Epochs()
        return Simulation(
            count: count, seed: seed, network: network, seedNodes: seedNodes,
            makeApp: { SubscriptionTable(node: $0, epoch: epochs.next($0)) })
    }

    static let tenants = [TenantID("111111111111"), TenantID("222222222222"), TenantID("333333333333")]
    static let sharedFilters = [
        "sensors/+/temp", "sensors/#", "cmd/+", "+/status", "#", "fleet/+/+/state", "a/b/c",
        "$share/g/jobs/+", "$share/g/sensors/+/temp", "$share/h/#", "$share/g/cmd/+",
    ]
    static let topics = ["sensors/1/temp", "sensors/x", "cmd/x", "jobs/7", "a/b/c", "dev/5/1", "fleet/a/b/state", "x/status"]

    /// A random row: a filter shared by many nodes (wildcards, `$share` groups) or one of this node's own.
    static func randomRow(_ rng: inout GossipRNG, node: GossipNodeID) -> RouteRow {
        let tenant = tenants[Int(rng.next() % UInt64(tenants.count))]
        if rng.next() % 2 == 0 { return RouteRow(tenant: tenant, filter: sharedFilters[Int(rng.next() % UInt64(sharedFilters.count))]) }
        return RouteRow(tenant: tenant, filter: "dev/\(node)/\(rng.next() % 4)")
    }

    /// A random node adds a random row (60 %) or removes one of its rows. Returns whether a row changed.
    static func churn(_ sim: inout Simulation<SubscriptionTable>, _ rng: inout GossipRNG) -> Bool {
        let nodes = sim.runningNodes
        let node = nodes[Int(rng.next() % UInt64(nodes.count))]
        let own = sim.app(node)!.rows(of: node)
        if own.isEmpty || rng.next() % 10 < 6 {
            let row = randomRow(&rng, node: node)
            return sim.withApp(node) { $0.addLocal(tenant: row.tenant, filter: row.filter) } ?? false
        }
        let row = own[Int(rng.next() % UInt64(own.count))]
        return sim.withApp(node) { $0.removeLocal(tenant: row.tenant, filter: row.filter) } ?? false
    }

    /// A topic `filter` matches: wildcards filled in, the `$share/{group}/` prefix dropped.
    static func topic(matching filter: String) -> String {
        var levels = filter.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if levels.first == "$share" { levels.removeFirst(2) }
        return levels.map { $0 == "+" || $0 == "#" ? "x" : $0 }.joined(separator: "/")
    }

    /// Every running node's view of every running owner equals the owner's own rows and version.
    static func expectViewsEqualOwners(_ sim: Simulation<SubscriptionTable>) {
        var mismatches = 0
        for v in sim.runningNodes {
            for o in sim.runningNodes where o != v {
                let owner = sim.app(o)!
                if sim.app(v)!.rows(of: o) != owner.rows(of: o)
                    || (!owner.rows(of: o).isEmpty && sim.app(v)!.version(of: o) != owner.localVersion)
                {
                    mismatches += 1
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) views differ from their owners [\(sim.replayNote)]")
    }

    /// `matches` on a few nodes equals a scan of every other running owner's own rows.
    static func expectMatchesAgree(_ sim: Simulation<SubscriptionTable>, observers: [GossipNodeID]) {
        for v in observers where sim.isRunning(v) {
            for tenant in tenants {
                for topic in topics {
                    let got = sim.app(v)!.matches(tenant: tenant, topic: topic).map(\.description).sorted()
                    let want = routesBruteForceMatches(
                        owners: sim.runningNodes.filter { $0 != v }.map { ($0, sim.app($0)!.rows(of: $0)) },
                        tenant: tenant, topic: topic)
                    #expect(got == want, "node \(v) \(tenant.accountID) \(topic) [\(sim.replayNote)]")
                }
            }
        }
    }

    static func periods(_ ms: UInt64) -> String {
        String(format: "%.2f periods", Double(ms) / Double(period))
    }
}
