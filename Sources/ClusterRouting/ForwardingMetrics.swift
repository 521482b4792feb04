import Metrics
import Synchronization

/// Forwarding metrics, one set per peer (`peer` label = node id), created on first use of a peer.
/// Names: `iot_cluster_forward_*`.
public final class ForwardingMetrics: Sendable {
    public struct Peer: Sendable {
        public let messages: Counter
        /// Batch bodies before compression, and what went on the wire.
        public let bytesRaw: Counter
        public let bytesWire: Counter
        public let batches: Counter
        public let queueDepth: Gauge
        public let qos0Dropped: Counter
        /// QoS 1/2 messages whose forwarding failed (request failed, refused when full, or waited too long).
        public let failures: Counter
        /// Round trip of one batch request.
        public let latency: Metrics.Timer

        init(peer: UInt64) {
            let p = [("peer", String(peer))]
            messages = Counter(label: "iot_cluster_forward_messages_total", dimensions: p)
            bytesRaw = Counter(label: "iot_cluster_forward_bytes_total", dimensions: p + [("stage", "raw")])
            bytesWire = Counter(label: "iot_cluster_forward_bytes_total", dimensions: p + [("stage", "wire")])
            batches = Counter(label: "iot_cluster_forward_batches_total", dimensions: p)
            queueDepth = Gauge(label: "iot_cluster_forward_queue_depth", dimensions: p)
            qos0Dropped = Counter(label: "iot_cluster_forward_dropped_total", dimensions: p + [("reason", "queue_full")])
            failures = Counter(label: "iot_cluster_forward_failures_total", dimensions: p)
            latency = Metrics.Timer(label: "iot_cluster_forward_latency_seconds", dimensions: p,
                                    preferredDisplayUnit: .seconds)
        }
    }

    /// Messages received from other nodes and routed here; batches refused as malformed.
    public let received: Counter
    public let malformed: Counter
    private let peers = Mutex<[UInt64: Peer]>([:])

    public init() {
        received = Counter(label: "iot_cluster_forward_received_total")
        malformed = Counter(label: "iot_cluster_forward_malformed_total")
    }

    public func peer(_ id: UInt64) -> Peer {
        peers.withLock { table in
            if let p = table[id] { return p }
            let p = Peer(peer: id)
            table[id] = p
            return p
        }
    }
}
