import IoTTypes

/// A device certificate's status (AWS `CertificateStatus`). Only `active` authenticates.
public enum CertificateStatus: UInt8, Sendable, Hashable, CaseIterable {
    case active = 1
    case inactive = 2
    case revoked = 3
    case pendingTransfer = 4
    /// Deprecated by AWS; read and written so the enum is complete, refused as a new status.
    case registerInactive = 5
    case pendingActivation = 6

    public var awsName: String {
        switch self {
        case .active: "ACTIVE"
        case .inactive: "INACTIVE"
        case .revoked: "REVOKED"
        case .pendingTransfer: "PENDING_TRANSFER"
        case .registerInactive: "REGISTER_INACTIVE"
        case .pendingActivation: "PENDING_ACTIVATION"
        }
    }

    public init?(awsName: String) {
        guard let s = Self.allCases.first(where: { $0.awsName == awsName }) else { return nil }
        self = s
    }
}

/// A CA certificate's status (AWS `CACertificateStatus`).
public enum CACertificateStatus: UInt8, Sendable, Hashable, CaseIterable {
    case active = 1
    case inactive = 2

    public var awsName: String {
        switch self {
        case .active: "ACTIVE"
        case .inactive: "INACTIVE"
        }
    }

    public init?(awsName: String) {
        switch awsName {
        case "ACTIVE": self = .active
        case "INACTIVE": self = .inactive
        default: return nil
        }
    }
}

/// AWS `CertificateMode`: how a CA or device certificate was registered.
public enum CertificateMode: UInt8, Sendable, Hashable, CaseIterable {
    /// With proof: a CA's verification certificate, or a device certificate chaining to a registered CA.
    case `default` = 1
    /// Without proof (multi-account registration): the device must send SNI.
    case sniOnly = 2

    public var awsName: String {
        switch self {
        case .default: "DEFAULT"
        case .sniOnly: "SNI_ONLY"
        }
    }

    public init?(awsName: String) {
        switch awsName {
        case "DEFAULT": self = .default
        case "SNI_ONLY": self = .sniOnly
        default: return nil
        }
    }
}

/// AWS `AutoRegistrationStatus` of a CA.
public enum AutoRegistrationStatus: UInt8, Sendable, Hashable, CaseIterable {
    case enable = 1
    case disable = 2

    public var awsName: String {
        switch self {
        case .enable: "ENABLE"
        case .disable: "DISABLE"
        }
    }

    public init?(awsName: String) {
        switch awsName {
        case "ENABLE": self = .enable
        case "DISABLE": self = .disable
        default: return nil
        }
    }
}

/// The CA that signs a tenant's CreateKeysAndCertificate / CreateCertificateFromCsr certificates (AWS's "Amazon
/// Root CA"-issued certificates), made by the first proposer that needs it and replicated so that any node can
/// sign. It is not a registered CA: the certificates it issues are registered themselves, without a
/// `caCertificateId`, as AWS registers the certificates it issues. Holds a private key: never log it (its
/// descriptions leave the key out); snapshots are secrets at rest.
public struct IssuingCA: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public var tenant: TenantID
    /// Lower-case hex SHA-256 of the certificate's DER.
    public var certificateId: String
    public var certificatePEM: String
    public var privateKeyPEM: String
    public var createdAtMs: Int64

    public init(tenant: TenantID, certificateId: String, certificatePEM: String, privateKeyPEM: String,
                createdAtMs: Int64) {
        self.tenant = tenant
        self.certificateId = certificateId
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        self.createdAtMs = createdAtMs
    }

    public var description: String { "IssuingCA(tenant: \(tenant.accountID), certificateId: \(certificateId))" }
    public var debugDescription: String { description }
}

/// A CA registered by a tenant (RegisterCACertificate): device certificates it signed may connect to that tenant's
/// endpoints while it is ACTIVE.
///
/// Ids are unique within a tenant, not across tenants: AWS lets one CA (`SNI_ONLY` mode) and one device
/// certificate (multi-account registration) be registered in several accounts, and every Flotilla lookup is tenant
/// first (the tenant comes from the connection's SNI), so two tenants registering the same certificate cannot see
/// or affect each other's rows.
public struct CACertificate: Sendable, Hashable {
    public var tenant: TenantID
    /// Lower-case hex SHA-256 of the DER (64 characters), computed by the proposer.
    public var caCertificateId: String
    public var certificatePEM: String
    public var status: CACertificateStatus
    /// DEFAULT (registered with proof of the CA key) or SNI_ONLY.
    public var mode: CertificateMode
    /// Just-in-time registration of the certificates it signed (AWS `autoRegistrationStatus`).
    public var autoRegistration: AutoRegistrationStatus
    public var createdAtMs: Int64
    public var lastModifiedAtMs: Int64

    public init(tenant: TenantID, caCertificateId: String, certificatePEM: String, status: CACertificateStatus,
                mode: CertificateMode = .default, autoRegistration: AutoRegistrationStatus = .disable,
                createdAtMs: Int64, lastModifiedAtMs: Int64? = nil) {
        self.tenant = tenant
        self.caCertificateId = caCertificateId
        self.certificatePEM = certificatePEM
        self.status = status
        self.mode = mode
        self.autoRegistration = autoRegistration
        self.createdAtMs = createdAtMs
        self.lastModifiedAtMs = lastModifiedAtMs ?? createdAtMs
    }

    /// `arn:aws:iot:<region>:<account>:cacert/<id>`.
    public func caCertificateArn(region: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):cacert/\(caCertificateId)"
    }
}

/// A device certificate registered by a tenant (RegisterCertificate). Unique per tenant (see `CACertificate`).
public struct Certificate: Sendable, Hashable {
    public var tenant: TenantID
    /// Lower-case hex SHA-256 of the DER (64 characters), computed by the proposer.
    public var certificateId: String
    public var certificatePEM: String
    /// The registered CA that issued it, if it was registered with one (same tenant).
    public var caCertificateId: String?
    public var status: CertificateStatus
    /// DEFAULT, or SNI_ONLY for a certificate registered without its CA (RegisterCertificateWithoutCA).
    public var mode: CertificateMode
    /// The certificate's validity (epoch ms), when the proposer parsed it; nil = not checked here (the TLS verifier
    /// checks the presented certificate's dates anyway).
    public var notBeforeMs: Int64?
    public var notAfterMs: Int64?
    public var createdAtMs: Int64
    public var lastModifiedAtMs: Int64

    public init(tenant: TenantID, certificateId: String, certificatePEM: String, caCertificateId: String? = nil,
                status: CertificateStatus, mode: CertificateMode = .default, notBeforeMs: Int64? = nil,
                notAfterMs: Int64? = nil, createdAtMs: Int64, lastModifiedAtMs: Int64? = nil) {
        self.tenant = tenant
        self.certificateId = certificateId
        self.certificatePEM = certificatePEM
        self.caCertificateId = caCertificateId
        self.status = status
        self.mode = mode
        self.notBeforeMs = notBeforeMs
        self.notAfterMs = notAfterMs
        self.createdAtMs = createdAtMs
        self.lastModifiedAtMs = lastModifiedAtMs ?? createdAtMs
    }

    /// `arn:aws:iot:<region>:<account>:cert/<id>`.
    public func certificateArn(region: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):cert/\(certificateId)"
    }
}

/// What the registry says about a client certificate presented on a connection to a tenant's endpoint (the TLS
/// layer has already verified the chain cryptographically and computed the ids).
public enum CertificateDecision: Sendable, Hashable {
    /// The certificate may authenticate.
    case accept(CertificateAcceptance)
    /// It may not, and why (for logs and lifecycle events; the client only sees the handshake fail).
    case refuse(CertificateRefusal)
}

public enum CertificateAcceptance: Sendable, Hashable {
    /// The certificate itself is registered for the tenant and ACTIVE (and its CA, if it names one, is ACTIVE).
    case registeredCertificate(certificateId: String)
    /// The certificate is not registered, but its issuer is a CA registered for the tenant and ACTIVE.
    case registeredCA(caCertificateId: String)
}

public enum CertificateRefusal: Sendable, Hashable {
    /// Neither the certificate nor its issuer is registered for this tenant.
    case unknownCertificate
    /// The certificate is registered with another status than ACTIVE (REVOKED, INACTIVE, PENDING_…).
    case certificateNotActive(CertificateStatus)
    /// The CA the certificate was registered with is no longer registered.
    case caUnknown
    /// The issuing CA is registered but INACTIVE.
    case caNotActive
    /// Outside the validity the proposer recorded.
    case expired
    case notYetValid
}

/// Input rules for certificates, checked inside `apply` (and by proposers, to save a log entry).
public enum CertificateRules {
    /// 64 lower-case hex characters (a SHA-256). AWS accepts either case; Flotilla stores and compares lower case,
    /// so callers lower-case ids from requests first.
    public static func isValidCertificateId(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Statuses a certificate may be registered with: ACTIVE, INACTIVE, or PENDING_ACTIVATION (room for
    /// just-in-time registration). PENDING_TRANSFER and the deprecated REGISTER_INACTIVE are AWS-internal; REVOKED
    /// at registration has no use.
    /// AWS `RegistrationCode`: 64 hex characters (Flotilla makes lower-case ones).
    public static func isValidRegistrationCode(_ s: String) -> Bool { isValidCertificateId(s) }

    public static func isRegistrableStatus(_ s: CertificateStatus) -> Bool {
        s == .active || s == .inactive || s == .pendingActivation
    }
}
