import IoTTypes

/// The broker's port to what must outlive a node (ARCHITECTURE §3): retained messages and persistent-session
/// records. On a node it is the cluster's replicated state — writes are proposed to Raft in the order they are
/// made, reads come from this node's applied state plus its own writes still in flight — so a retained message
/// published on one node is delivered by every other. ``InMemoryRetainedStore`` is the data structure for a
/// store that lives in one process (unit tests, tools).
///
/// Called from every event loop: implementations are thread-safe, and `store…` calls only enqueue (no I/O and
/// no waiting on the caller's thread).
public protocol BrokerStore: AnyObject, Sendable {
    /// Stores `message` as the retained message of its topic, or clears the topic when the payload is empty
    /// ([MQTT-3.3.1-5], [MQTT-3.3.1-6]). Writes take effect in call order. `completion`, if given, runs exactly
    /// once on any thread: `true` once the write is durable (on a cluster: committed and applied on this node),
    /// `false` if it failed (no leader in time, queue full, shutting down). The message is visible to
    /// ``retained(tenant:filter:now:)`` on this node from the moment of the call.
    func storeRetained(_ message: BrokerMessage, now: Timestamp, completion: (@Sendable (Bool) -> Void)?)
    /// Every unexpired retained message of `tenant` whose topic `filter` matches.
    func retained(tenant: TenantID, filter: String, now: Timestamp) -> [BrokerMessage]
    /// Replicates session-record changes, in order, without waiting.
    func record(_ writes: [SessionRecordWrite], now: Timestamp)
    /// Runs `completion` once every write made before this call is durable or has failed (`false`): a barrier, so
    /// a node answers a takeover only once its record changes for that session are in the replicated state.
    func afterWrites(_ completion: @escaping @Sendable (Bool) -> Void)
}

extension BrokerStore {
    /// A store whose writes are durable when made.
    public func afterWrites(_ completion: @escaping @Sendable (Bool) -> Void) { completion(true) }
}

/// A change to the persistent-session records (and, issue 7, to a parked session's replicated queue).
public enum SessionRecordWrite: Sendable, Hashable {
    case put(SessionRecord)
    /// The session ended: its record and its replicated queue go.
    case remove(tenant: TenantID, clientID: String)
    /// QoS 1/2 messages queued for a parked session, oldest first, to append to its replicated queue (only when
    /// ``BrokerState/replicateQueues`` is on).
    case enqueue(tenant: TenantID, clientID: String, messages: [OutboundMessage])
    /// The session's queue was taken back by a connection (here or, handed over, on another node): clear the
    /// replicated copy.
    case clearQueue(tenant: TenantID, clientID: String)
}
