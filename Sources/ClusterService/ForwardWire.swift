import ClusterBus
import ClusterNode
import ClusterState
import NIOCore

/// The bytes of proposal and membership forwarding on the cluster bus (bus protocol version 1). Integers
/// big-endian.
///
/// Kind 1, `forwardProposal` (one command; served for nodes that still send it, no longer sent):
/// - Request payload = the command's `ClusterCommand.encoded()` bytes.
/// - Answer, ok: `status u8` then
///   - `0` applied: `index u64 | ordinal u32` (its `AppliedPosition` on the leader) `| ClusterOutcomeCodec bytes`;
///   - `1` not leader (nothing was proposed): `leaderID u64` (0 = unknown).
/// - Membership requests (a follower asks the leader to change the raft configuration):
///   - `kind = 2` (`addMember`): `nodeID u64 | raftAddress str | busHost str | busPort u16`;
///   - `kind = 3` (`removeMember`): `nodeID u64`;
///   - `kind = 4` (`transferLeadership`): `nodeID u64` (0 = any voter);
///
///   where `str` is `length u16 | UTF-8 bytes`. Ok answer: `status u8 | leaderID u64` (0 = unknown): `0` done
///   (the leader after the change), `1` not leader (nothing changed; ask that one).
/// - Answer, error (`BusReply.error`): an ``ErrorCode`` and a message. Codes below the bus's reserved `0xFF00`.
///
/// Kind 5, `forwardBatch` (what followers send: every command queued for the leader, in one request):
/// - Request payload = `count u32 | count × (length u32 | ClusterCommand bytes)`.
/// - Answer, ok: `count u32 | count × (length u32 | item)`, one item per command in request order, where an item
///   is kind 1's ok answer (`0` applied …, `1` not leader …) or `2` failed: `code u16 | UTF-8 message` (an
///   ``ErrorCode``: this command has no answer; the others do). Each command is proposed on its own, so each has
///   its own outcome; a request that fails as a whole (bus error, error reply) fails every command in it alike.
/// Kinds and codes are append-only. A node older than kinds 2–5 answers them `badRequest` ("unknown request
/// kind"), which the asking node reports as an internal error rather than retrying.
enum ForwardWire {
    static let forwardProposal: UInt16 = 1
    static let addMember: UInt16 = 2
    static let removeMember: UInt16 = 3
    static let transferLeadership: UInt16 = 4
    static let forwardBatch: UInt16 = 5
    static let knownKinds: ClosedRange<UInt16> = 1...5

    enum Status: UInt8 {
        case applied = 0
        case notLeader = 1
        /// Only inside a batch answer.
        case failed = 2
    }

    enum ErrorCode: UInt16 {
        /// The leader handed the command to raft but has no answer: outcome unknown.
        case outcomeUnknown = 1
        /// The node asked is shutting down or not started, and proposed nothing: the asker retries elsewhere.
        case unavailable = 2
        /// The payload is not a command this node can decode.
        case badRequest = 3
        /// Anything else on the leader.
        case `internal` = 4
        /// Membership: the node named is not a member (or not a voter, for a transfer).
        case notMember = 5
        /// Membership: the node (or its raft address) is already in the configuration.
        case alreadyMember = 6
        /// Membership: the change cannot be made as asked (bad id or address, the last voter).
        case invalidChange = 7

        func serviceError(_ message: String) -> ClusterServiceError {
            switch self {
            case .outcomeUnknown: .timeout
            case .unavailable: .unavailable(message)
            case .badRequest: .internal("the leader refused the forwarded request: \(message)")
            case .internal: .internal(message)
            case .notMember: .rejected(.notFound, message)
            case .alreadyMember: .rejected(.alreadyExists, message)
            case .invalidChange: .rejected(.invalid, message)
            }
        }

        /// The code a leader answers for a membership change it could not make (exhaustive, no `default:`).
        init(_ error: ClusterServiceError) {
            switch error {
            case .timeout, .shuttingDown: self = .outcomeUnknown
            case .noLeader, .unavailable: self = .unavailable
            case .internal: self = .internal
            case .rejected(.notFound, _): self = .notMember
            case .rejected(.alreadyExists, _): self = .alreadyMember
            case .rejected(.invalid, _): self = .invalidChange
            }
        }
    }

    // MARK: membership

    /// What the leader answers to a membership request it handled.
    enum MembershipAnswer: Equatable {
        /// Made; the leader after the change (it moves on a transfer), if known.
        case done(leaderID: UInt64?)
        /// This node does not lead (nothing changed); the leader it knows of, if any.
        case notLeader(UInt64?)
    }

    static func encodeMembership(_ change: MembershipChange) -> (kind: UInt16, payload: ByteBuffer) {
        var buffer = ByteBuffer()
        switch change {
        case .add(let id, let raftAddress, let busAddress):
            buffer.writeInteger(id)
            writeString(raftAddress, to: &buffer)
            writeString(busAddress.host, to: &buffer)
            buffer.writeInteger(UInt16(clamping: busAddress.port))
            return (addMember, buffer)
        case .remove(let id):
            buffer.writeInteger(id)
            return (removeMember, buffer)
        case .transferLeadership(let id):
            buffer.writeInteger(id)
            return (transferLeadership, buffer)
        }
    }

    /// The change a membership request asks for, or nil (unknown kind, truncated, trailing bytes, bad UTF-8).
    static func decodeMembership(kind: UInt16, payload: ByteBuffer) -> MembershipChange? {
        var buffer = payload
        guard let id = buffer.readInteger(as: UInt64.self) else { return nil }
        let change: MembershipChange
        switch kind {
        case addMember:
            guard let raftAddress = readString(&buffer), let host = readString(&buffer),
                  let port = buffer.readInteger(as: UInt16.self)
            else { return nil }
            change = .add(nodeID: id, raftAddress: raftAddress, busAddress: PeerAddress(host: host, port: Int(port)))
        case removeMember: change = .remove(nodeID: id)
        case transferLeadership: change = .transferLeadership(to: id)
        default: return nil
        }
        return buffer.readableBytes == 0 ? change : nil
    }

    static func encodeMembershipAnswer(_ answer: MembershipAnswer) -> ByteBuffer {
        var buffer = ByteBuffer()
        switch answer {
        case .done(let leader):
            buffer.writeInteger(Status.applied.rawValue)
            buffer.writeInteger(leader ?? 0)
        case .notLeader(let leader):
            buffer.writeInteger(Status.notLeader.rawValue)
            buffer.writeInteger(leader ?? 0)
        }
        return buffer
    }

    static func decodeMembershipAnswer(_ payload: ByteBuffer) -> MembershipAnswer? {
        var buffer = payload
        guard let raw = buffer.readInteger(as: UInt8.self), let status = Status(rawValue: raw),
              let number = buffer.readInteger(as: UInt64.self), buffer.readableBytes == 0
        else { return nil }
        let leader = number == 0 ? nil : number
        switch status {
        case .applied: return .done(leaderID: leader)
        case .notLeader: return .notLeader(leader)
        case .failed: return nil  // batch items only; never a membership answer
        }
    }

    private static func writeString(_ text: String, to buffer: inout ByteBuffer) {
        let bytes = Array(text.utf8.prefix(Int(UInt16.max)))
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self), let bytes = buffer.readBytes(length: Int(length))
        else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// What the follower reads from an ok answer (or from one item of a batch answer).
    enum Answer: Equatable {
        case applied(ClusterOutcome, position: AppliedPosition)
        case notLeader(UInt64?)
        /// Batch items only: this command has no answer; `code` is an ``ErrorCode`` raw value.
        case failed(code: UInt16, message: String)
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
        guard let raw = buffer.readInteger(as: UInt8.self), let status = Status(rawValue: raw) else { return nil }
        switch status {
        case .applied:
            guard let index = buffer.readInteger(as: UInt64.self), let ordinal = buffer.readInteger(as: UInt32.self),
                  let outcome = ClusterOutcomeCodec.decode(Array(buffer.readableBytesView))
            else { return nil }
            return .applied(outcome, position: AppliedPosition(index: index, ordinal: ordinal))
        case .notLeader:
            guard let leader = buffer.readInteger(as: UInt64.self), buffer.readableBytes == 0 else { return nil }
            return .notLeader(leader == 0 ? nil : leader)
        case .failed:
            guard let code = buffer.readInteger(as: UInt16.self),
                  let message = buffer.readString(length: buffer.readableBytes)
            else { return nil }
            return .failed(code: code, message: message)
        }
    }

    // MARK: batches

    static func encodeBatch(_ commands: [[UInt8]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(4 + commands.reduce(0) { $0 + 4 + $1.count })
        buffer.writeInteger(UInt32(commands.count))
        for command in commands {
            buffer.writeInteger(UInt32(command.count))
            buffer.writeBytes(command)
        }
        return buffer
    }

    /// The commands of a batch request, as bytes (each still to be decoded); nil if the framing is wrong.
    static func decodeBatch(_ payload: ByteBuffer) -> [[UInt8]]? {
        var buffer = payload
        guard let count = buffer.readInteger(as: UInt32.self), Int(count) <= buffer.readableBytes / 4 else {
            return nil
        }
        var commands: [[UInt8]] = []
        commands.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = buffer.readInteger(as: UInt32.self),
                  let bytes = buffer.readBytes(length: Int(length))
            else { return nil }
            commands.append(bytes)
        }
        return buffer.readableBytes == 0 ? commands : nil
    }

    /// A batch answer from the items' own answers (each an ok payload or a failure), in request order.
    static func encodeBatchAnswer(_ items: [BusReplyParts]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(items.count))
        for item in items {
            let start = buffer.writerIndex
            buffer.writeInteger(UInt32(0))  // length, patched below
            switch item {
            case .ok(var answer): buffer.writeBuffer(&answer)
            case .error(let code, let message):
                buffer.writeInteger(Status.failed.rawValue)
                buffer.writeInteger(code.rawValue)
                buffer.writeString(message)
            }
            buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start)
        }
        return buffer
    }

    static func decodeBatchAnswer(_ payload: ByteBuffer) -> [Answer]? {
        var buffer = payload
        guard let count = buffer.readInteger(as: UInt32.self), Int(count) <= buffer.readableBytes / 4 else {
            return nil
        }
        var answers: [Answer] = []
        answers.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = buffer.readInteger(as: UInt32.self), let item = buffer.readSlice(length: Int(length)),
                  let answer = decodeAnswer(item)
            else { return nil }
            answers.append(answer)
        }
        return buffer.readableBytes == 0 ? answers : nil
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
