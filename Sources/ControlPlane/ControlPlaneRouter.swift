import ClusterState
import IoTTypes

/// What the control plane needs from the node it runs on. The shell implements it over `ClusterService` (and maps
/// that service's errors to `AWSError` there, once); tests implement it over an in-memory `ClusterState`.
public protocol ControlPlaneBackend: Sendable {
    /// Wall-clock time, epoch milliseconds: stamped into write commands, so that `apply` reads no clock.
    func nowMs() -> Int64
    /// Proposes a command (forwarded to the leader from a follower) and answers once this node has applied it.
    /// Domain failures are the outcome's `.failure`; a thrown error means there is no outcome.
    func propose(_ command: ClusterCommand) async throws(AWSError) -> ClusterOutcome
    /// Reads this node's applied state (includes every write this node's `propose` has returned).
    func read<T>(_ body: (ClusterState) -> T) -> T
    /// `GET /cluster/status`'s JSON body, or nil while the cluster service is not running.
    func clusterStatusJSON() -> String?
    /// Makes a raft configuration change on the leader, from this node; returns the leader after it, if known.
    func changeMembership(_ change: MembershipRequest) async throws(AWSError) -> UInt64?
    /// The AWS certificate id of the first certificate in `pem` (lower-case hex SHA-256 of its DER), nil when it
    /// holds no readable certificate.
    func certificateID(pem: String) -> String?
}

/// The control plane's front door, shared by every HTTP shell: checks the peer (loopback only, until SigV4),
/// hands the request to the things API or the admin API, runs the result against the backend — writes through
/// raft, reads on the local applied state — and renders the answer. Async only where the backend is; everything
/// it decides is in the pure `ThingsAPI` / `AdminAPI`.
public struct ControlPlaneRouter: Sendable {
    public let things: ThingsAPI
    public let policies: PoliciesAPI
    let backend: any ControlPlaneBackend

    public init(things: ThingsAPI = ThingsAPI(), policies: PoliciesAPI, backend: any ControlPlaneBackend) {
        self.things = things
        self.policies = policies
        self.backend = backend
    }

    /// Whether this router serves `path` (the HTTP shell keeps `/metrics` and `/health` for itself).
    public static func serves(path: String) -> Bool {
        path == "/things" || path.hasPrefix("/things/") || path == "/cluster" || path.hasPrefix("/cluster/")
            || PoliciesAPI.owns(path)
    }

    public func handle(_ request: APIRequest) async -> APIResponse {
        // Interim (no SigV4 until issue 5): loopback peers only. See ops/configuration.md.
        guard let peer = request.peerAddress, Loopback.contains(peer) else {
            return AWSError.accessDenied(
                "this endpoint answers loopback clients only until request signing (SigV4) is supported").response
        }
        guard request.body != nil else {
            return AWSError.requestTooLarge("the request body is over the server's limit").response
        }
        // Policy routes first: `/things/{name}/principals` belongs to them, not to the things API.
        if let parsed = policies.parse(request) {
            switch parsed {
            case .success(let operation): return await run(operation)
            case .failure(let error): return error.response
            }
        }
        if let parsed = things.parse(request) {
            switch parsed {
            case .success(let operation): return await run(operation)
            case .failure(let error): return error.response
            }
        }
        if let parsed = AdminAPI.parse(request, certificateID: backend.certificateID(pem:)) {
            switch parsed {
            case .success(let operation): return await run(operation)
            case .failure(let error): return error.response
            }
        }
        return AWSError.unknownOperation("no operation \(request.method) \(request.path)").response
    }

    func run(_ operation: ThingsOperation) async -> APIResponse {
        guard let command = things.command(for: operation, nowMs: backend.nowMs()) else {
            let things = self.things
            return backend.read { things.respond(to: operation, state: $0) }
        }
        let outcome: ClusterOutcome
        do {
            outcome = try await backend.propose(command)
        } catch {
            return error.response
        }
        let things = self.things
        return backend.read { things.respond(to: operation, outcome: outcome, state: $0) }
    }

    func run(_ operation: PolicyOperation) async -> APIResponse {
        let policies = self.policies
        guard let command = policies.command(for: operation, nowMs: backend.nowMs()) else {
            return backend.read { policies.respond(to: operation, state: $0) }
        }
        let outcome: ClusterOutcome
        do {
            outcome = try await backend.propose(command)
        } catch {
            return error.response
        }
        return backend.read { policies.respond(to: operation, outcome: outcome, state: $0) }
    }

    func run(_ operation: AdminOperation) async -> APIResponse {
        switch operation {
        case .status:
            guard let json = backend.clusterStatusJSON() else {
                return AWSError.serviceUnavailable("the cluster service is not running").response
            }
            return .json(Array(json.utf8))
        case .stateDigest:
            return backend.read { AdminAPI.stateDigest(of: $0) }
        case .membership(let change):
            do {
                let leader = try await backend.changeMembership(change)
                return AdminAPI.respond(to: change, leaderID: leader)
            } catch {
                return error.response
            }
        case .registry(let op):
            guard let command = AdminAPI.command(for: op, nowMs: backend.nowMs()) else {
                return backend.read { AdminAPI.respond(to: op, state: $0) }
            }
            do {
                return AdminAPI.respond(to: op, outcome: try await backend.propose(command))
            } catch {
                return error.response
            }
        }
    }
}
