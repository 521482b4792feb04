import RaftStore

/// Settings of one cluster node: who it is, where its raft transport listens, where it keeps its log, and the
/// raft timing. Defaults are production settings; tests shorten the timeouts and the snapshot threshold.
public struct ClusterNodeConfiguration: Sendable {
    /// Raft server id (> 0, unique in the cluster).
    public var nodeID: UInt64
    /// `host:port` the raft transport binds and advertises.
    public var raftAddress: String
    /// Log segments and snapshots; created if missing.
    public var dataDirectory: String
    /// Base election timeout (libraft randomises between 1× and 2×).
    public var electionTimeout: Duration = .milliseconds(1000)
    public var heartbeatTimeout: Duration = .milliseconds(100)
    /// Delay before reconnecting to a peer.
    public var connectRetryDelay: Duration = .milliseconds(100)
    /// Take a snapshot every this many log entries (an entry may pack many commands), keeping
    /// `snapshotTrailing` entries behind it for followers that lag a little.
    public var snapshotThreshold: UInt32 = 1024
    public var snapshotTrailing: UInt32 = 128
    /// Proposals, barriers and membership changes not answered within this time fail with `.timeout`.
    public var requestTimeout: Duration? = .seconds(10)
    /// Bytes of entries in flight before further proposals wait (TOOLCHAIN §2c).
    public var inFlightByteBudget = 1 << 20
    /// Largest decompressed snapshot this node accepts (a corrupt or hostile frame cannot allocate more).
    public var maxSnapshotBytes = 1 << 30

    public init(nodeID: UInt64, raftAddress: String, dataDirectory: String) {
        self.nodeID = nodeID
        self.raftAddress = raftAddress
        self.dataDirectory = dataDirectory
    }

    var raftConfiguration: RaftConfiguration {
        var c = RaftConfiguration(id: nodeID, address: raftAddress, dataDirectory: dataDirectory)
        c.electionTimeout = electionTimeout
        c.heartbeatTimeout = heartbeatTimeout
        c.connectRetryDelay = connectRetryDelay
        c.snapshotThreshold = snapshotThreshold
        c.snapshotTrailing = snapshotTrailing
        c.requestTimeout = requestTimeout
        c.inFlightByteBudget = inFlightByteBudget
        return c
    }
}
