import ClusterState
import IoTTypes

/// Flotilla's admin routes for domain configurations and certificates (issue 4), until the AWS-shaped control
/// plane operations exist. Loopback only, like every route (see `ControlPlaneRouter`). The tenant is the `tenant`
/// query parameter (12 digits), the default tenant when absent. Answers never include a private key.
///
/// | route                                         | body                                                        | answer |
/// |-----------------------------------------------|-------------------------------------------------------------|--------|
/// | `POST /cluster/domains`                       | `{"domainConfigurationName", "domainName", "serverCertificateChainPem", "privateKeyPem", "status"?, "defaultAuthorizerName"?}` | `{"domainConfigurationName", "domainName", "status"}` |
/// | `GET /cluster/domains`                        |                                                             | `{"domainConfigurations": [{name, domainName, status, defaultAuthorizerName?, createdAtMs, lastStatusChangeAtMs}]}` |
/// | `DELETE /cluster/domains/{name}`              |                                                             | `{}` |
/// | `POST /cluster/certificates`                  | `{"certificatePem", "caCertificateId"?, "status"?}` (ACTIVE) | `{"certificateId", "status"}` |
/// | `POST /cluster/ca-certificates`               | `{"caCertificatePem", "status"?}` (ACTIVE)                   | `{"certificateId", "status"}` |
/// | `GET /cluster/certificates`                   |                                                             | `{"certificates": [...], "caCertificates": [...]}` |
/// | `PUT /cluster/certificates/{id}?newStatus=`   |                                                             | `{}` |
/// | `PUT /cluster/ca-certificates/{id}?newStatus=` |                                                            | `{}` |
///
/// Certificate ids (SHA-256 of the first certificate's DER) are computed by the caller's `certificateID` (the shell,
/// with OpenSSL): the control plane is the proposer.
extension AdminAPI {
    static func parseRegistry(method: String, target: RequestTarget, body: [UInt8],
                              certificateID: (String) -> String?) -> Result<AdminOperation, AWSError>?
    {
        let s = target.segments
        guard s.count >= 2, s[0] == "cluster", ["domains", "certificates", "ca-certificates"].contains(s[1]) else {
            return nil
        }
        let tenant: TenantID
        if let raw = target.query["tenant"] {
            guard TenantID.isAccountID(raw) else {
                return .failure(.invalidRequest("tenant must be a 12-digit account id"))
            }
            tenant = TenantID(raw)
        } else {
            tenant = .default
        }
        switch (method, s.count, s[1]) {
        case ("POST", 2, "domains"):
            return decode(DomainBody.self, body).flatMap { b in
                guard let name = b.domainConfigurationName, let domainName = b.domainName,
                      let chain = b.serverCertificateChainPem, let key = b.privateKeyPem
                else {
                    return .failure(.invalidRequest(
                        "domainConfigurationName, domainName, serverCertificateChainPem and privateKeyPem are required"))
                }
                var status = DomainConfigurationStatus.enabled
                if let raw = b.status {
                    guard let parsed = DomainConfigurationStatus(awsName: raw) else {
                        return .failure(.invalidRequest("status must be ENABLED or DISABLED"))
                    }
                    status = parsed
                }
                let d = DomainConfiguration(tenant: tenant, domainConfigurationName: name, domainName: domainName,
                                            serverCertificateChainPEM: chain, privateKeyPEM: key, status: status,
                                            defaultAuthorizerName: b.defaultAuthorizerName, createdAtMs: 0)
                if let problem = ClusterState.domainConfigurationProblem(d) { return .failure(.invalidRequest(problem)) }
                return .success(.registry(.createDomain(d)))
            }
        case ("GET", 2, "domains"):
            return .success(.registry(.listDomains(tenant)))
        case ("DELETE", 3, "domains"):
            return .success(.registry(.deleteDomain(tenant, name: s[2])))
        case ("POST", 2, "certificates"), ("POST", 2, "ca-certificates"):
            let isCA = s[1] == "ca-certificates"
            return decode(CertificateBody.self, body).flatMap { b in
                guard let pem = isCA ? b.caCertificatePem : b.certificatePem else {
                    return .failure(.invalidRequest("\(isCA ? "caCertificatePem" : "certificatePem") is required"))
                }
                guard let id = certificateID(pem) else {
                    return .failure(.invalidRequest("the PEM holds no readable CERTIFICATE block"))
                }
                let rawStatus = b.status ?? "ACTIVE"
                if isCA {
                    guard b.caCertificateId == nil else {
                        return .failure(.invalidRequest("caCertificateId is for device certificates"))
                    }
                    guard let status = CACertificateStatus(awsName: rawStatus) else {
                        return .failure(.invalidRequest("status must be ACTIVE or INACTIVE"))
                    }
                    return .success(.registry(.registerCA(tenant, id: id, pem: pem, status: status)))
                }
                guard let status = CertificateStatus(awsName: rawStatus) else {
                    return .failure(.invalidRequest("status must be one of ACTIVE, INACTIVE, PENDING_ACTIVATION"))
                }
                return .success(.registry(.registerCertificate(tenant, id: id, pem: pem,
                                                               caCertificateId: b.caCertificateId?.lowercased(),
                                                               status: status)))
            }
        case ("GET", 2, "certificates"):
            return .success(.registry(.listCertificates(tenant)))
        case ("PUT", 3, "certificates"), ("PUT", 3, "ca-certificates"):
            let id = s[2].lowercased()
            guard let raw = target.query["newStatus"] else { return .failure(.invalidRequest("newStatus is required")) }
            if s[1] == "ca-certificates" {
                guard let status = CACertificateStatus(awsName: raw) else {
                    return .failure(.invalidRequest("newStatus must be ACTIVE or INACTIVE"))
                }
                return .success(.registry(.updateCAStatus(tenant, id: id, status: status)))
            }
            guard let status = CertificateStatus(awsName: raw) else {
                return .failure(.invalidRequest("newStatus must be a CertificateStatus (ACTIVE, INACTIVE, REVOKED, …)"))
            }
            return .success(.registry(.updateCertificateStatus(tenant, id: id, status: status)))
        default:
            return .failure(.unknownOperation("no operation \(method) /\(s.joined(separator: "/"))"))
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) -> Result<T, AWSError> {
        JSONBody.decode(type, from: body)
    }

    /// The command a registry operation proposes, or nil for a read.
    public static func command(for op: RegistryOperation, nowMs: Int64) -> ClusterCommand? {
        switch op {
        case .createDomain(var d):
            d.createdAtMs = nowMs
            d.lastStatusChangeAtMs = nowMs
            return .createDomainConfiguration(d)
        case .deleteDomain(let tenant, let name):
            return .deleteDomainConfiguration(tenant: tenant, domainConfigurationName: name)
        case .registerCA(let tenant, let id, let pem, let status):
            return .registerCACertificate(CACertificate(tenant: tenant, caCertificateId: id, certificatePEM: pem,
                                                        status: status, createdAtMs: nowMs))
        case .registerCertificate(let tenant, let id, let pem, let ca, let status):
            return .registerCertificate(Certificate(tenant: tenant, certificateId: id, certificatePEM: pem,
                                                    caCertificateId: ca, status: status, createdAtMs: nowMs))
        case .updateCAStatus(let tenant, let id, let status):
            return .updateCACertificateStatus(tenant: tenant, caCertificateId: id, status: status, nowMs: nowMs)
        case .updateCertificateStatus(let tenant, let id, let status):
            return .updateCertificateStatus(tenant: tenant, certificateId: id, status: status, nowMs: nowMs)
        case .listDomains, .listCertificates:
            return nil
        }
    }

    /// The answer to a read.
    public static func respond(to op: RegistryOperation, state: ClusterState) -> APIResponse {
        switch op {
        case .listDomains(let tenant):
            let rows = state.domainConfigurations(tenant: tenant).map {
                DomainRow(domainConfigurationName: $0.domainConfigurationName, domainName: $0.domainName,
                          status: $0.status.awsName, defaultAuthorizerName: $0.defaultAuthorizerName,
                          createdAtMs: $0.createdAtMs, lastStatusChangeAtMs: $0.lastStatusChangeAtMs)
            }
            return .json(JSONBody.encode(DomainList(domainConfigurations: rows)))
        case .listCertificates(let tenant):
            let certs = state.certificates(tenant: tenant).map {
                CertificateRow(certificateId: $0.certificateId, status: $0.status.awsName,
                               caCertificateId: $0.caCertificateId, createdAtMs: $0.createdAtMs,
                               lastModifiedAtMs: $0.lastModifiedAtMs)
            }
            let cas = state.caCertificates(tenant: tenant).map {
                CertificateRow(certificateId: $0.caCertificateId, status: $0.status.awsName, caCertificateId: nil,
                               createdAtMs: $0.createdAtMs, lastModifiedAtMs: $0.lastModifiedAtMs)
            }
            return .json(JSONBody.encode(CertificateList(certificates: certs, caCertificates: cas)))
        case .createDomain, .deleteDomain, .registerCA, .registerCertificate, .updateCAStatus,
             .updateCertificateStatus:
            return AWSError.internalFailure("a write has no read answer").response
        }
    }

    /// The answer to a write, from its outcome.
    public static func respond(to op: RegistryOperation, outcome: ClusterOutcome) -> APIResponse {
        if case .failure(let error) = outcome { return AWSError(error, registry: op).response }
        switch op {
        case .createDomain(let d):
            return .json(JSONBody.encode(DomainCreated(
                domainConfigurationName: d.domainConfigurationName,
                domainName: DomainRules.canonicalDomainName(d.domainName) ?? d.domainName, status: d.status.awsName)))
        case .registerCA(_, let id, _, let status):
            return .json(JSONBody.encode(Registered(certificateId: id, status: status.awsName)))
        case .registerCertificate(_, let id, _, _, let status):
            return .json(JSONBody.encode(Registered(certificateId: id, status: status.awsName)))
        case .deleteDomain, .updateCAStatus, .updateCertificateStatus, .listDomains, .listCertificates:
            return .json(Array("{}".utf8))
        }
    }

    private struct DomainBody: Decodable {
        var domainConfigurationName: String?
        var domainName: String?
        var serverCertificateChainPem: String?
        var privateKeyPem: String?
        var status: String?
        var defaultAuthorizerName: String?
    }

    private struct CertificateBody: Decodable {
        var certificatePem: String?
        var caCertificatePem: String?
        var caCertificateId: String?
        var status: String?
    }

    private struct DomainRow: Encodable {
        var domainConfigurationName: String
        var domainName: String
        var status: String
        var defaultAuthorizerName: String?
        var createdAtMs: Int64
        var lastStatusChangeAtMs: Int64
    }

    private struct DomainList: Encodable { var domainConfigurations: [DomainRow] }
    private struct DomainCreated: Encodable {
        var domainConfigurationName: String
        var domainName: String
        var status: String
    }

    private struct CertificateRow: Encodable {
        var certificateId: String
        var status: String
        var caCertificateId: String?
        var createdAtMs: Int64
        var lastModifiedAtMs: Int64
    }

    private struct CertificateList: Encodable {
        var certificates: [CertificateRow]
        var caCertificates: [CertificateRow]
    }

    private struct Registered: Encodable {
        var certificateId: String
        var status: String
    }
}

/// A domain or certificate admin request (`AdminAPI+Registry.swift`).
public enum RegistryOperation: Sendable, Hashable {
    /// `createdAtMs` is stamped when the command is made.
    case createDomain(DomainConfiguration)
    case listDomains(TenantID)
    case deleteDomain(TenantID, name: String)
    case registerCA(TenantID, id: String, pem: String, status: CACertificateStatus)
    case registerCertificate(TenantID, id: String, pem: String, caCertificateId: String?, status: CertificateStatus)
    case listCertificates(TenantID)
    case updateCAStatus(TenantID, id: String, status: CACertificateStatus)
    case updateCertificateStatus(TenantID, id: String, status: CertificateStatus)
}

extension AWSError {
    /// A registry command's failure (exhaustive, no `default:`).
    init(_ error: ClusterStateError, registry op: RegistryOperation) {
        let what: String
        switch op {
        case .createDomain(let d):
            what = "Domain configuration \(d.domainConfigurationName) or domain name \(d.domainName)"
        case .deleteDomain(_, let name): what = "Domain configuration \(name)"
        case .registerCA(_, let id, _, _), .updateCAStatus(_, let id, _): what = "CA certificate \(id)"
        case .registerCertificate(_, let id, _, _, _), .updateCertificateStatus(_, let id, _):
            what = "Certificate \(id)"
        case .listDomains, .listCertificates: what = "The resource"
        }
        self.init(error, what: what)
    }
}
