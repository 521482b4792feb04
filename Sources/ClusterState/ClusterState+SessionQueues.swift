import IoTTypes

// Replicated queues of parked persistent sessions (issue 7). The node holding a parked session writes every QoS 1/2
// message it queues for it here too, so the messages survive that node's loss; the node the client resumes on takes
// them (`trimSessionQueue` through the last position it read). See ops/design-notes.md, "Sessions across nodes".
extension ClusterState {
    mutating func onAppendSessionQueue(tenant: TenantID, clientID: String, messages: [QueuedMessage],
                                       limit: UInt32) -> ClusterOutcome {
        guard !clientID.isEmpty else { return .failure(.invalidRequest("clientID must not be empty")) }
        if let wrong = messages.first(where: { $0.message.tenant != tenant }) {
            return .failure(.invalidRequest("message of tenant \(wrong.message.tenant.accountID) in another tenant's queue"))
        }
        var queue = sessionQueues[tenant]?[clientID] ?? SessionQueue()
        for m in messages {
            if queue.entries.count >= Int(limit) {
                queue.dropped &+= 1
                continue
            }
            queue.entries.append(SessionQueue.Entry(position: queue.nextPosition, message: m))
            queue.nextPosition &+= 1
        }
        sessionQueues[tenant, default: [:]][clientID] = queue
        return .success(.done)
    }

    mutating func trimSessionQueue(tenant: TenantID, clientID: String, through: UInt64) {
        guard var queue = sessionQueues[tenant]?[clientID] else { return }
        // Positions grow along the array: drop the prefix at or below `through`.
        let keep = queue.entries.firstIndex { $0.position > through } ?? queue.entries.endIndex
        queue.entries.removeFirst(keep)
        sessionQueues[tenant]![clientID] = queue
    }

    mutating func dropSessionQueue(tenant: TenantID, clientID: String) {
        sessionQueues[tenant]?[clientID] = nil
        if sessionQueues[tenant]?.isEmpty == true { sessionQueues[tenant] = nil }
    }

    /// A session's replicated queue, if it has one.
    public func sessionQueue(tenant: TenantID, clientID: String) -> SessionQueue? { sessionQueues[tenant]?[clientID] }

    /// Every replicated queue's message count, summed (metrics, tests).
    public var sessionQueuedMessages: Int {
        sessionQueues.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.entries.count } }
    }
}
