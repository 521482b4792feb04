import ClusterNode
import ClusterState
import NIOCore

/// The bytes of proposal forwarding on the cluster bus (bus protocol version 1).
///
/// - Request: `kind = 1` (`forwardProposal`), payload = the command's `ClusterCommand.encoded()` bytes.
/// - Answer, ok: `status u8` then
///   - `0` applied: `index u64 | ordinal u32` (its `AppliedPosition` on the leader) `| ClusterOutcomeCodec bytes`;
///   - `1` not leader (nothing was proposed): `leaderID u64` (0 = unknown).
/// - Answer, error (`BusReply.error`): an ``ErrorCode`` and a message. Codes below the bus's reserved `0xFF00`.
enum ForwardWire {
    static let forwardProposal: UInt16 = 1

    enum Status: UInt8 {
        case applied = 0
        case notLeader = 1
    }

    enum ErrorCode: UInt16 {
        /// The leader handed the command to raft but has no answer: outcome unknown.
        case outcomeUnknown = 1
        /// The leader is shutting down or not started.
        case unavailable = 2
        /// The payload is not a command this node can decode.
        case badRequest = 3
        /// Anything else on the leader.
        case `internal` = 4

        func serviceError(_ message: String) -> ClusterServiceError {
            switch self {
            case .outcomeUnknown: .timeout
            case .unavailable: .unavailable(message)
            case .badRequest: .internal("the leader refused the forwarded command: \(message)")
            case .internal: .internal(message)
            }
        }
    }

    /// What the follower reads from an ok answer.
    enum Answer: Equatable {
        case applied(ClusterOutcome, position: AppliedPosition)
        case notLeader(UInt64?)
    }

    static func encodeApplied(_ outcome: ClusterOutcome, position: AppliedPosition) -> ByteBuffer {
        let outcomeBytes = ClusterOutcomeCodec.encode(outcome)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(13 + outcomeBytes.count)
        buffer.writeInteger(Status.applied.rawValue)
        buffer.writeInteger(position.index)
        buffer.writeInteger(position.ordinal)
        buffer.writeBytes(outcomeBytes)
        return buffer
    }

    static func encodeNotLeader(_ leaderID: UInt64?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Status.notLeader.rawValue)
        buffer.writeInteger(leaderID ?? 0)
        return buffer
    }

    static func decodeAnswer(_ payload: ByteBuffer) -> Answer? {
        var buffer = payload
        guard let raw = buffer.readInteger(as: UInt8.self), let status = Status(rawValue: raw),
              let number = buffer.readInteger(as: UInt64.self)
        else { return nil }
        switch status {
        case .applied:
            guard let ordinal = buffer.readInteger(as: UInt32.self),
                  let outcome = ClusterOutcomeCodec.decode(Array(buffer.readableBytesView))
            else { return nil }
            return .applied(outcome, position: AppliedPosition(index: number, ordinal: ordinal))
        case .notLeader:
            guard buffer.readableBytes == 0 else { return nil }
            return .notLeader(number == 0 ? nil : number)
        }
    }

    /// The leader's answer to a forwarded proposal, from its node's result (exhaustive, no `default:`).
    static func reply(
        to result: Result<(outcome: ClusterOutcome, position: AppliedPosition), ClusterNodeError>
    ) -> BusReplyParts {
        switch result {
        case .success(let answer): return .ok(encodeApplied(answer.outcome, position: answer.position))
        case .failure(let error):
            switch error {
            case .notLeader(let id, _): return .ok(encodeNotLeader(id))
            case .leadershipLost, .timeout: return .error(.outcomeUnknown, "\(error)")
            case .shuttingDown: return .error(.outcomeUnknown, "the leader is shutting down")
            case .unavailable(let why): return .error(.unavailable, why)
            case .transferFailed, .malformedOutcome, .internal: return .error(.internal, "\(error)")
            }
        }
    }

    enum BusReplyParts {
        case ok(ByteBuffer)
        case error(ErrorCode, String)
    }
}
