/// One member's SWIM instance with Lifeguard's refinements, as a value-type state machine: events and `now`
/// (milliseconds, any monotonic origin) go in, `GossipDirective`s come out. No clock, no I/O, no tasks; all
/// randomness comes from a `GossipRNG` seeded at init, so a run replays from its seeds.
///
/// Protocol (SWIM, Das et al. 2002; Lifeguard, Dadgar et al. 2018), as built here:
/// - Every protocol period (`probeIntervalMs` × local health multiplier) the next member in a shuffled
///   round-robin order is pinged. No ack within `probeTimeoutMs` (× multiplier): `indirectChecks` other members
///   are asked to ping it (ping-req); each relays the ack, or answers a nack when the target stays silent
///   (Lifeguard). No ack by the end of the period: the target is suspected.
/// - Suspicion (Lifeguard): a suspect is declared dead after `max(min, max − (max − min)·log(c+1)/log(K+1))`
///   where `min = α·max(1, log10 n)·period`, `max = β·min`, `c` the independent confirmations heard so far and
///   `K = α − 2` the confirmations expected (0 when `n − 2 < K`).
/// - Incarnations: only a member raises its own. Hearing itself suspected, dead or left (with an incarnation
///   ≥ its own, and not leaving) it refutes: incarnation = heard + 1, and an `alive` is queued. Order for one
///   member: alive(i) < suspect(i) < alive(i+1); dead/left end it until an alive with a higher incarnation.
/// - Dissemination: every datagram (ping, ping-req, ack, nack, gossip) carries as many queued updates as fit in
///   `maxDatagramSize`; each is sent `retransmitMult × ceil(log10(n+1))` times, least-sent first. Application
///   broadcasts share the queue; receivers re-queue the ones new to them (epidemic), deduplicated by
///   (origin, epoch, sequence).
/// - Push/pull (TCP, through the shell): at join (with a seed), once more two periods after joining and every
///   `pushPullIntervalMs` with a random live member, and every `reconnectIntervalMs` with a random dead member or a seed that is not a live member, so a
///   healed partition merges: each side tells the other "you are dead", both refute with higher incarnations.
///   A dead or suspect row received by push/pull is merged as a suspicion (the member gets the chance to refute).
/// - Lifeguard local health (awareness 0…`awarenessMaxMultiplier − 1`, multiplier = awareness + 1): +1 per
///   missing nack after a failed probe (+1 if nobody could be asked), +1 on refuting a suspicion of ourselves,
///   −1 per successful probe.
/// - Buddy system: a ping to a member we suspect carries that suspicion first, and an ack to a sender we hold
///   suspect/dead/left carries that row first, so the member hears it at once and can refute.
///
/// Deviations: no TCP fallback ping, no compound messages (items run to the end of one datagram), push/pull rows
/// carry no metadata, application broadcasts are forwarded epidemically (memberlist leaves that to the delegate).
public struct GossipMembership<App: GossipApplication>: Sendable {
    public let id: GossipNodeID
    public let address: GossipAddress
    public let configuration: GossipConfiguration
    /// The application riding on the protocol. Mutate it freely (local changes); its new broadcasts are taken at
    /// the next event.
    public var app: App
    public private(set) var incarnation: UInt64 = 0
    public private(set) var counters = GossipCounters()
    /// Lifeguard's local health score (0 = healthy); probe interval and timeout are scaled by `awareness + 1`.
    public private(set) var awareness: Int = 0
    /// `leave(now:)` was called: the instance answers nothing any more.
    public private(set) var hasLeft = false

    private var seeds: [GossipAddress]
    private var rng: GossipRNG
    private var table: [GossipNodeID: GossipMember] = [:]
    private var liveCount = 1
    private var probeOrder: [GossipNodeID] = []
    private var probeIndex = 0
    private var pendingProbe: PendingProbe?
    private var relays: [UInt32: Relay] = [:]
    private var suspicions: [GossipNodeID: Suspicion] = [:]
    private var queue: BroadcastQueue
    private var seenApp: [AppOriginKey: AppSeen] = [:]
    private let appEpoch: UInt64
    private var appSequence: UInt64 = 0
    private var nextSeq: UInt32 = 0
    private var started = false
    private var joined = false
    private var nextProbeAt: UInt64 = 0
    private var nextGossipAt: UInt64 = 0
    private var nextPushPullAt: UInt64 = 0
    private var nextReconnectAt: UInt64 = 0
    private var nextJoinAt: UInt64 = 0
    private var nextReapAt: UInt64 = 0
    private var pushPullsInFlight: Set<GossipAddress> = []
    /// Exchanges asked for while one with the same address was in flight (a member back from dead while an
    /// exchange started before it came back has not finished): started again when that one ends.
    private var pushPullsWanted: Set<GossipAddress> = []

    struct PendingProbe: Sendable {
        var target: GossipNodeID
        var seq: UInt32
        var ackDeadline: UInt64
        var end: UInt64
        var indirectSent = false
        var expectedNacks = 0
        var nacks = 0
    }

    struct Relay: Sendable {
        var requester: GossipAddress
        var originalSeq: UInt32
        var target: GossipNodeID
        var nackAt: UInt64
        var expiresAt: UInt64
        var nackSent = false
    }

    struct Suspicion: Sendable {
        var start: UInt64
        var incarnation: UInt64
        var confirmations: Set<GossipNodeID>
        var expected: Int
        var minMs: UInt64
        var maxMs: UInt64
        var deadline: UInt64 {
            let c = confirmations.count
            guard expected > 0, c > 0 else { return start + (expected > 0 ? maxMs : minMs) }
            let fraction = log2Approx(Double(c) + 1) / log2Approx(Double(expected) + 1)
            let timeout = Double(maxMs) - Double(maxMs - minMs) * fraction
            return start + max(minMs, UInt64(max(0, timeout.rounded(.down))))
        }
    }

    struct AppOriginKey: Hashable, Sendable {
        var origin: GossipNodeID
        var epoch: UInt64
    }

    struct AppSeen: Sendable {
        static var window: UInt64 { 1024 }
        var highest: UInt64 = 0
        var recent: Set<UInt64> = []
        /// Records `seq`; false when it was seen (or is too old to tell).
        mutating func insert(_ seq: UInt64) -> Bool {
            if highest >= Self.window, seq <= highest - Self.window { return false }
            guard recent.insert(seq).inserted else { return false }
            highest = max(highest, seq)
            if recent.count > Int(2 * Self.window), highest >= Self.window {
                let floor = highest - Self.window
                recent = recent.filter { $0 > floor }
            }
            return true
        }
    }

    /// - Parameters:
    ///   - seeds: addresses to join through (push/pull); this member's own address is ignored if listed.
    ///   - rngSeed: every random choice (probe order, fan-out, jitter) derives from it.
    public init(
        id: GossipNodeID, address: GossipAddress, seeds: [GossipAddress], configuration: GossipConfiguration = .init(),
        rngSeed: UInt64, app: App
    ) {
        self.id = id
        self.address = address
        self.configuration = configuration
        self.app = app
        self.seeds = seeds.filter { $0 != address }
        var rng = GossipRNG(seed: rngSeed)
        self.appEpoch = rng.next()
        self.rng = rng
        self.queue = BroadcastQueue(capacity: configuration.maxQueuedBroadcasts)
        table[id] = GossipMember(id: id, address: address, state: .alive, incarnation: 0, stateChangedAt: 0)
    }

    // MARK: read-only views

    /// Every row (self included), by id.
    public var members: [GossipMember] { table.values.sorted { $0.id < $1.id } }
    public func member(_ node: GossipNodeID) -> GossipMember? { table[node] }
    /// Alive or suspect members, self included, sorted.
    public var liveMembers: [GossipNodeID] { table.values.filter { $0.state.isLive }.map(\.id).sorted() }
    /// Members in state `alive` exactly (self included), sorted.
    public var aliveMembers: [GossipNodeID] { table.values.filter { $0.state == .alive }.map(\.id).sorted() }
    public var liveMemberCount: Int { liveCount }
    /// Updates and application broadcasts waiting to be piggybacked.
    public var queuedBroadcasts: Int { queue.count }
    /// The current protocol period (probe interval × local health multiplier).
    public var protocolPeriodMs: UInt64 { configuration.probeIntervalMs * UInt64(awareness + 1) }
    /// The latest `now` at which `tick` has work (timers); a shell may tick at least this often instead of polling.
    public var nextWakeup: UInt64 {
        guard started, !hasLeft else { return 0 }
        var t = min(nextProbeAt, nextGossipAt, nextPushPullAt, nextReconnectAt, nextReapAt)
        if liveCount <= 1, !seeds.isEmpty { t = min(t, nextJoinAt) }
        if let p = pendingProbe { t = min(t, p.indirectSent ? p.end : p.ackDeadline) }
        for r in relays.values { t = min(t, r.nackSent ? r.expiresAt : r.nackAt) }
        for s in suspicions.values { t = min(t, s.deadline) }
        return t
    }

    // MARK: events

    /// Timers: probe periods, ack/indirect/suspicion timeouts, gossip rounds, push/pull, join retries, reaping.
    public mutating func tick(now: UInt64) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard !hasLeft else { return out }
        start(now: now, &out)
        absorbAppBroadcasts()

        if var p = pendingProbe {
            if !p.indirectSent, now >= p.ackDeadline {
                p.indirectSent = true
                sendIndirectProbes(&p, now: now, &out)
                pendingProbe = p
            }
            if now >= p.end { probeFailed(p, now: now, &out) }
        }
        for (seq, relay) in relays {
            if !relay.nackSent, now >= relay.nackAt {
                relays[seq]!.nackSent = true
                send(.nack(seq: relay.originalSeq, sender: id), to: relay.requester, &out)
            }
            if now >= relay.expiresAt { relays[seq] = nil }
        }
        let expired = suspicions.filter { now >= $0.value.deadline }.map(\.key).sorted()
        for node in expired {
            guard let m = table[node], m.state == .suspect else {
                suspicions[node] = nil
                continue
            }
            counters.declaredDead += 1
            applyDead(node: node, incarnation: m.incarnation, from: id, now: now, &out)
        }
        if now >= nextProbeAt {
            startProbe(now: now, &out)
            nextProbeAt = now + protocolPeriodMs
        }
        if now >= nextGossipAt {
            gossipRound(now: now, &out)
            nextGossipAt = now + configuration.gossipIntervalMs
        }
        if liveCount <= 1, !seeds.isEmpty, now >= nextJoinAt {
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            startPushPull(to: seed, join: true, &out)
            nextJoinAt = now + configuration.joinRetryIntervalMs
        }
        if now >= nextPushPullAt {
            if let peer = randomMembers(1, excluding: [], where: { $0.state == .alive }).first {
                startPushPull(to: peer.address, join: false, &out)
            }
            nextPushPullAt = now + configuration.pushPullIntervalMs
        }
        if now >= nextReconnectAt {
            reconnect(&out)
            nextReconnectAt = now + configuration.reconnectIntervalMs
        }
        if now >= nextReapAt {
            reap(now: now)
            nextReapAt = now + max(1_000, configuration.deadRetentionMs / 10)
        }
        return out
    }

    /// One UDP datagram from `from`. A malformed one is counted (`counters.malformed`, `lastDecodeError`) and
    /// otherwise ignored.
    public mutating func receive(datagram: [UInt8], from: GossipAddress, now: UInt64) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard !hasLeft else { return out }
        start(now: now, &out)
        absorbAppBroadcasts()
        counters.datagramsReceived += 1
        let decoded: WireDatagram
        switch GossipWire.decodeDatagram(datagram) {
        case .success(let d): decoded = d
        case .failure(let error):
            counters.malformed += 1
            counters.lastDecodeError = error
            return out
        }
        // Updates first: an ack answering a ping that carried "you are suspected" must carry the refutation.
        for item in decoded.items { apply(item, now: now, &out) }
        switch decoded.message {
        case .ping(let seq, let sender, let target):
            guard target == id else {
                counters.pingsMisdirected += 1
                break
            }
            var buddy: [WireItem] = []
            if let m = table[sender], m.state != .alive {
                buddy.append(rowItem(m))
            }
            send(.ack(seq: seq, sender: id), to: from, first: buddy, &out)
        case .pingReq(let seq, let sender, let target, let targetAddress):
            _ = sender
            let relaySeq = nextSequence()
            relays[relaySeq] = Relay(
                requester: from, originalSeq: seq, target: target,
                nackAt: now + configuration.probeTimeoutMs * 8 / 10, expiresAt: now + configuration.probeIntervalMs)
            var buddy: [WireItem] = []
            if let m = table[target], m.state == .suspect { buddy.append(rowItem(m)) }
            send(.ping(seq: relaySeq, sender: id, target: target), to: targetAddress, first: buddy, &out)
        case .ack(let seq, _):
            if let p = pendingProbe, p.seq == seq {
                pendingProbe = nil
                adjustAwareness(-1)
            } else if let relay = relays.removeValue(forKey: seq) {
                send(.ack(seq: relay.originalSeq, sender: relay.target), to: relay.requester, &out)
            }
        case .nack(let seq, _):
            if let p = pendingProbe, p.seq == seq {
                pendingProbe!.nacks += 1
                counters.nacksReceived += 1
            }
        case .gossip:
            break
        }
        return out
    }

    /// Push/pull responder: merges the initiator's state and returns the reply to write back on the connection
    /// (nil: malformed request or this member has left; the shell closes the connection).
    public mutating func handlePushPull(request: [UInt8], from: GossipAddress, now: UInt64)
        -> (reply: [UInt8]?, directives: [GossipDirective])
    {
        var out: [GossipDirective] = []
        guard !hasLeft else { return (nil, out) }
        start(now: now, &out)
        absorbAppBroadcasts()
        switch GossipWire.decodePushPull(request) {
        case .failure(let error):
            counters.malformed += 1
            counters.lastDecodeError = error
            return (nil, out)
        case .success(let message):
            guard !message.isReply else {
                counters.malformed += 1
                counters.lastDecodeError = .unknownMessageType(17)
                return (nil, out)
            }
            counters.pushPullsServed += 1
            merge(message, now: now, &out)
            return (GossipWire.encode(pushPullMessage(isReply: true, join: false)), out)
        }
    }

    /// Push/pull initiator: the reply to a `.pushPull` directive arrived.
    public mutating func handlePushPullReply(_ reply: [UInt8], from: GossipAddress, now: UInt64) -> [GossipDirective] {
        var out: [GossipDirective] = []
        pushPullsInFlight.remove(from)
        guard !hasLeft else { return out }
        start(now: now, &out)
        absorbAppBroadcasts()
        switch GossipWire.decodePushPull(reply) {
        case .failure(let error):
            counters.malformed += 1
            counters.lastDecodeError = error
            counters.pushPullsFailed += 1
        case .success(let message):
            guard message.isReply else {
                counters.malformed += 1
                counters.lastDecodeError = .unknownMessageType(16)
                counters.pushPullsFailed += 1
                return out
            }
            if !joined {
                // One more exchange soon after joining, with a random member: an epidemic with log n retransmits
                // misses a member now and then, and the members that joined after us are only known by gossip.
                joined = true
                nextPushPullAt = min(nextPushPullAt, now + 2 * configuration.probeIntervalMs)
            }
            merge(message, now: now, &out)
            // Its state was merged after the member came back (or it still is not back): nothing more wanted.
            pushPullsWanted.remove(from)
            return out
        }
        startWantedPushPull(from, &out)
        return out
    }

    /// Push/pull initiator: the connection to `to` failed or timed out.
    public mutating func pushPullFailed(to: GossipAddress, now: UInt64) -> [GossipDirective] {
        pushPullsInFlight.remove(to)
        counters.pushPullsFailed += 1
        var out: [GossipDirective] = []
        if !hasLeft { startWantedPushPull(to, &out) }
        return out
    }

    /// An exchange with `address` ended: if one was asked for meanwhile and the member there is live, start it.
    private mutating func startWantedPushPull(_ address: GossipAddress, _ out: inout [GossipDirective]) {
        guard pushPullsWanted.remove(address) != nil,
              table.values.contains(where: { $0.address == address && $0.state.isLive && $0.id != id })
        else { return }
        startPushPull(to: address, join: false, &out)
    }

    /// Graceful leave: marks this member left (higher incarnation) and sends that to several live members at once.
    /// The shell stops the instance after sending these datagrams; every later event is ignored.
    public mutating func leave(now: UInt64) -> [GossipDirective] {
        var out: [GossipDirective] = []
        guard !hasLeft else { return out }
        start(now: now, &out)
        incarnation += 1
        table[id]!.state = .left
        table[id]!.incarnation = incarnation
        table[id]!.stateChangedAt = now
        let item = WireItem.left(node: id, incarnation: incarnation)
        let fanout = max(configuration.gossipFanout, transmitLimit)
        for m in randomMembers(fanout, excluding: [], where: { $0.state.isLive }) {
            send(.gossip(sender: id), to: m.address, first: [item], &out)
        }
        hasLeft = true
        return out
    }

    // MARK: probing

    private mutating func start(now: UInt64, _ out: inout [GossipDirective]) {
        guard !started else { return }
        started = true
        let period = configuration.probeIntervalMs
        nextProbeAt = now + (period > 0 ? rng.next() % period : 0)
        nextGossipAt = now + configuration.gossipIntervalMs
        nextPushPullAt = now + configuration.pushPullIntervalMs
            + (configuration.pushPullIntervalMs > 0 ? rng.next() % configuration.pushPullIntervalMs : 0)
        nextReconnectAt = now + configuration.reconnectIntervalMs
        nextJoinAt = now
        nextReapAt = now + max(1_000, configuration.deadRetentionMs / 10)
        table[id]!.stateChangedAt = now
    }

    private mutating func nextSequence() -> UInt32 {
        nextSeq &+= 1
        return nextSeq
    }

    private mutating func startProbe(now: UInt64, _ out: inout [GossipDirective]) {
        guard pendingProbe == nil, let target = nextProbeTarget() else { return }
        let m = table[target]!
        let seq = nextSequence()
        let multiplier = UInt64(awareness + 1)
        pendingProbe = PendingProbe(
            target: target, seq: seq, ackDeadline: now + configuration.probeTimeoutMs * multiplier,
            end: now + configuration.probeIntervalMs * multiplier)
        counters.probes += 1
        let buddy: [WireItem] = m.state == .suspect ? [rowItem(m)] : []
        send(.ping(seq: seq, sender: id, target: target), to: m.address, first: buddy, &out)
    }

    private mutating func nextProbeTarget() -> GossipNodeID? {
        for pass in 0..<2 {
            while probeIndex < probeOrder.count {
                let candidate = probeOrder[probeIndex]
                probeIndex += 1
                if candidate != id, let m = table[candidate], m.state.isLive { return candidate }
            }
            guard pass == 0 else { break }
            probeOrder = table.values.filter { $0.id != id && $0.state.isLive }.map(\.id).sorted()
            probeOrder.shuffle(using: &rng)
            probeIndex = 0
        }
        return nil
    }

    private mutating func sendIndirectProbes(_ p: inout PendingProbe, now: UInt64, _ out: inout [GossipDirective]) {
        guard let target = table[p.target] else { return }
        let helpers = randomMembers(configuration.indirectChecks, excluding: [p.target], where: { $0.state == .alive })
        p.expectedNacks = helpers.count
        for h in helpers {
            counters.indirectProbes += 1
            send(.pingReq(seq: p.seq, sender: id, target: p.target, targetAddress: target.address), to: h.address, &out)
        }
    }

    private mutating func probeFailed(_ p: PendingProbe, now: UInt64, _ out: inout [GossipDirective]) {
        pendingProbe = nil
        counters.probeFailures += 1
        adjustAwareness(p.expectedNacks > 0 ? max(0, p.expectedNacks - p.nacks) : 1)
        guard let m = table[p.target], m.state.isLive else { return }
        applySuspect(node: p.target, incarnation: m.incarnation, from: id, now: now, &out)
    }

    private mutating func adjustAwareness(_ delta: Int) {
        awareness = min(max(0, awareness + delta), max(0, configuration.awarenessMaxMultiplier - 1))
    }

    // MARK: dissemination

    private var transmitLimit: Int {
        var digits = 0
        var n = liveCount + 1
        var power = 1
        while power < n {
            power *= 10
            digits += 1
        }
        n = max(1, digits)
        return configuration.retransmitMult * n
    }

    private mutating func absorbAppBroadcasts() {
        for b in app.takeNewBroadcasts() {
            appSequence += 1
            let item = WireItem.app(origin: id, epoch: appEpoch, seq: appSequence, key: b.key, bytes: b.bytes)
            let bytes = GossipWire.encode(item)
            // The largest header is a ping-req with a 255-byte host; anything bigger than that room never fits.
            guard bytes.count <= configuration.maxDatagramSize - 40 else {
                counters.appBroadcastsOversized += 1
                continue
            }
            _ = seenApp[AppOriginKey(origin: id, epoch: appEpoch), default: AppSeen()].insert(appSequence)
            enqueue(appKey(origin: id, key: b.key), bytes, appSequence: appSequence)
        }
    }

    private mutating func appKey(origin: GossipNodeID, key: [UInt8]?) -> BroadcastQueue.Key {
        if let key { return .app(origin: origin, key: key) }
        return .unique(rng.next())
    }

    private mutating func enqueue(_ key: BroadcastQueue.Key, _ bytes: [UInt8], appSequence: UInt64 = 0) {
        counters.queueDropped += UInt64(queue.push(key, bytes: bytes, appSequence: appSequence))
    }

    private mutating func gossipRound(now: UInt64, _ out: inout [GossipDirective]) {
        guard !queue.isEmpty else { return }
        let toTheDead = configuration.gossipToTheDeadMs
        let targets = randomMembers(configuration.gossipFanout, excluding: []) { m in
            m.state.isLive || (m.state == .dead && now < m.stateChangedAt + toTheDead)
        }
        for t in targets {
            guard !queue.isEmpty else { break }
            send(.gossip(sender: id), to: t.address, &out)
        }
    }

    /// Encodes `message`, then `first` (buddy items), then as much of the queue as fits, and emits the send.
    private mutating func send(
        _ message: WireMessage, to: GossipAddress, first: [WireItem] = [], _ out: inout [GossipDirective]
    ) {
        var bytes = GossipWire.encode(message)
        for item in first {
            let encoded = GossipWire.encode(item)
            if bytes.count + encoded.count <= configuration.maxDatagramSize { bytes += encoded }
        }
        queue.fill(&bytes, maxSize: configuration.maxDatagramSize, limit: transmitLimit)
        counters.datagramsSent += 1
        out.append(.send(to: to, bytes: bytes))
    }

    private func rowItem(_ m: GossipMember) -> WireItem {
        switch m.state {
        case .alive: .alive(node: m.id, incarnation: m.incarnation, address: m.address)
        case .suspect: .suspect(node: m.id, incarnation: m.incarnation, from: id)
        case .dead: .dead(node: m.id, incarnation: m.incarnation, from: id)
        case .left: .left(node: m.id, incarnation: m.incarnation)
        }
    }

    /// Up to `count` distinct random members other than self and `excluding`.
    private mutating func randomMembers(
        _ count: Int, excluding: Set<GossipNodeID>, where predicate: (GossipMember) -> Bool
    ) -> [GossipMember] {
        guard count > 0 else { return [] }
        var candidates = table.values.filter { $0.id != id && !excluding.contains($0.id) && predicate($0) }
        candidates.sort { $0.id < $1.id }
        guard candidates.count > count else { return candidates }
        var picked: [GossipMember] = []
        for i in 0..<count {
            let j = i + Int(rng.next() % UInt64(candidates.count - i))
            candidates.swapAt(i, j)
            picked.append(candidates[i])
        }
        return picked
    }

    // MARK: push/pull

    private mutating func startPushPull(
        to: GossipAddress, join: Bool, afterInFlight: Bool = false, _ out: inout [GossipDirective]
    ) {
        guard to != address else { return }
        guard pushPullsInFlight.insert(to).inserted else {
            if afterInFlight { pushPullsWanted.insert(to) }
            return
        }
        counters.pushPullsStarted += 1
        out.append(.pushPull(to: to, request: GossipWire.encode(pushPullMessage(isReply: false, join: join))))
    }

    private func pushPullMessage(isReply: Bool, join: Bool) -> WirePushPull {
        WirePushPull(
            isReply: isReply, sender: id, senderAddress: address, join: join,
            members: members.map {
                WireMemberDigest(node: $0.id, incarnation: $0.incarnation, state: $0.state, address: $0.address)
            },
            appState: app.pushPullState())
    }

    private mutating func merge(_ message: WirePushPull, now: UInt64, _ out: inout [GossipDirective]) {
        for d in message.members {
            switch d.state {
            case .alive:
                applyAlive(node: d.node, incarnation: d.incarnation, address: d.address, now: now, &out)
            case .suspect, .dead:
                // A remote verdict is only a suspicion here: the member gets its chance to refute.
                applySuspect(node: d.node, incarnation: d.incarnation, from: message.sender, now: now, &out)
            case .left:
                applyLeft(node: d.node, incarnation: d.incarnation, now: now, &out)
            }
        }
        app.mergePushPullState(message.appState, from: message.sender)
    }

    private mutating func reconnect(_ out: inout [GossipDirective]) {
        let liveAddresses = Set(table.values.filter { $0.state.isLive }.map(\.address))
        var candidates = table.values.filter { $0.state == .dead }.map(\.address)
        candidates += seeds.filter { !liveAddresses.contains($0) }
        candidates = Array(Set(candidates)).sorted()
        guard !candidates.isEmpty else { return }
        startPushPull(to: candidates[Int(rng.next() % UInt64(candidates.count))], join: false, &out)
    }

    private mutating func reap(now: UInt64) {
        let old = table.values.filter {
            !$0.state.isLive && $0.id != id && now >= $0.stateChangedAt + configuration.deadRetentionMs
        }
        for m in old {
            table[m.id] = nil
            suspicions[m.id] = nil
            seenApp = seenApp.filter { $0.key.origin != m.id }
        }
    }

    // MARK: applying updates

    private mutating func apply(_ item: WireItem, now: UInt64, _ out: inout [GossipDirective]) {
        switch item {
        case .alive(let node, let inc, let address):
            applyAlive(node: node, incarnation: inc, address: address, now: now, &out)
        case .suspect(let node, let inc, let from):
            applySuspect(node: node, incarnation: inc, from: from, now: now, &out)
        case .dead(let node, let inc, let from):
            applyDead(node: node, incarnation: inc, from: from, now: now, &out)
        case .left(let node, let inc):
            applyLeft(node: node, incarnation: inc, now: now, &out)
        case .app(let origin, let epoch, let seq, let key, let bytes):
            guard origin != id else { return }
            guard seenApp[AppOriginKey(origin: origin, epoch: epoch), default: AppSeen()].insert(seq) else { return }
            counters.appBroadcastsReceived += 1
            app.receiveBroadcast(bytes, from: origin)
            enqueue(appKey(origin: origin, key: key), GossipWire.encode(item), appSequence: seq)
        }
    }

    /// Refutes a rumour about ourselves: bumps the incarnation past it and queues our `alive`.
    private mutating func refute(heard: UInt64, now: UInt64) {
        guard !hasLeft else { return }
        incarnation = max(incarnation, heard) + 1
        table[id]!.incarnation = incarnation
        counters.refutations += 1
        adjustAwareness(1)
        enqueue(.member(id), GossipWire.encode(.alive(node: id, incarnation: incarnation, address: address)))
    }

    private mutating func setState(
        _ node: GossipNodeID, _ state: GossipMemberState, incarnation inc: UInt64, address: GossipAddress? = nil,
        now: UInt64, _ out: inout [GossipDirective]
    ) {
        let previous = table[node]
        let wasLive = previous?.state.isLive ?? false
        var m = previous ?? GossipMember(id: node, address: address!, state: state, incarnation: inc, stateChangedAt: now)
        if let address { m.address = address }
        m.state = state
        m.incarnation = inc
        m.stateChangedAt = now
        table[node] = m
        if wasLive != state.isLive { liveCount += state.isLive ? 1 : -1 }
        if state != .suspect { suspicions[node] = nil }
        let kind: GossipMemberEvent.Kind
        switch state {
        case .alive: kind = previous == nil ? .joined : .alive
        case .suspect: kind = .suspect
        case .dead: kind = .dead
        case .left: kind = .left
        }
        out.append(.memberEvent(GossipMemberEvent(node: node, kind: kind, incarnation: inc, address: m.address)))
        if wasLive != state.isLive { app.memberChanged(node, alive: state.isLive) }
        if state.isLive, !wasLive {
            // New or back: probe it in this round, at a random place.
            let position = probeIndex + Int(rng.next() % UInt64(probeOrder.count - probeIndex + 1))
            probeOrder.insert(node, at: position)
            // Back from dead (a healed partition, a false death, a restart): its application state was dropped
            // when it died, and its deltas only carry what changed since — exchange full state with it now rather
            // than at the next anti-entropy round (up to `pushPullIntervalMs` later). Until then its rows are
            // missing here and a publish matching them goes nowhere.
            if previous != nil, node != id { startPushPull(to: m.address, join: false, afterInFlight: true, &out) }
        }
    }

    private mutating func applyAlive(
        node: GossipNodeID, incarnation inc: UInt64, address: GossipAddress, now: UInt64,
        _ out: inout [GossipDirective]
    ) {
        if node == id {
            if inc > incarnation { refute(heard: inc, now: now) }
            return
        }
        if let m = table[node], inc <= m.incarnation { return }
        setState(node, .alive, incarnation: inc, address: address, now: now, &out)
        enqueue(.member(node), GossipWire.encode(.alive(node: node, incarnation: inc, address: address)))
    }

    private mutating func applySuspect(
        node: GossipNodeID, incarnation inc: UInt64, from: GossipNodeID, now: UInt64, _ out: inout [GossipDirective]
    ) {
        if node == id {
            if inc >= incarnation { refute(heard: inc, now: now) }
            return
        }
        guard let m = table[node], inc >= m.incarnation else { return }
        let item = GossipWire.encode(.suspect(node: node, incarnation: inc, from: from))
        switch m.state {
        case .alive:
            if from == id { counters.suspicionsRaised += 1 }
            let n = max(1, liveCount)
            var k = configuration.suspicionMult - 2
            if n - 2 < k { k = 0 }
            let period = Double(configuration.probeIntervalMs)
            let minMs = UInt64(Double(configuration.suspicionMult) * max(1, log10Approx(Double(n))) * period)
            suspicions[node] = Suspicion(
                start: now, incarnation: inc, confirmations: [], expected: max(0, k), minMs: minMs,
                maxMs: minMs * UInt64(max(1, configuration.suspicionMaxTimeoutMult)))
            suspicionOrigin[node] = from
            setState(node, .suspect, incarnation: inc, now: now, &out)
            enqueue(.member(node), item)
        case .suspect:
            if inc > m.incarnation { table[node]!.incarnation = inc }
            if var s = suspicions[node], from != suspicionOrigin[node], s.confirmations.insert(from).inserted {
                suspicions[node] = s
                enqueue(.member(node), item)
            }
        case .dead, .left:
            return
        }
    }

    private var suspicionOrigin: [GossipNodeID: GossipNodeID] = [:]

    private mutating func applyDead(
        node: GossipNodeID, incarnation inc: UInt64, from: GossipNodeID, now: UInt64, _ out: inout [GossipDirective]
    ) {
        if node == id {
            if inc >= incarnation { refute(heard: inc, now: now) }
            return
        }
        guard let m = table[node], m.state.isLive, inc >= m.incarnation else { return }
        suspicionOrigin[node] = nil
        setState(node, .dead, incarnation: inc, now: now, &out)
        enqueue(.member(node), GossipWire.encode(.dead(node: node, incarnation: inc, from: from)))
    }

    private mutating func applyLeft(
        node: GossipNodeID, incarnation inc: UInt64, now: UInt64, _ out: inout [GossipDirective]
    ) {
        if node == id {
            if inc >= incarnation { refute(heard: inc, now: now) }
            return
        }
        guard let m = table[node], inc >= m.incarnation, m.state != .left else { return }
        if m.state == .dead, inc == m.incarnation { return }
        suspicionOrigin[node] = nil
        setState(node, .left, incarnation: inc, now: now, &out)
        enqueue(.member(node), GossipWire.encode(.left(node: node, incarnation: inc)))
    }
}

// Pure-Swift logarithms (no Foundation in this module); precise enough for timeouts.
func log2Approx(_ x: Double) -> Double {
    guard x > 0 else { return 0 }
    let e = x.exponent
    let m = x.significand  // in [1, 2)
    // ln(m) by the atanh series: ln(m) = 2·atanh((m−1)/(m+1)).
    let y = (m - 1) / (m + 1)
    let y2 = y * y
    var term = y
    var sum = 0.0
    var k = 1.0
    for _ in 0..<12 {
        sum += term / k
        term *= y2
        k += 2
    }
    return Double(e) + 2 * sum / 0.693_147_180_559_945_3
}

func log10Approx(_ x: Double) -> Double { log2Approx(x) * 0.301_029_995_663_981_2 }
