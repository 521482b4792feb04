import Foundation
import Gossip
import SimKit
import Testing

/// Many members on SimKit's virtual network. Every run is deterministic (same seed, same run) and bounded; every
/// failure message carries `replayNote` (the seed and the virtual time).
@Suite struct SimulationTests {
    static let period = GossipConfiguration().probeIntervalMs

    /// Everyone starts at t = 0 and joins through node 1. Lossless network, 1–10 ms delay. Bound: log2(n)
    /// protocol periods (c = 1). Reasoning: a gossip round runs 5 times per period to 3 members, so an update
    /// reaches ×4 more members per round — log4(n) rounds ≈ log2(n)/10 periods — and the join push/pull with the
    /// seed takes one round trip; c = 1 leaves a 10× margin for the probe-period alignment and the last stragglers.
    @Test(arguments: [16, 32, 64, 100])
    func convergesFromOneSeedWithinLogNPeriods(n: Int) {
        for seed: UInt64 in [1, 2, 3] {
            var sim = Simulation(count: n, seed: seed, makeApp: { _ in NoApp() })
            let bound = UInt64((log2(Double(n)) * Double(Self.period)).rounded(.up))
            let took = sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 50, timeoutMs: bound)
            #expect(took != nil, "n=\(n) not converged within \(bound)ms [\(sim.replayNote)]")
            print("converged n=\(n) seed=\(seed): \(took.map { "\($0)ms = \(Double($0) / Double(Self.period)) periods" } ?? "no")")
        }
    }

    /// 10% of datagrams lost (1–20 ms delay, 5% reordered 50 ms later), 1,000 protocol periods: nobody running
    /// is ever declared dead, and the view is whole at the end.
    @Test func tenPercentLossDeclaresNobodyDeadOverAThousandPeriods() {
        let n = Self.lossTestSize
        var network = SimNetwork(lossRate: 0.1, minDelayMs: 1, maxDelayMs: 20)
        network.reorderRate = 0.05
        var sim = Simulation(count: n, seed: 10, network: network, makeApp: { _ in NoApp() })
        sim.recordEvents = false
        sim.run(for: 1_000 * Self.period)
        #expect(sim.falseDeaths.isEmpty, "\(sim.falseDeaths.count) false deaths, first: \(sim.falseDeaths.first.map(\.description) ?? "") [\(sim.replayNote)]")
        let converged = sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 30 * Self.period)
        #expect(converged != nil, "[\(sim.replayNote)]")
        let suspicions = sim.runningNodes.reduce(UInt64(0)) { $0 + sim.membership($1)!.counters.suspicionsRaised }
        let refutations = sim.runningNodes.reduce(UInt64(0)) { $0 + sim.membership($1)!.counters.refutations }
        print("loss: n=\(n) 1000 periods, datagrams \(sim.datagramsSent) (lost \(sim.datagramsLost)), suspicions \(suspicions), refutations \(refutations)")
    }
    static let lossTestSize = 25

    @Test func killedNodeIsDeclaredDeadByAllThenRejoinsAfterRestart() {
        var sim = Simulation(count: 50, seed: 7, makeApp: { _ in NoApp() })
        #expect(sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil, "[\(sim.replayNote)]")
        sim.kill(7)
        // Detection (≤ a few periods) + suspicion (min 4·log10(50) ≈ 6.8 s with two confirmations, max 41 s) + spread.
        let dead = sim.run(untilTrue: { $0.allSee(7, gone: true) }, checkEveryMs: 100, timeoutMs: 45 * Self.period)
        #expect(dead != nil, "node 7 not dead everywhere [\(sim.replayNote)]")
        #expect(sim.falseDeaths.isEmpty, "[\(sim.replayNote)]")
        print("kill: all 49 see node 7 dead after \(dead ?? 0)ms")
        sim.restart(7)
        let back = sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period)
        #expect(back != nil, "node 7 did not rejoin [\(sim.replayNote)]")
        #expect((sim.membership(7)?.incarnation ?? 0) >= 1, "rejoined by refuting its own death")
        print("restart: converged \(back ?? 0)ms after restart")
    }

    @Test func majorityMinorityPartitionHealsIntoOneMembership() {
        let n = 50
        var sim = Simulation(count: n, seed: 11, seedNodes: [1, 2, 3], makeApp: { _ in NoApp() })
        #expect(sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil)
        sim.partition(Array(1...30), Array(31...50))
        sim.run(for: 120 * Self.period)
        // Each side has declared the other dead.
        #expect(sim.membership(1)!.aliveMembers == Array(1...30), "[\(sim.replayNote)]")
        #expect(sim.membership(40)!.aliveMembers == Array(31...50), "[\(sim.replayNote)]")
        sim.heal()
        let healed = sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 60 * Self.period)
        #expect(healed != nil, "not healed [\(sim.replayNote)]")
        print("partition 30|20: healed \(healed ?? 0)ms after heal")
    }

    @Test func gracefulLeaveIsSeenByAllWithoutSuspicion() {
        var sim = Simulation(count: 30, seed: 5, makeApp: { _ in NoApp() })
        #expect(sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil)
        sim.leave(9)
        let gone = sim.run(untilTrue: { $0.allSee(9, gone: true) }, checkEveryMs: 50, timeoutMs: 5 * Self.period)
        #expect(gone != nil, "[\(sim.replayNote)]")
        #expect(sim.runningNodes.allSatisfy { sim.membership($0)!.member(9)?.state == .left }, "[\(sim.replayNote)]")
        #expect(sim.falseDeaths.isEmpty)
    }

    /// Application broadcasts reach everyone (piggyback + push/pull), and `memberChanged` follows membership.
    @Test func appBroadcastsReachEveryoneAndMemberChangesAreReported() {
        var network = SimNetwork(lossRate: 0.05, minDelayMs: 1, maxDelayMs: 20)
        network.reorderRate = 0.1
        var config = GossipConfiguration()
        config.pushPullIntervalMs = 10_000
        var sim = Simulation(count: 40, seed: 21, network: network, configuration: config, makeApp: { GrowSet(owner: $0) })
        #expect(sim.run(untilTrue: { $0.isConverged }, checkEveryMs: 100, timeoutMs: 20 * Self.period) != nil)
        for node in sim.runningNodes { sim.withApp(node) { $0.add(node * 1_000) } }
        sim.withApp(3) { for e in 1...50 { $0.add(UInt64(e)) } }
        let expected = Set(sim.runningNodes.map { $0 * 1_000 } + (1...50).map { UInt64($0) })
        // Piggyback alone (5 periods, before any periodic push/pull could matter): nearly every copy arrives; an
        // epidemic with 4 × ceil(log10 41) = 8 retransmits per member may miss a few.
        sim.run(for: 5 * Self.period)
        let delivered = sim.runningNodes.reduce(0) { $0 + sim.app($1)!.elements.intersection(expected).count }
        let total = expected.count * sim.runningNodes.count
        #expect(Double(delivered) >= 0.99 * Double(total), "\(delivered)/\(total) [\(sim.replayNote)]")
        // Anti-entropy (push/pull every 10 s here) completes it.
        let spread = sim.run(
            untilTrue: { s in s.runningNodes.allSatisfy { s.app($0)!.elements == expected } }, checkEveryMs: 100,
            timeoutMs: 30 * Self.period)
        #expect(spread != nil, "broadcasts did not reach everyone [\(sim.replayNote)]")
        print("app: after 5 periods \(delivered)/\(total) copies by piggyback; all after \(5_000 + (spread ?? 0))ms")
        for node in sim.runningNodes {
            let calls = sim.app(node)!.memberCalls
            #expect(Set(calls.filter(\.alive).map(\.node)) == Set(sim.runningNodes.filter { $0 != node }), "[\(sim.replayNote)]")
        }
        sim.kill(12)
        #expect(sim.run(untilTrue: { $0.allSee(12, gone: true) }, checkEveryMs: 100, timeoutMs: 60 * Self.period) != nil)
        for node in sim.runningNodes {
            #expect(sim.app(node)!.memberCalls.last == GrowSet.MemberCall(node: 12, alive: false), "[\(sim.replayNote)]")
        }
    }

    @Test func sameSeedSameRun() {
        func run() -> [SimEvent] {
            var network = SimNetwork(lossRate: 0.1, minDelayMs: 1, maxDelayMs: 30)
            network.reorderRate = 0.1
            var sim = Simulation(count: 20, seed: 99, network: network, makeApp: { _ in NoApp() })
            sim.run(for: 10 * Self.period)
            sim.kill(4)
            sim.run(for: 40 * Self.period)
            return sim.events
        }
        let a = run()
        #expect(!a.isEmpty)
        #expect(a == run())
    }

    @Test func scenarioFiles() throws {
        let dir = #filePath.split(separator: "/").dropLast().joined(separator: "/")
        let names = ["converge-100", "partition-heal", "kill-restart"]
        for name in names {
            let path = "/" + dir + "/Scenarios/\(name).scenario"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let scenario = try Scenario.parse(text).get()
            let outcome = scenario.run(makeApp: { _ in NoApp() })
            #expect(outcome.failures.isEmpty, "\(name): \(outcome.failures)")
            print("scenario \(name): \(outcome.measured.map { "line \($0.line): \($0.ms)ms" }.joined(separator: ", "))")
        }
    }

    @Test func scenarioParseErrorsNameTheLine() {
        #expect(throws: Scenario.ParseError(line: 2, message: "unknown statement 'nodez'")) {
            try Scenario.parse("nodes 3\nnodez 4").get()
        }
        #expect(throws: Scenario.ParseError(line: 1, message: "'nodes N' must come first")) {
            try Scenario.parse("seed 4").get()
        }
        #expect(throws: Scenario.ParseError(line: 2, message: "bad node '9'")) {
            try Scenario.parse("nodes 3\nat 1s kill 9").get()
        }
        #expect(throws: Scenario.ParseError(line: 3, message: "bad duration 'soon'")) {
            try Scenario.parse("nodes 3\n# c\nrun soon").get()
        }
    }
}
