import ClusterState
import IoTTypes

/// X.509 certificates and CA certificates (AWS-IOT-SPEC §2.1, §3.4; botocore `iot`), in the shape of `ThingsAPI`.
/// The X.509 work (issuing, reading, checking signatures) is the injected `crypto`; the rules are here and in
/// `ClusterState+Certificates.swift`.
///
/// | operation                    | route                                                        |
/// |------------------------------|--------------------------------------------------------------|
/// | CreateKeysAndCertificate     | `POST /keys-and-certificate` ?setAsActive                    |
/// | CreateCertificateFromCsr     | `POST /certificates` ?setAsActive {certificateSigningRequest} |
/// | ListCertificates             | `GET /certificates` ?pageSize ?marker ?isAscendingOrder       |
/// | Describe/Update/DeleteCertificate | `GET` / `PUT` ?newStatus / `DELETE` ?forceDelete `/certificates/{id}` |
/// | RegisterCertificate          | `POST /certificate/register` ?setAsActive {certificatePem, caCertificatePem, status} |
/// | RegisterCertificateWithoutCA | `POST /certificate/register-no-ca` {certificatePem, status}   |
/// | GetRegistrationCode          | `GET /registrationcode`                                      |
/// | RegisterCACertificate        | `POST /cacertificate` ?setAsActive ?allowAutoRegistration {caCertificate, verificationCertificate, certificateMode} |
/// | Describe/Update/DeleteCACertificate | `GET` / `PUT` ?newStatus ?newAutoRegistrationStatus / `DELETE` `/cacertificate/{id}` |
/// | ListCACertificates           | `GET /cacertificates` ?pageSize ?marker ?isAscendingOrder     |
/// | ListCertificatesByCA         | `GET /certificates-by-ca/{caCertificateId}` ?pageSize ?marker ?isAscendingOrder |
///
/// Issued certificates (CreateKeysAndCertificate, CreateCertificateFromCsr) are signed by the tenant's issuing CA,
/// made on first need (the `prerequisite` step, first writer wins) and replicated, so every node signs with the
/// same CA. They are registered themselves, without a `caCertificateId`, as AWS registers the certificates it
/// issues; the TLS layer accepts a registered ACTIVE certificate whatever its chain.
public struct CertificatesAPI: ControlPlaneAPI {
    public var tenant: TenantID
    public var region: String
    public var crypto: CertificateCrypto

    public init(tenant: TenantID = .default, region: String = "us-east-1", crypto: CertificateCrypto) {
        self.tenant = tenant
        self.region = region
        self.crypto = crypto
    }

    static let maxCSRLength = 4096
    static let maxPEMLength = 65536

    // MARK: - Requests

    public func parse(_ request: APIRequest) -> Result<CertificateOperation, AWSError>? {
        guard let target = RequestTarget(path: request.path, query: request.query) else {
            guard Self.owns(request.path) else { return nil }
            return .failure(.invalidRequest("the request URI is not valid percent-encoded UTF-8"))
        }
        let s = target.segments
        let q = target.query
        let body = request.body ?? []
        switch (request.method, s.first, s.count) {
        case ("POST", "keys-and-certificate", 1):
            return flag(q, "setAsActive").map { .createKeysAndCertificate(setAsActive: $0, prepared: nil) }
        case ("POST", "certificates", 1):
            return flag(q, "setAsActive").flatMap { active in
                JSONBody.decode(CSRBody.self, from: body).flatMap { b in
                    guard let csr = b.certificateSigningRequest, (1...Self.maxCSRLength).contains(csr.utf8.count) else {
                        return .failure(.invalidRequest(
                            "certificateSigningRequest must be 1-\(Self.maxCSRLength) characters"))
                    }
                    return .success(.createCertificateFromCsr(csr: csr, setAsActive: active, prepared: nil))
                }
            }
        case ("GET", "certificates", 1):
            return page(q).map { .listCertificates($0) }
        case ("GET", "certificates", 2):
            return certificateId(s[1]).map { .describeCertificate(id: $0) }
        case ("PUT", "certificates", 2):
            guard let raw = q["newStatus"] else { return .failure(.invalidRequest("newStatus is required")) }
            guard let status = CertificateStatus(awsName: raw) else {
                return .failure(.invalidRequest("newStatus must be one of \(Self.statusNames)"))
            }
            return certificateId(s[1]).map { .updateCertificate(id: $0, status: status) }
        case ("DELETE", "certificates", 2):
            return flag(q, "forceDelete").flatMap { force in
                certificateId(s[1]).map { .deleteCertificate(id: $0, force: force) }
            }
        case ("POST", "certificate", 2) where s[1] == "register":
            return flag(q, "setAsActive").flatMap { active in
                JSONBody.decode(RegisterCertificateBody.self, from: body).flatMap { b in
                    pem(b.certificatePem, "certificatePem").flatMap { cert in
                        optionalPEM(b.caCertificatePem, "caCertificatePem").flatMap { ca in
                            status(b.status, default: active ? .active : .inactive).map {
                                .registerCertificate(RegisterCertificate(certificatePEM: cert, caCertificatePEM: ca,
                                                                         status: $0, withoutCA: false), prepared: nil)
                            }
                        }
                    }
                }
            }
        case ("POST", "certificate", 2) where s[1] == "register-no-ca":
            return JSONBody.decode(RegisterCertificateBody.self, from: body).flatMap { b in
                pem(b.certificatePem, "certificatePem").flatMap { cert in
                    status(b.status, default: .inactive).map {
                        .registerCertificate(RegisterCertificate(certificatePEM: cert, caCertificatePEM: nil,
                                                                 status: $0, withoutCA: true), prepared: nil)
                    }
                }
            }
        case ("GET", "registrationcode", 1):
            return .success(.getRegistrationCode)
        case ("POST", "cacertificate", 1):
            return flag(q, "setAsActive").flatMap { active in
                flag(q, "allowAutoRegistration").flatMap { auto in
                    JSONBody.decode(RegisterCABody.self, from: body).flatMap { b in
                        registerCA(b, setAsActive: active, allowAutoRegistration: auto)
                    }
                }
            }
        case ("GET", "cacertificate", 2):
            return certificateId(s[1]).map { .describeCACertificate(id: $0) }
        case ("PUT", "cacertificate", 2):
            var status: CACertificateStatus?
            var auto: AutoRegistrationStatus?
            if let raw = q["newStatus"] {
                guard let st = CACertificateStatus(awsName: raw) else {
                    return .failure(.invalidRequest("newStatus must be ACTIVE or INACTIVE"))
                }
                status = st
            }
            if let raw = q["newAutoRegistrationStatus"] {
                guard let a = AutoRegistrationStatus(awsName: raw) else {
                    return .failure(.invalidRequest("newAutoRegistrationStatus must be ENABLE or DISABLE"))
                }
                auto = a
            }
            return certificateId(s[1]).map { .updateCACertificate(id: $0, status: status, autoRegistration: auto) }
        case ("DELETE", "cacertificate", 2):
            return certificateId(s[1]).map { .deleteCACertificate(id: $0) }
        case ("GET", "cacertificates", 1):
            return page(q).map { .listCACertificates($0) }
        case ("GET", "certificates-by-ca", 2):
            return certificateId(s[1]).flatMap { id in page(q).map { .listCertificatesByCA(caCertificateId: id, $0) } }
        default:
            return Self.owns(request.path)
                ? .failure(.unknownOperation("no operation \(request.method) \(request.path)")) : nil
        }
    }

    static func owns(_ path: String) -> Bool {
        ["/keys-and-certificate", "/certificates", "/certificate", "/registrationcode", "/cacertificate",
         "/cacertificates", "/certificates-by-ca"].contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    static let statusNames = CertificateStatus.allCases.map(\.awsName).joined(separator: ", ")

    /// A certificate id from a URI: 64 hex characters (either case, stored lower case).
    private func certificateId(_ raw: String) -> Result<String, AWSError> {
        let id = raw.lowercased()
        return CertificateRules.isValidCertificateId(id)
            ? .success(id) : .failure(.invalidRequest("certificateId must be 64 hexadecimal characters"))
    }

    private func flag(_ query: [String: String], _ name: String) -> Result<Bool, AWSError> {
        switch query[name] {
        case nil, "false": .success(false)
        case "true": .success(true)
        default: .failure(.invalidRequest("\(name) must be true or false"))
        }
    }

    private func pem(_ value: String?, _ name: String) -> Result<String, AWSError> {
        guard let value, (1...Self.maxPEMLength).contains(value.utf8.count) else {
            return .failure(.invalidRequest("\(name) must be 1-\(Self.maxPEMLength) characters"))
        }
        return .success(value)
    }

    private func optionalPEM(_ value: String?, _ name: String) -> Result<String?, AWSError> {
        guard let value else { return .success(nil) }
        return pem(value, name).map { $0 }
    }

    private func status(_ raw: String?, default fallback: CertificateStatus) -> Result<CertificateStatus, AWSError> {
        guard let raw else { return .success(fallback) }
        guard let s = CertificateStatus(awsName: raw) else {
            return .failure(.invalidRequest("status must be one of \(Self.statusNames)"))
        }
        guard CertificateRules.isRegistrableStatus(s) else {
            return .failure(.invalidRequest("a certificate is registered as ACTIVE, INACTIVE or PENDING_ACTIVATION"))
        }
        return .success(s)
    }

    private func registerCA(_ b: RegisterCABody, setAsActive: Bool, allowAutoRegistration: Bool)
        -> Result<CertificateOperation, AWSError>
    {
        var mode = CertificateMode.default
        if let raw = b.certificateMode {
            guard let m = CertificateMode(awsName: raw) else {
                return .failure(.invalidRequest("certificateMode must be DEFAULT or SNI_ONLY"))
            }
            mode = m
        }
        return pem(b.caCertificate, "caCertificate").flatMap { ca in
            optionalPEM(b.verificationCertificate, "verificationCertificate").flatMap { verification in
                switch (mode, verification) {
                case (.default, nil):
                    return .failure(.invalidRequest("verificationCertificate is required in DEFAULT mode"))
                case (.sniOnly, _?):
                    return .failure(.invalidRequest("verificationCertificate must be empty in SNI_ONLY mode"))
                case (.default, _?), (.sniOnly, nil):
                    return .success(.registerCACertificate(RegisterCA(
                        caCertificatePEM: ca, verificationCertificatePEM: verification, mode: mode,
                        status: setAsActive ? .active : .inactive,
                        autoRegistration: allowAutoRegistration ? .enable : .disable), prepared: nil))
                }
            }
        }
    }

    private func page(_ query: [String: String]) -> Result<PolicyOperation.Page, AWSError> {
        var p = PolicyOperation.Page()
        if let raw = query["pageSize"] {
            guard let n = Int(raw), (1...250).contains(n) else {
                return .failure(.invalidRequest("pageSize must be a whole number from 1 to 250"))
            }
            p.pageSize = n
        }
        if let marker = query["marker"], !marker.isEmpty {
            guard let after = PageToken.decode(marker) else { return .failure(.invalidRequest("invalid marker")) }
            p.after = after
        }
        switch query["isAscendingOrder"] {
        case nil, "true": p.ascending = true
        case "false": p.ascending = false
        default: return .failure(.invalidRequest("isAscendingOrder must be true or false"))
        }
        return .success(p)
    }

    // MARK: - Prerequisites and preparation

    public func prerequisite(for operation: CertificateOperation, state: ClusterState, nowMs: Int64)
        -> Result<ClusterCommand, AWSError>?
    {
        switch operation {
        case .createKeysAndCertificate, .createCertificateFromCsr:
            guard state.issuingCA(tenant: tenant) == nil else { return nil }
            switch crypto.makeIssuingCA("Flotilla IoT Issuing CA \(tenant.accountID)") {
            case .failure(let f): return .failure(Self.error(f))
            case .success(let made):
                guard let facts = crypto.facts(made.certificatePEM) else {
                    return .failure(.internalFailure("the new issuing CA does not parse"))
                }
                return .success(.createIssuingCA(IssuingCA(
                    tenant: tenant, certificateId: facts.id, certificatePEM: made.certificatePEM,
                    privateKeyPEM: made.privateKeyPEM, createdAtMs: nowMs)))
            }
        case .getRegistrationCode:
            guard state.registrationCode(tenant: tenant) == nil else { return nil }
            return .success(.createRegistrationCode(tenant: tenant, code: crypto.newRegistrationCode()))
        case .listCertificates, .describeCertificate, .updateCertificate, .deleteCertificate, .registerCertificate,
             .registerCACertificate, .describeCACertificate, .updateCACertificate, .deleteCACertificate,
             .listCACertificates, .listCertificatesByCA:
            return nil
        }
    }

    public func prepare(_ operation: CertificateOperation, state: ClusterState, nowMs: Int64)
        -> Result<CertificateOperation, AWSError>
    {
        switch operation {
        case .createKeysAndCertificate(let active, _):
            guard let ca = state.issuingCA(tenant: tenant) else {
                return .failure(.internalFailure("the tenant has no issuing CA"))
            }
            switch crypto.createKeysAndCertificate(ca.certificatePEM, ca.privateKeyPEM) {
            case .failure(let f): return .failure(Self.error(f))
            case .success(let keys):
                return issued(keys.certificatePEM, active: active, keyPair: keys).map {
                    .createKeysAndCertificate(setAsActive: active, prepared: $0)
                }
            }
        case .createCertificateFromCsr(let csr, let active, _):
            guard let ca = state.issuingCA(tenant: tenant) else {
                return .failure(.internalFailure("the tenant has no issuing CA"))
            }
            switch crypto.certificateFromCSR(csr, ca.certificatePEM, ca.privateKeyPEM) {
            case .failure(let f): return .failure(Self.error(f))
            case .success(let pem):
                return issued(pem, active: active, keyPair: nil).map {
                    .createCertificateFromCsr(csr: csr, setAsActive: active, prepared: $0)
                }
            }
        case .registerCertificate(let r, _):
            return prepareRegistration(r, state: state, nowMs: nowMs).map { .registerCertificate(r, prepared: $0) }
        case .registerCACertificate(let r, _):
            return prepareCA(r, state: state, nowMs: nowMs).map { .registerCACertificate(r, prepared: $0) }
        case .getRegistrationCode, .listCertificates, .describeCertificate, .updateCertificate, .deleteCertificate,
             .describeCACertificate, .updateCACertificate, .deleteCACertificate, .listCACertificates,
             .listCertificatesByCA:
            return .success(operation)
        }
    }

    private func issued(_ pem: String, active: Bool, keyPair: CertificateCrypto.IssuedKeyPair?)
        -> Result<PreparedCertificate, AWSError>
    {
        guard let facts = crypto.facts(pem) else { return .failure(.internalFailure("the issued certificate does not parse")) }
        return .success(PreparedCertificate(
            certificateId: facts.id, certificatePEM: pem, caCertificateId: nil, status: active ? .active : .inactive,
            mode: .default, notBeforeMs: facts.notBeforeMs, notAfterMs: facts.notAfterMs, keyPair: keyPair))
    }

    /// RegisterCertificate: the certificate must be signed by a CA registered for the tenant — the one given, or
    /// else one found among the tenant's — and that CA must be ACTIVE. RegisterCertificateWithoutCA: SNI_ONLY, no CA.
    private func prepareRegistration(_ r: RegisterCertificate, state: ClusterState, nowMs: Int64)
        -> Result<PreparedCertificate, AWSError>
    {
        guard let facts = crypto.facts(r.certificatePEM) else {
            return .failure(.certificateValidation("certificatePem is not a valid X.509 certificate"))
        }
        if facts.notAfterMs < nowMs { return .failure(.certificateValidation("The certificate has expired.")) }
        var caID: String?
        if !r.withoutCA {
            let candidates: [CACertificate]
            if let caPEM = r.caCertificatePEM {
                guard let caFacts = crypto.facts(caPEM) else {
                    return .failure(.certificateValidation("caCertificatePem is not a valid X.509 certificate"))
                }
                guard let ca = state.caCertificate(tenant: tenant, id: caFacts.id) else {
                    return .failure(.certificateValidation("The CA certificate \(caFacts.id) is not registered."))
                }
                candidates = [ca]
            } else {
                candidates = state.caCertificates(tenant: tenant)
            }
            let signers = candidates.filter { crypto.isSigned(r.certificatePEM, $0.certificatePEM) }
            guard !signers.isEmpty else {
                return .failure(.certificateValidation(
                    "The certificate is not signed by a CA certificate registered for this account."))
            }
            guard let ca = signers.first(where: { $0.status == .active }) else {
                return .failure(.certificateState("The CA certificate \(signers[0].caCertificateId) is not ACTIVE."))
            }
            caID = ca.caCertificateId
        }
        return .success(PreparedCertificate(
            certificateId: facts.id, certificatePEM: r.certificatePEM, caCertificateId: caID, status: r.status,
            mode: r.withoutCA ? .sniOnly : .default, notBeforeMs: facts.notBeforeMs, notAfterMs: facts.notAfterMs,
            keyPair: nil))
    }

    /// RegisterCACertificate: a CA certificate, and in DEFAULT mode the proof of its key — a verification
    /// certificate signed by it whose subject CN is the tenant's registration code (AWS's rule).
    private func prepareCA(_ r: RegisterCA, state: ClusterState, nowMs: Int64) -> Result<PreparedCA, AWSError> {
        guard let facts = crypto.facts(r.caCertificatePEM) else {
            return .failure(.certificateValidation("caCertificate is not a valid X.509 certificate"))
        }
        guard facts.isCA else { return .failure(.certificateValidation("caCertificate is not a CA certificate")) }
        if facts.notAfterMs < nowMs { return .failure(.certificateValidation("The CA certificate has expired.")) }
        if let verification = r.verificationCertificatePEM {
            guard let v = crypto.facts(verification) else {
                return .failure(.certificateValidation("verificationCertificate is not a valid X.509 certificate"))
            }
            guard let code = state.registrationCode(tenant: tenant), v.subjectCommonName?.lowercased() == code else {
                return .failure(.registrationCodeValidation(
                    "The verification certificate's common name is not this account's registration code."))
            }
            guard crypto.isSigned(verification, r.caCertificatePEM) else {
                return .failure(.certificateValidation(
                    "The verification certificate is not signed by the CA certificate's key."))
            }
        }
        return .success(PreparedCA(caCertificateId: facts.id))
    }

    static func error(_ f: CertificateCrypto.Failure) -> AWSError {
        switch f {
        case .invalid(let m): .invalidRequest(m)
        case .internalFailure(let m): .internalFailure(m)
        }
    }

    // MARK: - Commands

    public func command(for operation: CertificateOperation, nowMs: Int64) -> ClusterCommand? {
        switch operation {
        case .createKeysAndCertificate(_, let p?), .createCertificateFromCsr(_, _, let p?),
             .registerCertificate(_, let p?):
            return .registerCertificate(Certificate(
                tenant: tenant, certificateId: p.certificateId, certificatePEM: p.certificatePEM,
                caCertificateId: p.caCertificateId, status: p.status, mode: p.mode, notBeforeMs: p.notBeforeMs,
                notAfterMs: p.notAfterMs, createdAtMs: nowMs))
        case .registerCACertificate(let r, let p?):
            return .registerCACertificate(CACertificate(
                tenant: tenant, caCertificateId: p.caCertificateId, certificatePEM: r.caCertificatePEM,
                status: r.status, mode: r.mode, autoRegistration: r.autoRegistration, createdAtMs: nowMs))
        case .updateCertificate(let id, let status):
            return .updateCertificateStatus(tenant: tenant, certificateId: id, status: status, nowMs: nowMs)
        case .deleteCertificate(let id, let force):
            return force ? .forceDeleteCertificate(tenant: tenant, certificateId: id)
                : .deleteCertificate(tenant: tenant, certificateId: id)
        case .updateCACertificate(let id, let status, let auto):
            return .updateCACertificate(tenant: tenant, caCertificateId: id, status: status, autoRegistration: auto,
                                        nowMs: nowMs)
        case .deleteCACertificate(let id):
            return .deleteCACertificate(tenant: tenant, caCertificateId: id)
        case .createKeysAndCertificate(_, nil), .createCertificateFromCsr(_, _, nil), .registerCertificate(_, nil),
             .registerCACertificate(_, nil):
            // Not prepared: the router always prepares first; answered as a read (an internal failure).
            return nil
        case .getRegistrationCode, .listCertificates, .describeCertificate, .describeCACertificate,
             .listCACertificates, .listCertificatesByCA:
            return nil
        }
    }

    // MARK: - Answers

    public func respond(to operation: CertificateOperation, outcome: ClusterOutcome, state: ClusterState)
        -> APIResponse
    {
        switch outcome {
        case .failure(let error):
            return failure(error, operation).response
        case .success:
            switch operation {
            case .createKeysAndCertificate(_, let p?):
                return .json(JSONBody.encode(CreateKeysResponse(
                    certificateArn: certArn(p.certificateId), certificateId: p.certificateId,
                    certificatePem: p.certificatePEM,
                    keyPair: KeyPairShape(PublicKey: p.keyPair?.publicKeyPEM ?? "",
                                          PrivateKey: p.keyPair?.privateKeyPEM ?? ""))))
            case .createCertificateFromCsr(_, _, let p?):
                return .json(JSONBody.encode(CreateFromCSRResponse(
                    certificateArn: certArn(p.certificateId), certificateId: p.certificateId,
                    certificatePem: p.certificatePEM)))
            case .registerCertificate(_, let p?):
                return .json(JSONBody.encode(RegisteredResponse(certificateArn: certArn(p.certificateId),
                                                                certificateId: p.certificateId)))
            case .registerCACertificate(_, let p?):
                return .json(JSONBody.encode(RegisteredResponse(certificateArn: caArn(p.caCertificateId),
                                                                certificateId: p.caCertificateId)))
            default:
                return .json(JSONBody.encode([String: String]()))
            }
        }
    }

    private func failure(_ error: ClusterStateError, _ operation: CertificateOperation) -> AWSError {
        switch (error, operation) {
        case (.resourceAlreadyExists, .registerCertificate(_, let p?)),
             (.resourceAlreadyExists, .createKeysAndCertificate(_, let p?)),
             (.resourceAlreadyExists, .createCertificateFromCsr(_, _, let p?)):
            return .resourceAlreadyExists("The certificate is already provisioned or registered",
                                          resourceId: p.certificateId, resourceArn: certArn(p.certificateId))
        case (.resourceAlreadyExists, .registerCACertificate(_, let p?)):
            return .resourceAlreadyExists("The CA certificate is already registered",
                                          resourceId: p.caCertificateId, resourceArn: caArn(p.caCertificateId))
        default:
            return AWSError(error, what: operation.subject)
        }
    }

    public func respond(to operation: CertificateOperation, state: ClusterState) -> APIResponse {
        switch operation {
        case .getRegistrationCode:
            guard let code = state.registrationCode(tenant: tenant) else {
                return AWSError.internalFailure("the registration code was not made").response
            }
            return .json(JSONBody.encode(["registrationCode": code]))
        case .listCertificates(let page):
            return listCertificates(state.certificates(tenant: tenant), page)
        case .listCertificatesByCA(let caID, let page):
            return listCertificates(state.certificates(tenant: tenant, caCertificateId: caID), page)
        case .listCACertificates(let page):
            let all = state.caCertificates(tenant: tenant)
            let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.caCertificateId, $0) })
            let (ids, next) = PoliciesAPI.paginate(all.map(\.caCertificateId), page)
            return .json(JSONBody.encode(ListCAsResponse(certificates: ids.compactMap { byID[$0] }.map {
                CASummary(certificateArn: caArn($0.caCertificateId), certificateId: $0.caCertificateId,
                          status: $0.status.awsName, creationDate: PoliciesAPI.seconds($0.createdAtMs))
            }, nextMarker: next)))
        case .describeCertificate(let id):
            guard let c = state.certificate(tenant: tenant, id: id) else {
                return AWSError.resourceNotFound("The certificate \(id) cannot be found.").response
            }
            let facts = crypto.facts(c.certificatePEM)
            return .json(JSONBody.encode(["certificateDescription": CertificateDescription(
                certificateArn: certArn(id), certificateId: id, caCertificateId: c.caCertificateId,
                status: c.status.awsName, certificatePem: c.certificatePEM, ownedBy: tenant.accountID,
                creationDate: PoliciesAPI.seconds(c.createdAtMs),
                lastModifiedDate: PoliciesAPI.seconds(c.lastModifiedAtMs), customerVersion: 1,
                generationId: String(c.lastModifiedAtMs),
                validity: validity(c.notBeforeMs ?? facts?.notBeforeMs, c.notAfterMs ?? facts?.notAfterMs),
                certificateMode: c.mode.awsName)]))
        case .describeCACertificate(let id):
            guard let c = state.caCertificate(tenant: tenant, id: id) else {
                return AWSError.resourceNotFound("The CA certificate \(id) cannot be found.").response
            }
            let facts = crypto.facts(c.certificatePEM)
            return .json(JSONBody.encode(["certificateDescription": CACertificateDescription(
                certificateArn: caArn(id), certificateId: id, status: c.status.awsName,
                certificatePem: c.certificatePEM, ownedBy: tenant.accountID,
                creationDate: PoliciesAPI.seconds(c.createdAtMs), autoRegistrationStatus: c.autoRegistration.awsName,
                lastModifiedDate: PoliciesAPI.seconds(c.lastModifiedAtMs), customerVersion: 1,
                generationId: String(c.lastModifiedAtMs), validity: validity(facts?.notBeforeMs, facts?.notAfterMs),
                certificateMode: c.mode.awsName)]))
        case .createKeysAndCertificate, .createCertificateFromCsr, .registerCertificate, .registerCACertificate,
             .updateCertificate, .deleteCertificate, .updateCACertificate, .deleteCACertificate:
            return AWSError.internalFailure("\(operation.subject): a write was answered as a read").response
        }
    }

    private func listCertificates(_ all: [Certificate], _ page: PolicyOperation.Page) -> APIResponse {
        let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.certificateId, $0) })
        let (ids, next) = PoliciesAPI.paginate(all.map(\.certificateId), page)
        return .json(JSONBody.encode(ListCertificatesResponse(certificates: ids.compactMap { byID[$0] }.map {
            CertificateSummary(certificateArn: certArn($0.certificateId), certificateId: $0.certificateId,
                               status: $0.status.awsName, certificateMode: $0.mode.awsName,
                               creationDate: PoliciesAPI.seconds($0.createdAtMs))
        }, nextMarker: next)))
    }

    private func validity(_ from: Int64?, _ to: Int64?) -> Validity? {
        guard let from, let to else { return nil }
        return Validity(notBefore: PoliciesAPI.seconds(from), notAfter: PoliciesAPI.seconds(to))
    }

    func certArn(_ id: String) -> String { "arn:aws:iot:\(region):\(tenant.accountID):cert/\(id)" }
    func caArn(_ id: String) -> String { "arn:aws:iot:\(region):\(tenant.accountID):cacert/\(id)" }
}

/// What a certificate request asks for. The `prepared` members are filled in by `CertificatesAPI.prepare` (from
/// the applied state: the issuing CA, the registered CAs, the registration code) before a command is made.
/// Descriptions never show a private key (`CertificateCrypto.IssuedKeyPair` redacts it).
public enum CertificateOperation: Sendable, Hashable {
    case createKeysAndCertificate(setAsActive: Bool, prepared: PreparedCertificate?)
    case createCertificateFromCsr(csr: String, setAsActive: Bool, prepared: PreparedCertificate?)
    case registerCertificate(RegisterCertificate, prepared: PreparedCertificate?)
    case getRegistrationCode
    case registerCACertificate(RegisterCA, prepared: PreparedCA?)
    case listCertificates(PolicyOperation.Page)
    case listCertificatesByCA(caCertificateId: String, PolicyOperation.Page)
    case listCACertificates(PolicyOperation.Page)
    case describeCertificate(id: String)
    case describeCACertificate(id: String)
    case updateCertificate(id: String, status: CertificateStatus)
    case updateCACertificate(id: String, status: CACertificateStatus?, autoRegistration: AutoRegistrationStatus?)
    case deleteCertificate(id: String, force: Bool)
    case deleteCACertificate(id: String)

    /// For error messages.
    var subject: String {
        switch self {
        case .describeCertificate(let id), .updateCertificate(let id, _), .deleteCertificate(let id, _):
            "The certificate \(id)"
        case .describeCACertificate(let id), .updateCACertificate(let id, _, _), .deleteCACertificate(let id),
             .listCertificatesByCA(let id, _):
            "The CA certificate \(id)"
        case .registerCACertificate: "The CA certificate"
        case .createKeysAndCertificate, .createCertificateFromCsr, .registerCertificate, .getRegistrationCode,
             .listCertificates, .listCACertificates:
            "The certificate"
        }
    }
}

/// RegisterCertificate / RegisterCertificateWithoutCA as asked.
public struct RegisterCertificate: Sendable, Hashable {
    public var certificatePEM: String
    public var caCertificatePEM: String?
    public var status: CertificateStatus
    /// RegisterCertificateWithoutCA: SNI_ONLY, not checked against the registered CAs.
    public var withoutCA: Bool
}

/// RegisterCACertificate as asked.
public struct RegisterCA: Sendable, Hashable {
    public var caCertificatePEM: String
    public var verificationCertificatePEM: String?
    public var mode: CertificateMode
    public var status: CACertificateStatus
    public var autoRegistration: AutoRegistrationStatus
}

/// A certificate ready to register: parsed, checked, and (for the issuing operations) signed.
public struct PreparedCertificate: Sendable, Hashable {
    public var certificateId: String
    public var certificatePEM: String
    public var caCertificateId: String?
    public var status: CertificateStatus
    public var mode: CertificateMode
    public var notBeforeMs: Int64?
    public var notAfterMs: Int64?
    /// CreateKeysAndCertificate's key pair: answered once, never proposed.
    public var keyPair: CertificateCrypto.IssuedKeyPair?

    public init(certificateId: String, certificatePEM: String, caCertificateId: String?, status: CertificateStatus,
                mode: CertificateMode, notBeforeMs: Int64?, notAfterMs: Int64?,
                keyPair: CertificateCrypto.IssuedKeyPair?) {
        self.certificateId = certificateId
        self.certificatePEM = certificatePEM
        self.caCertificateId = caCertificateId
        self.status = status
        self.mode = mode
        self.notBeforeMs = notBeforeMs
        self.notAfterMs = notAfterMs
        self.keyPair = keyPair
    }
}

/// A CA certificate ready to register (its proof of key checked).
public struct PreparedCA: Sendable, Hashable {
    public var caCertificateId: String
}

// MARK: - Wire shapes (botocore `iot` members)

struct CSRBody: Decodable { var certificateSigningRequest: String? }

struct RegisterCertificateBody: Decodable {
    var certificatePem: String?
    var caCertificatePem: String?
    var status: String?
}

struct RegisterCABody: Decodable {
    var caCertificate: String?
    var verificationCertificate: String?
    var certificateMode: String?
}

struct KeyPairShape: Encodable {
    var PublicKey: String
    var PrivateKey: String
}

struct CreateKeysResponse: Encodable {
    var certificateArn, certificateId, certificatePem: String
    var keyPair: KeyPairShape
}

struct CreateFromCSRResponse: Encodable { var certificateArn, certificateId, certificatePem: String }

struct RegisteredResponse: Encodable { var certificateArn, certificateId: String }

struct Validity: Encodable { var notBefore, notAfter: Double }

struct CertificateDescription: Encodable {
    var certificateArn, certificateId: String
    var caCertificateId: String?
    var status, certificatePem, ownedBy: String
    var creationDate, lastModifiedDate: Double
    var customerVersion: Int
    var generationId: String
    var validity: Validity?
    var certificateMode: String
}

struct CACertificateDescription: Encodable {
    var certificateArn, certificateId, status, certificatePem, ownedBy: String
    var creationDate: Double
    var autoRegistrationStatus: String
    var lastModifiedDate: Double
    var customerVersion: Int
    var generationId: String
    var validity: Validity?
    var certificateMode: String
}

struct CertificateSummary: Encodable {
    var certificateArn, certificateId, status, certificateMode: String
    var creationDate: Double
}

struct ListCertificatesResponse: Encodable {
    var certificates: [CertificateSummary]
    var nextMarker: String?
}

struct CASummary: Encodable {
    var certificateArn, certificateId, status: String
    var creationDate: Double
}

struct ListCAsResponse: Encodable {
    var certificates: [CASummary]
    var nextMarker: String?
}
