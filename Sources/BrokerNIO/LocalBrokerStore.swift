import Broker
import IoTTypes
import NIOConcurrencyHelpers

/// A ``BrokerStore`` inside this process: retained messages in memory, records kept for inspection, every
/// write durable at once. For unit tests and tools; a node uses the replicated store (`ClusterBrokerStore`).
public final class LocalBrokerStore: BrokerStore {
    private struct State {
        var retained = InMemoryRetainedStore()
        var records: [TenantID: [String: SessionRecord]] = [:]
    }
    private let state = NIOLockedValueBox(State())

    public init() {}

    public func storeRetained(_ message: BrokerMessage, now: Timestamp, completion: (@Sendable (Bool) -> Void)?) {
        state.withLockedValue { $0.retained.apply(message) }
        completion?(true)
    }

    public func retained(tenant: TenantID, filter: String, now: Timestamp) -> [BrokerMessage] {
        state.withLockedValue { $0.retained.matching(tenant: tenant, filter: filter, now: now) }
    }

    public func record(_ writes: [SessionRecordWrite], now: Timestamp) {
        state.withLockedValue { s in
            for w in writes {
                switch w {
                case .put(let r): s.records[r.tenant, default: [:]][r.clientID] = r
                case .remove(let tenant, let clientID): s.records[tenant]?[clientID] = nil
                case .enqueue, .clearQueue: break  // one process: the parked session's own queue is all there is
                }
            }
        }
    }

    /// The session record of a client, if any.
    public func sessionRecord(tenant: TenantID, clientID: String) -> SessionRecord? {
        state.withLockedValue { $0.records[tenant]?[clientID] }
    }
}
