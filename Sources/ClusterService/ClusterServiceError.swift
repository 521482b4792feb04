import ClusterBus
import ClusterNode

/// Why `ClusterService.propose` has no outcome. Domain failures (a duplicate thing, a version conflict) are not
/// errors: they are the `.failure` of the returned `ClusterOutcome`, committed like any command.
///
/// Whether the command may still take effect matters to callers: it did not for `noLeader`, `unavailable` and
/// `shuttingDown` raised before anything was sent; it may have for `timeout` (see each case).
public enum ClusterServiceError: Error, Sendable, Hashable {
    /// No leader could be found (or reached) within the attempts and the timeout; the command was not applied.
    case noLeader
    /// No answer in time, or the answer was lost (leadership lost mid-commit, forward timed out, connection to the
    /// leader lost, or the leader applied it but this node did not catch up in time). The outcome is unknown:
    /// the command may have been, or may later be, applied.
    case timeout
    /// This node, or the leader, cannot take requests (not started, or the forward was refused).
    case unavailable(String)
    /// This node is shutting down.
    case shuttingDown
    /// A bug or a version mismatch between nodes (undecodable answer, oversized payload, …).
    case `internal`(String)
    /// The leader refused a membership change as asked (nothing changed): why, and a message for the operator.
    case rejected(MembershipRejection, String)

    /// Why a membership change was refused.
    public enum MembershipRejection: Sendable, Hashable {
        /// The node named is not a member (or, for a transfer, not a voter).
        case notFound
        /// The node, or its raft address, is already in the configuration.
        case alreadyExists
        /// The request cannot be carried out as asked (bad id or address, removing the last voter, …).
        case invalid
    }

    /// The one mapping from the node's errors (no `default:`). `notLeader` is handled before this by forwarding;
    /// it only gets here once forwarding has given up.
    init(_ error: ClusterNodeError) {
        switch error {
        case .notLeader: self = .noLeader
        case .leadershipLost, .timeout: self = .timeout
        case .shuttingDown: self = .shuttingDown
        case .unavailable(let why): self = .unavailable(why)
        case .transferFailed(let id):
            self = .unavailable("leadership did not move in time (leader now \(id.map(String.init) ?? "unknown"))")
        case .malformedOutcome: self = .internal("undecodable outcome")
        case .internal(let why): self = .internal(why)
        }
    }

    /// The one mapping from the bus's errors (no `default:`). `unreachable` and `overloaded` (not sent / not run)
    /// are retried before this; here they mean the attempts ran out.
    init(_ error: BusError) {
        switch error {
        case .timeout, .connectionLost, .cancelled: self = .timeout
        case .unreachable: self = .noLeader
        case .overloaded: self = .unavailable("the leader is overloaded")
        case .shuttingDown: self = .shuttingDown
        case .payloadTooLarge(let size, let limit):
            self = .internal("command of \(size) bytes over the bus limit \(limit)")
        case .responseTooLarge(let why): self = .internal("forward answer too large: \(why)")
        case .remote(let code, let message):
            self = ForwardWire.ErrorCode(rawValue: code).map { $0.serviceError(message) }
                ?? .internal("unknown forward error \(code): \(message)")
        }
    }
}
