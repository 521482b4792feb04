import Gossip

/// The simulated network between instances. Datagrams are lost with `lossRate`, delayed uniformly in
/// `minDelayMs…maxDelayMs` (so they reorder), and with `reorderRate` held back `reorderDelayMs` more. Push/pull
/// (TCP) is never lost but is delayed the same way; to a stopped or partitioned node it fails after
/// `connectTimeoutMs`. Partitions apply to both, checked when a message is delivered.
public struct SimNetwork: Sendable, Equatable {
    public var lossRate: Double = 0
    public var minDelayMs: UInt64 = 1
    public var maxDelayMs: UInt64 = 10
    public var reorderRate: Double = 0
    public var reorderDelayMs: UInt64 = 50
    public var connectTimeoutMs: UInt64 = 1_000
    public init(lossRate: Double = 0, minDelayMs: UInt64 = 1, maxDelayMs: UInt64 = 10) {
        self.lossRate = lossRate
        self.minDelayMs = minDelayMs
        self.maxDelayMs = maxDelayMs
    }
}

/// A member event seen by one instance, with the virtual time it happened.
public struct SimEvent: Sendable, Equatable, CustomStringConvertible {
    public var time: UInt64
    public var observer: GossipNodeID
    public var event: GossipMemberEvent
    public var description: String { "t=\(time)ms at \(observer): \(event)" }
}

/// N `GossipMembership` instances in one process on a virtual clock and a simulated network, all randomness from
/// one seed: the same seed gives the same run. Nodes are numbered 1…count; node i listens on `address(of: i)`.
/// Nothing here reads a clock or starts a thread.
public struct Simulation<App: GossipApplication> {
    public let seed: UInt64
    public let configuration: GossipConfiguration
    public var network: SimNetwork
    /// The nodes every (re)started instance joins through.
    public var seedNodes: [GossipNodeID]
    public let ids: [GossipNodeID]
    public private(set) var now: UInt64 = 0
    /// Every member event every instance reported, in time order.
    public private(set) var events: [SimEvent] = []
    /// `dead` events about a node that was running when it was declared dead.
    public private(set) var falseDeaths: [SimEvent] = []
    public private(set) var datagramsSent: UInt64 = 0
    public private(set) var datagramsLost: UInt64 = 0
    public private(set) var pushPullExchanges: UInt64 = 0
    /// Set false to keep only the false-death list (long runs).
    public var recordEvents = true

    private let makeApp: (GossipNodeID) -> App
    private var nodes: [GossipNodeID: Node] = [:]
    private var generations: [GossipNodeID: UInt64] = [:]
    private var rng: GossipRNG
    private var heap = EventHeap()
    private var group: [GossipNodeID: Int] = [:]
    private var byAddress: [GossipAddress: GossipNodeID] = [:]

    private struct Node {
        var membership: GossipMembership<App>
        var generation: UInt64
        var scheduledWake: UInt64 = .max
    }

    public init(
        count: Int, seed: UInt64, network: SimNetwork = .init(), configuration: GossipConfiguration = .init(),
        seedNodes: [GossipNodeID] = [1], makeApp: @escaping (GossipNodeID) -> App
    ) {
        self.seed = seed
        self.configuration = configuration
        self.network = network
        self.seedNodes = seedNodes
        self.makeApp = makeApp
        self.rng = GossipRNG(seed: seed)
        self.ids = (0..<count).map { GossipNodeID($0 + 1) }
        for id in ids {
            byAddress[Self.address(of: id)] = id
            startInstance(id)
        }
    }

    /// Node `id`'s address: `10.0.<id / 256>.<id % 256>:7946`.
    public static func address(of id: GossipNodeID) -> GossipAddress {
        GossipAddress(host: "10.0.\(id >> 8).\(id & 255)", port: 7946)
    }

    /// "seed=… t=…ms": put this in every failure message so the run can be replayed.
    public var replayNote: String { "seed=\(seed) t=\(now)ms" }

    // MARK: views

    public var runningNodes: [GossipNodeID] { nodes.keys.sorted() }
    public func isRunning(_ id: GossipNodeID) -> Bool { nodes[id] != nil }
    public func membership(_ id: GossipNodeID) -> GossipMembership<App>? { nodes[id]?.membership }
    public func app(_ id: GossipNodeID) -> App? { nodes[id]?.membership.app }

    /// Changes a running node's application (a local write); its broadcasts go out from the next event.
    public mutating func withApp<R>(_ id: GossipNodeID, _ body: (inout App) -> R) -> R? {
        guard nodes[id] != nil else { return nil }
        let r = body(&nodes[id]!.membership.app)
        schedule(id)
        return r
    }

    /// Every running node sees exactly the running nodes as `alive` (suspects do not count).
    public var isConverged: Bool {
        let expected = runningNodes
        return nodes.values.allSatisfy { $0.membership.aliveMembers == expected }
    }

    /// Every running node holds `node` as dead or left (or has forgotten it).
    public func allSee(_ node: GossipNodeID, gone: Bool) -> Bool {
        nodes.values.allSatisfy { n in
            if n.membership.id == node { return true }
            let state = n.membership.member(node)?.state
            return gone ? (state == nil || state == .dead || state == .left) : state == .alive
        }
    }

    // MARK: control

    public mutating func run(for durationMs: UInt64) { run(until: now + durationMs) }

    public mutating func run(until t: UInt64) {
        while let top = heap.peek, top.time <= t {
            let event = heap.pop()!
            now = max(now, event.time)
            _ = handle(event.kind)
        }
        now = max(now, t)
    }

    /// Like `run(until:)`, calling `check(self, node)` after every event that ran `node`'s code (a tick, a datagram,
    /// a push/pull request, reply or failure): for invariants that must hold at every step, not only at the end.
    public mutating func run(until t: UInt64, afterEach check: (Simulation, GossipNodeID) -> Void) {
        while let top = heap.peek, top.time <= t {
            let event = heap.pop()!
            now = max(now, event.time)
            if let node = handle(event.kind) { check(self, node) }
        }
        now = max(now, t)
    }

    /// Runs until `condition` holds (checked every `checkEveryMs`) or `timeoutMs` passes; returns the time it took.
    public mutating func run(
        untilTrue condition: (Simulation) -> Bool, checkEveryMs: UInt64, timeoutMs: UInt64
    ) -> UInt64? {
        let start = now
        while true {
            if condition(self) { return now - start }
            guard now - start < timeoutMs else { return nil }
            run(for: min(checkEveryMs, timeoutMs - (now - start)))
        }
    }

    /// Stops node `id` at once (a crash: nothing is sent).
    public mutating func kill(_ id: GossipNodeID) { nodes[id] = nil }

    /// Starts a fresh instance of `id` (new application state, incarnation 0) that joins through `seedNodes`.
    public mutating func restart(_ id: GossipNodeID) {
        precondition(ids.contains(id), "no node \(id) [\(replayNote)]")
        startInstance(id)
    }

    /// Graceful leave: the instance sends its `left` and stops.
    public mutating func leave(_ id: GossipNodeID) {
        guard var node = nodes[id] else { return }
        let out = node.membership.leave(now: now)
        nodes[id] = node
        perform(out, from: id)
        nodes[id] = nil
    }

    /// Nodes in different groups cannot exchange anything; nodes in no group reach everyone.
    public mutating func partition(_ groups: [[GossipNodeID]]) {
        group = [:]
        for (i, g) in groups.enumerated() { for id in g { group[id] = i + 1 } }
    }

    public mutating func partition(_ a: [GossipNodeID], _ b: [GossipNodeID]) { partition([a, b]) }

    public mutating func heal() { group = [:] }

    public func canReach(_ a: GossipNodeID, _ b: GossipNodeID) -> Bool {
        let ga = group[a] ?? 0
        let gb = group[b] ?? 0
        return ga == 0 || gb == 0 || ga == gb
    }

    // MARK: internals

    private mutating func startInstance(_ id: GossipNodeID) {
        let generation = (generations[id] ?? 0) + 1
        generations[id] = generation
        var mix = GossipRNG(seed: seed ^ (id &* 0x9E37_79B9_7F4A_7C15) ^ (generation << 48))
        let membership = GossipMembership(
            id: id, address: Self.address(of: id), seeds: seedNodes.map(Self.address(of:)),
            configuration: configuration, rngSeed: mix.next(), app: makeApp(id))
        nodes[id] = Node(membership: membership, generation: generation)
        schedule(id)
    }

    private mutating func schedule(_ id: GossipNodeID) {
        guard let node = nodes[id] else { return }
        let wake = max(now, node.membership.nextWakeup)
        guard node.membership.hasLeft == false, wake < node.scheduledWake else { return }
        nodes[id]!.scheduledWake = wake
        heap.push(time: wake, .wake(id, node.generation, wake))
    }

    private mutating func random01() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }

    private mutating func delay() -> UInt64 {
        let span = network.maxDelayMs >= network.minDelayMs ? network.maxDelayMs - network.minDelayMs : 0
        var d = network.minDelayMs + (span > 0 ? rng.next() % (span + 1) : 0)
        if network.reorderRate > 0, random01() < network.reorderRate { d += network.reorderDelayMs }
        return d
    }

    private mutating func perform(_ directives: [GossipDirective], from id: GossipNodeID) {
        let generation = nodes[id]?.generation ?? 0
        for d in directives {
            switch d {
            case .send(let to, let bytes):
                datagramsSent += 1
                guard let target = byAddress[to] else { continue }
                if network.lossRate > 0, random01() < network.lossRate {
                    datagramsLost += 1
                    continue
                }
                heap.push(time: now + delay(), .datagram(to: target, from: id, bytes: bytes))
            case .pushPull(let to, let request):
                guard let target = byAddress[to] else {
                    heap.push(time: now + network.connectTimeoutMs, .pushPullFailed(to: id, generation, address: to))
                    continue
                }
                heap.push(
                    time: now + delay(), .pushPullRequest(from: id, generation, to: target, address: to, request))
            case .memberEvent(let e):
                let record = SimEvent(time: now, observer: id, event: e)
                if recordEvents { events.append(record) }
                if e.kind == .dead, nodes[e.node] != nil, nodes[e.node]?.membership.hasLeft == false {
                    falseDeaths.append(record)
                }
            }
        }
        schedule(id)
    }

    /// Handles one event; returns the node whose code ran (nil when the event found nobody to run).
    private mutating func handle(_ kind: EventKind) -> GossipNodeID? {
        switch kind {
        case .wake(let id, let generation, let at):
            guard var node = nodes[id], node.generation == generation, node.scheduledWake == at else { return nil }
            node.scheduledWake = .max
            let out = node.membership.tick(now: now)
            nodes[id] = node
            perform(out, from: id)
            return id
        case .datagram(let to, let from, let bytes):
            guard var node = nodes[to], canReach(from, to) else { return nil }
            let out = node.membership.receive(datagram: bytes, from: Self.address(of: from), now: now)
            nodes[to] = node
            perform(out, from: to)
            return to
        case .pushPullRequest(let from, let generation, let to, let address, let request):
            guard var node = nodes[to], canReach(from, to) else {
                heap.push(
                    time: now + network.connectTimeoutMs, .pushPullFailed(to: from, generation, address: address))
                return nil
            }
            let (reply, out) = node.membership.handlePushPull(request: request, from: Self.address(of: from), now: now)
            nodes[to] = node
            perform(out, from: to)
            if let reply {
                pushPullExchanges += 1
                heap.push(time: now + delay(), .pushPullReply(to: from, generation, from: to, address: address, reply))
            } else {
                heap.push(time: now + delay(), .pushPullFailed(to: from, generation, address: address))
            }
            return to
        case .pushPullReply(let to, let generation, let from, let address, let reply):
            guard var node = nodes[to], node.generation == generation else { return nil }
            let out: [GossipDirective]
            if canReach(from, to) {
                out = node.membership.handlePushPullReply(reply, from: address, now: now)
            } else {
                out = node.membership.pushPullFailed(to: address, now: now)
            }
            nodes[to] = node
            perform(out, from: to)
            return to
        case .pushPullFailed(let to, let generation, let address):
            guard var node = nodes[to], node.generation == generation else { return nil }
            let out = node.membership.pushPullFailed(to: address, now: now)
            nodes[to] = node
            perform(out, from: to)
            return to
        }
    }
}

enum EventKind {
    case wake(GossipNodeID, UInt64, UInt64)
    case datagram(to: GossipNodeID, from: GossipNodeID, bytes: [UInt8])
    case pushPullRequest(from: GossipNodeID, UInt64, to: GossipNodeID, address: GossipAddress, [UInt8])
    case pushPullReply(to: GossipNodeID, UInt64, from: GossipNodeID, address: GossipAddress, [UInt8])
    case pushPullFailed(to: GossipNodeID, UInt64, address: GossipAddress)
}

/// A binary min-heap on (time, insertion order): equal times run in the order they were scheduled.
struct EventHeap {
    struct Entry {
        var time: UInt64
        var order: UInt64
        var kind: EventKind
        func before(_ o: Entry) -> Bool { time != o.time ? time < o.time : order < o.order }
    }
    private var items: [Entry] = []
    private var counter: UInt64 = 0
    var peek: Entry? { items.first }
    var count: Int { items.count }

    mutating func push(time: UInt64, _ kind: EventKind) {
        counter += 1
        items.append(Entry(time: time, order: counter, kind: kind))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count, items[l].before(items[m]) { m = l }
            if r < items.count, items[r].before(items[m]) { m = r }
            guard m != i else { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}
