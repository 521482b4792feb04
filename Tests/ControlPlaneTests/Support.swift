import ClusterState
import ControlPlane
import Foundation
import IoTTypes
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

    init(nowMs: Int64 = 1_700_000_000_000) { clock = nowMs }

    func nowMs() -> Int64 { clock }

    func propose(_ command: ClusterCommand) async throws(AWSError) -> ClusterOutcome {
        if let error = failure.withLock({ $0 }) { throw error }
        let index = proposals.withLock { p in
            p.append(command)
            return UInt64(p.count)
        }
        return state.withLock { $0.apply(command, index: index) }
    }

    func read<T>(_ body: (ClusterState) -> T) -> T {
        let copy = state.withLock { $0 }
        return body(copy)
    }

    func clusterStatusJSON() -> String? { status.withLock { $0 } }

    func changeMembership(_ change: MembershipRequest) async throws(AWSError) -> UInt64? {
        if let error = failure.withLock({ $0 }) { throw error }
        changes.withLock { $0.append(change) }
        if case .transferLeadership(let id) = change { return id == 0 ? 2 : id }
        return 1
    }

    func certificateID(pem: String) -> String? {
        fakeCertificateIDs.first { pem.hasPrefix($0.key) }?.value
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

    func call(_ method: String, _ target: String, json: String? = nil, peer: String? = "127.0.0.1",
              headers: [String: String] = [:]) async -> Answer
    {
        let body = json.map { Array($0.utf8) } ?? []
        return Answer(await router.handle(APIRequest(method: method, target: target, body: body, peerAddress: peer,
                                                     headers: headers)))
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
