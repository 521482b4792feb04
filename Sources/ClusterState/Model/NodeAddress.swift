/// One row of the replicated node directory: where a cluster node's bus listens. Nodes started with a static
/// `--peers` table know the initial members; a node added at runtime is known to the others only through this
/// row, written (by `ClusterCommand.setNodeAddress`) before the node is added to the raft configuration.
///
/// Cluster infrastructure, not tenant data: the directory is the one store not keyed by tenant.
public struct NodeAddress: Sendable, Hashable {
    /// The node's raft id (> 0).
    public var nodeID: UInt64
    /// Host name or IP address of its cluster bus (1–253 bytes, no spaces or control characters).
    public var busHost: String
    /// Port of its cluster bus (> 0).
    public var busPort: UInt16

    public init(nodeID: UInt64, busHost: String, busPort: UInt16) {
        self.nodeID = nodeID
        self.busHost = busHost
        self.busPort = busPort
    }

    /// Why this row cannot be stored (an InvalidRequest message), or nil.
    var problem: String? {
        if nodeID == 0 { return "node id must be a positive integer" }
        if busPort == 0 { return "bus port must be 1-65535" }
        guard (1...253).contains(busHost.utf8.count), busHost.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            return "bus host must be 1-253 bytes without spaces or control characters"
        }
        return nil
    }
}
