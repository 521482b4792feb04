import ClusterState
import ControlPlane
import Foundation
import IoTTypes
import SigV4
import Synchronization

/// A node in memory: proposals apply to one `ClusterState` at once (a one-voter cluster without raft), membership
/// changes are recorded; errors can be injected.
final class FakeBackend: ControlPlaneBackend {
    let state = Mutex(ClusterState())
    let proposals = Mutex<[ClusterCommand]>([])
    let changes = Mutex<[MembershipRequest]>([])
    let failure = Mutex<AWSError?>(nil)
    let status = Mutex<String?>("{\"nodeID\":1}\n")
    let clock: Int64

    /// The default tenant's access key, present from the start (as the embedded default bootstraps it).
    static let defaultKey = AccessKey(tenant: .default, accessKeyID: "AKIADEFAULT0000000001",
                                      secretKey: "default-secret", createdAtMs: 0)

    init(nowMs: Int64 = 1_700_000_000_000) {
        clock = nowMs
        state.withLock { _ = $0.apply(.bootstrapAccessKey(Self.defaultKey, tenantName: "default"), index: 1) }
    }

    func nowMs() -> Int64 { clock }

    func propose(_ command: ClusterCommand) async throws(AWSError) -> ClusterOutcome {
        if let error = failure.withLock({ $0 }) { throw error }
        proposals.withLock { $0.append(command) }
        return state.withLock { $0.apply(command, index: $0.lastAppliedIndex + 1) }
    }

    func read<T>(_ body: (ClusterState) -> T) -> T {
        let copy = state.withLock { $0 }
        return body(copy)
    }

    func clusterStatusJSON() -> String? { status.withLock { $0 } }

    /// Commands committed elsewhere that this node applies only at its next read barrier (a lagging follower).
    let lagging = Mutex<[ClusterCommand]>([])
    let barriers = Mutex(0)
    /// The read barrier's own failure (no leader for it), apart from `failure`, which fails proposals.
    let barrierFailure = Mutex<AWSError?>(nil)

    func readBarrier() async throws(AWSError) {
        if let error = barrierFailure.withLock({ $0 }) { throw error }
        barriers.withLock { $0 += 1 }
        let pending = lagging.withLock { l -> [ClusterCommand] in defer { l.removeAll() }; return l }
        state.withLock { s in for c in pending { _ = s.apply(c, index: s.lastAppliedIndex + 1) } }
    }

    func changeMembership(_ change: MembershipRequest) async throws(AWSError) -> UInt64? {
        if let error = failure.withLock({ $0 }) { throw error }
        changes.withLock { $0.append(change) }
        if case .transferLeadership(let id) = change { return id == 0 ? 2 : id }
        return 1
    }

    func certificateID(pem: String) -> String? {
        fakeCertificateIDs.first { pem.hasPrefix($0.key) }?.value
    }

    /// Server certificates "read" by this fake: chain PEM prefix → facts; a key PEM starting with "WRONG" does not
    /// match.
    let serverCertificates = Mutex<[String: ServerCertificateFacts]>([:])

    func inspectServerCertificate(chainPEM: String, privateKeyPEM: String) -> Result<ServerCertificateFacts, AWSError> {
        guard let facts = serverCertificates.withLock({ $0.first { chainPEM.hasPrefix($0.key) }?.value }) else {
            return .failure(.invalidRequest("the certificate chain holds no CERTIFICATE block"))
        }
        if privateKeyPEM.hasPrefix("WRONG") {
            return .failure(.certificateValidation("The private key does not match the certificate."))
        }
        return .success(facts)
    }

    var proposalCount: Int { proposals.withLock { $0.count } }
}

/// A router over a fresh backend, and helpers to call it like a client on loopback.
struct Client {
    let backend = FakeBackend()
    let router: ControlPlaneRouter

    init(region: String = "us-east-1", crypto: CertificateCrypto = .unavailable) {
        router = ControlPlaneRouter(
            region: region,
            validatePolicyDocument: { doc in
                doc.hasPrefix("{") && doc.contains("Statement") ? nil : "not a policy document"
            },
            certificateCrypto: crypto,
            backend: backend)
    }

    /// Calls the router as a client would: signed with `key` (the default tenant's unless given; nil sends the
    /// request unsigned), from `peer`.
    func call(_ method: String, _ target: String, json: String? = nil, peer: String? = "127.0.0.1",
              headers: [String: String] = [:], key: AccessKey? = FakeBackend.defaultKey) async -> Answer
    {
        let body = json.map { Array($0.utf8) } ?? []
        var request = APIRequest(method: method, target: target, body: body, peerAddress: peer, headers: headers)
        if let key {
            request = Self.signed(request, key: key, region: router.region, now: backend.nowMs() / 1000)
        }
        return Answer(await router.handle(request))
    }

    /// `request` with SigV4 headers for `key` (service `iot`), `host` added when missing.
    static func signed(_ request: APIRequest, key: AccessKey, region: String, service: String = "iot",
                       now: Int64) -> APIRequest
    {
        var r = request
        if r.headers["host"] == nil { r.headers["host"] = "127.0.0.1:8080" }
        let signer = SigV4Signer(accessKeyId: key.accessKeyID, secretAccessKey: key.secretKey, region: region,
                                 service: service)
        for (name, value) in signer.sign(method: r.method, path: r.path, query: r.query,
                                         headers: r.headers.map { (name: $0.key, value: $0.value) },
                                         body: r.body ?? [], now: now) {
            r.headers[name] = value
        }
        return r
    }
}

/// A response with its JSON body parsed.
struct Answer {
    let response: APIResponse
    init(_ response: APIResponse) { self.response = response }

    var status: Int { response.status }
    var errorType: String? { response.headers["x-amzn-ErrorType"] }
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    }
    var keys: [String] { json.keys.sorted() }
    var message: String { json["message"] as? String ?? "" }
    func string(_ key: String) -> String? { json[key] as? String }
    func int(_ key: String) -> Int? { (json[key] as? NSNumber)?.intValue }
    var attributes: [String: String] { json["attributes"] as? [String: String] ?? [:] }
    var thingNames: [String] { (json["things"] as? [[String: Any]] ?? []).compactMap { $0["thingName"] as? String } }
}
