import RaftStore

/// Why a cluster call did not produce an answer. Domain failures (a duplicate thing, a version conflict) are not
/// errors here: they come back as the `.failure` of a `ClusterOutcome`, because they were committed and applied
/// like any other command.
///
/// Edges map this exhaustively (STYLE C6): `notLeader` becomes a forward over the cluster bus, `timeout` and
/// `unavailable` become 503 / MQTT 0x88, `leadershipLost` and `internal` a logged 500.
public enum ClusterNodeError: Error, Sendable, Hashable {
    /// This node does not lead; the leader it knows of, if any, with its raft address. Forward there.
    case notLeader(leaderID: UInt64?, address: String?)
    /// Leadership was lost after the command was handed to raft: it may or may not commit later.
    case leadershipLost
    /// No answer in time — typically no quorum. The outcome is unknown.
    case timeout
    /// The node is shutting down or has shut down; the command was not (or not known to be) applied.
    case shuttingDown
    /// The node cannot take requests yet (not started).
    case unavailable(String)
    /// A leadership transfer ended without the target leading; the leader at that moment, if any.
    case transferFailed(leaderID: UInt64?)
    /// The answer of `apply` could not be decoded (nodes of mixed versions, or a bug).
    case malformedOutcome
    /// Anything else raft reported (code and libraft's message in the text).
    case `internal`(String)

    /// The one mapping from the raft shell's errors (no `default:`: a new RaftError case must be mapped here).
    init(_ error: RaftError) {
        switch error {
        case .notLeader(let id, let address): self = .notLeader(leaderID: id, address: address)
        case .leadershipLost: self = .leadershipLost
        case .shuttingDown: self = .shuttingDown
        case .notStarted: self = .unavailable("the node has not been started")
        case .alreadyStarted: self = .internal("start called twice")
        case .timeout: self = .timeout
        case .transferFailed(let id): self = .transferFailed(leaderID: id)
        case .raft(let code, let message): self = .internal("raft error \(code): \(message)")
        }
    }
}
