import ClusterBus
import ClusterNode
import NIOCore
import Synchronization

/// The follower side of forwarding: commands bound for the same leader share bus requests (kind 5,
/// `forwardBatch`), so a busy follower pays one request, one frame each way and one handler on the leader per
/// batch instead of per command.
///
/// Group commit, no timer: a command is sent at once if fewer than `maxRequestsInFlight` requests are out to that
/// leader; otherwise it waits in the queue, and whichever request finishes first takes everything queued (up to
/// `maxCommands` / `maxBytes`) into the next one. So an idle follower forwards each command alone with no added
/// delay, and a busy one sends batches as large as the load makes them.
///
/// Every waiting caller is resumed exactly once, by its item's answer or its request's failure: the sender that
/// took an item out of the queue owns it until then.
///
/// When several answers carry a position, they are handed back only once this node has applied the highest of
/// them: one wait on the raft thread per batch, after which each caller's own read-your-writes check
/// (ClusterService rule 2) passes at once instead of registering a wait of its own. If that wait fails, callers
/// still get their answers and wait (and fail) on their own.
final class ForwardBatcher: Sendable {
    /// What became of one forwarded command.
    enum Answer: Sendable {
        /// The leader's answer for this command.
        case item(ForwardWire.Answer)
        /// The request carrying it failed as a whole (`.timeout` also when its deadline passed before sending).
        case bus(BusError)
        /// The leader answered something this node cannot read.
        case undecodable(String)
    }

    struct Limits: Sendable {
        var maxRequestsInFlight: Int
        var maxCommands: Int
        var maxBytes: Int
    }

    private struct Item: Sendable {
        var command: [UInt8]
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Answer, Never>
    }

    private struct Queue: Sendable {
        var items: [Item] = []
        var head = 0
        /// Requests out (senders running) to this leader.
        var sending = 0

        /// The oldest queued items, as many as one request may carry; nil if none are queued.
        mutating func take(_ limits: Limits) -> [Item]? {
            guard head < items.count else { return nil }
            var end = head
            var bytes = 0
            while end < items.count && end - head < limits.maxCommands {
                let size = 4 + items[end].command.count
                if end > head && bytes + size > limits.maxBytes { break }
                bytes += size
                end += 1
            }
            let batch = Array(items[head..<end])
            head = end
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            }
            return batch
        }
    }

    /// The commands of one request on the wire: answered once, by its reply or by `abandon` — whichever claims
    /// them first.
    private final class InFlight: Sendable {
        let items: [Item]
        private let claimed = Atomic<Bool>(false)
        init(items: [Item]) { self.items = items }
        /// True for the first caller only.
        func claim() -> Bool { !claimed.exchange(true, ordering: .acquiringAndReleasing) }
    }

    private let bus: ClusterBus
    private let node: ClusterNode
    private let limits: Limits
    private let queues = Mutex<[PeerAddress: Queue]>([:])
    private let inFlight = Mutex<[PeerAddress: [ObjectIdentifier: InFlight]]>([:])
    /// Requests sent and commands carried: how well batching works (tests, status).
    let sent = Atomic<Int>(0)
    let carried = Atomic<Int>(0)

    init(bus: ClusterBus, node: ClusterNode, limits: Limits) {
        precondition(limits.maxRequestsInFlight > 0 && limits.maxCommands > 0 && limits.maxBytes > 0)
        self.bus = bus
        self.node = node
        self.limits = limits
    }

    /// Forwards one encoded command to the leader at `address`; answers by `deadline` at the latest.
    func forward(_ command: [UInt8], to address: PeerAddress, deadline: ContinuousClock.Instant) async -> Answer {
        await withCheckedContinuation { continuation in
            let startSender = queues.withLock { queues -> Bool in
                queues[address, default: Queue()].items.append(
                    Item(command: command, deadline: deadline, continuation: continuation))
                guard queues[address]!.sending < limits.maxRequestsInFlight else { return false }
                queues[address]!.sending += 1
                return true
            }
            if startSender { Task { await self.send(to: address) } }
        }
    }

    /// The leader at `address` is no longer the leader this node sees (raft named another, or none): stop waiting
    /// for it. Commands on the wire to it are answered `.timeout` at once — they may or may not have run there, so
    /// their callers hear "outcome unknown" now instead of at their deadline (a paused or cut-off old leader never
    /// answers: the chaos suite saw writes stuck for the whole 10 s request timeout after every leader pause).
    /// Commands still queued for it were never sent: `.unreachable`, so their callers ask raft again and forward
    /// to the new leader. Returns how many commands were answered.
    @discardableResult
    func abandon(_ address: PeerAddress) -> Int {
        let requests = inFlight.withLock { $0.removeValue(forKey: address).map { Array($0.values) } ?? [] }
        let queued = queues.withLock { queues -> [Item] in
            guard var q = queues[address], q.head < q.items.count else { return [] }
            let items = Array(q.items[q.head...])
            q.items.removeAll(keepingCapacity: true)
            q.head = 0
            queues[address] = q
            return items
        }
        var answered = 0
        for request in requests where request.claim() {
            for item in request.items { item.continuation.resume(returning: .bus(.timeout)) }
            answered += request.items.count
        }
        for item in queued { item.continuation.resume(returning: .bus(.unreachable)) }
        return answered + queued.count
    }

    /// Commands queued (not yet sent) for `address` (tests).
    func queued(for address: PeerAddress) -> Int {
        queues.withLock { q in q[address].map { $0.items.count - $0.head } ?? 0 }
    }

    /// One sender: sends what is queued for `address`, request after request, until the queue is empty.
    private func send(to address: PeerAddress) async {
        while let batch = takeBatch(for: address) {
            await request(batch, to: address)
        }
    }

    /// Takes the next batch off the queue, or retires this sender (under the same lock) if there is none.
    private func takeBatch(for address: PeerAddress) -> [Item]? {
        queues.withLock { queues -> [Item]? in
            guard queues[address] != nil else { return nil }
            if let batch = queues[address]!.take(limits) { return batch }
            queues[address]!.sending -= 1
            if queues[address]!.sending == 0 { queues[address] = nil }
            return nil
        }
    }

    private func request(_ batch: [Item], to address: PeerAddress) async {
        let now = ContinuousClock.now
        var live: [Item] = []
        live.reserveCapacity(batch.count)
        for item in batch {
            // Past its deadline before it was sent: not run, but too late to try.
            if item.deadline <= now { item.continuation.resume(returning: .bus(.timeout)) } else { live.append(item) }
        }
        guard let earliest = live.map(\.deadline).min() else { return }
        sent.add(1, ordering: .relaxed)
        carried.add(live.count, ordering: .relaxed)
        let request = InFlight(items: live)
        let key = ObjectIdentifier(request)
        inFlight.withLock { $0[address, default: [:]][key] = request }
        defer {
            inFlight.withLock {
                $0[address]?[key] = nil
                if $0[address]?.isEmpty == true { $0[address] = nil }
            }
        }
        let answers: [Answer]
        do {
            let reply = try await bus.request(
                to: address, kind: ForwardWire.forwardBatch, payload: ForwardWire.encodeBatch(live.map(\.command)),
                timeout: earliest - now)
            if let items = ForwardWire.decodeBatchAnswer(reply), items.count == live.count {
                answers = items.map { .item($0) }
            } else {
                let why = "undecodable batch answer (\(reply.readableBytes) bytes for \(live.count) commands)"
                answers = Array(repeating: .undecodable(why), count: live.count)
            }
        } catch {
            answers = Array(repeating: .bus(error), count: live.count)
        }
        // Abandoned while on the wire (the leader changed): its callers already heard "outcome unknown".
        guard request.claim() else { return }
        var highest: AppliedPosition?
        var applied: [(Item, Answer)] = []
        for (item, answer) in zip(live, answers) {
            guard case .item(.applied(_, let position)) = answer else {
                item.continuation.resume(returning: answer)
                continue
            }
            highest = max(highest ?? position, position)
            applied.append((item, answer))
        }
        guard let highest else { return }
        // A lone command waits in its caller as before: no extra task hop on an idle follower.
        if applied.count == 1 { return applied[0].0.continuation.resume(returning: applied[0].1) }
        // In its own task, so this sender goes on to the next batch while the apply catches up.
        let node = self.node
        Task {
            let remaining = earliest - ContinuousClock.now
            if remaining > .zero { try? await node.waitForApplied(highest, timeout: remaining) }
            for (item, answer) in applied { item.continuation.resume(returning: answer) }
        }
    }
}
