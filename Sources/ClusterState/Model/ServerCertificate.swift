import IoTTypes

/// A server certificate imported for a tenant's domain configurations: Flotilla's stand-in for an ACM certificate
/// (AWS-IOT-SPEC §10: `serverCertificateArns` name ACM certificates; there is no ACM here). Imported through
/// `POST /cluster/server-certificates` (`flotilla admin server-cert import`), named by an ACM-shaped ARN
/// `arn:aws:acm:<region>:<account>:certificate/<certificateId>`, and referenced by CreateDomainConfiguration.
///
/// The proposer (the control plane, with OpenSSL in the shell) has already checked that the key matches the
/// certificate and read the certificate's names and validity; `apply` trusts those facts (it cannot parse X.509)
/// and uses `domainNames` to check that a domain configuration's name is covered.
///
/// `privateKeyPEM` is a secret: replicated and in snapshots, never logged or returned (`description`, the mirror
/// and every API answer leave it out).
public struct ServerCertificate: Sendable, Hashable {
    public var tenant: TenantID
    /// A UUID-shaped id derived from the SHA-256 of the leaf certificate's DER (`certificateId(sha256Hex:)`), so
    /// importing the same certificate twice names the same ARN on every node.
    public var certificateId: String
    /// The server certificate, then its intermediates, PEM.
    public var certificateChainPEM: String
    /// SECRET: never log it.
    public var privateKeyPEM: String
    /// The leaf's DNS names (subjectAltName DNS entries, else the subject CN), ASCII lower case.
    public var domainNames: [String]
    /// The leaf's validity, epoch milliseconds.
    public var notBeforeMs: Int64
    public var notAfterMs: Int64
    /// Epoch milliseconds, stamped by the proposer.
    public var importedAtMs: Int64

    public init(tenant: TenantID, certificateId: String, certificateChainPEM: String, privateKeyPEM: String,
                domainNames: [String], notBeforeMs: Int64, notAfterMs: Int64, importedAtMs: Int64) {
        self.tenant = tenant
        self.certificateId = certificateId
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.domainNames = domainNames
        self.notBeforeMs = notBeforeMs
        self.notAfterMs = notAfterMs
        self.importedAtMs = importedAtMs
    }

    /// `arn:aws:acm:<region>:<account>:certificate/<id>` (the pattern of the `iot` model's `AcmCertificateArn`).
    public func arn(region: String) -> String {
        "arn:aws:acm:\(region):\(tenant.accountID):certificate/\(certificateId)"
    }

    /// The UUID-shaped id (8-4-4-4-12 lower-case hex) of a certificate whose DER has this SHA-256 (64 hex digits).
    public static func certificateId(sha256Hex: String) -> String? {
        let hex = Array(sha256Hex.lowercased().utf8)
        guard hex.count == 64, hex.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { return nil }
        var out: [UInt8] = []
        for (i, c) in hex.prefix(32).enumerated() {
            if [8, 12, 16, 20].contains(i) { out.append(UInt8(ascii: "-")) }
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `domainName` (canonical, possibly `*.` wildcard) is covered by one of the certificate's names
    /// (RFC 6125 §6.4.3: a certificate wildcard `*.example.com` covers exactly one leftmost label; a wildcard
    /// domain name is covered only by the same wildcard).
    public func covers(_ domainName: String) -> Bool {
        domainNames.contains { name in
            if name == domainName { return true }
            guard name.hasPrefix("*."), !domainName.hasPrefix("*.") else { return false }
            guard let dot = domainName.firstIndex(of: ".") else { return false }
            return domainName[domainName.index(after: dot)...] == name.dropFirst(2)
        }
    }
}

extension ServerCertificate: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "ServerCertificate(tenant: \(tenant), id: \(certificateId), domainNames: \(domainNames), "
            + "chain: \(certificateChainPEM.utf8.count) bytes, privateKey: <redacted>)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "tenant": tenant, "certificateId": certificateId, "certificateChainPEM": certificateChainPEM,
            "privateKeyPEM": "<redacted>", "domainNames": domainNames, "notBeforeMs": notBeforeMs,
            "notAfterMs": notAfterMs, "importedAtMs": importedAtMs,
        ])
    }
}

/// The AWS members of a domain configuration made through CreateDomainConfiguration (kept beside the
/// `DomainConfiguration` the TLS layer serves, which the admin route also makes without them). Values are the
/// model's enum spellings, checked by the control plane.
public struct DomainConfigurationDetails: Sendable, Hashable {
    /// The imported server certificate it serves (`ServerCertificate.certificateId`).
    public var serverCertificateId: String?
    /// `DATA` (the only type AWS IoT Core supports).
    public var serviceType: String
    /// `authorizerConfig.allowAuthorizerOverride`.
    public var allowAuthorizerOverride: Bool?
    /// `tlsConfig.securityPolicy` (recorded; Flotilla serves one policy, see `TLSServerContext`).
    public var securityPolicy: String?
    public var authenticationType: String?
    public var applicationProtocol: String?

    public init(serverCertificateId: String? = nil, serviceType: String = "DATA", allowAuthorizerOverride: Bool? = nil,
                securityPolicy: String? = nil, authenticationType: String? = nil, applicationProtocol: String? = nil) {
        self.serverCertificateId = serverCertificateId
        self.serviceType = serviceType
        self.allowAuthorizerOverride = allowAuthorizerOverride
        self.securityPolicy = securityPolicy
        self.authenticationType = authenticationType
        self.applicationProtocol = applicationProtocol
    }
}

/// One tag (AWS `Tag`: `Key` 1–128 of `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, `Value` 0–256).
public struct ResourceTag: Sendable, Hashable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// Tag rules from the `iot` model (`TagKey`, `TagValue`) and AWS's tagging limits.
public enum TagRules {
    /// AWS: at most 50 tags on one resource (LimitExceededException beyond).
    public static let maxTagsPerResource = 50

    /// The first problem with these tags as an InvalidRequestException message, or nil.
    public static func problem(_ tags: [ResourceTag]) -> String? {
        var seen = Set<String>()
        for t in tags {
            if let p = keyProblem(t.key) { return p }
            guard t.value.unicodeScalars.count <= 256 else { return "tag value must be at most 256 characters" }
            guard seen.insert(t.key).inserted else { return "tag key \(t.key) appears more than once" }
        }
        return nil
    }

    /// `TagKey`: 1–128 characters of letters, separators (spaces), numbers and `_.:/=+-@`; the `aws:` prefix is
    /// reserved (AWS tagging rules).
    public static func keyProblem(_ key: String) -> String? {
        let scalars = key.unicodeScalars
        guard (1...128).contains(scalars.count) else { return "tag key must be 1-128 characters" }
        for s in scalars {
            let p = s.properties
            let allowed = p.generalCategory.isLetter || p.generalCategory.isSeparator || p.generalCategory.isNumber
                || "_.:/=+-@".unicodeScalars.contains(s)
            guard allowed else { return "tag key must match ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$" }
        }
        if key.lowercased().hasPrefix("aws:") { return "tag keys starting with aws: are reserved" }
        return nil
    }
}

extension Unicode.GeneralCategory {
    var isLetter: Bool {
        switch self {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    var isSeparator: Bool {
        switch self {
        case .spaceSeparator, .lineSeparator, .paragraphSeparator: true
        default: false
        }
    }

    var isNumber: Bool {
        switch self {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }
}
