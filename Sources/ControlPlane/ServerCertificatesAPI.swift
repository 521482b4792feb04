import ClusterState
import IoTTypes

/// What the shell's X.509 code reads from a server certificate and its key (`ControlPlaneBackend
/// .inspectServerCertificate`): the pure control plane cannot parse X.509 itself.
public struct ServerCertificateFacts: Sendable, Hashable {
    /// Lower-case hex SHA-256 of the leaf certificate's DER.
    public var sha256Hex: String
    /// The leaf's subjectAltName DNS names, else its subject CN.
    public var domainNames: [String]
    public var notBeforeMs: Int64
    public var notAfterMs: Int64
    public init(sha256Hex: String, domainNames: [String], notBeforeMs: Int64, notAfterMs: Int64) {
        self.sha256Hex = sha256Hex
        self.domainNames = domainNames
        self.notBeforeMs = notBeforeMs
        self.notAfterMs = notAfterMs
    }
}

/// Flotilla's stand-in for ACM's ImportCertificate: server certificates for domain configurations, named by
/// ACM-shaped ARNs (`arn:aws:acm:<region>:<account>:certificate/<uuid>`). Flotilla's own routes (not AWS's),
/// under `/cluster`, loopback only like the other admin routes. The tenant is the `tenant` query parameter
/// (12 digits), else the caller's. Answers never include the private key.
///
/// | route                                         | body                                        | answer |
/// |-----------------------------------------------|---------------------------------------------|--------|
/// | `POST /cluster/server-certificates`           | `{"certificateChainPem", "privateKeyPem"}`  | `{"certificateArn", "certificateId", "domainNames", "notBefore", "notAfter"}` |
/// | `GET /cluster/server-certificates`            |                                             | `{"serverCertificates": [{certificateArn, certificateId, domainNames, notBefore, notAfter, importedAt, domainConfigurations}]}` |
/// | `DELETE /cluster/server-certificates/{id or ARN}` |                                         | `{}` (409 DeleteConflictException while a domain configuration uses it) |
///
/// Import checks (before anything is proposed): both PEMs readable (else InvalidRequestException), the key is the
/// certificate's and the certificate is within its validity (else CertificateValidationException). Importing the
/// same certificate and key again answers the same ARN.
public struct ServerCertificatesAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String
    /// The shell's X.509 reader: facts, or why the pair is refused.
    public var inspect: @Sendable (_ chainPEM: String, _ keyPEM: String) -> Result<ServerCertificateFacts, AWSError>
    /// Wall clock (epoch ms) for the validity check at parse time; the command carries its own `nowMs`.
    public var nowMs: Int64

    public init(tenant: TenantID, region: String, nowMs: Int64,
                inspect: @escaping @Sendable (String, String) -> Result<ServerCertificateFacts, AWSError>) {
        self.tenant = tenant
        self.region = region
        self.nowMs = nowMs
        self.inspect = inspect
    }

    public func parse(_ request: APIRequest) -> Result<ServerCertificateOperation, AWSError>? {
        let root = "/cluster/server-certificates"
        guard request.path == root || request.path.hasPrefix(root + "/") else { return nil }
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        var owner = tenant
        if let raw = target.query["tenant"] {
            guard TenantID.isAccountID(raw) else {
                return .failure(.invalidRequest("tenant must be a 12-digit account id"))
            }
            owner = TenantID(raw)
        }
        switch (request.method, target.segments.count) {
        case ("POST", 2):
            return JSONBody.decode(ImportBody.self, from: request.body ?? []).flatMap { b in
                guard let chain = b.certificateChainPem, let key = b.privateKeyPem else {
                    return .failure(.invalidRequest("certificateChainPem and privateKeyPem are required"))
                }
                return inspect(chain, key).flatMap { facts in
                    guard let id = ServerCertificate.certificateId(sha256Hex: facts.sha256Hex) else {
                        return .failure(.internalFailure("the certificate digest is not SHA-256 hex"))
                    }
                    guard facts.notBeforeMs <= nowMs, nowMs <= facts.notAfterMs else {
                        return .failure(.certificateValidation("The certificate is not within its validity period."))
                    }
                    let names = facts.domainNames.compactMap(DomainRules.canonicalDomainName)
                    guard !names.isEmpty else {
                        return .failure(.certificateValidation(
                            "The certificate names no DNS host name (subjectAltName DNS or subject CN)."))
                    }
                    return .success(.importCertificate(ServerCertificate(
                        tenant: owner, certificateId: id, certificateChainPEM: chain, privateKeyPEM: key,
                        domainNames: names, notBeforeMs: facts.notBeforeMs, notAfterMs: facts.notAfterMs,
                        importedAtMs: 0)))
                }
            }
        case ("GET", 2):
            return .success(.list(owner))
        case ("DELETE", 3):
            let raw = target.segments[2]
            let id = DomainConfigurationsAPI.acmCertificateId(raw, region: nil, account: nil) ?? raw
            return .success(.delete(owner, certificateId: id.lowercased()))
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(request.path)"))
        }
    }

    public func command(for operation: ServerCertificateOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .importCertificate(var c):
            c.importedAtMs = nowMs
            return .importServerCertificate(c)
        case .delete(let owner, let id): return .deleteServerCertificate(tenant: owner, certificateId: id)
        case .list: return nil
        }
    }

    public func respond(to operation: ServerCertificateOperation, outcome: ClusterOutcome,
                        state: ClusterState) -> APIResponse {
        switch (operation, outcome) {
        case (.importCertificate(let c), .failure(.resourceAlreadyExists)):
            return AWSError.resourceAlreadyExists(
                "Certificate \(c.certificateId) was imported with another chain or key; delete it first.",
                resourceId: c.certificateId, resourceArn: c.arn(region: region)).response
        case (_, .failure(let error)):
            return AWSError(error, what: operation.subject).response
        case (.importCertificate(let c), .success):
            let stored = state.serverCertificate(tenant: c.tenant, id: c.certificateId) ?? c
            return .json(JSONBody.encode(row(stored, state: state)))
        case (.delete, .success), (.list, .success):
            return .json(JSONBody.encode([String: String]()))
        }
    }

    public func respond(to operation: ServerCertificateOperation, state: ClusterState) -> APIResponse {
        guard case .list(let owner) = operation else {
            return AWSError.internalFailure("\(operation) is a write").response
        }
        return .json(JSONBody.encode(["serverCertificates": state.serverCertificates(tenant: owner).map {
            row($0, state: state)
        }]))
    }

    private func row(_ c: ServerCertificate, state: ClusterState) -> ServerCertificateRow {
        let users = state.domainConfigurations(tenant: c.tenant).filter {
            state.domainConfigurationDetails(tenant: c.tenant, name: $0.domainConfigurationName)?
                .serverCertificateId == c.certificateId
        }.map(\.domainConfigurationName)
        return ServerCertificateRow(
            certificateArn: c.arn(region: region), certificateId: c.certificateId, domainNames: c.domainNames,
            notBefore: PoliciesAPI.seconds(c.notBeforeMs), notAfter: PoliciesAPI.seconds(c.notAfterMs),
            importedAt: PoliciesAPI.seconds(c.importedAtMs), domainConfigurations: users)
    }
}

/// A server certificate request.
public enum ServerCertificateOperation: Sendable, Hashable {
    /// `importedAtMs` is stamped when the command is made.
    case importCertificate(ServerCertificate)
    case list(TenantID)
    case delete(TenantID, certificateId: String)

    var subject: String {
        switch self {
        case .importCertificate(let c): "Server certificate \(c.certificateId)"
        case .delete(_, let id): "Server certificate \(id)"
        case .list: "The resource"
        }
    }
}

private struct ImportBody: Decodable {
    var certificateChainPem: String?
    var privateKeyPem: String?
}

struct ServerCertificateRow: Encodable {
    var certificateArn, certificateId: String
    var domainNames: [String]
    var notBefore, notAfter, importedAt: Double
    var domainConfigurations: [String]
}
