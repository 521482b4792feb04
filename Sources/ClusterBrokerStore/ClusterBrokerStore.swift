import Broker
import ClusterService
import ClusterState
import Foundation
import IoTTypes
import Logging
import Synchronization
import TopicTrie

/// What the store needs of the cluster: ordered proposals and reads of this node's applied state.
/// `ClusterService` is the real one; tests may give a fake.
public protocol ReplicatedStateMachine: Sendable {
    func propose(_ command: ClusterCommand) async throws(ClusterServiceError) -> ClusterOutcome
    func read<T>(_ body: (ClusterState) throws -> T) rethrows -> T
}

extension ClusterService: ReplicatedStateMachine {}

/// The broker's ``BrokerStore`` on a node: retained messages and session records live in the replicated
/// `ClusterState`, so a retained message published on one node is delivered by every node and survives any
/// minority of them (ARCHITECTURE §3).
///
/// Rules:
/// 1. One queue per node, one proposal in flight. Writes reach the log in the order the broker made them (a
///    later retained message on a topic wins everywhere, a record's put/remove never swap, a session's replicated
///    queue appends, clears and removal keep their order), and everything that
///    queued while a proposal was in flight goes out together as one `.batch` — one entry, one round trip.
/// 2. Read-your-writes on this node before the commit: a retained message is visible to subscribers here from
///    the moment it was published (an overlay of the writes in flight), not only once Raft has committed it.
///    If the write fails the overlay entry goes and the replicated value shows again.
/// 3. Bounded: at most `maxQueued` writes wait; past that a write fails at once (the client of a QoS 1/2
///    retained publish hears of it, see `SessionStateMachine.onRetainStored`).
/// 4. Completions run exactly once, after the write is applied on this node or has failed (also at shutdown,
///    when the cluster refuses proposals).
public final class ClusterBrokerStore: BrokerStore {
    public struct Limits: Sendable {
        public var maxQueued = 65_536
        public var maxBatchCommands = 1_024
        /// Approximate encoded bytes per batch (payloads and topics); one oversize write still goes alone.
        public var maxBatchBytes = 512 * 1024
        public init() {}
    }

    typealias Completion = @Sendable (Bool) -> Void

    struct Pending: Sendable {
        /// nil: a barrier marker (`afterWrites`), proposed as nothing.
        var command: ClusterCommand?
        var bytes: Int
        var completion: Completion?
        /// The overlay entry this write placed (retained writes only).
        var overlay: OverlayKey?
    }

    struct OverlayKey: Hashable, Sendable {
        var tenant: TenantID
        var topic: String
        var sequence: UInt64
    }

    struct State: Sendable {
        var queue: [Pending] = []
        var head = 0
        var draining = false
        /// Retained writes not yet applied here, per tenant and topic: the newest one and its sequence number.
        /// An empty payload is a pending clear.
        var overlay: [TenantID: [String: (sequence: UInt64, message: BrokerMessage)]] = [:]
        var sequence: UInt64 = 0
        /// Writes in the proposal in flight.
        var inFlight = 0
        /// Waiting and in flight: what `maxQueued` bounds.
        var queued: Int { queue.count - head + inFlight }
    }

    let cluster: any ReplicatedStateMachine
    let limits: Limits
    let logger: Logger
    let wallClockMs: @Sendable () -> Int64
    let state = Mutex(State())
    /// The bound of a session's replicated queue: the broker's `maxQueuedMessages`.
    let maxSessionQueue: Int

    public init(cluster: any ReplicatedStateMachine, limits: Limits = Limits(), maxSessionQueue: Int = 1_000,
                logger: Logger,
                wallClockMs: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }) {
        self.cluster = cluster
        self.limits = limits
        self.maxSessionQueue = maxSessionQueue
        self.logger = logger
        self.wallClockMs = wallClockMs
    }

    // MARK: BrokerStore

    public func storeRetained(_ message: BrokerMessage, now: Timestamp, completion: (@Sendable (Bool) -> Void)?) {
        let clocks = RetainedConversion.Clocks(monotonic: now, wallMs: wallClockMs())
        let command: ClusterCommand = message.payload.readableBytes == 0
            ? .clearRetained(tenant: message.tenant, topic: message.topic)
            : .setRetained(RetainedConversion.replicated(message, clocks: clocks))
        let bytes = message.payload.readableBytes + message.topic.utf8.count + 64
        let accepted = enqueue(command, bytes: bytes, completion: completion) { s in
            s.sequence &+= 1
            var stored = message
            stored.retain = true
            stored.publisherClientID = ""
            s.overlay[message.tenant, default: [:]][message.topic] = (s.sequence, stored)
            return OverlayKey(tenant: message.tenant, topic: message.topic, sequence: s.sequence)
        }
        if !accepted {
            logger.warning("retained write refused: the replication queue is full",
                           metadata: ["queue.limit": "\(limits.maxQueued)"])
            completion?(false)
        }
    }

    public func retained(tenant: TenantID, filter: String, now: Timestamp) -> [BrokerMessage] {
        // The overlay first: a write missing from it has either been applied (and the read below sees it) or was
        // made after this call began.
        let pending = state.withLock { s -> [BrokerMessage] in
            guard let entries = s.overlay[tenant] else { return [] }
            return entries.values.compactMap { Topic.matches(filter: filter, topic: $0.message.topic) ? $0.message : nil }
        }
        let clocks = RetainedConversion.Clocks(monotonic: now, wallMs: wallClockMs())
        let replicated = cluster.read { $0.retainedMatching(tenant: tenant, filter: filter, nowMs: clocks.wallMs) }
        var out = replicated.map { RetainedConversion.broker($0, clocks: clocks) }
        guard !pending.isEmpty else { return out }
        var index = [String: Int](minimumCapacity: out.count)
        for (i, m) in out.enumerated() { index[m.topic] = i }
        var cleared = Set<String>()
        for m in pending {
            if m.payload.readableBytes == 0 || m.isExpired(at: now) {
                cleared.insert(m.topic)
            } else if let i = index[m.topic] {
                out[i] = m
            } else {
                index[m.topic] = out.count
                out.append(m)
            }
        }
        if !cleared.isEmpty { out.removeAll { cleared.contains($0.topic) } }
        return out
    }

    public func record(_ writes: [SessionRecordWrite], now: Timestamp) {
        let clocks = RetainedConversion.Clocks(monotonic: now, wallMs: wallClockMs())
        var i = 0
        while i < writes.count {
            let command: ClusterCommand
            var bytes = 128
            switch writes[i] {
            case .put(let r):
                command = .putSessionRecord(RetainedConversion.replicated(r, clocks: clocks))
            case .remove(let tenant, let clientID):
                command = .removeSessionRecord(tenant: tenant, clientID: clientID)
            case .enqueue(let tenant, let clientID, let first):
                // Consecutive appends for the same session travel as one command.
                var messages = first
                while i + 1 < writes.count, case .enqueue(tenant, clientID, let more) = writes[i + 1] {
                    messages += more
                    i += 1
                }
                let queued = messages.map { RetainedConversion.queued($0, clocks: clocks) }
                bytes = queued.reduce(64) { $0 + $1.message.payload.count + $1.message.topic.utf8.count + 32 }
                command = .appendSessionQueue(tenant: tenant, clientID: clientID, messages: queued,
                                              limit: UInt32(clamping: maxSessionQueue))
            case .clearQueue(let tenant, let clientID):
                command = .trimSessionQueue(tenant: tenant, clientID: clientID, through: .max)
            }
            i += 1
            if !enqueue(command, bytes: bytes, completion: nil, overlay: { _ in nil }) {
                logger.warning("session record write dropped: the replication queue is full",
                               metadata: ["queue.limit": "\(limits.maxQueued)"])
            }
        }
    }

    public func afterWrites(_ completion: @escaping @Sendable (Bool) -> Void) {
        // A marker in the queue: it completes with the batch it lands in, after every earlier write.
        if !enqueue(nil, bytes: 0, completion: completion, overlay: { _ in nil }) { completion(false) }
    }

    /// Writes waiting or in flight.
    public var queuedWrites: Int { state.withLock { $0.queued } }

    // MARK: The queue

    /// Appends a write (placing its overlay entry under the same lock, so queue order and overlay order agree)
    /// and starts the drain if none runs. False when the queue is full.
    func enqueue(_ command: ClusterCommand?, bytes: Int, completion: Completion?,
                         overlay: (inout State) -> OverlayKey?) -> Bool {
        let start = state.withLock { s -> Bool? in
            guard s.queued < limits.maxQueued else { return nil }
            let key = overlay(&s)
            s.queue.append(Pending(command: command, bytes: bytes, completion: completion, overlay: key))
            if s.draining { return false }
            s.draining = true
            return true
        }
        guard let start else { return false }
        if start { Task { await self.drain() } }
        return true
    }

    /// Proposes what is queued, one batch at a time, until the queue is empty.
    func drain() async {
        while let batch = takeBatch() {
            let commands = batch.compactMap(\.command)
            let ok: Bool
            do {
                guard !commands.isEmpty else {
                    // Only barrier markers: everything before them has completed.
                    for p in batch { p.completion?(true) }
                    continue
                }
                let command = commands.count == 1 ? commands[0] : .batch(commands)
                switch try await cluster.propose(command) {
                case .success(.batch(let failed)) where failed > 0:
                    logger.error("replicated broker writes rejected", metadata: ["batch.failed": "\(failed)",
                                                                                "batch.size": "\(batch.count)"])
                    ok = false
                case .success:
                    ok = true
                case .failure(let error):
                    logger.error("replicated broker write rejected", metadata: ["error": "\(error)"])
                    ok = false
                }
            } catch {
                logger.warning("replicated broker writes failed", metadata: ["error": "\(error)",
                                                                            "batch.size": "\(batch.count)"])
                ok = false
            }
            // Applied here (or failed): the replicated state answers from now on, so the overlay entries go.
            state.withLock { s in
                s.inFlight = 0
                for p in batch {
                    guard let k = p.overlay, s.overlay[k.tenant]?[k.topic]?.sequence == k.sequence else { continue }
                    s.overlay[k.tenant]?[k.topic] = nil
                    if s.overlay[k.tenant]?.isEmpty == true { s.overlay[k.tenant] = nil }
                }
            }
            for p in batch { p.completion?(ok) }
        }
    }

    /// The next batch, or nil (and the drain ends) when nothing is queued.
    private func takeBatch() -> [Pending]? {
        state.withLock { s -> [Pending]? in
            guard s.queue.count > s.head else {
                s.draining = false
                s.queue.removeAll(keepingCapacity: s.queue.capacity <= 4_096)
                s.head = 0
                return nil
            }
            var end = s.head
            var bytes = 0
            while end < s.queue.count, end - s.head < limits.maxBatchCommands {
                let b = s.queue[end].bytes
                if end > s.head && bytes + b > limits.maxBatchBytes { break }
                bytes += b
                end += 1
            }
            let batch = Array(s.queue[s.head..<end])
            s.head = end
            s.inFlight = batch.count
            if s.head >= 1_024 && s.head * 2 >= s.queue.count {  // compact now and then
                s.queue.removeFirst(s.head)
                s.head = 0
            }
            return batch
        }
    }
}
