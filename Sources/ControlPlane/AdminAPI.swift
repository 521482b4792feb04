import ClusterState
/// The cluster administration routes (Flotilla's own, not AWS's), as pure parsing and rendering. The answers use
/// the same error shapes as the AWS API, so one client library reads both.
///
/// | route                          | body                                                              | answer |
/// |--------------------------------|-------------------------------------------------------------------|--------|
/// | `GET /cluster/status`          |                                                                   | this node's view (role, term, leader, indices, peers) |
/// | `POST /cluster/members`        | `{"id": 4, "raftAddress": "127.0.0.1:7030", "busAddress": "127.0.0.1:7031"}` | `{"id": 4, "leaderID": 1}` |
/// | `DELETE /cluster/members/{id}` |                                                                   | `{"id": 4, "leaderID": 1}` |
/// | `POST /cluster/leader`         | `{"id": 2}` (0 or absent: any voter)                              | `{"leaderID": 2}` |
/// | `GET /cluster/members`         |                                                                   | `{"members": [{"id": 1, "address": "127.0.0.1:7002", "state": "alive", "incarnation": 0}, …]}`: this node's gossip view |
/// | `GET /cluster/state`           |                                                                   | `{"appliedIndex": 812, "digest": "…", "bytes": 40960}`: a digest of this node's applied state (its canonical snapshot), to compare nodes |
///
/// Domain configurations and certificates: `/cluster/domains`, `/cluster/certificates`, `/cluster/ca-certificates`
/// (`AdminAPI+Registry.swift`). Server certificates for the AWS domain configuration operations:
/// `/cluster/server-certificates` (`ServerCertificatesAPI.swift`, served with the AWS APIs for the caller's tenant).
public enum AdminAPI {
    /// nil when the path is not under `/cluster`; else the operation or why not. `certificateID` gives the AWS id
    /// of the first certificate in a PEM (SHA-256 of its DER; nil if none is readable): the shell computes it with
    /// the crypto library, so this module stays free of one.
    public static func parse(_ request: APIRequest, certificateID: (String) -> String?)
        -> Result<AdminOperation, AWSError>?
    {
        guard request.path == "/cluster" || request.path.hasPrefix("/cluster/") else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        if let registry = parseRegistry(method: request.method, target: target, body: request.body ?? [],
                                        certificateID: certificateID) {
            return registry
        }
        switch (request.method, target.segments) {
        case ("GET", ["cluster", "status"]):
            return .success(.status)
        case ("GET", ["cluster", "state"]):
            return .success(.stateDigest)
        case ("GET", ["cluster", "members"]):
            return .success(.gossipMembers)
        case ("POST", ["cluster", "members"]):
            return addMember(request.body ?? [])
        case ("DELETE", let s) where s.count == 3 && s[0] == "cluster" && s[1] == "members":
            guard let id = UInt64(s[2]), id > 0 else {
                return .failure(.invalidRequest("node id must be a positive integer, not '\(s[2])'"))
            }
            return .success(.membership(.remove(nodeID: id)))
        case ("POST", ["cluster", "leader"]):
            switch JSONBody.decode(TransferBody.self, from: request.body ?? []) {
            case .success(let b): return .success(.membership(.transferLeadership(to: b.id ?? 0)))
            case .failure(let e): return .failure(e)
            }
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    private static func addMember(_ body: [UInt8]) -> Result<AdminOperation, AWSError> {
        let b: AddMemberBody
        switch JSONBody.decode(AddMemberBody.self, from: body) {
        case .success(let parsed): b = parsed
        case .failure(let e): return .failure(e)
        }
        guard let id = b.id, id > 0 else { return .failure(.invalidRequest("id must be a positive integer")) }
        guard let raft = b.raftAddress, let raftEndpoint = Endpoint(raft) else {
            return .failure(.invalidRequest("raftAddress must be host:port"))
        }
        guard let bus = b.busAddress, let busEndpoint = Endpoint(bus) else {
            return .failure(.invalidRequest("busAddress must be host:port"))
        }
        return .success(.membership(.add(nodeID: id, raftAddress: raftEndpoint.text, busHost: busEndpoint.host,
                                         busPort: busEndpoint.port)))
    }

    /// The answer to a membership change: the node and the leader after it.
    public static func respond(to change: MembershipRequest, leaderID: UInt64?) -> APIResponse {
        switch change {
        case .add(let id, _, _, _), .remove(let id):
            .json(JSONBody.encode(MemberAnswer(id: id, leaderID: leaderID)))
        case .transferLeadership:
            .json(JSONBody.encode(LeaderAnswer(leaderID: leaderID)))
        }
    }

    /// `GET /cluster/state`: equal digests mean byte-identical applied states (the snapshot encoding is
    /// canonical and includes the last applied index). FNV-1a 64 over the snapshot: a comparison, not a seal.
    public static func stateDigest(of state: ClusterState) -> APIResponse {
        let bytes = state.snapshot()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            hash ^= UInt64(b)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        let digest = String(repeating: "0", count: 16 - hex.count) + hex
        return .json(JSONBody.encode(StateDigest(appliedIndex: state.lastAppliedIndex, digest: digest,
                                                 bytes: bytes.count)))
    }

    private struct StateDigest: Encodable {
        var appliedIndex: UInt64
        var digest: String
        var bytes: Int
    }

    private struct AddMemberBody: Decodable {
        var id: UInt64?
        var raftAddress: String?
        var busAddress: String?
    }

    private struct TransferBody: Decodable {
        var id: UInt64?
    }

    // `leaderID` is written even when unknown (as null), like /cluster/status.
    private struct MemberAnswer: Encodable {
        var id: UInt64
        var leaderID: UInt64?
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(leaderID, forKey: .leaderID)
        }
        enum CodingKeys: String, CodingKey { case id, leaderID }
    }

    private struct LeaderAnswer: Encodable {
        var leaderID: UInt64?
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(leaderID, forKey: .leaderID)
        }
        enum CodingKeys: String, CodingKey { case leaderID }
    }
}

/// What an admin request asks for.
public enum AdminOperation: Sendable, Hashable {
    /// This node's view of the cluster.
    case status
    /// A digest of this node's applied state.
    case stateDigest
    /// `GET /cluster/members`: this node's gossip view (every member with its state and incarnation).
    case gossipMembers
    /// A raft configuration change (made on the leader, from whichever node is asked).
    case membership(MembershipRequest)
    /// Domain configurations and certificates.
    case registry(RegistryOperation)
}

/// A raft configuration change as the admin API asks for it.
public enum MembershipRequest: Sendable, Hashable {
    /// Record the node's bus address in the node directory, then add it as a voter (it runs with `--join`).
    case add(nodeID: UInt64, raftAddress: String, busHost: String, busPort: Int)
    case remove(nodeID: UInt64)
    /// 0: any up-to-date voter.
    case transferLeadership(to: UInt64)
}

/// `host:port`, IPv6 hosts in brackets (`[::1]:7031`); the host is kept without brackets.
struct Endpoint: Hashable {
    var host: String
    var port: Int
    /// The canonical text (`host:port`, brackets around an IPv6 host).
    var text: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") && host.count > 2 {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") || host.contains("[") || host.contains("]") {
            return nil  // a bare IPv6 address is ambiguous without brackets
        }
        guard !host.isEmpty, host.utf8.count <= 253, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return nil
        }
        self.host = host
        self.port = port
    }
}
