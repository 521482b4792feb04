import IoTTypes

/// Whether a domain configuration serves handshakes (AWS `DomainConfigurationStatus`).
public enum DomainConfigurationStatus: UInt8, Sendable, Hashable, CaseIterable {
    case enabled = 1
    case disabled = 2

    /// The AWS spelling: `ENABLED` / `DISABLED`.
    public var awsName: String {
        switch self {
        case .enabled: "ENABLED"
        case .disabled: "DISABLED"
        }
    }

    public init?(awsName: String) {
        switch awsName {
        case "ENABLED": self = .enabled
        case "DISABLED": self = .disabled
        default: return nil
        }
    }
}

/// A custom domain (AWS-IOT-SPEC §10): the TLS server name it answers to, the server certificate it presents and
/// (later) the authorizer it defaults to. The TLS layer indexes the enabled ones by `domainName` to pick one from
/// the client's SNI, exact name first, then the `*.` wildcard one label up.
///
/// `privateKeyPEM` is a secret: it is replicated (every node must serve the domain) and in snapshots, but it must
/// never be logged, printed or returned by a describe call. `description`, `debugDescription` and the mirror
/// (`dump`) of this type redact it.
public struct DomainConfiguration: Sendable, Hashable {
    public var tenant: TenantID
    /// AWS `DomainConfigurationName`: `[\w.-]+`, 1–128; unique within the tenant.
    public var domainConfigurationName: String
    /// The host name, ASCII lower case: exact (`iot.example.com`) or a wildcard (`*.example.com`). Unique across
    /// all tenants: SNI arrives before anyone knows the tenant.
    public var domainName: String
    /// The server certificate, then its intermediates, PEM.
    public var serverCertificateChainPEM: String
    /// The server certificate's private key, PEM. SECRET: never log it (see the type's documentation).
    public var privateKeyPEM: String
    public var status: DomainConfigurationStatus
    /// Room for custom authorizers (AWS `authorizerConfig.defaultAuthorizerName`, `[\w=,@-]+`, 1–128).
    public var defaultAuthorizerName: String?
    /// Epoch milliseconds, stamped by the proposer.
    public var createdAtMs: Int64
    /// Epoch milliseconds of the last status change (the creation, until the first update).
    public var lastStatusChangeAtMs: Int64

    public init(tenant: TenantID, domainConfigurationName: String, domainName: String,
                serverCertificateChainPEM: String, privateKeyPEM: String, status: DomainConfigurationStatus = .enabled,
                defaultAuthorizerName: String? = nil, createdAtMs: Int64, lastStatusChangeAtMs: Int64? = nil) {
        self.tenant = tenant
        self.domainConfigurationName = domainConfigurationName
        self.domainName = domainName
        self.serverCertificateChainPEM = serverCertificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.status = status
        self.defaultAuthorizerName = defaultAuthorizerName
        self.createdAtMs = createdAtMs
        self.lastStatusChangeAtMs = lastStatusChangeAtMs ?? createdAtMs
    }

    /// Whether `domainName` is a `*.` wildcard.
    public var isWildcard: Bool { domainName.utf8.first == UInt8(ascii: "*") }

    /// `arn:aws:iot:<region>:<account>:domainconfiguration/<name>`; the region is node configuration.
    public func domainConfigurationArn(region: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):domainconfiguration/\(domainConfigurationName)"
    }
}

extension DomainConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "DomainConfiguration(tenant: \(tenant), name: \(domainConfigurationName), domainName: \(domainName), "
            + "status: \(status.awsName), defaultAuthorizerName: \(defaultAuthorizerName ?? "nil"), "
            + "chain: \(serverCertificateChainPEM.utf8.count) bytes, privateKey: <redacted>)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "tenant": tenant, "domainConfigurationName": domainConfigurationName, "domainName": domainName,
            "serverCertificateChainPEM": serverCertificateChainPEM, "privateKeyPEM": "<redacted>",
            "status": status, "defaultAuthorizerName": defaultAuthorizerName as Any, "createdAtMs": createdAtMs,
            "lastStatusChangeAtMs": lastStatusChangeAtMs,
        ])
    }
}

/// Input rules for domain configurations, checked inside `apply` (and by proposers, to save a log entry).
public enum DomainRules {
    static let maxPEMBytes = 65_536

    /// AWS `DomainConfigurationName`: `[\w.-]+` (`\w` = ASCII letters, digits, `_`), 1–128.
    public static func isValidName(_ s: String) -> Bool {
        (1...128).contains(s.utf8.count) && s.utf8.allSatisfy { isAlnum($0) || "_.-".utf8.contains($0) }
    }

    /// AWS `AuthorizerName`: `[\w=,@-]+`, 1–128.
    public static func isValidAuthorizerName(_ s: String) -> Bool {
        (1...128).contains(s.utf8.count) && s.utf8.allSatisfy { isAlnum($0) || "_=,@-".utf8.contains($0) }
    }

    /// The canonical (ASCII lower case) form of a domain name, or nil when it is not a host name Flotilla can
    /// match against SNI: at most 253 bytes, at least two labels, each 1–63 of `[a-z0-9-]` not starting or ending
    /// with `-`, no trailing dot; or `*.` followed by at least two such labels (one wildcard label, leftmost only).
    public static func canonicalDomainName(_ s: String) -> String? {
        guard (1...253).contains(s.utf8.count) else { return nil }
        let lowered = String(decoding: s.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        var labels = lowered.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if labels.first.map(Array.init) == [UInt8(ascii: "*")] { labels.removeFirst() }
        guard labels.count >= 2 else { return nil }  // `*.com` and bare `localhost` are refused
        for label in labels {
            guard (1...63).contains(label.count), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-"),
                  label.allSatisfy({ isLowerAlnum($0) || $0 == UInt8(ascii: "-") })
            else { return nil }
        }
        return lowered
    }

    static func isValidPEM(_ s: String) -> Bool { (1...maxPEMBytes).contains(s.utf8.count) }

    /// ASCII letters and digits.
    public static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }

    static func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7A) }
}
