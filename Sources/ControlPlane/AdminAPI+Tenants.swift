import ClusterState
import IoTTypes

/// Tenants (AWS accounts) and their SigV4 access keys: Flotilla's operator routes, loopback only like every
/// `/cluster/…` route. A secret is shown once, in the answer that creates it; lists show key ids only.
///
/// | route                                             | body                          | answer |
/// |---------------------------------------------------|-------------------------------|--------|
/// | `POST /cluster/tenants`                           | `{"accountId", "name"}`       | `{"accountId", "name"}` |
/// | `GET /cluster/tenants`                            |                               | `{"tenants": [{"accountId", "name", "accessKeyIds"}]}` |
/// | `POST /cluster/tenants/{accountId}/access-keys`   |                               | `{"accountId", "accessKeyId", "secretAccessKey"}` |
/// | `GET /cluster/tenants/{accountId}/access-keys`    |                               | `{"accessKeys": [{"accessKeyId", "createDate"}]}` |
/// | `DELETE /cluster/tenants/{accountId}/access-keys/{accessKeyId}` |                 | `{}` |
public struct TenantsAdminAPI: ControlPlaneAPI {
    public enum Operation: Sendable, Hashable {
        case createTenant(TenantID, name: String)
        case listTenants
        case createAccessKey(AccessKey)
        case listAccessKeys(TenantID)
        case deleteAccessKey(TenantID, accessKeyID: String)
    }

    /// A fresh key for a tenant (the shell's secure generator; tests pass a seeded one).
    let newKey: @Sendable (TenantID) -> AccessKey

    public init(newKey: @escaping @Sendable (TenantID) -> AccessKey) {
        self.newKey = newKey
    }

    public func parse(_ request: APIRequest) -> Result<Operation, AWSError>? {
        guard let target = RequestTarget(path: request.path, query: request.query) else { return nil }
        let s = target.segments
        guard s.count >= 2, s[0] == "cluster", s[1] == "tenants" else { return nil }
        switch (request.method, s.count) {
        case ("POST", 2):
            return JSONBody.decode(TenantBody.self, from: request.body ?? []).flatMap { b in
                guard let id = b.accountId, TenantID.isAccountID(id) else {
                    return .failure(.invalidRequest("accountId must be 12 digits"))
                }
                let name = b.name ?? id
                guard (1...128).contains(name.count) else {
                    return .failure(.invalidRequest("name must be 1 to 128 characters"))
                }
                return .success(.createTenant(TenantID(id), name: name))
            }
        case ("GET", 2):
            return .success(.listTenants)
        default:
            break
        }
        guard s.count >= 4, s[3] == "access-keys" else {
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
        guard TenantID.isAccountID(s[2]) else { return .failure(.invalidRequest("the account id must be 12 digits")) }
        let tenant = TenantID(s[2])
        switch (request.method, s.count) {
        case ("POST", 4): return .success(.createAccessKey(newKey(tenant)))
        case ("GET", 4): return .success(.listAccessKeys(tenant))
        case ("DELETE", 5): return .success(.deleteAccessKey(tenant, accessKeyID: s[4]))
        default: return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    public func command(for operation: Operation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .createTenant(let id, let name): return .createTenant(id, name: name)
        case .createAccessKey(var key):
            key.createdAtMs = nowMs
            return .createAccessKey(key)
        case .deleteAccessKey(let tenant, let id): return .deleteAccessKey(tenant: tenant, accessKeyID: id)
        case .listTenants, .listAccessKeys: return nil
        }
    }

    public func respond(to operation: Operation, state: ClusterState) -> APIResponse {
        switch operation {
        case .listTenants:
            let rows = state.allTenants().map {
                TenantRow(accountId: $0.id.accountID, name: $0.name,
                          accessKeyIds: state.accessKeys(tenant: $0.id).map(\.accessKeyID))
            }
            return .json(JSONBody.encode(["tenants": rows]))
        case .listAccessKeys(let tenant):
            guard state.tenant(tenant) != nil else {
                return AWSError.resourceNotFound("Tenant \(tenant.accountID) does not exist").response
            }
            let rows = state.accessKeys(tenant: tenant).map {
                KeyRow(accessKeyId: $0.accessKeyID, createDate: Double($0.createdAtMs) / 1000)
            }
            return .json(JSONBody.encode(["accessKeys": rows]))
        case .createTenant, .createAccessKey, .deleteAccessKey:
            return AWSError.internalFailure("a write has no read answer").response
        }
    }

    public func respond(to operation: Operation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse {
        if case .failure(let error) = outcome {
            let what: String
            switch operation {
            case .createTenant(let id, _): what = "Tenant \(id.accountID)"
            case .createAccessKey(let key): what = "Tenant \(key.tenant.accountID)"
            case .deleteAccessKey(_, let id): what = "Access key \(id)"
            case .listTenants, .listAccessKeys: what = "The resource"
            }
            return AWSError(error, what: what).response
        }
        switch operation {
        case .createTenant(let id, let name):
            return .json(JSONBody.encode(["accountId": id.accountID, "name": name]))
        case .createAccessKey(let key):
            return .json(JSONBody.encode([
                "accountId": key.tenant.accountID, "accessKeyId": key.accessKeyID, "secretAccessKey": key.secretKey,
            ]))
        case .deleteAccessKey, .listTenants, .listAccessKeys:
            return .json(Array("{}".utf8))
        }
    }

    private struct TenantBody: Decodable {
        var accountId: String?
        var name: String?
    }

    private struct TenantRow: Encodable {
        var accountId: String
        var name: String
        var accessKeyIds: [String]
    }

    private struct KeyRow: Encodable {
        var accessKeyId: String
        var createDate: Double
    }
}
