/// A member of a raft cluster: its numeric id (> 0) and the `host:port` its raft transport listens on.
public struct RaftPeer: Sendable, Hashable {
    /// Raft server id; must be greater than zero and unique in the cluster.
    public var id: UInt64
    /// `host:port` of the member's raft TCP transport.
    public var address: String

    public init(id: UInt64, address: String) {
        self.id = id
        self.address = address
    }
}

/// How a node enters its cluster the first time it starts on an empty data directory.
public enum RaftStartMode: Sendable, Hashable {
    /// Write this initial voter configuration (ignored when the data directory already holds state).
    case bootstrap([RaftPeer])
    /// Start with no configuration and wait to be added by the leader (`addVoter` on the leader).
    case join
}

/// The local server's raft role.
public enum RaftRole: String, Sendable, Hashable {
    case unavailable, follower, candidate, leader
    /// The node has not been started, or has been shut down.
    case stopped
}

/// The role a member holds in the current configuration.
public enum RaftMemberRole: String, Sendable, Hashable, CaseIterable {
    case voter, standby, spare
}

/// One member of the current configuration as this node sees it.
public struct RaftMemberStatus: Sendable, Hashable {
    public var id: UInt64
    public var address: String
    public var role: RaftMemberRole
}

/// A point-in-time view of one node, read on the raft thread.
public struct RaftStatus: Sendable, Hashable {
    public var id: UInt64
    public var role: RaftRole
    public var term: UInt64
    /// The leader this node knows of, if any.
    public var leaderID: UInt64?
    public var leaderAddress: String?
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var lastIndex: UInt64
    /// The members of the current (possibly uncommitted) configuration.
    public var peers: [RaftMemberStatus]
    /// Bytes of proposals handed to libraft and not yet acknowledged (the in-flight budget's use).
    public var inFlightBytes: Int
    /// Proposals waiting for room in the in-flight budget.
    public var queuedProposals: Int
}

/// Everything that can go wrong with a raft call. Exhaustive on purpose: callers map each case to their own
/// domain error (MQTT reason code, AWS error type).
public enum RaftError: Error, Sendable, Hashable {
    /// This node does not lead; the leader it knows of, if any. Forward the request there.
    case notLeader(leaderID: UInt64?, address: String?)
    /// Leadership was lost after the entry was handed to libraft: it may or may not commit later.
    case leadershipLost
    /// The node is shutting down or has shut down; the request was not (or not known to be) applied.
    case shuttingDown
    /// `start` has not been called.
    case notStarted
    /// `start` was called twice.
    case alreadyStarted
    /// No answer within `RaftConfiguration.requestTimeout` (typically: no quorum). The outcome is unknown.
    case timeout
    /// A leadership transfer ended without the target leading; the leader at that moment, if any.
    case transferFailed(leaderID: UInt64?)
    /// Any other libraft error, with the code (`RAFT_*`) and libraft's message copied at the failure.
    case raft(code: Int32, message: String)
}

/// The replicated state machine, given as closures so that this target knows no domain.
///
/// All three are called on the raft thread only, never concurrently with each other: `apply` once per committed
/// command in log order (also when replaying the log after a restart), `snapshot` when libraft takes a snapshot,
/// `restore` when a snapshot is loaded at start or installed from the leader.
public struct RaftStateMachine: Sendable {
    /// Applies one command; the second argument is the raft log index of its entry (several commands share an
    /// entry when batched, so consecutive commands may see the same index). Equal on every node.
    public var apply: @Sendable (_ command: [UInt8], _ index: UInt64) -> [UInt8]
    /// The state as bytes. A throw skips this snapshot (libraft tries again at the next threshold).
    public var snapshot: @Sendable () throws -> [UInt8]
    public var restore: @Sendable ([UInt8]) throws -> Void

    /// A machine that does not need the log index.
    public init(
        apply: @escaping @Sendable ([UInt8]) -> [UInt8],
        snapshot: @escaping @Sendable () throws -> [UInt8],
        restore: @escaping @Sendable ([UInt8]) throws -> Void
    ) {
        self.apply = { command, _ in apply(command) }
        self.snapshot = snapshot
        self.restore = restore
    }

    /// A machine whose `apply` also receives the log index of the command's entry.
    public init(
        applyAtIndex: @escaping @Sendable (_ command: [UInt8], _ index: UInt64) -> [UInt8],
        snapshot: @escaping @Sendable () throws -> [UInt8],
        restore: @escaping @Sendable ([UInt8]) throws -> Void
    ) {
        self.apply = applyAtIndex
        self.snapshot = snapshot
        self.restore = restore
    }
}

/// Settings of one node. Durations are rounded to whole milliseconds.
public struct RaftConfiguration: Sendable {
    public var id: UInt64
    /// `host:port` the raft transport binds and advertises.
    public var address: String
    /// Directory for the log segments and snapshots; created if missing.
    public var dataDirectory: String
    /// Base election timeout (libraft randomises it between 1× and 2×). libraft's default is 1 s.
    public var electionTimeout: Duration = .milliseconds(1000)
    public var heartbeatTimeout: Duration = .milliseconds(100)
    /// Delay before reconnecting to a peer (libraft's default of 1 s slows recovery, TOOLCHAIN §1).
    public var connectRetryDelay: Duration = .milliseconds(100)
    public var preVote = true
    /// Take a snapshot every this many log entries, keeping `snapshotTrailing` entries behind it.
    public var snapshotThreshold: UInt32 = 1024
    public var snapshotTrailing: UInt32 = 128
    /// Bytes of entries handed to libraft and not yet acknowledged; more proposals wait in our queue (TOOLCHAIN §2c).
    public var inFlightByteBudget = 1 << 20
    /// Upper bound on one packed entry (a single larger command still gets its own entry).
    public var maxEntryBytes = 128 << 10
    /// Upper bound on the commands packed into one entry.
    public var maxCommandsPerEntry = 1024
    /// Proposals, barriers and membership changes not answered within this time fail with `.timeout`.
    public var requestTimeout: Duration? = .seconds(10)

    public init(id: UInt64, address: String, dataDirectory: String) {
        self.id = id
        self.address = address
        self.dataDirectory = dataDirectory
    }
}

extension Duration {
    var wholeMilliseconds: UInt32 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return UInt32(clamping: max(ms, 0))
    }
}
