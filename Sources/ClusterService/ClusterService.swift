// ClusterService: proposals from any node (ARCHITECTURE §3). "Followers forward proposals to the leader over the
// cluster bus; the caller's reply waits until the local node has applied the entry, so a client reads its own
// writes on whatever node it is connected to."
//
// Rules this file keeps:
//
// 1. At most once. A forward is retried only when it provably did not run: the bus could not send it
//    (`unreachable`, `overloaded`), or the node asked answered "not leader" or "unavailable" (not started or
//    stopping: it proposed nothing). After `timeout`
//    or `connectionLost` the leader may have applied it, and commands are not idempotent (UpdateThing bumps the
//    version), so the caller gets `.timeout` ("outcome unknown") instead of a second copy in the log.
// 2. Read-your-writes on every node. The leader answers with the position it applied the command at (raft index
//    and place in the entry, `AppliedPosition`); the follower returns only once its own `appliedPosition` has
//    reached it, so `read` right after sees the write. (Not ClusterState's `lastAppliedIndex`: it moves on at an
//    entry's first command, and entries carry many.)
// 3. Followers learn the commit index from the leader's next AppendEntries; libraft sends one when an entry is
//    appended, else once per heartbeat (up to two heartbeats apart). So after answering forwarded proposals the
//    leader appends a barrier (`CommitNudge`: at most one in flight, one more queued behind it), which carries
//    the new commit index to the followers at once instead of a heartbeat later.
// 4. A new leader commits an entry of its own term at once (Raft §5.4.2 / §8: entries of earlier terms count as
//    committed only then). The `TermCommit` watcher appends a barrier whenever this node leads in a term it has
//    not committed in yet; once it is applied, this node knows its state holds every earlier write, which is
//    what `waitUntilCurrent` (the broker's start gate) waits for. (libraft 0.15 has no callback for "leader and
//    caught up", hence the poll.)
// 5. Bounded. One deadline (`requestTimeout`) covers the local attempt, every forward, the backoff between them and
//    the wait for the local apply; at most `maxForwardAttempts` forwards.
// 5. Batched. Forwards to one leader share bus requests (`ForwardBatcher`): at most a few requests out, the rest
//    queued and sent together. Each command in a batch is proposed on its own and answered on its own, so rules
//    1 and 2 hold per command: a request that fails as a whole fails each of its commands as that failure would
//    fail a single forward.
// 6. A follower remembers the leader raft last named (`leaderHint`) and forwards straight there, skipping the
//    local raft hop that would only answer "not leader". Safe by rule 1: a node that no longer leads answers "not
//    leader" without proposing, and then raft is asked again. Any failed forward forgets the hint.

import ClusterBus
import ClusterNode
import ClusterState
import Logging
import NIOCore
import Synchronization

public final class ClusterService: Sendable {
    public let configuration: ClusterServiceConfiguration
    /// The replicated state on this node (reads, status, membership).
    public let node: ClusterNode
    let bus: ClusterBus
    let busAddresses: [UInt64: PeerAddress]
    let closing: Closing
    let nudge: CommitNudge
    let batcher: ForwardBatcher
    /// The leader raft last named on this node (0: none known); see rule 6.
    let leaderHint = Atomic<UInt64>(0)
    let logger: Logger
    let termCommit = Mutex<Task<Void, Never>?>(nil)
    /// The last term in which this node, as leader, committed its barrier (rule 4).
    let committedTerm = CommittedTerm()
    /// Handlers of request kinds served outside this module (6: message forwarding, 7: session takeover).
    let extraHandlers: ExtraHandlers

    /// Shared with the bus handler (like `Closing`): kind → handler, consulted before ForwardWire's kinds.
    final class ExtraHandlers: Sendable {
        let handlers = Mutex<[UInt16: @Sendable (ByteBuffer) async -> BusReply]>([:])
        func handler(for kind: UInt16) -> (@Sendable (ByteBuffer) async -> BusReply)? { handlers.withLock { $0[kind] } }
    }

    final class CommittedTerm: Sendable {
        let term = Atomic<UInt64>(0)
    }

    /// Shared with the bus handler, which must not capture the service (the service owns the bus that owns it).
    final class Closing: Sendable {
        let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
    }

    public init(configuration: ClusterServiceConfiguration, group: any EventLoopGroup,
                logger: Logger = Logger(label: "flotilla.cluster")) {
        self.configuration = configuration
        self.logger = logger
        let node = ClusterNode(configuration: configuration.node, logger: logger)
        let closing = Closing()
        let nudge = CommitNudge(node: node)
        self.node = node
        self.closing = closing
        self.nudge = nudge
        self.busAddresses = Dictionary(
            configuration.peers.map { ($0.nodeID, $0.busAddress) }, uniquingKeysWith: { first, _ in first })
        let extra = ExtraHandlers()
        self.extraHandlers = extra
        let bus = ClusterBus(configuration: configuration.bus, group: group, logger: logger) { _, kind, payload in
            if let handler = extra.handler(for: kind) {
                if closing.isSet {
                    return .error(code: ForwardWire.ErrorCode.unavailable.rawValue, message: "shutting down")
                }
                return await handler(payload)
            }
            let reply = await Self.serve(kind: kind, payload: payload, node: node, closing: closing)
            if case .ok = reply { nudge.request() }
            return reply
        }
        self.bus = bus
        self.batcher = ForwardBatcher(
            bus: bus, node: node,
            limits: .init(
                maxRequestsInFlight: configuration.maxForwardRequestsInFlight,
                maxCommands: configuration.maxCommandsPerForward, maxBytes: configuration.maxBytesPerForward))
    }

    // MARK: lifecycle

    /// Starts listening on the bus, then starts raft (see `ClusterNode.start`).
    public func start(_ mode: ClusterStartMode) async throws(ClusterServiceError) {
        do {
            try await bus.start()
        } catch {
            throw .unavailable("cluster bus: \(error)")
        }
        do {
            try await node.start(mode)
        } catch {
            await bus.shutdown()
            throw ClusterServiceError(error)
        }
        let node = self.node
        let closing = self.closing
        let committed = self.committedTerm
        let poll = pollInterval
        termCommit.withLock {
            $0 = Task { await Self.commitEachTerm(node: node, closing: closing, committed: committed, poll: poll) }
        }
    }

    /// Stops the bus (forwards in flight fail with `.shuttingDown`) and then raft. Safe to call twice.
    public func shutdown() async {
        closing.flag.store(true, ordering: .releasing)
        let watcher = termCommit.withLock { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        watcher?.cancel()
        await watcher?.value
        await bus.shutdown()
        await node.shutdown()
    }

    var pollInterval: Duration {
        min(max(configuration.node.heartbeatTimeout / 2, .milliseconds(10)), .milliseconds(50))
    }

    /// Waits (at most `timeout`) until this node is current: a leader is known, this node has applied everything
    /// it knows to be committed, and — if it leads — it has committed in its own term (so a restarted node has
    /// applied its log). The broker waits for this before it accepts clients, so the first subscriber after a
    /// restart sees the retained messages. False when the time ran out (no quorum, say).
    public func waitUntilCurrent(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !closing.isSet {
            let s = await node.status()
            let led = s.role != .leader || committedTerm.term.load(ordering: .acquiring) >= s.term
            if s.leaderID != nil && s.appliedIndex >= s.commitIndex && led { return true }
            if clock.now + pollInterval >= deadline { return false }
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                return false
            }
        }
        return false
    }

    /// Rule 4: whenever this node leads in a term it has not yet committed an entry in, appends a barrier.
    static func commitEachTerm(node: ClusterNode, closing: Closing, committed: CommittedTerm, poll: Duration) async {
        while !Task.isCancelled && !closing.isSet {
            let status = await node.status()
            if status.role == .leader && status.term > committed.term.load(ordering: .acquiring) {
                do {
                    try await node.barrier()
                    committed.term.store(status.term, ordering: .releasing)
                } catch {
                    // Lost leadership or shutting down: look again at the next poll.
                }
            }
            do {
                try await Task.sleep(for: poll)
            } catch {
                return
            }
        }
    }

    // MARK: writes and reads

    /// Proposes `command` on whichever node leads and answers once this node has applied it (rule 2).
    public func propose(_ command: ClusterCommand) async throws(ClusterServiceError) -> ClusterOutcome {
        if closing.isSet { throw .shuttingDown }
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.requestTimeout
        let bytes = command.encoded()
        let me = configuration.node.nodeID
        var delay = configuration.initialRetryDelay
        var forwards = 0
        var lastRefusal = ClusterServiceError.noLeader
        var askRaft = false
        while true {
            // Local first: on the leader that is the whole job; on a follower it names the current leader. A
            // follower that already knows the leader skips this hop (rule 6) until a forward comes back refused.
            let leaderID: UInt64?
            let hint = leaderHint.load(ordering: .relaxed)
            let usedHint = !askRaft && hint != 0 && hint != me
            if usedHint {
                leaderID = hint
            } else {
                do {
                    return try await node.propose(encoded: bytes)
                } catch .notLeader(let id, _) {
                    leaderID = id
                    leaderHint.store(id ?? 0, ordering: .relaxed)
                } catch {
                    throw ClusterServiceError(error)
                }
            }
            askRaft = true
            if let leaderID, leaderID != me, let address = busAddress(of: leaderID) {
                if forwards >= configuration.maxForwardAttempts { throw lastRefusal }
                forwards += 1
                let result: ForwardResult
                do {
                    result = try await forward(bytes, to: address, deadline: deadline, clock: clock)
                } catch {
                    leaderHint.store(0, ordering: .relaxed)
                    throw error
                }
                switch result {
                case .done(let outcome, let position):
                    try await waitForApplied(position, deadline: deadline, clock: clock)
                    return outcome
                case .retry(let why):
                    lastRefusal = why
                    // The hint was stale: ask raft at once, no backoff yet.
                    leaderHint.compareExchange(expected: leaderID, desired: 0, ordering: .relaxed)
                    if usedHint { continue }
                }
            } else if let leaderID, leaderID != me {
                // A leader added at runtime whose directory row this node has not applied yet: wait for it.
                lastRefusal = .unavailable(Self.unknownAddress(leaderID))
            }
            // No leader known, or the forward provably did not run: back off, then ask raft again.
            let now = clock.now
            if now + delay >= deadline { throw lastRefusal }
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .timeout
            }
            delay = min(delay * 2, configuration.maxRetryDelay)
        }
    }

    /// Raft no longer names `leaderID` as the leader (another node, or none while an election runs): forwards in
    /// flight to it end now with "outcome unknown", queued ones go to whoever raft names next (`ForwardBatcher.abandon`).
    /// Called by the shell that watches raft's leader. Returns how many forwarded commands were answered.
    @discardableResult
    public func leaderMoved(from leaderID: UInt64) -> Int {
        leaderHint.compareExchange(expected: leaderID, desired: 0, ordering: .relaxed)
        guard leaderID != configuration.node.nodeID, let address = busAddress(of: leaderID) else { return 0 }
        return batcher.abandon(address)
    }

    /// Reads this node's applied state (includes every write this node's `propose` has returned).
    public func read<T>(_ body: (ClusterState) throws -> T) rethrows -> T {
        try node.read(body)
    }

    public func status() async -> ClusterStatus {
        await node.status()
    }

    static func unknownAddress(_ leaderID: UInt64) -> String {
        "the bus address of leader \(leaderID) is in neither --peers nor the node directory (yet)"
    }

    /// Where node `nodeID`'s cluster bus listens: the static peer table (`--peers`) first, then the replicated
    /// node directory (nodes added at runtime, `ClusterCommand.setNodeAddress`).
    public func busAddress(of nodeID: UInt64) -> PeerAddress? {
        if let address = busAddresses[nodeID] { return address }
        return node.read { $0.nodeAddress(nodeID) }.map { PeerAddress(host: $0.busHost, port: Int($0.busPort)) }
    }

    // MARK: requests served by other modules

    /// Registers the handler of bus request `kind` (6: message forwarding, 7: session takeover), consulted before
    /// the proposal-forwarding and membership kinds. Safe at any time; a later call for the same kind replaces it.
    public func serveRequests(kind: UInt16, _ handler: @escaping @Sendable (ByteBuffer) async -> BusReply) {
        extraHandlers.handlers.withLock { $0[kind] = handler }
    }

    /// One bus request to node `node` (its address from `--peers` or the node directory), waiting at most the bus's
    /// request timeout.
    public func request(to node: UInt64, kind: UInt16, payload: ByteBuffer) async throws(ClusterServiceError)
        -> ByteBuffer
    {
        try await request(to: node, kind: kind, payload: payload, timeout: configuration.requestTimeout)
    }

    /// One bus request to node `node`, waiting at most `timeout`.
    public func request(to node: UInt64, kind: UInt16, payload: ByteBuffer, timeout: Duration)
        async throws(ClusterServiceError) -> ByteBuffer
    {
        guard let address = busAddress(of: node) else {
            throw .unavailable("the bus address of node \(node) is in neither --peers nor the node directory")
        }
        do {
            return try await bus.request(to: address, kind: kind, payload: payload, timeout: timeout)
        } catch {
            throw ClusterServiceError(error)
        }
    }

    /// The other nodes this node knows the bus address of: `--peers` and the node directory, without itself.
    public func knownPeers() -> [UInt64] {
        let me = configuration.node.nodeID
        var ids = Set(busAddresses.keys)
        for a in node.read({ $0.nodeDirectory() }) { ids.insert(a.nodeID) }
        ids.remove(me)
        return ids.sorted()
    }

    // MARK: forwarding (follower side)

    enum ForwardResult {
        case done(ClusterOutcome, position: AppliedPosition)
        /// Provably not executed; the error to report if the attempts run out.
        case retry(ClusterServiceError)
    }

    func forward(_ command: [UInt8], to address: PeerAddress, deadline: ContinuousClock.Instant,
                 clock: ContinuousClock) async throws(ClusterServiceError) -> ForwardResult {
        guard deadline > clock.now else { throw .timeout }
        switch await batcher.forward(command, to: address, deadline: deadline) {
        case .item(.applied(let outcome, let position)): return .done(outcome, position: position)
        case .item(.notLeader): return .retry(.noLeader)
        case .item(.failed(let code, let message)):
            return .retry(try refusalToRetry(BusError.remote(code: code, message: message)))
        case .undecodable(let why): throw .internal(why)
        case .bus(let error):
            return .retry(try refusalToRetry(error))
        }
    }

    /// A forward that failed (rule 1): the refusal to retry on when the request provably did not run
    /// (`unreachable`, `overloaded`, or the node answered `unavailable`: not started or stopping, nothing
    /// proposed); anything else may have run on the leader, so it is thrown.
    func refusalToRetry(_ error: BusError) throws(ClusterServiceError) -> ClusterServiceError {
        switch error {
        case .unreachable: return .noLeader
        case .overloaded: return .unavailable("the leader is overloaded")
        case .remote(let code, let message) where code == ForwardWire.ErrorCode.unavailable.rawValue:
            // The node asked was not started or is stopping and proposed nothing: ask raft again.
            return .unavailable(message)
        case .timeout, .connectionLost, .cancelled, .shuttingDown, .payloadTooLarge, .responseTooLarge, .remote:
            if closing.isSet { throw .shuttingDown }
            throw ClusterServiceError(error)
        }
    }

    /// Waits until this node has applied `position`: woken by the raft thread once it applied that entry (a
    /// follower learns the commit index from the leader's next AppendEntries or the commit nudge, rule 3).
    func waitForApplied(_ position: AppliedPosition, deadline: ContinuousClock.Instant,
                        clock: ContinuousClock) async throws(ClusterServiceError) {
        if node.appliedPosition >= position { return }
        if closing.isSet { throw .shuttingDown }
        let remaining = deadline - clock.now
        guard remaining > .zero else { throw .timeout }
        do {
            try await node.waitForApplied(position, timeout: remaining)
        } catch {
            throw ClusterServiceError(error)
        }
    }

    // MARK: forwarding (leader side)

    /// Appends barriers on the leader so followers hear of new commits without waiting for a heartbeat (rule 3).
    /// At most one barrier in flight; requests meanwhile fold into one more after it.
    final class CommitNudge: Sendable {
        let node: ClusterNode
        let state = Mutex<(running: Bool, again: Bool)>((false, false))

        init(node: ClusterNode) { self.node = node }

        func request() {
            let start = state.withLock { s -> Bool in
                if s.running {
                    s.again = true
                    return false
                }
                s.running = true
                return true
            }
            guard start else { return }
            Task { [self] in
                while true {
                    // notLeader, shuttingDown, …: nothing to nudge; the next forward asks again.
                    try? await node.barrier()
                    let more = state.withLock { s -> Bool in
                        if s.again {
                            s.again = false
                            return true
                        }
                        s.running = false
                        return false
                    }
                    if !more { return }
                }
            }
        }
    }

    static func serve(kind: UInt16, payload: ByteBuffer, node: ClusterNode, closing: Closing) async -> BusReply {
        guard ForwardWire.knownKinds.contains(kind) else {
            return .error(code: ForwardWire.ErrorCode.badRequest.rawValue, message: "unknown request kind \(kind)")
        }
        if closing.isSet {
            return .error(code: ForwardWire.ErrorCode.unavailable.rawValue, message: "shutting down")
        }
        if kind == ForwardWire.forwardProposal {
            switch await proposeForwarded(Array(payload.readableBytesView), node: node) {
            case .ok(let bytes): return .ok(bytes)
            case .error(let code, let message): return .error(code: code.rawValue, message: message)
            }
        }
        if kind != ForwardWire.forwardBatch {
            return await serveMembership(kind: kind, payload: payload, node: node)
        }
        guard let commands = ForwardWire.decodeBatch(payload) else {
            return .error(code: ForwardWire.ErrorCode.badRequest.rawValue, message: "malformed forward batch")
        }
        // Each command on its own (rule 5), all handed to raft in one go; undecodable ones never reach it.
        var answers = [ForwardWire.BusReplyParts](repeating: .error(.internal, "no answer"), count: commands.count)
        var slots: [Int] = []
        var valid: [[UInt8]] = []
        slots.reserveCapacity(commands.count)
        valid.reserveCapacity(commands.count)
        for (i, command) in commands.enumerated() {
            if case .failure(let error) = ClusterCommand.decode(command) {
                answers[i] = .error(.badRequest, "\(error)")
            } else {
                slots.append(i)
                valid.append(command)
            }
        }
        let results = await node.proposeAllReturningPositions(encoded: valid)
        for (slot, result) in zip(slots, results) { answers[slot] = ForwardWire.reply(to: result) }
        return .ok(ForwardWire.encodeBatchAnswer(answers))
    }

    /// Proposes one forwarded command (its encoded bytes, refused before raft if they do not decode).
    static func proposeForwarded(_ bytes: [UInt8], node: ClusterNode) async -> ForwardWire.BusReplyParts {
        if case .failure(let error) = ClusterCommand.decode(bytes) { return .error(.badRequest, "\(error)") }
        let result: Result<(outcome: ClusterOutcome, position: AppliedPosition), ClusterNodeError>
        do {
            result = .success(try await node.proposeReturningPosition(encoded: bytes))
        } catch {
            result = .failure(error)
        }
        return ForwardWire.reply(to: result)
    }
}
