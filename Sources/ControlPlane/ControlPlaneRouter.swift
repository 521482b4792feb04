import ClusterState
import IoTTypes
import SigV4

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
    /// Returns once this node has applied every write acknowledged anywhere before the call, so a `read` after it
    /// is linearizable (not only read-your-writes on this node).
    func readBarrier() async throws(AWSError)
    /// `GET /cluster/status`'s JSON body, or nil while the cluster service is not running.
    func clusterStatusJSON() -> String?
    /// `GET /cluster/members`'s JSON body (the gossip view), or nil when this node runs no gossip.
    func gossipMembersJSON() -> String?
    /// Makes a raft configuration change on the leader, from this node; returns the leader after it, if known.
    func changeMembership(_ change: MembershipRequest) async throws(AWSError) -> UInt64?
    /// The AWS certificate id of the first certificate in `pem` (lower-case hex SHA-256 of its DER), nil when it
    /// holds no readable certificate.
    func certificateID(pem: String) -> String?
    /// Reads a server certificate chain and its key (X.509, in the shell): the facts, or InvalidRequestException
    /// (unreadable PEM) / CertificateValidationException (the key is not the certificate's).
    func inspectServerCertificate(chainPEM: String, privateKeyPEM: String) -> Result<ServerCertificateFacts, AWSError>
}

extension ControlPlaneBackend {
    /// A backend over one in-memory state is always current.
    public func readBarrier() async throws(AWSError) {}

    public func gossipMembersJSON() -> String? { nil }

    /// A backend without X.509 support refuses every server certificate.
    public func inspectServerCertificate(chainPEM: String, privateKeyPEM: String)
        -> Result<ServerCertificateFacts, AWSError>
    {
        .failure(.invalidRequest("this node cannot read server certificates"))
    }
}

/// One family of AWS operations (things, policies, certificates, …) as pure functions: request → operation,
/// operation → the command to propose (nil for reads), and the answer from the applied outcome or from the state.
/// Built per request for the caller's tenant (`ControlPlaneContext`); the router runs it against the backend.
public protocol ControlPlaneAPI: Sendable {
    associatedtype Operation: Sendable
    /// nil when the route is not one of this API's operations.
    func parse(_ request: APIRequest) -> Result<Operation, AWSError>?
    /// The write to propose, or nil when the operation only reads.
    func command(for operation: Operation, nowMs: Int64) -> ClusterCommand?
    /// The answer to a read, from this node's applied state.
    func respond(to operation: Operation, state: ClusterState) -> APIResponse
    /// The answer to a write, from its applied outcome (and the state just after it).
    func respond(to operation: Operation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse
    /// A write that must be applied before the operation can be completed — something made on first need, such as
    /// a tenant's issuing CA — or nil when the state already has what it needs. Its failure is the answer.
    func prerequisite(for operation: Operation, state: ClusterState, nowMs: Int64) -> Result<ClusterCommand, AWSError>?
    /// Completes the operation from the applied state (after the prerequisite, if any): checks that need the state
    /// and work that must not run under a lock (signing). Runs on a copy of the state, outside the backend's lock.
    func prepare(_ operation: Operation, state: ClusterState, nowMs: Int64) -> Result<Operation, AWSError>
}

extension ControlPlaneAPI {
    public func prerequisite(for operation: Operation, state: ClusterState, nowMs: Int64)
        -> Result<ClusterCommand, AWSError>?
    {
        nil
    }

    public func prepare(_ operation: Operation, state: ClusterState, nowMs: Int64) -> Result<Operation, AWSError> {
        .success(operation)
    }
}

/// Who a request acts for: the tenant (found from the request's access key) and the region its ARNs name.
public struct ControlPlaneContext: Sendable, Hashable {
    public var tenant: TenantID
    public var region: String
    public init(tenant: TenantID, region: String) {
        self.tenant = tenant
        self.region = region
    }
}

/// The control plane's front door, shared by every HTTP shell. AWS operations must be signed (SigV4, services
/// `iot`, `iotdata`/`iotdevicegateway`, `iot-jobs-data`, the node's region, 15 minutes of clock skew): the access key
/// names the tenant the request acts for, so no request can reach another tenant's objects. The operator routes
/// (`/cluster/…`: membership, status, tenants, access keys, certificates and domains by PEM) answer loopback peers
/// only, unsigned: they are for the machine's operator, like a database's local socket. The router hands each
/// request to the APIs in turn (the first that parses it owns it), runs the result against the backend — writes
/// through raft, reads on the local applied state — and renders the answer. Async only where the backend is;
/// everything it decides is in the pure APIs.
public struct ControlPlaneRouter: Sendable {
    /// Credential-scope services a signature may name.
    public static let signingServices: Set<String> = ["iot", "iotdata", "iotdevicegateway", "iot-jobs-data"]

    public let region: String
    /// Policy documents' validator (the policy engine's parser), injected so this module does not import it.
    public let validatePolicyDocument: @Sendable (String) -> String?
    /// The DNS suffix of the addresses DescribeEndpoint answers (`<prefix>-ats.iot.<region>.<endpointDomain>`).
    public var endpointDomain = "amazonaws.com"
    /// X.509 work for the certificate operations (the TLS module's), injected so this module does not import it.
    public let certificateCrypto: CertificateCrypto
    let backend: any ControlPlaneBackend
    let verifier: SigV4Verifier
    /// New access keys (`flotilla admin access-key create`): a secure generator unless a test injects one.
    let newAccessKey: @Sendable (TenantID) -> AccessKey

    public init(region: String, validatePolicyDocument: @escaping @Sendable (String) -> String?,
                certificateCrypto: CertificateCrypto = .unavailable, backend: any ControlPlaneBackend,
                newAccessKey: @escaping @Sendable (TenantID) -> AccessKey = { tenant in
                    var rng = SystemRandomNumberGenerator()
                    return AccessKey.generate(tenant: tenant, nowMs: 0, using: &rng)
                }) {
        self.region = region
        self.validatePolicyDocument = validatePolicyDocument
        self.certificateCrypto = certificateCrypto
        self.backend = backend
        self.newAccessKey = newAccessKey
        self.verifier = SigV4Verifier(services: Self.signingServices, regions: [region]) { [backend] id in
            backend.read { $0.accessKey(id: id) }.map {
                SigV4Secret(secretAccessKey: $0.secretKey, account: $0.tenant.accountID)
            }
        }
    }

    /// The operator routes' prefix.
    static func isOperatorRoute(_ path: String) -> Bool { path == "/cluster" || path.hasPrefix("/cluster/") }

    public func handle(_ request: APIRequest) async -> APIResponse {
        guard request.body != nil else {
            return AWSError.requestTooLarge("the request body is over the server's limit").response
        }
        if Self.isOperatorRoute(request.path) {
            guard let peer = request.peerAddress, Loopback.contains(peer) else {
                return AWSError.accessDenied("the /cluster operator routes answer loopback clients only").response
            }
            if let answer = await serve(TenantsAdminAPI(newKey: newAccessKey), request) { return answer }
            let backend = backend
            let serverCertificates = ServerCertificatesAPI(
                tenant: .default, region: region, nowMs: backend.nowMs(),
                inspect: { backend.inspectServerCertificate(chainPEM: $0, privateKeyPEM: $1) })
            if let answer = await serve(serverCertificates, request) { return answer }
            if let parsed = AdminAPI.parse(request, certificateID: backend.certificateID(pem:)) {
                switch parsed {
                case .success(let operation): return await run(operation)
                case .failure(let error): return error.response
                }
            }
            return AWSError.unknownOperation("no operation \(request.method) \(request.path)").response
        }
        let signed = SigV4Request(
            method: request.method, path: request.path, query: request.query,
            headers: request.headers.map { (name: $0.key, value: $0.value) },
            payload: .bytes(request.body ?? []), now: backend.nowMs() / 1000)
        let identity: SigV4Identity
        do {
            identity = try verifier.verify(signed)
        } catch .unknownAccessKey {
            // A key this node has not applied yet — it has just restarted and is catching up, or the key was made
            // through another node a moment ago (the chaos suite saw valid keys refused 403 for ~0.1 s after a
            // restart) — gets one second look after a read barrier: once the barrier is applied, every key created
            // anywhere before this request is here. No leader: the barrier's 503, not a 403. Concurrent barriers
            // share forward batches, so a flood of unknown keys costs one raft round trip per batch, not per request.
            do {
                try await backend.readBarrier()
            } catch {
                return error.response
            }
            do {
                identity = try verifier.verify(signed)
            } catch {
                return AWSError(error).response
            }
        } catch {
            return AWSError(error).response
        }
        let context = ControlPlaneContext(tenant: TenantID(identity.account), region: region)
        if let answer = await serveAWS(request, context: context) { return answer }
        return AWSError.unknownOperation("no operation \(request.method) \(request.path)").response
    }

    /// The AWS-shaped operations, for one tenant. Order matters where routes overlap: the policy routes own
    /// `/things/{name}/principals` and the thing group routes `/things/{name}/thing-groups`, so both come before
    /// the things API.
    func serveAWS(_ request: APIRequest, context: ControlPlaneContext) async -> APIResponse? {
        // iot-data first: `/things/{name}/shadow` is a shadow, not a thing route.
        if let a = await serve(ShadowAPI(tenant: context.tenant, nowMs: backend.nowMs()), request) { return a }
        if let a = await serve(PoliciesAPI(tenant: context.tenant, region: context.region,
                                           validateDocument: validatePolicyDocument), request) { return a }
        if let a = await serve(ThingGroupsAPI(tenant: context.tenant, region: context.region), request) { return a }
        if let a = await serve(ThingTypesAPI(tenant: context.tenant, region: context.region), request) { return a }
        if let a = await serve(ThingsAPI(tenant: context.tenant, region: context.region), request) { return a }
        if let a = await serve(DomainConfigurationsAPI(tenant: context.tenant, region: context.region,
                                                       endpointDomain: endpointDomain), request) { return a }
        if let a = await serve(TagsAPI(tenant: context.tenant, region: context.region), request) { return a }
        if let a = await serve(CertificatesAPI(tenant: context.tenant, region: context.region,
                                               crypto: certificateCrypto), request) { return a }
        return nil
    }

    /// Runs `api` on `request` if it owns the route: parse, propose its prerequisite if it has one, prepare, then
    /// propose (writes) or read, then answer.
    func serve<API: ControlPlaneAPI>(_ api: API, _ request: APIRequest) async -> APIResponse? {
        guard let parsed = api.parse(request) else { return nil }
        var operation: API.Operation
        switch parsed {
        case .success(let op): operation = op
        case .failure(let error): return error.response
        }
        switch api.prerequisite(for: operation, state: backend.read { $0 }, nowMs: backend.nowMs()) {
        case nil: break
        case .failure(let error)?: return error.response
        case .success(let command)?:
            do {
                if case .failure(let error) = try await backend.propose(command) {
                    return AWSError(error, what: "The operation's prerequisite").response
                }
            } catch {
                return error.response
            }
        }
        switch api.prepare(operation, state: backend.read { $0 }, nowMs: backend.nowMs()) {
        case .success(let op): operation = op
        case .failure(let error): return error.response
        }
        guard let command = api.command(for: operation, nowMs: backend.nowMs()) else {
            // A read sees every write acknowledged before it began, on whichever node it is asked (linearizable).
            do {
                try await backend.readBarrier()
            } catch {
                return error.response
            }
            return backend.read { api.respond(to: operation, state: $0) }
        }
        let outcome: ClusterOutcome
        do {
            outcome = try await backend.propose(command)
        } catch {
            return error.response
        }
        return backend.read { api.respond(to: operation, outcome: outcome, state: $0) }
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
        case .gossipMembers:
            guard let json = backend.gossipMembersJSON() else {
                return AWSError.serviceUnavailable("this node runs no gossip").response
            }
            return .json(Array(json.utf8))
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
