import Broker
import IoTTypes
import Logging
import MQTTCodec
import NIOCore
import Synchronization

/// The forwarding link to one other node: messages bound there share bus requests of kind 6, within bounds.
///
/// - Group commit, no timer (as `ForwardBatcher`): a message is sent at once while fewer than `maxInFlight`
///   requests are out to the peer; otherwise it waits, and the next request to finish takes everything queued (up
///   to `maxBatchMessages` / `maxBatchBytes`). An idle link adds no delay; a busy one sends large batches.
/// - Bounded: past `maxQueuedMessages` or `maxQueuedBytes` waiting, QoS 0 is dropped (counted). QoS 1/2 is still
///   admitted up to twice those bounds, because its publishers are already held back (their PUBACK/PUBREC waits
///   for this link, within their Receive Maximum); past that it fails at once (completion false, counted).
/// - Every completion runs exactly once: true when the peer answered the request carrying the message (it
///   handed it to its local routing), false when the request failed, the answer was unreadable, or the message
///   waited in the queue past `queueTimeout` (then it is not sent). A failed request is not retried: the peer may
///   have routed it, and a second copy would break QoS 2 (see the design notes for what the publisher gets).
public final class ForwardLink: Sendable {
    public struct Limits: Sendable {
        public var maxInFlight = 2
        public var maxBatchMessages = 512
        public var maxBatchBytes = 512 * 1024
        public var maxQueuedMessages = 20_000
        public var maxQueuedBytes = 32 << 20
        /// How long a message may wait in the queue before it fails unsent.
        public var queueTimeout: Duration = .seconds(5)
        /// Bodies at least this large are LZ4-compressed.
        public var compressAbove = ForwardedMessageWire.defaultCompressionThreshold
        public init() {}
    }

    /// Sends one encoded request to the peer and returns its answer (bounded by the transport's own timeout).
    public typealias Transport = @Sendable (ByteBuffer) async throws(ForwardingError) -> ByteBuffer

    struct Item: Sendable {
        var forwarded: ForwardedMessage
        var size: Int
        var enqueuedAt: ContinuousClock.Instant
        var completion: (@Sendable (Bool) -> Void)?
    }

    struct State: Sendable {
        var items: [Item] = []
        var head = 0
        var queuedBytes = 0
        var inFlight = 0
        var closed = false
        var queuedCount: Int { items.count - head }

        mutating func take(_ limits: Limits) -> [Item]? {
            guard head < items.count else { return nil }
            var end = head
            var bytes = 0
            while end < items.count && end - head < limits.maxBatchMessages {
                if end > head && bytes + items[end].size > limits.maxBatchBytes { break }
                bytes += items[end].size
                end += 1
            }
            let batch = Array(items[head..<end])
            queuedBytes -= bytes
            head = end
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head > 1024 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return batch
        }
    }

    public let peer: UInt64
    let limits: Limits
    let transport: Transport
    let metrics: ForwardingMetrics.Peer
    let logger: Logger
    let state = Mutex(State())
    /// Requests sent, QoS 0 messages dropped, QoS 1/2 messages failed: the metrics' counts, readable (tests).
    public let requests = Atomic<Int>(0)
    public let dropped = Atomic<Int>(0)
    public let failed = Atomic<Int>(0)

    public init(peer: UInt64, limits: Limits = Limits(), metrics: ForwardingMetrics.Peer, logger: Logger,
                transport: @escaping Transport) {
        precondition(limits.maxInFlight > 0 && limits.maxBatchMessages > 0 && limits.maxBatchBytes > 0)
        self.peer = peer
        self.limits = limits
        self.metrics = metrics
        self.logger = logger
        self.transport = transport
    }

    /// Messages waiting to be sent.
    public var queueDepth: Int { state.withLock { $0.queuedCount } }

    /// Queues `message` for the peer (serving `groups` there). `completion` (QoS 1/2) runs exactly once.
    public func send(_ message: BrokerMessage, groups: [SharedGroupKey], completion: (@Sendable (Bool) -> Void)?) {
        let forwarded = ForwardedMessage(message: message, groups: groups)
        let size = ForwardedMessageWire.estimatedSize(forwarded)
        let item = Item(forwarded: forwarded, size: size, enqueuedAt: .now, completion: completion)
        enum Admission { case start, queued, dropped, refused }
        let admission = state.withLock { s -> Admission in
            if s.closed { return .refused }
            let over = s.queuedCount >= limits.maxQueuedMessages || s.queuedBytes + size > limits.maxQueuedBytes
            if over {
                if message.qos == .atMostOnce { return .dropped }
                if s.queuedCount >= 2 * limits.maxQueuedMessages || s.queuedBytes + size > 2 * limits.maxQueuedBytes {
                    return .refused
                }
            }
            s.items.append(item)
            s.queuedBytes += size
            guard s.inFlight < limits.maxInFlight else { return .queued }
            s.inFlight += 1
            return .start
        }
        switch admission {
        case .start:
            metrics.queueDepth.record(queueDepth)
            Task { await self.drain() }
        case .queued:
            metrics.queueDepth.record(queueDepth)
        case .dropped:
            countDropped()
        case .refused:
            countFailed(1)
            logger.warning("forwarding queue full: QoS \(message.qos.rawValue) message refused",
                           metadata: ["cluster.peer": "\(peer)"])
            completion?(false)
        }
    }

    /// Fails everything queued and refuses new messages (the peer left the cluster, or shutdown).
    public func close() {
        let dropped = state.withLock { s -> [Item] in
            s.closed = true
            let rest = Array(s.items[s.head...])
            s.items.removeAll()
            s.head = 0
            s.queuedBytes = 0
            return rest
        }
        for item in dropped {
            if let c = item.completion {
                countFailed(1)
                c(false)
            }
        }
        metrics.queueDepth.record(0)
    }

    private func countDropped() {
        dropped.add(1, ordering: .relaxed)
        metrics.qos0Dropped.increment()
    }

    private func countFailed(_ n: Int) {
        failed.add(n, ordering: .relaxed)
        metrics.failures.increment(by: n)
    }

    /// One sender: request after request until the queue is empty.
    func drain() async {
        while let batch = takeBatch() {
            await request(batch)
        }
    }

    private func takeBatch() -> [Item]? {
        state.withLock { s -> [Item]? in
            if let batch = s.take(limits) { return batch }
            s.inFlight -= 1
            return nil
        }
    }

    private func request(_ batch: [Item]) async {
        let start = ContinuousClock.now
        var live: [Item] = []
        live.reserveCapacity(batch.count)
        for item in batch {
            if start - item.enqueuedAt > limits.queueTimeout {
                // Waited too long: not sent, and a QoS 1/2 publisher hears of it. QoS 0 is simply dropped.
                if let c = item.completion {
                    countFailed(1)
                    c(false)
                } else {
                    countDropped()
                }
            } else {
                live.append(item)
            }
        }
        metrics.queueDepth.record(queueDepth)
        guard !live.isEmpty else { return }
        let (payload, raw) = ForwardedMessageWire.encode(live.map(\.forwarded), now: BrokerClock.now(),
                                                         compressAbove: limits.compressAbove)
        requests.add(1, ordering: .relaxed)
        metrics.batches.increment()
        metrics.messages.increment(by: live.count)
        metrics.bytesRaw.increment(by: raw)
        metrics.bytesWire.increment(by: payload.readableBytes)
        let ok: Bool
        do {
            let answer = try await transport(payload)
            let accepted = try ForwardedMessageWire.decodeAnswer(answer)
            guard accepted == live.count else {
                throw ForwardingError.badAnswer("\(accepted) accepted of \(live.count)")
            }
            ok = true
        } catch {
            ok = false
            countFailed(live.count)
            logger.warning("forwarding to a peer failed", metadata: [
                "cluster.peer": "\(peer)", "messages": "\(live.count)", "error": "\(error)",
            ])
        }
        metrics.latency.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        for item in live { item.completion?(ok) }
    }
}

/// Monotonic now on NIO's clock, as the broker's timestamps are.
enum BrokerClock {
    static func now() -> Timestamp { Timestamp(nanoseconds: Int64(NIODeadline.now().uptimeNanoseconds)) }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
