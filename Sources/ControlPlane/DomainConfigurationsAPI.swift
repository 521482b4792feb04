import ClusterState
import IoTTypes

/// DescribeEndpoint and the domain configuration operations of the AWS `iot` control plane (AWS-IOT-SPEC §10,
/// botocore `iot` 2015-05-28), in the shape of `ThingsAPI`. A domain configuration serves an imported server
/// certificate (`ServerCertificatesAPI`, Flotilla's ACM stand-in) named by its ACM-shaped ARN; it becomes the same
/// `DomainConfiguration` the admin route makes, so the TLS listeners serve both alike.
///
/// | operation                   | route                                                         |
/// |-----------------------------|---------------------------------------------------------------|
/// | DescribeEndpoint            | `GET /endpoint` ?endpointType                                 |
/// | CreateDomainConfiguration   | `POST /domainConfigurations/{name}` {domainName, serverCertificateArns, authorizerConfig, serviceType, tags, …} |
/// | DescribeDomainConfiguration | `GET /domainConfigurations/{name}`                            |
/// | UpdateDomainConfiguration   | `PUT /domainConfigurations/{name}` {domainConfigurationStatus, authorizerConfig, removeAuthorizerConfig, …} |
/// | DeleteDomainConfiguration   | `DELETE /domainConfigurations/{name}` (DISABLED first, as AWS) |
/// | ListDomainConfigurations    | `GET /domainConfigurations` ?marker ?pageSize ?serviceType     |
public struct DomainConfigurationsAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String
    /// The DNS suffix of endpoint addresses (`amazonaws.com`, as AWS; an operator may serve their own zone).
    public var endpointDomain: String

    public static let defaultPageSize = 25
    /// The `iot` model's `AcmCertificateArn` pattern, in parts.
    static let serviceTypes = ["DATA", "CREDENTIAL_PROVIDER", "JOBS"]
    static let authenticationTypes = ["CUSTOM_AUTH_X509", "CUSTOM_AUTH", "AWS_X509", "AWS_SIGV4", "DEFAULT"]
    static let applicationProtocols = ["SECURE_MQTT", "MQTT_WSS", "HTTPS", "DEFAULT"]

    public init(tenant: TenantID = .default, region: String = "us-east-1", endpointDomain: String = "amazonaws.com") {
        self.tenant = tenant
        self.region = region
        self.endpointDomain = endpointDomain
    }

    // MARK: - Requests

    public func parse(_ request: APIRequest) -> Result<DomainOperation, AWSError>? {
        let path = request.path
        guard path == "/endpoint" || path == "/domainConfigurations" || path.hasPrefix("/domainConfigurations/")
        else { return nil }
        guard let target = RequestTarget(path: path, query: request.query) else {
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let s = target.segments
        let body = request.body ?? []
        switch (request.method, s.first, s.count) {
        case ("GET", "endpoint", 1):
            return endpointType(target.query["endpointType"]).map(DomainOperation.describeEndpoint)
        case ("GET", "domainConfigurations", 1):
            return list(target.query)
        case ("POST", "domainConfigurations", 2):
            return name(s[1]).flatMap { create($0, body: body) }
        case ("GET", "domainConfigurations", 2):
            return reservedName(s[1]).map { .describe(name: $0) }
        case ("PUT", "domainConfigurations", 2):
            return reservedName(s[1]).flatMap { update($0, body: body) }
        case ("DELETE", "domainConfigurations", 2):
            return name(s[1]).map { .delete(name: $0) }
        default:
            return .failure(.unknownOperation("no operation \(request.method) \(path)"))
        }
    }

    /// The model's `EndpointType` values. Without one AWS answers the legacy `iot:Data` endpoint.
    private func endpointType(_ raw: String?) -> Result<EndpointType, AWSError> {
        guard let raw else { return .success(.data) }
        guard let t = EndpointType(rawValue: raw) else {
            return .failure(.invalidRequest(
                "endpointType must be one of iot:Data, iot:Data-ATS, iot:CredentialProvider, iot:Jobs"))
        }
        return .success(t)
    }

    private func name(_ raw: String) -> Result<String, AWSError> {
        DomainRules.isValidName(raw)
            ? .success(raw)
            : .failure(.invalidRequest("domainConfigurationName must match [\\w.-]+ and be 1-128 characters"))
    }

    /// `ReservedDomainConfigurationName` (`[\w.:-]+`, 1–128): also AWS's own `iot:Data-ATS`-style names, which
    /// Flotilla does not have (they are then simply not found).
    private func reservedName(_ raw: String) -> Result<String, AWSError> {
        (1...128).contains(raw.utf8.count) && raw.utf8.allSatisfy({ DomainRules.isAlnum($0) || "_.:-".utf8.contains($0) })
            ? .success(raw)
            : .failure(.invalidRequest("domainConfigurationName must match [\\w.:-]+ and be 1-128 characters"))
    }

    private func create(_ name: String, body: [UInt8]) -> Result<DomainOperation, AWSError> {
        JSONBody.decode(CreateDomainConfigurationBody.self, from: body).flatMap { b in
            guard let domainName = b.domainName else {
                return .failure(.invalidRequest(
                    "domainName is required: Flotilla has no AWS-managed domains, only custom ones"))
            }
            guard let arns = b.serverCertificateArns, arns.count == 1 else {
                return .failure(.invalidRequest(
                    "serverCertificateArns must name exactly one imported server certificate"))
            }
            if let v = b.validationCertificateArn, Self.acmCertificateId(v, region: nil, account: nil) == nil {
                return .failure(.invalidRequest("validationCertificateArn is not an ACM certificate ARN"))
            }
            let certificateId: String
            switch serverCertificateId(arns[0]) {
            case .success(let id): certificateId = id
            case .failure(let e): return .failure(e)
            }
            let serviceType = b.serviceType ?? "DATA"
            guard Self.serviceTypes.contains(serviceType) else {
                return .failure(.invalidRequest("serviceType must be DATA, CREDENTIAL_PROVIDER or JOBS"))
            }
            guard serviceType == "DATA" else {  // as AWS IoT Core: "currently supports only the DATA service type"
                return .failure(.invalidRequest("only the DATA service type is supported"))
            }
            if let problem = common(authenticationType: b.authenticationType,
                                    applicationProtocol: b.applicationProtocol, tlsConfig: b.tlsConfig,
                                    serverCertificateConfig: b.serverCertificateConfig,
                                    clientCertificateConfig: b.clientCertificateConfig) {
                return .failure(.invalidRequest(problem))
            }
            if let a = b.authorizerConfig?.defaultAuthorizerName, !DomainRules.isValidAuthorizerName(a) {
                return .failure(.invalidRequest("defaultAuthorizerName must match [\\w=,@-]+ and be 1-128 characters"))
            }
            let tags = (b.tags ?? []).map { ResourceTag(key: $0.Key ?? "", value: $0.Value ?? "") }
            if let problem = TagRules.problem(tags) { return .failure(.invalidRequest(problem)) }
            let details = DomainConfigurationDetails(
                serverCertificateId: certificateId, serviceType: serviceType,
                allowAuthorizerOverride: b.authorizerConfig?.allowAuthorizerOverride,
                securityPolicy: b.tlsConfig?.securityPolicy, authenticationType: b.authenticationType,
                applicationProtocol: b.applicationProtocol)
            return .success(.create(.init(name: name, domainName: domainName, serverCertificateId: certificateId,
                                          defaultAuthorizerName: b.authorizerConfig?.defaultAuthorizerName,
                                          details: details, tags: tags)))
        }
    }

    private func update(_ name: String, body: [UInt8]) -> Result<DomainOperation, AWSError> {
        JSONBody.decode(UpdateDomainConfigurationBody.self, from: body).flatMap { b in
            var status: DomainConfigurationStatus?
            if let raw = b.domainConfigurationStatus {
                guard let s = DomainConfigurationStatus(awsName: raw) else {
                    return .failure(.invalidRequest("domainConfigurationStatus must be ENABLED or DISABLED"))
                }
                status = s
            }
            var authorizer = ClusterCommand.AuthorizerChange.keep
            if b.removeAuthorizerConfig == true {
                guard b.authorizerConfig == nil else {
                    return .failure(.invalidRequest("authorizerConfig and removeAuthorizerConfig cannot both be set"))
                }
                authorizer = .remove
            } else if let c = b.authorizerConfig {
                if let a = c.defaultAuthorizerName, !DomainRules.isValidAuthorizerName(a) {
                    return .failure(.invalidRequest("defaultAuthorizerName must match [\\w=,@-]+ and be 1-128 characters"))
                }
                authorizer = .set(defaultAuthorizerName: c.defaultAuthorizerName,
                                  allowAuthorizerOverride: c.allowAuthorizerOverride)
            }
            if let problem = common(authenticationType: b.authenticationType,
                                    applicationProtocol: b.applicationProtocol, tlsConfig: b.tlsConfig,
                                    serverCertificateConfig: b.serverCertificateConfig,
                                    clientCertificateConfig: b.clientCertificateConfig) {
                return .failure(.invalidRequest(problem))
            }
            return .success(.update(.init(name: name, status: status, authorizer: authorizer,
                                          securityPolicy: b.tlsConfig?.securityPolicy,
                                          authenticationType: b.authenticationType,
                                          applicationProtocol: b.applicationProtocol)))
        }
    }

    /// Members shared by create and update; nil when they are acceptable.
    private func common(authenticationType: String?, applicationProtocol: String?, tlsConfig: TlsConfigBody?,
                        serverCertificateConfig: ServerCertificateConfigBody?,
                        clientCertificateConfig: ClientCertificateConfigBody?) -> String? {
        if let a = authenticationType, !Self.authenticationTypes.contains(a) {
            return "authenticationType must be one of \(Self.authenticationTypes.joined(separator: ", "))"
        }
        if let a = applicationProtocol, !Self.applicationProtocols.contains(a) {
            return "applicationProtocol must be one of \(Self.applicationProtocols.joined(separator: ", "))"
        }
        if let p = tlsConfig?.securityPolicy, !(1...128).contains(p.utf8.count) {
            return "tlsConfig.securityPolicy must be 1-128 characters"
        }
        if let c = serverCertificateConfig,
           c.enableOCSPCheck == true || c.ocspLambdaArn != nil || c.ocspAuthorizedResponderArn != nil {
            return "serverCertificateConfig (OCSP stapling) is not supported by Flotilla"
        }
        if clientCertificateConfig?.clientCertificateCallbackArn != nil {
            return "clientCertificateConfig (a Lambda callback) is not supported by Flotilla"
        }
        return nil
    }

    /// The certificate id of an ACM-shaped ARN of this tenant and region (imported with `ServerCertificatesAPI`).
    private func serverCertificateId(_ arn: String) -> Result<String, AWSError> {
        guard Self.acmCertificateId(arn, region: nil, account: nil) != nil else {
            return .failure(.invalidRequest("serverCertificateArns must hold ACM certificate ARNs"))
        }
        guard let id = Self.acmCertificateId(arn, region: region, account: tenant.accountID) else {
            return .failure(.invalidRequest("The server certificate \(arn) cannot be found."))
        }
        return .success(id)
    }

    /// `arn:aws:acm:<region>:<account>:certificate/<id>` → id, checking region and account when given.
    static func acmCertificateId(_ arn: String, region: String?, account: String?) -> String? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].hasPrefix("aws"), parts[2] == "acm",
              TenantID.isAccountID(parts[4]),
              parts[5].hasPrefix("certificate/"), (1...2048).contains(arn.utf8.count)
        else { return nil }
        let id = String(parts[5].dropFirst("certificate/".count))
        guard !id.isEmpty, id.utf8.allSatisfy({ DomainRules.isAlnum($0) || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "-") })
        else { return nil }
        if let region, parts[3] != region { return nil }
        if let account, parts[4] != account { return nil }
        return id
    }

    private func list(_ query: [String: String]) -> Result<DomainOperation, AWSError> {
        var page = PolicyOperation.Page()
        page.pageSize = Self.defaultPageSize
        if let raw = query["pageSize"] {
            guard let n = Int(raw), (1...250).contains(n) else {
                return .failure(.invalidRequest("pageSize must be a whole number from 1 to 250"))
            }
            page.pageSize = n
        }
        if let marker = query["marker"], !marker.isEmpty {
            guard let after = PageToken.decode(marker) else { return .failure(.invalidRequest("invalid marker")) }
            page.after = after
        }
        var serviceType: String?
        if let raw = query["serviceType"] {
            guard Self.serviceTypes.contains(raw) else {
                return .failure(.invalidRequest("serviceType must be DATA, CREDENTIAL_PROVIDER or JOBS"))
            }
            serviceType = raw
        }
        return .success(.list(page, serviceType: serviceType))
    }

    // MARK: - Commands

    public func command(for operation: DomainOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .create(let c):
            let create = ClusterCommand.createDomainConfigurationFromCertificate(.init(
                tenant: tenant, domainConfigurationName: c.name, domainName: c.domainName,
                serverCertificateId: c.serverCertificateId, defaultAuthorizerName: c.defaultAuthorizerName,
                details: c.details, nowMs: nowMs))
            return c.tags.isEmpty
                ? create
                : .createWithTags(create, tenant: tenant, resource: "domainconfiguration/\(c.name)", tags: c.tags)
        case .update(let u):
            return .updateDomainConfiguration(.init(
                tenant: tenant, domainConfigurationName: u.name, status: u.status, authorizer: u.authorizer,
                securityPolicy: u.securityPolicy, authenticationType: u.authenticationType,
                applicationProtocol: u.applicationProtocol, nowMs: nowMs))
        case .delete(let name):
            return .deleteDisabledDomainConfiguration(tenant: tenant, domainConfigurationName: name)
        case .describeEndpoint, .describe, .list:
            return nil
        }
    }

    // MARK: - Answers

    public func respond(to operation: DomainOperation, outcome: ClusterOutcome, state: ClusterState) -> APIResponse {
        if case .failure(let error) = outcome { return AWSError(error, what: operation.subject).response }
        switch operation {
        case .create(let c):
            return .json(JSONBody.encode(DomainConfigurationNameAndArn(
                domainConfigurationName: c.name, domainConfigurationArn: arn(c.name))))
        case .update(let u):
            return .json(JSONBody.encode(DomainConfigurationNameAndArn(
                domainConfigurationName: u.name, domainConfigurationArn: arn(u.name))))
        case .delete, .describeEndpoint, .describe, .list:
            return .json(JSONBody.encode([String: String]()))
        }
    }

    public func respond(to operation: DomainOperation, state: ClusterState) -> APIResponse {
        switch operation {
        case .describeEndpoint(let type):
            let prefix = state.endpointPrefix(tenant: tenant)
            return .json(JSONBody.encode(["endpointAddress": type.address(prefix: prefix, region: region,
                                                                          domain: endpointDomain)]))
        case .describe(let name):
            guard let d = state.domainConfiguration(tenant: tenant, name: name),
                  let details = state.domainConfigurationDetails(tenant: tenant, name: name)
            else { return AWSError.resourceNotFound("Domain configuration \(name) cannot be found.").response }
            return .json(JSONBody.encode(describe(d, details, state: state)))
        case .list(let page, let serviceType):
            let names = state.domainConfigurations(tenant: tenant).filter { d in
                serviceType.map { state.domainConfigurationDetails(tenant: tenant, name: d.domainConfigurationName)?
                    .serviceType == $0 } ?? true
            }.map(\.domainConfigurationName)
            let (slice, next) = PoliciesAPI.paginate(names, page)
            return .json(JSONBody.encode(ListDomainConfigurationsResponse(
                domainConfigurations: slice.map { name in
                    DomainConfigurationSummary(
                        domainConfigurationName: name, domainConfigurationArn: arn(name),
                        serviceType: state.domainConfigurationDetails(tenant: tenant, name: name)?.serviceType ?? "DATA")
                }, nextMarker: next)))
        case .create, .update, .delete:
            return AWSError.internalFailure("\(operation) is a write").response
        }
    }

    private func describe(_ d: DomainConfiguration, _ details: DomainConfigurationDetails,
                          state: ClusterState) -> DescribeDomainConfigurationResponse {
        var certificates: [ServerCertificateSummary] = []
        if let id = details.serverCertificateId {
            let certificate = state.serverCertificate(tenant: tenant, id: id)
            let arn = certificate?.arn(region: region) ?? "arn:aws:acm:\(region):\(tenant.accountID):certificate/\(id)"
            certificates.append(ServerCertificateSummary(
                serverCertificateArn: arn, serverCertificateStatus: certificate == nil ? "INVALID" : "VALID",
                serverCertificateStatusDetail: certificate == nil ? "the imported certificate was deleted" : nil))
        }
        let authorizer: AuthorizerConfigBody? =
            d.defaultAuthorizerName == nil && details.allowAuthorizerOverride == nil
            ? nil : AuthorizerConfigBody(defaultAuthorizerName: d.defaultAuthorizerName,
                                         allowAuthorizerOverride: details.allowAuthorizerOverride)
        return DescribeDomainConfigurationResponse(
            domainConfigurationName: d.domainConfigurationName,
            domainConfigurationArn: arn(d.domainConfigurationName), domainName: d.domainName,
            serverCertificates: certificates, authorizerConfig: authorizer,
            domainConfigurationStatus: d.status.awsName, serviceType: details.serviceType,
            domainType: "CUSTOMER_MANAGED", lastStatusChangeDate: PoliciesAPI.seconds(d.lastStatusChangeAtMs),
            tlsConfig: details.securityPolicy.map { TlsConfigBody(securityPolicy: $0) },
            authenticationType: details.authenticationType, applicationProtocol: details.applicationProtocol)
    }

    func arn(_ name: String) -> String { "arn:aws:iot:\(region):\(tenant.accountID):domainconfiguration/\(name)" }
}

/// The `iot` model's `EndpointType` values and their AWS address shapes.
public enum EndpointType: String, Sendable, Hashable {
    case data = "iot:Data"
    case dataATS = "iot:Data-ATS"
    case credentialProvider = "iot:CredentialProvider"
    case jobs = "iot:Jobs"

    /// `<prefix>.iot.…` (legacy, VeriSign-signed at AWS), `<prefix>-ats.iot.…`,
    /// `<prefix>.credentials.iot.…`, `<prefix>.jobs.iot.…`, each under `<region>.<domain>`.
    public func address(prefix: String, region: String, domain: String) -> String {
        switch self {
        case .data: "\(prefix).iot.\(region).\(domain)"
        case .dataATS: TenantEndpoint.dataATSHost(prefix: prefix, region: region, baseDomain: domain)
        case .credentialProvider: "\(prefix).credentials.iot.\(region).\(domain)"
        case .jobs: "\(prefix).jobs.iot.\(region).\(domain)"
        }
    }
}

/// What a domain configuration request asks for.
public enum DomainOperation: Sendable, Hashable {
    case describeEndpoint(EndpointType)
    case create(Create)
    case describe(name: String)
    case update(Update)
    case delete(name: String)
    case list(PolicyOperation.Page, serviceType: String?)

    public struct Create: Sendable, Hashable {
        var name: String
        var domainName: String
        var serverCertificateId: String
        var defaultAuthorizerName: String?
        var details: DomainConfigurationDetails
        var tags: [ResourceTag]
    }

    public struct Update: Sendable, Hashable {
        var name: String
        var status: DomainConfigurationStatus?
        var authorizer: ClusterCommand.AuthorizerChange
        var securityPolicy: String?
        var authenticationType: String?
        var applicationProtocol: String?
    }

    var subject: String {
        switch self {
        case .create(let c): "Domain configuration \(c.name) or domain name \(c.domainName)"
        case .update(let u): "Domain configuration \(u.name)"
        case .describe(let n), .delete(let n): "Domain configuration \(n)"
        case .describeEndpoint, .list: "The resource"
        }
    }
}

// MARK: - Wire shapes (botocore `iot` members)

/// `Tag`: the model spells its members `Key` and `Value`.
/// The model's `Tag` (members `Key`, `Value`), as every API's `tags` member carries it.
struct TagBody: Codable {
    var Key: String?
    var Value: String?

    /// The stored form; a missing key or value is empty (and a missing key then fails `TagRules`).
    var resourceTag: ResourceTag { ResourceTag(key: Key ?? "", value: Value ?? "") }
}

struct AuthorizerConfigBody: Codable, Equatable {
    var defaultAuthorizerName: String?
    var allowAuthorizerOverride: Bool?
}

struct TlsConfigBody: Codable { var securityPolicy: String? }
struct ServerCertificateConfigBody: Decodable {
    var enableOCSPCheck: Bool?
    var ocspLambdaArn: String?
    var ocspAuthorizedResponderArn: String?
}
struct ClientCertificateConfigBody: Decodable { var clientCertificateCallbackArn: String? }

struct CreateDomainConfigurationBody: Decodable {
    var domainName: String?
    var serverCertificateArns: [String]?
    var validationCertificateArn: String?
    var authorizerConfig: AuthorizerConfigBody?
    var serviceType: String?
    var tags: [TagBody]?
    var tlsConfig: TlsConfigBody?
    var serverCertificateConfig: ServerCertificateConfigBody?
    var authenticationType: String?
    var applicationProtocol: String?
    var clientCertificateConfig: ClientCertificateConfigBody?
}

struct UpdateDomainConfigurationBody: Decodable {
    var authorizerConfig: AuthorizerConfigBody?
    var domainConfigurationStatus: String?
    var removeAuthorizerConfig: Bool?
    var tlsConfig: TlsConfigBody?
    var serverCertificateConfig: ServerCertificateConfigBody?
    var authenticationType: String?
    var applicationProtocol: String?
    var clientCertificateConfig: ClientCertificateConfigBody?
}

struct DomainConfigurationNameAndArn: Encodable {
    var domainConfigurationName, domainConfigurationArn: String
}

struct ServerCertificateSummary: Encodable {
    var serverCertificateArn: String
    var serverCertificateStatus: String
    var serverCertificateStatusDetail: String?
}

struct DescribeDomainConfigurationResponse: Encodable {
    var domainConfigurationName, domainConfigurationArn, domainName: String
    var serverCertificates: [ServerCertificateSummary]
    var authorizerConfig: AuthorizerConfigBody?
    var domainConfigurationStatus, serviceType, domainType: String
    var lastStatusChangeDate: Double
    var tlsConfig: TlsConfigBody?
    var authenticationType: String?
    var applicationProtocol: String?
}

struct DomainConfigurationSummary: Encodable {
    var domainConfigurationName, domainConfigurationArn, serviceType: String
}

struct ListDomainConfigurationsResponse: Encodable {
    var domainConfigurations: [DomainConfigurationSummary]
    var nextMarker: String?
}
