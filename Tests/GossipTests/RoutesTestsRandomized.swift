@testable import Gossip
import IoTTypes
import Testing

/// N tables, random local subscribe/unsubscribe, broadcasts lost, duplicated and reordered, membership news
/// (crashes, restarts with a higher epoch, false suspicions) arriving late and at different times on each node,
/// random pairwise push/pull. At the end every live node holds exactly every live owner's rows, and `matches`
/// always agrees with a brute-force scan of the node's own view. Failures print the seed.
@Suite("SubscriptionTable: randomized convergence")
struct RoutesRandomizedTests {
    static let seeds: [UInt64] = [1, 2, 3, 42, 7_777, 0xC0FFEE, 0x5EED_2026, 99_991]

    static let tenants = [routesTenantA, routesTenantB]
    static let filters: [String] = {
        var out: [String] = []
        let levels = ["a", "b", "$x"]
        for first in levels + ["+"] {
            for second in ["", "/a", "/+", "/#", "/b/c"] { out.append(first + second) }
        }
        out += ["#", "$share/g1/a/+", "$share/g2/a/+", "$share/g1/#", "$share/g2/b/c"]
        return out
    }()
    static let topics = ["a", "a/a", "a/b", "b/b/c", "$x/a", "$x", "b", "a/b/c", "c/a", "a/"]

    /// Everything the simulation keeps about one node id.
    struct Node {
        var table: SubscriptionTable
        var running = true
        /// Local sessions' subscriptions: row → number of sessions holding it.
        var sessions: [RouteRow: Int] = [:]
        /// Membership news not yet delivered to this node, in order: (subject, alive).
        var news: [(GossipNodeID, Bool)] = []
    }

    struct InFlight {
        var to: GossipNodeID
        var bytes: [UInt8]
    }

    @Test("tables converge to every live owner's rows and matches agree with brute force", arguments: seeds)
    func converges(seed: UInt64) {
        var rng = RoutesRNG(seed: seed)
        let context = "seed \(seed)"
        let ids: [GossipNodeID] = [1, 2, 3, 4, 5]
        var nodes: [GossipNodeID: Node] = [:]
        for id in ids { nodes[id] = Node(table: SubscriptionTable(node: id, epoch: 1_000 + id)) }
        var flight: [InFlight] = []
        var failures = 0
        var crashes = 0
        var restarts = 0

        func running() -> [GossipNodeID] { ids.filter { nodes[$0]!.running } }

        func spread(from id: GossipNodeID) {
            for broadcast in nodes[id]!.table.takeNewBroadcasts() {
                for to in ids where to != id {
                    if Int.random(in: 0..<100, using: &rng) < 20 { continue }  // lost
                    flight.append(InFlight(to: to, bytes: broadcast.bytes))
                    if Int.random(in: 0..<100, using: &rng) < 10 { flight.append(InFlight(to: to, bytes: broadcast.bytes)) }
                }
            }
        }

        func tell(_ subject: GossipNodeID, alive: Bool) {
            for observer in ids where observer != subject { nodes[observer]!.news.append((subject, alive)) }
        }

        func exchange(_ i: GossipNodeID, _ j: GossipNodeID) {
            if Bool.random(using: &rng) {
                let fromI = nodes[i]!.table.pushPullState()
                nodes[j]!.table.mergePushPullState(fromI, from: i)
                nodes[i]!.table.mergePushPullState(nodes[j]!.table.pushPullState(), from: j)
            } else {
                // The digest-first variant: i's digest, j's answer, i's answer to that.
                let digest = nodes[i]!.table.pushPullDigest()
                nodes[j]!.table.mergePushPullState(digest, from: i)
                guard case .success(let answer) = nodes[j]!.table.pushPullState(answering: digest),
                    case .success(let back) = nodes[i]!.table.pushPullState(answering: answer)
                else {
                    Issue.record("\(context): a table's own state did not decode")
                    return
                }
                nodes[i]!.table.mergePushPullState(answer, from: j)
                nodes[j]!.table.mergePushPullState(back, from: i)
            }
        }

        /// `matches` on every running node equals brute force over that node's own view of live remote owners.
        func checkMatches(_ when: String) {
            for id in running() {
                let table = nodes[id]!.table
                let owners = ids.filter { $0 != id && !table.isDead($0) }.map { ($0, table.rows(of: $0)) }
                for tenant in Self.tenants {
                    for topic in Self.topics {
                        let got = table.matchStrings(tenant: tenant, topic: topic)
                        let want = routesBruteForceMatches(owners: owners, tenant: tenant, topic: topic)
                        if got != want {
                            failures += 1
                            Issue.record("\(context) \(when): node \(id) \(tenant) \(topic): \(got) != \(want)")
                        }
                        if got.contains(where: { $0.hasPrefix("\(id):") }) {
                            Issue.record("\(context) \(when): node \(id) matched itself")
                        }
                    }
                }
            }
        }

        for step in 0..<2_500 where failures == 0 {
            let live = running()
            let roll = Int.random(in: 0..<100, using: &rng)
            switch roll {
            case 0..<30:  // a local session subscribes or unsubscribes
                let id = live.randomElement(using: &rng)!
                let row = RouteRow(
                    tenant: Self.tenants.randomElement(using: &rng)!, filter: Self.filters.randomElement(using: &rng)!)
                let held = nodes[id]!.sessions[row, default: 0]
                if held > 0 && Bool.random(using: &rng) {
                    nodes[id]!.sessions[row] = held - 1 == 0 ? nil : held - 1
                    let changed = nodes[id]!.table.removeLocal(tenant: row.tenant, filter: row.filter)
                    #expect(changed == (held == 1), "\(context)")
                } else {
                    nodes[id]!.sessions[row] = held + 1
                    let changed = nodes[id]!.table.addLocal(tenant: row.tenant, filter: row.filter)
                    #expect(changed == (held == 0), "\(context)")
                }
                spread(from: id)
            case 30..<65:  // deliver one broadcast, picked at random (reordering)
                guard !flight.isEmpty else { break }
                let message = flight.remove(at: Int.random(in: 0..<flight.count, using: &rng))
                if nodes[message.to]!.running { nodes[message.to]!.table.receiveBroadcast(message.bytes, from: 0) }
            case 65..<80:  // deliver one piece of membership news to one node
                let candidates = live.filter { !nodes[$0]!.news.isEmpty }
                guard let id = candidates.randomElement(using: &rng) else { break }
                let (subject, alive) = nodes[id]!.news.removeFirst()
                nodes[id]!.table.memberChanged(subject, alive: alive)
            case 80..<90:  // a pairwise push/pull
                guard live.count >= 2 else { break }
                let i = live.randomElement(using: &rng)!
                let j = live.filter { $0 != i }.randomElement(using: &rng)!
                exchange(i, j)
            case 90..<93:  // a crash
                guard live.count > 2 else { break }
                let id = live.randomElement(using: &rng)!
                nodes[id]!.running = false
                nodes[id]!.news = []
                crashes += 1
                tell(id, alive: false)
            case 93..<96:  // a restart, with a higher epoch and no sessions
                guard let id = ids.filter({ !nodes[$0]!.running }).randomElement(using: &rng) else { break }
                let epoch = nodes[id]!.table.epoch + UInt64.random(in: 1...1_000, using: &rng)
                nodes[id] = Node(table: SubscriptionTable(node: id, epoch: epoch))
                restarts += 1
                // What the restarted node learns on joining: who is dead now.
                for other in ids where other != id && !nodes[other]!.running { nodes[id]!.news.append((other, false)) }
                tell(id, alive: true)
            default:  // a false suspicion, refuted
                let id = live.randomElement(using: &rng)!
                tell(id, alive: false)
                tell(id, alive: true)
            }
            if step % 100 == 99 { checkMatches("at step \(step)") }
        }

        // End: all news delivered, the broadcasts still in flight delivered or lost, then push/pull until stable.
        for id in running() {
            while !nodes[id]!.news.isEmpty {
                let (subject, alive) = nodes[id]!.news.removeFirst()
                nodes[id]!.table.memberChanged(subject, alive: alive)
            }
        }
        flight.shuffle(using: &rng)
        for message in flight where nodes[message.to]!.running && Bool.random(using: &rng) {
            nodes[message.to]!.table.receiveBroadcast(message.bytes, from: 0)
        }
        let live = running()
        func converged() -> Bool {
            let first = nodes[live[0]]!.table.digest
            return live.allSatisfy { nodes[$0]!.table.digest == first && nodes[$0]!.table.ownersBehind.isEmpty }
        }
        var exchanges = 0
        while !converged() && exchanges < 200 {
            let i = live.randomElement(using: &rng)!
            exchange(i, live.filter { $0 != i }.randomElement(using: &rng)!)
            exchanges += 1
        }
        #expect(converged(), "\(context): not converged after \(exchanges) exchanges")

        for observer in live {
            let table = nodes[observer]!.table
            for owner in ids {
                if nodes[owner]!.running {
                    let truth = nodes[owner]!.table
                    #expect(table.rows(of: owner) == truth.rows(of: owner), "\(context): \(observer)'s view of \(owner)")
                    #expect(table.version(of: owner) == truth.localVersion, "\(context): \(observer)'s version of \(owner)")
                } else {
                    #expect(table.isDead(owner), "\(context): \(observer) should hold \(owner) dead")
                    #expect(table.rows(of: owner).isEmpty, "\(context): \(observer) holds rows of dead \(owner)")
                }
            }
            for (row, held) in nodes[observer]!.sessions {
                #expect(table.localRefcount(tenant: row.tenant, filter: row.filter) == held, "\(context)")
            }
            #expect(table.localRowCount == nodes[observer]!.sessions.count, "\(context)")
            #expect(table.counters.malformed == 0, "\(context)")
        }
        checkMatches("at the end")
        // The run exercised what it claims to (counters of the final processes only).
        let totals = live.map { nodes[$0]!.table.counters }
        #expect(crashes > 0 && restarts > 0, "\(context): \(crashes) crashes, \(restarts) restarts")
        #expect(totals.map(\.deltasBuffered).reduce(0, +) > 0, "\(context)")
        #expect(totals.map(\.deltasStale).reduce(0, +) > 0, "\(context)")
        #expect(totals.map(\.ignoredDead).reduce(0, +) > 0, "\(context)")
        #expect(totals.map(\.blocksApplied).reduce(0, +) > 0, "\(context)")
        #expect(nodes[live[0]]!.table.digest.rows > 10, "\(context)")
        // Brute force over the truth, too: nobody routes to a dead node or to itself.
        for observer in live {
            let owners = live.filter { $0 != observer }.map { ($0, nodes[$0]!.table.rows(of: $0)) }
            for tenant in Self.tenants {
                for topic in Self.topics {
                    #expect(
                        nodes[observer]!.table.matchStrings(tenant: tenant, topic: topic)
                            == routesBruteForceMatches(owners: owners, tenant: tenant, topic: topic),
                        "\(context): \(observer) \(topic)")
                }
            }
        }
    }
}
