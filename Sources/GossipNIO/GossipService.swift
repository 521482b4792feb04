import Gossip
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// The shell around one ``GossipMembership``: feeds it datagrams, push/pull exchanges and ticks from a repeated
/// timer, carries out its directives on a ``GossipTransport``, and reports member events. All access to the pure
/// machine goes through one lock, held only for its short methods.
public final class GossipService<App: GossipApplication>: Sendable {
    public struct Configuration: Sendable {
        public var id: GossipNodeID
        /// Where this member listens (UDP and TCP); its port 0 picks a free one (tests).
        public var address: GossipAddress
        /// Members to join through (their gossip addresses); this node's own address is ignored.
        public var seeds: [GossipAddress]
        public var protocolConfiguration: GossipConfiguration
        /// How often the machine is ticked: the resolution of every protocol timer.
        public var tickInterval: TimeAmount = .milliseconds(20)
        /// The seed of the machine's random choices (probe order, gossip targets); random in production.
        public var rngSeed: UInt64 = UInt64.random(in: 1...UInt64.max)

        public init(id: GossipNodeID, address: GossipAddress, seeds: [GossipAddress],
                    protocolConfiguration: GossipConfiguration = GossipConfiguration()) {
            self.id = id
            self.address = address
            self.seeds = seeds
            self.protocolConfiguration = protocolConfiguration
        }
    }

    private struct Timers {
        var tick: RepeatedTask?
        var stopped = false
    }

    public let configuration: Configuration
    private let machine: NIOLockedValueBox<GossipMembership<App>>
    private let group: any EventLoopGroup
    private let logger: Logger
    private let timers = NIOLockedValueBox(Timers())
    private let observers = NIOLockedValueBox<[@Sendable (GossipMemberEvent) -> Void]>([])
    private let metrics: GossipMetrics
    private let majority = Atomic<Bool>(true)
    /// Set once in ``start()`` (the transport's handlers call back into `self`).
    private let transportBox = NIOLockedValueBox<GossipTransport?>(nil)

    public init(configuration: Configuration, app: App, group: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.group = group
        var logger = logger
        logger[metadataKey: "gossip.node"] = "\(configuration.id)"
        self.logger = logger
        self.metrics = GossipMetrics()
        let seeds = configuration.seeds.filter { $0 != configuration.address }
        self.machine = NIOLockedValueBox(GossipMembership(
            id: configuration.id, address: configuration.address, seeds: seeds,
            configuration: configuration.protocolConfiguration, rngSeed: configuration.rngSeed, app: app))
    }

    /// Monotonic milliseconds on NIO's clock.
    static func nowMs() -> UInt64 { NIODeadline.now().uptimeNanoseconds / 1_000_000 }

    /// Binds the transport and starts ticking.
    public func start() async throws {
        let transport = GossipTransport(
            configuration: .init(host: configuration.address.host, port: Int(configuration.address.port)),
            group: group, logger: logger,
            onDatagram: { [weak self] bytes, from in self?.datagram(bytes, from: from) },
            onPushPull: { [weak self] request, from in self?.pushPullRequest(request, from: from) })
        try await transport.start()
        transportBox.withLockedValue { $0 = transport }
        let interval = configuration.tickInterval
        let task = group.next().scheduleRepeatedTask(initialDelay: .zero, delay: interval) { [weak self] _ in
            self?.tick()
        }
        timers.withLockedValue { $0.tick = task }
        logger.info("gossip listening", metadata: [
            "gossip.address": "\(configuration.address)", "gossip.seeds": "\(configuration.seeds)",
        ])
    }

    /// Graceful leave: tells the others this member is leaving (so they drop it at once instead of suspecting
    /// it), lets the announcement go out for `linger`, then stops.
    public func leave(linger: TimeAmount = .milliseconds(300)) async {
        let directives = machine.withLockedValue { $0.leave(now: Self.nowMs()) }
        perform(directives)
        try? await Task.sleep(nanoseconds: UInt64(max(0, linger.nanoseconds)))
        await stop()
    }

    public func stop() async {
        let task = timers.withLockedValue { t -> RepeatedTask? in
            t.stopped = true
            defer { t.tick = nil }
            return t.tick
        }
        task?.cancel()
        await transportBox.withLockedValue { $0 }?.stop()
    }

    // MARK: - Reading and writing the application state

    /// Runs `body` on the application state under the machine's lock (local row changes, route queries). Keep it
    /// short: every datagram and tick waits for it.
    public func withApp<R>(_ body: (inout App) -> R) -> R {
        machine.withLockedValue { body(&$0.app) }
    }

    /// This member's view (itself included).
    public func members() -> [GossipMember] { machine.withLockedValue { $0.members } }

    /// Whether the live members (alive or suspect, this one included) are more than half of those not gone for good
    /// (`left`), as of the last tick. Dead rows are forgotten after the membership's retention (1 h), after which a
    /// node alone counts itself a majority again.
    public var seesMajority: Bool { majority.load(ordering: .relaxed) }

    public func counters() -> GossipCounters { machine.withLockedValue { $0.counters } }

    /// Called for every member event (on an event loop thread; must return quickly).
    public func onMemberEvent(_ observer: @escaping @Sendable (GossipMemberEvent) -> Void) {
        observers.withLockedValue { $0.append(observer) }
    }

    // MARK: - Events in

    private func tick() {
        let now = Self.nowMs()
        let (directives, counters, members) = machine.withLockedValue { m in
            (m.tick(now: now), m.counters, m.members)
        }
        perform(directives)
        majority.store(GossipMember.majorityLive(members), ordering: .relaxed)
        metrics.update(counters: counters, members: members, now: now)
    }

    private func datagram(_ bytes: [UInt8], from: SocketAddress) {
        guard let address = Self.gossipAddress(from) else { return }
        let now = Self.nowMs()
        let directives = machine.withLockedValue { $0.receive(datagram: bytes, from: address, now: now) }
        perform(directives)
    }

    private func pushPullRequest(_ request: [UInt8], from: SocketAddress) -> [UInt8]? {
        guard let address = Self.gossipAddress(from) else { return nil }
        let now = Self.nowMs()
        let (reply, directives) = machine.withLockedValue { $0.handlePushPull(request: request, from: address, now: now) }
        perform(directives)
        return reply
    }

    static func gossipAddress(_ socket: SocketAddress) -> GossipAddress? {
        guard let ip = socket.ipAddress, let port = socket.port, let p = UInt16(exactly: port) else { return nil }
        return GossipAddress(host: ip, port: p)
    }

    // MARK: - Directives out

    private func perform(_ directives: [GossipDirective]) {
        guard !directives.isEmpty, let transport = transportBox.withLockedValue({ $0 }) else { return }
        for d in directives {
            switch d {
            case .send(let to, let bytes):
                if !transport.send(bytes, to: to.host, port: Int(to.port)) { metrics.sendFailed() }
            case .pushPull(let to, let request):
                Task { [weak self] in
                    do {
                        let reply = try await transport.pushPull(request, to: to.host, port: Int(to.port))
                        self?.pushPullReply(reply, from: to)
                    } catch {
                        self?.pushPullFailed(to: to, error: error)
                    }
                }
            case .memberEvent(let event):
                memberEvent(event)
            }
        }
    }

    private func pushPullReply(_ reply: [UInt8], from: GossipAddress) {
        let now = Self.nowMs()
        let directives = machine.withLockedValue { $0.handlePushPullReply(reply, from: from, now: now) }
        perform(directives)
    }

    private func pushPullFailed(to: GossipAddress, error: any Error) {
        logger.debug("gossip push/pull failed", metadata: ["gossip.peer": "\(to)", "error": "\(error)"])
        let now = Self.nowMs()
        let directives = machine.withLockedValue { $0.pushPullFailed(to: to, now: now) }
        perform(directives)
    }

    private func memberEvent(_ event: GossipMemberEvent) {
        let metadata: Logger.Metadata = [
            "gossip.member": "\(event.node)", "gossip.member_address": "\(event.address)",
            "gossip.incarnation": "\(event.incarnation)",
        ]
        switch event.kind {
        case .joined: logger.notice("gossip: member joined", metadata: metadata)
        case .alive: logger.notice("gossip: member alive again", metadata: metadata)
        case .suspect: logger.info("gossip: member suspected", metadata: metadata)
        case .dead: logger.warning("gossip: member declared dead", metadata: metadata)
        case .left: logger.notice("gossip: member left", metadata: metadata)
        }
        for observer in observers.withLockedValue({ $0 }) { observer(event) }
    }
}

/// `iot_gossip_*`: member counts by state and the machine's counters, refreshed at most once a second.
final class GossipMetrics: Sendable {
    private struct Last {
        var at: UInt64 = 0
        var counters = GossipCounters()
    }
    private let last = NIOLockedValueBox(Last())
    private let alive = Gauge(label: "iot_gossip_members", dimensions: [("state", "alive")])
    private let suspect = Gauge(label: "iot_gossip_members", dimensions: [("state", "suspect")])
    private let dead = Gauge(label: "iot_gossip_members", dimensions: [("state", "dead")])
    private let left = Gauge(label: "iot_gossip_members", dimensions: [("state", "left")])
    private let sent = Counter(label: "iot_gossip_datagrams_sent_total")
    private let received = Counter(label: "iot_gossip_datagrams_received_total")
    private let malformed = Counter(label: "iot_gossip_malformed_total")
    private let probeFailures = Counter(label: "iot_gossip_probe_failures_total")
    private let suspicions = Counter(label: "iot_gossip_suspicions_total")
    private let declaredDead = Counter(label: "iot_gossip_declared_dead_total")
    private let refutations = Counter(label: "iot_gossip_refutations_total")
    private let pushPulls = Counter(label: "iot_gossip_push_pulls_total")
    private let pushPullFailures = Counter(label: "iot_gossip_push_pull_failures_total")
    private let sendErrors = Counter(label: "iot_gossip_send_errors_total")

    /// A datagram the kernel refused (EINVAL behind a blackhole route, EPERM from a firewall, a full buffer).
    func sendFailed() { sendErrors.increment() }

    func update(counters c: GossipCounters, members: [GossipMember], now: UInt64) {
        let previous: GossipCounters? = last.withLockedValue { l in
            guard now >= l.at + 1_000 else { return nil }
            defer { l.at = now; l.counters = c }
            return l.counters
        }
        guard let p = previous else { return }
        var counts: [GossipMemberState: Int] = [:]
        for m in members { counts[m.state, default: 0] += 1 }
        alive.record(counts[.alive] ?? 0)
        suspect.record(counts[.suspect] ?? 0)
        dead.record(counts[.dead] ?? 0)
        left.record(counts[.left] ?? 0)
        sent.increment(by: Int64(c.datagramsSent &- p.datagramsSent))
        received.increment(by: Int64(c.datagramsReceived &- p.datagramsReceived))
        malformed.increment(by: Int64(c.malformed &- p.malformed))
        probeFailures.increment(by: Int64(c.probeFailures &- p.probeFailures))
        suspicions.increment(by: Int64(c.suspicionsRaised &- p.suspicionsRaised))
        declaredDead.increment(by: Int64(c.declaredDead &- p.declaredDead))
        refutations.increment(by: Int64(c.refutations &- p.refutations))
        pushPulls.increment(by: Int64(c.pushPullsStarted &- p.pushPullsStarted))
        pushPullFailures.increment(by: Int64(c.pushPullsFailed &- p.pushPullsFailed))
    }
}
