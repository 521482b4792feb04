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

    private let bus: ClusterBus
    private let node: ClusterNode
    private let limits: Limits
    private let queues = Mutex<[PeerAddress: Queue]>([:])
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
