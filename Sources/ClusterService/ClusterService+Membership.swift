// Membership changes from any node (issue 3): raft only changes its configuration on the leader, so a follower
// forwards the request there over the cluster bus (ForwardWire kinds 2–4), as it forwards proposals.
//
// Rules this file keeps:
//
// 1. Directory before voter. Adding a node first commits its bus address to the replicated node directory
//    (`ClusterCommand.setNodeAddress`), then adds it to the raft configuration. Once it is a voter it may lead, and
//    every node must then be able to forward to it: the static `--peers` tables do not name it, the directory does.
// 2. Checked on the leader against its current configuration (already a member, not a member, not a voter, the
//    last voter), so the caller gets a precise refusal instead of libraft's error code.
// 3. A leader never removes itself. Asked to, it hands leadership to another voter and answers "not leader": the
//    asking node retries against the new leader, which removes the old one.
// 4. At most once, like proposals: a request is retried (with backoff, under one deadline) only when it provably
//    did not run — no leader known, the bus could not send it, or the node asked did not lead.

import ClusterBus
import ClusterNode
import ClusterState
import NIOCore

/// A change to the raft configuration, carried out on the leader.
public enum MembershipChange: Sendable, Hashable {
    /// Records the node's bus address in the node directory, then adds it as a voter (libraft catches it up
    /// first). The node must be running, started with `--join`.
    case add(nodeID: UInt64, raftAddress: String, busAddress: PeerAddress)
    /// Removes the node from the configuration, then forgets its directory row.
    case remove(nodeID: UInt64)
    /// Moves leadership to the node (0: any up-to-date voter).
    case transferLeadership(to: UInt64)
}

extension ClusterService {
    /// Makes `change` on the leader, from any node. Returns the leader after the change, if known (for a
    /// transfer: the node now leading).
    @discardableResult
    public func changeMembership(_ change: MembershipChange) async throws(ClusterServiceError) -> UInt64? {
        if closing.isSet { throw .shuttingDown }
        let me = configuration.node.nodeID
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.requestTimeout
        var delay = configuration.initialRetryDelay
        var forwards = 0
        var lastRefusal = ClusterServiceError.noLeader
        while true {
            let status = await node.status()
            switch status.role {
            case .stopped:
                throw .unavailable("the cluster service is not running")
            case .leader:
                switch try await Self.changeOnLeader(change, node: node) {
                case .done(let leader): return leader
                case .notLeader: lastRefusal = .noLeader  // lost leadership, or handed it over (rule 3)
                }
            case .follower, .candidate, .unavailable:
                if let leaderID = status.leaderID, leaderID != me {
                    guard let address = busAddress(of: leaderID) else {
                        // Added at runtime, and its directory row is not applied here yet: wait for it.
                        lastRefusal = .unavailable(Self.unknownAddress(leaderID))
                        break
                    }
                    if forwards >= configuration.maxForwardAttempts { throw lastRefusal }
                    forwards += 1
                    switch try await forwardMembership(change, to: address, deadline: deadline, clock: clock) {
                    case .done(let leader): return leader
                    case .retry(let why): lastRefusal = why
                    }
                }
            }
            if clock.now + delay >= deadline { throw lastRefusal }
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .timeout
            }
            delay = min(delay * 2, configuration.maxRetryDelay)
        }
    }

    enum MembershipForwardResult {
        case done(UInt64?)
        /// Provably not executed; the error to report if the attempts run out.
        case retry(ClusterServiceError)
    }

    func forwardMembership(_ change: MembershipChange, to address: PeerAddress, deadline: ContinuousClock.Instant,
                           clock: ContinuousClock) async throws(ClusterServiceError) -> MembershipForwardResult {
        let remaining = deadline - clock.now
        guard remaining > .zero else { throw .timeout }
        let (kind, payload) = ForwardWire.encodeMembership(change)
        let answer: ByteBuffer
        do {
            answer = try await bus.request(to: address, kind: kind, payload: payload, timeout: remaining)
        } catch {
            return .retry(try refusalToRetry(error))
        }
        switch ForwardWire.decodeMembershipAnswer(answer) {
        case .done(let leader)?: return .done(leader)
        case .notLeader?: return .retry(.noLeader)
        case nil: throw .internal("undecodable membership answer (\(answer.readableBytes) bytes)")
        }
    }

    /// The leader's side of a membership change (rules 1–3). Answers `.notLeader` when this node does not lead
    /// (nothing was changed); throws when the change was refused or failed.
    static func changeOnLeader(
        _ change: MembershipChange, node: ClusterNode
    ) async throws(ClusterServiceError) -> ForwardWire.MembershipAnswer {
        let status = await node.status()
        guard status.role == .leader else { return .notLeader(status.leaderID) }
        let me = node.configuration.nodeID
        let voters = status.peers.filter { $0.role == .voter }.map(\.id)
        switch change {
        case .add(let id, let raftAddress, let busAddress):
            guard id > 0 else { throw .rejected(.invalid, "node id must be a positive integer") }
            if let member = status.peers.first(where: { $0.id == id }) {
                throw .rejected(.alreadyExists,
                                "node \(id) is already a member (\(member.role.rawValue) at \(member.address))")
            }
            if let other = status.peers.first(where: { $0.address == raftAddress }) {
                throw .rejected(.alreadyExists, "raft address \(raftAddress) belongs to node \(other.id)")
            }
            guard Self.isHostPort(raftAddress) else {
                throw .rejected(.invalid, "raft address must be host:port, not '\(raftAddress)'")
            }
            guard let port = UInt16(exactly: busAddress.port), port > 0 else {
                throw .rejected(.invalid, "bus port must be 1-65535")
            }
            let row = NodeAddress(nodeID: id, busHost: busAddress.host, busPort: port)
            switch try await leaderStep(node, { () async throws(ClusterNodeError) in
                try await node.propose(.setNodeAddress(row))
            }) {
            case .notLeader(let leader): return .notLeader(leader)
            case .done(.failure(let error)):
                throw .rejected(.invalid, "the node directory refused \(busAddress): \(error)")
            case .done(.success): break
            }
            if case .notLeader(let leader) = try await leaderStep(node, { () async throws(ClusterNodeError) in
                try await node.addVoter(id: id, address: raftAddress)
            }) {
                return .notLeader(leader)
            }
            return .done(leaderID: me)
        case .remove(let id):
            guard status.peers.contains(where: { $0.id == id }) else {
                throw .rejected(.notFound, "node \(id) is not a member")
            }
            if id == me {
                guard voters.contains(where: { $0 != me }) else {
                    throw .rejected(.invalid, "node \(id) is the only voter; the cluster cannot remove it")
                }
                // Rule 3: hand over, then let the asking node retry against the new leader.
                if case .notLeader(let leader) = try await leaderStep(node, { () async throws(ClusterNodeError) in
                    try await node.transferLeadership(to: 0)
                }) {
                    return .notLeader(leader)
                }
                return .notLeader(await node.status().leaderID)
            }
            if case .notLeader(let leader) = try await leaderStep(node, { () async throws(ClusterNodeError) in
                try await node.remove(id: id)
            }) {
                return .notLeader(leader)
            }
            // Best effort: a stale row is harmless (the node is no longer asked to lead), and the change is made.
            _ = try? await node.propose(.removeNodeAddress(nodeID: id))
            return .done(leaderID: me)
        case .transferLeadership(let id):
            if id == me { return .done(leaderID: me) }
            if id != 0 {
                guard let member = status.peers.first(where: { $0.id == id }) else {
                    throw .rejected(.notFound, "node \(id) is not a member")
                }
                guard member.role == .voter else {
                    throw .rejected(.invalid, "node \(id) is a \(member.role.rawValue), not a voter")
                }
            } else if !voters.contains(where: { $0 != me }) {
                throw .rejected(.invalid, "there is no other voter to take over")
            }
            if case .notLeader(let leader) = try await leaderStep(node, { () async throws(ClusterNodeError) in
                try await node.transferLeadership(to: id)
            }) {
                return .notLeader(leader)
            }
            return .done(leaderID: await node.status().leaderID)
        }
    }

    enum LeaderStep<T> {
        case done(T)
        case notLeader(UInt64?)
    }

    /// Runs one raft call on the leader: "not leader" becomes an answer (nothing ran), other errors are mapped.
    private static func leaderStep<T>(
        _ node: ClusterNode, _ body: () async throws(ClusterNodeError) -> T
    ) async throws(ClusterServiceError) -> LeaderStep<T> {
        do {
            return .done(try await body())
        } catch .notLeader(let leader, _) {
            return .notLeader(leader)
        } catch {
            throw ClusterServiceError(error)
        }
    }

    /// `host:port` with a non-empty host and a port in 1–65535 (libraft's uv transport parses it the same way).
    static func isHostPort(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":") else { return false }
        let host = text[..<colon]
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return false
        }
        return true
    }

    /// The bus handler's side of kinds 2–4.
    static func serveMembership(kind: UInt16, payload: ByteBuffer, node: ClusterNode) async -> BusReply {
        guard let change = ForwardWire.decodeMembership(kind: kind, payload: payload) else {
            return .error(code: ForwardWire.ErrorCode.badRequest.rawValue,
                          message: "undecodable membership request (kind \(kind))")
        }
        do {
            return .ok(ForwardWire.encodeMembershipAnswer(try await changeOnLeader(change, node: node)))
        } catch {
            let message: String
            switch error {
            case .rejected(_, let text), .unavailable(let text), .internal(let text): message = text
            case .noLeader, .timeout, .shuttingDown: message = "\(error)"
            }
            return .error(code: ForwardWire.ErrorCode(error).rawValue, message: message)
        }
    }
}
