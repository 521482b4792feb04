import IoTTypes
/// What this node gives up when another node asks for a client id (bus request kind 7).
public enum RemoteHandOff: Sendable {
    /// No session for the client id here.
    case absent
    /// A session was closed or discarded, nothing to hand over.
    case discarded
    /// The persistent session, with its expiry interval.
    case handedOver(SessionState, expiry: UInt32)
    /// The kicked connection did not close in time.
    case timedOut
}

/// Asks the other nodes of the cluster for a connecting client's id before CONNACK (issue 7); the implementation
/// lives with the cluster (`ClusterBrokerStore`'s `SessionTakeover`).
public protocol SessionTakeoverClient: Sendable {
    /// False when there is no other node to ask: the connection opens at once, as on a lone node.
    var asksPeers: Bool { get }
    /// Asks every other node, in parallel and bounded in time. Returns the session to resume — handed over by its
    /// holder, or rebuilt from the replicated record and queue when no holder answered with it — or nil.
    /// `heldHere`: this node holds a session for the client id already (it wins; the replicated copy is not read).
    func takeOver(tenant: TenantID, clientID: String, cleanStart: Bool, heldHere: Bool, limits: BrokerLimits) async
        -> SessionState?
}
