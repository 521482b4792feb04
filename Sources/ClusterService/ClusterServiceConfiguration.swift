import ClusterBus
import ClusterNode

/// One member of the cluster as the service sees it: its raft id, raft address and cluster-bus address.
public struct ClusterServicePeer: Sendable, Hashable {
    public var nodeID: UInt64
    /// `host:port` of its raft transport.
    public var raftAddress: String
    /// Where its cluster bus listens (port 7001 by default).
    public var busAddress: PeerAddress

    public init(nodeID: UInt64, raftAddress: String, busAddress: PeerAddress) {
        self.nodeID = nodeID
        self.raftAddress = raftAddress
        self.busAddress = busAddress
    }
}

public struct ClusterServiceConfiguration: Sendable {
    /// This node's raft settings (its id names its row in `peers`).
    public var node: ClusterNodeConfiguration
    /// This node's bus: listens on its own row's `busAddress`; the rest is tunable.
    public var bus: ClusterBus.Configuration
    /// Every member, this node included: where to forward a proposal once raft names the leader.
    public var peers: [ClusterServicePeer]
    /// The whole of one `propose`: local attempt, forwards and retries, and the wait for the local apply.
    public var requestTimeout: Duration = .seconds(10)
    /// Forwards tried before giving up while the leader is unknown, unreachable or moving.
    public var maxForwardAttempts = 100
    /// Backoff between those attempts: doubles from the first up to the cap (and never past the deadline).
    public var initialRetryDelay: Duration = .milliseconds(10)
    /// Small on purpose: a retry after "no leader" or "leader unreachable" is a local check or a refused connection,
    /// and the first retry after an election is what a client waits for (failover is measured to the first
    /// committed write; a 500 ms cap added up to half a second to it).
    public var maxRetryDelay: Duration = .milliseconds(50)
    /// Forwarding batches: requests out to the leader at once; more commands wait and go together in the next
    /// request, up to these many commands and bytes (which must stay below the bus's frame size).
    public var maxForwardRequestsInFlight = 4
    public var maxCommandsPerForward = 1024
    public var maxBytesPerForward = 1 << 20

    /// - Precondition: `peers` has a row for `node.nodeID`.
    public init(node: ClusterNodeConfiguration, peers: [ClusterServicePeer]) {
        guard let me = peers.first(where: { $0.nodeID == node.nodeID }) else {
            preconditionFailure("the peer table has no row for node \(node.nodeID)")
        }
        self.node = node
        self.peers = peers
        self.bus = ClusterBus.Configuration(
            nodeID: String(node.nodeID), host: me.busAddress.host, port: me.busAddress.port)
    }

    /// The raft members, for `start(.bootstrap(…))`.
    public var raftPeers: [ClusterPeer] { peers.map { ClusterPeer(id: $0.nodeID, address: $0.raftAddress) } }
}
