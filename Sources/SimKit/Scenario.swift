import Gossip
import IoTTypes

/// A simulation script. One statement per line; a comment starts at a `#` that begins the line or follows
/// whitespace and is followed by whitespace (so topic filters such as `a/#` and a lone `#` ending a line are not
/// comments); steps run in file order on one virtual clock. Durations take `ms`, `s` or `periods` (protocol periods = `probeIntervalMs`). Node lists are ids and
/// ranges: `1-50,60,70-72`.
///
/// ```
/// nodes 100                 # cluster size (required, first)
/// seed 42                   # RNG seed (overridable by the runner)
/// loss 0.1                  # datagram loss rate
/// delay 1-20ms              # uniform one-way delay
/// reorder 0.05 50ms         # this share of datagrams is held back this much longer
/// seeds 1,2                 # join addresses (default 1)
/// at 30s partition 1-50 | 51-100
/// at 90s heal
/// at 10s kill 7
/// at 20s restart 7
/// at 25s leave 9
/// run 100 periods           # advance the clock
/// expect converged within 20 periods
/// expect dead 7 within 30 periods      # every running node holds 7 dead or left
/// expect alive 7 within 30 periods
/// expect no false deaths    # no running node was ever declared dead
/// ```
///
/// With `SubscriptionTable` as the app (an error otherwise), rows of the subscription table:
///
/// ```
/// at 5s subscribe 3,7 111111111111 $share/g/a/+    # these nodes' local sessions take the filter in that tenant
/// at 9s unsubscribe 3 111111111111 $share/g/a/+
/// expect tables agree within 40 periods  # every running node holds exactly every running node's own rows
/// expect no routes to dead   # no running node holds rows of a member it holds dead or left
/// ```
public struct Scenario: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        case at(UInt64, Action, line: Int)
        case run(UInt64, line: Int)
        case expectConverged(withinMs: UInt64, line: Int)
        case expectGone(GossipNodeID, withinMs: UInt64, line: Int)
        case expectAlive(GossipNodeID, withinMs: UInt64, line: Int)
        case expectNoFalseDeaths(line: Int)
        case expectTablesAgree(withinMs: UInt64, line: Int)
        case expectNoRoutesToDead(line: Int)
    }

    public enum Action: Sendable, Equatable {
        case partition([[GossipNodeID]])
        case heal
        case kill([GossipNodeID])
        case restart([GossipNodeID])
        case leave([GossipNodeID])
        case subscribe([GossipNodeID], tenant: String, filter: String)
        case unsubscribe([GossipNodeID], tenant: String, filter: String)
    }

    public var nodes: Int
    public var seed: UInt64 = 1
    public var network = SimNetwork()
    public var seedNodes: [GossipNodeID] = [1]
    public var steps: [Step] = []

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
        public var description: String { "scenario line \(line): \(message)" }
    }

    /// Parses a script; `probeIntervalMs` converts `periods`.
    public static func parse(_ text: String, probeIntervalMs: UInt64 = GossipConfiguration().probeIntervalMs)
        -> Result<Scenario, ParseError>
    {
        var scenario = Scenario(nodes: 0)
        var lineNumber = 0
        do throws(ParseError) {
            for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
                lineNumber += 1
                let content = Self.stripComment(rawLine)
                let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
                guard let head = words.first else { continue }
                func fail(_ m: String) -> ParseError { ParseError(line: lineNumber, message: m) }
                func duration(_ w: ArraySlice<String>) throws(ParseError) -> UInt64 {
                    let joined = w.joined()
                    if joined.hasSuffix("periods"), let n = UInt64(joined.dropLast(7)) { return n * probeIntervalMs }
                    if joined.hasSuffix("ms"), let n = UInt64(joined.dropLast(2)) { return n }
                    if joined.hasSuffix("s"), let n = UInt64(joined.dropLast(1)) { return n * 1_000 }
                    throw fail("bad duration '\(w.joined(separator: " "))'")
                }
                func within(_ w: ArraySlice<String>) throws(ParseError) -> UInt64 {
                    guard w.first == "within" else { throw fail("expected 'within <duration>'") }
                    return try duration(w.dropFirst())
                }
                func node(_ s: String) throws(ParseError) -> GossipNodeID {
                    guard let n = GossipNodeID(s), n >= 1, n <= GossipNodeID(scenario.nodes) else {
                        throw fail("bad node '\(s)'")
                    }
                    return n
                }
                func list(_ s: String) throws(ParseError) -> [GossipNodeID] {
                    var out: [GossipNodeID] = []
                    for part in s.split(separator: ",") {
                        let ends = part.split(separator: "-").map(String.init)
                        if ends.count == 1 {
                            out.append(try node(ends[0]))
                        } else if ends.count == 2 {
                            let (a, b) = (try node(ends[0]), try node(ends[1]))
                            guard a <= b else { throw fail("bad range '\(part)'") }
                            out += Array(a...b)
                        } else {
                            throw fail("bad node list '\(s)'")
                        }
                    }
                    return out
                }
                if head != "nodes", scenario.nodes == 0 { throw fail("'nodes N' must come first") }
                switch head {
                case "nodes":
                    guard words.count == 2, let n = Int(words[1]), n > 0, n < 65_536 else { throw fail("nodes N") }
                    scenario.nodes = n
                case "seed":
                    guard words.count == 2, let s = UInt64(words[1]) else { throw fail("seed N") }
                    scenario.seed = s
                case "loss":
                    guard words.count == 2, let l = Double(words[1]), l >= 0, l < 1 else { throw fail("loss 0…1") }
                    scenario.network.lossRate = l
                case "delay":
                    guard words.count == 2, words[1].hasSuffix("ms") else { throw fail("delay A-Bms") }
                    let ends = words[1].dropLast(2).split(separator: "-").compactMap { UInt64($0) }
                    guard ends.count == 2, ends[0] <= ends[1] else { throw fail("delay A-Bms") }
                    scenario.network.minDelayMs = ends[0]
                    scenario.network.maxDelayMs = ends[1]
                case "reorder":
                    guard words.count == 3, let r = Double(words[1]), r >= 0, r <= 1 else { throw fail("reorder P Dms") }
                    scenario.network.reorderRate = r
                    scenario.network.reorderDelayMs = try duration(words[2...])
                case "seeds":
                    guard words.count == 2 else { throw fail("seeds LIST") }
                    scenario.seedNodes = try list(words[1])
                case "run":
                    scenario.steps.append(.run(try duration(words[1...]), line: lineNumber))
                case "at":
                    guard words.count >= 3 else { throw fail("at TIME ACTION") }
                    let time = try duration(words[1...1])
                    let action: Action
                    switch words[2] {
                    case "heal":
                        action = .heal
                    case "kill", "restart", "leave":
                        guard words.count == 4 else { throw fail("\(words[2]) LIST") }
                        let ids = try list(words[3])
                        action = words[2] == "kill" ? .kill(ids) : words[2] == "restart" ? .restart(ids) : .leave(ids)
                    case "subscribe", "unsubscribe":
                        guard words.count == 6 else { throw fail("\(words[2]) LIST TENANT FILTER") }
                        let ids = try list(words[3])
                        guard SubscriptionTable.isValidTenant(TenantID(words[4])) else { throw fail("bad tenant '\(words[4])'") }
                        guard SubscriptionTable.isValidFilter(words[5]) else { throw fail("bad filter '\(words[5])'") }
                        action = words[2] == "subscribe"
                            ? .subscribe(ids, tenant: words[4], filter: words[5])
                            : .unsubscribe(ids, tenant: words[4], filter: words[5])
                    case "partition":
                        let groups = words[3...].joined().split(separator: "|").map(String.init)
                        guard groups.count >= 2 else { throw fail("partition A | B [| C…]") }
                        var parsed: [[GossipNodeID]] = []
                        for g in groups { parsed.append(try list(g)) }
                        action = .partition(parsed)
                    default:
                        throw fail("unknown action '\(words[2])'")
                    }
                    scenario.steps.append(.at(time, action, line: lineNumber))
                case "expect":
                    let rest = words.dropFirst()
                    switch rest.first {
                    case "converged":
                        scenario.steps.append(.expectConverged(withinMs: try within(rest.dropFirst()), line: lineNumber))
                    case "dead", "alive":
                        guard rest.count >= 4 else { throw fail("expect dead|alive N within D") }
                        let n = try node(rest[rest.startIndex + 1])
                        let ms = try within(rest.dropFirst(2))
                        scenario.steps.append(
                            rest.first == "dead"
                                ? .expectGone(n, withinMs: ms, line: lineNumber)
                                : .expectAlive(n, withinMs: ms, line: lineNumber))
                    case "no":
                        if Array(rest) == ["no", "false", "deaths"] {
                            scenario.steps.append(.expectNoFalseDeaths(line: lineNumber))
                        } else if Array(rest) == ["no", "routes", "to", "dead"] {
                            scenario.steps.append(.expectNoRoutesToDead(line: lineNumber))
                        } else {
                            throw fail("expect no false deaths | expect no routes to dead")
                        }
                    case "tables":
                        guard rest.dropFirst().first == "agree" else { throw fail("expect tables agree within D") }
                        scenario.steps.append(
                            .expectTablesAgree(withinMs: try within(rest.dropFirst(2)), line: lineNumber))
                    default:
                        throw fail("unknown expectation")
                    }
                default:
                    throw fail("unknown statement '\(head)'")
                }
            }
        } catch {
            return .failure(error)
        }
        guard scenario.nodes > 0 else { return .failure(ParseError(line: lineNumber, message: "no 'nodes N'")) }
        return .success(scenario)
    }

    /// The line without its comment: from a `#` at the start (after optional whitespace), or a `#` between
    /// whitespace and whitespace.
    static func stripComment(_ line: Substring) -> Substring {
        let chars = Array(line)
        func blank(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\r" }
        for i in chars.indices where chars[i] == "#" {
            let atStart = chars[..<i].allSatisfy(blank)
            let spaced = i > 0 && blank(chars[i - 1]) && i + 1 < chars.count && blank(chars[i + 1])
            if atStart || spaced { return line.prefix(i) }
        }
        return line
    }

    /// What a run found: failures (each with the seed and the scenario line) and measurements per expectation.
    public struct Outcome: Sendable {
        public var failures: [String] = []
        /// (line, milliseconds it took) for each met `expect … within`.
        public var measured: [(line: Int, ms: UInt64)] = []
        public var endTime: UInt64 = 0
    }

    /// Runs the script on a fresh simulation of `App`s. `seed` overrides the script's.
    public func run<App: GossipApplication>(
        seed overrideSeed: UInt64? = nil, configuration: GossipConfiguration = .init(),
        makeApp: @escaping (GossipNodeID) -> App
    ) -> Outcome {
        var sim = Simulation<App>(
            count: nodes, seed: overrideSeed ?? seed, network: network, configuration: configuration,
            seedNodes: seedNodes, makeApp: makeApp)
        sim.recordEvents = false
        var outcome = Outcome()
        let check = configuration.probeIntervalMs / 4
        for step in steps {
            switch step {
            case .run(let ms, _):
                sim.run(for: ms)
            case .at(let t, let action, let line):
                if t < sim.now { outcome.failures.append("line \(line): time \(t)ms is in the past [\(sim.replayNote)]") }
                sim.run(until: t)
                switch action {
                case .heal: sim.heal()
                case .partition(let groups): sim.partition(groups)
                case .kill(let ids): for id in ids { sim.kill(id) }
                case .restart(let ids): for id in ids { sim.restart(id) }
                case .leave(let ids): for id in ids { sim.leave(id) }
                case .subscribe(let ids, let tenant, let filter), .unsubscribe(let ids, let tenant, let filter):
                    let add = if case .subscribe = action { true } else { false }
                    for id in ids {
                        let done = sim.withApp(id) { app -> Bool in
                            guard var table = app as? SubscriptionTable else { return false }
                            if add {
                                table.addLocal(tenant: TenantID(tenant), filter: filter)
                            } else {
                                table.removeLocal(tenant: TenantID(tenant), filter: filter)
                            }
                            app = table as! App
                            return true
                        }
                        if done != true {
                            outcome.failures.append(
                                "line \(line): node \(id) is not running or carries no SubscriptionTable [\(sim.replayNote)]")
                        }
                    }
                }
            case .expectConverged(let ms, let line):
                if let took = sim.run(untilTrue: { $0.isConverged }, checkEveryMs: check, timeoutMs: ms) {
                    outcome.measured.append((line, took))
                } else {
                    outcome.failures.append("line \(line): not converged within \(ms)ms [\(sim.replayNote)]")
                }
            case .expectGone(let node, let ms, let line), .expectAlive(let node, let ms, let line):
                let gone = if case .expectGone = step { true } else { false }
                if let took = sim.run(untilTrue: { $0.allSee(node, gone: gone) }, checkEveryMs: check, timeoutMs: ms) {
                    outcome.measured.append((line, took))
                } else {
                    outcome.failures.append(
                        "line \(line): not every node sees \(node) \(gone ? "dead" : "alive") within \(ms)ms [\(sim.replayNote)]")
                }
            case .expectTablesAgree(let ms, let line):
                guard App.self == SubscriptionTable.self else {
                    outcome.failures.append("line \(line): the app is not SubscriptionTable")
                    continue
                }
                let agree = { (s: Simulation<App>) in (s as! Simulation<SubscriptionTable>).tablesAgree }
                if let took = sim.run(untilTrue: agree, checkEveryMs: check, timeoutMs: ms) {
                    outcome.measured.append((line, took))
                } else {
                    let why = (sim as! Simulation<SubscriptionTable>).tableDisagreements()
                    outcome.failures.append("line \(line): tables differ after \(ms)ms: \(why) [\(sim.replayNote)]")
                }
            case .expectNoRoutesToDead(let line):
                guard let tables = sim as? Simulation<SubscriptionTable> else {
                    outcome.failures.append("line \(line): the app is not SubscriptionTable")
                    continue
                }
                let stale = tables.rowsOfDeadMembers
                if !stale.isEmpty {
                    outcome.failures.append(
                        "line \(line): rows of dead members held: \(stale.prefix(5).map { "\($0.observer)→\($0.node)" }) [\(sim.replayNote)]")
                }
            case .expectNoFalseDeaths(let line):
                if !sim.falseDeaths.isEmpty {
                    outcome.failures.append(
                        "line \(line): \(sim.falseDeaths.count) false deaths, first \(sim.falseDeaths[0]) [\(sim.replayNote)]")
                }
            }
        }
        outcome.endTime = sim.now
        return outcome
    }
}
