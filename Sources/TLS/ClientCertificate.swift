/// What the server learned about a client's certificate during the handshake, handed to the certificate decision
/// hook (the registry of issue 5 / the domain configurations plug in there).
public struct ClientCertificate: Sendable, Equatable {
    /// SHA-256 of the DER, lower-case hex: AWS IoT's certificate id.
    public var id: String
    /// The DER encoding (AWS's `certificatePem` is the same bytes in PEM).
    public var der: [UInt8]
    /// OpenSSL's one-line form, e.g. `/CN=device-1`.
    public var subject: String
    public var issuer: String
    /// Certificate ids of the verified chain above the leaf (issuing CA first, root last) when the certificate
    /// chains to a CA trusted by the selected context; empty when it does not (it may still be registered itself).
    public var issuerChainIDs: [String]
    /// Why the chain did not verify (OpenSSL's `X509_verify_cert_error_string`), nil when it did.
    public var chainError: String?
    /// The subject's fields under AWS's policy-variable names (`CommonName`, `Organization`, …, and the subject
    /// alternative names as `AlternativeName.DNSName`, `.IPAddress`, `.RFC822Name`, `.UniformResourceIdentifier`),
    /// values in certificate order: what `iot:Certificate.Subject.*` reads.
    public var subjectFields: [String: [String]]
    /// The same for the issuer (`iot:Certificate.Issuer.*`; alternative names from the issuer alternative name
    /// extension).
    public var issuerFields: [String: [String]]

    public init(
        id: String, der: [UInt8], subject: String, issuer: String, issuerChainIDs: [String], chainError: String?,
        subjectFields: [String: [String]] = [:], issuerFields: [String: [String]] = [:]
    ) {
        self.subjectFields = subjectFields
        self.issuerFields = issuerFields
        self.id = id
        self.der = der
        self.subject = subject
        self.issuer = issuer
        self.issuerChainIDs = issuerChainIDs
        self.chainError = chainError
    }
}

/// The question the certificate decision hook answers.
public struct CertificateCheck: Sendable {
    public var certificate: ClientCertificate
    /// The SNI the client sent (nil: none).
    public var serverName: String?
    /// The name of the `TLSServerContext` the SNI selected: it identifies the domain configuration, hence the tenant.
    public var contextName: String
}

/// Why a client certificate is refused. A closed set, because it is a metric label.
public enum CertificateRefusal: String, Sendable, Equatable {
    case revoked, inactive, unknown, expired, notYetValid = "not_yet_valid", pendingTransfer = "pending_transfer"
}

/// The hook's answer.
public enum CertificateDecision: Sendable, Equatable {
    case allow
    case refuse(CertificateRefusal)
}

/// Why the server refused a TLS connection (logged, counted with `reason` = `label`, reported to observers).
public enum TLSRefusalReason: Sendable, Equatable {
    /// Unknown or absent SNI and the listener's fallback is `.reject` (alert `unrecognized_name`).
    case unrecognizedName
    /// A client certificate is required here and the client sent none.
    case noClientCertificate
    /// The client certificate was refused (by the hook, or because it expired).
    case certificate(CertificateRefusal)
    /// The client offered ALPN protocols and none is served on this listener (alert `no_application_protocol`).
    case noApplicationProtocol
    /// Not TLS, a malformed record, or any other handshake or record-layer failure (OpenSSL's reason).
    case protocolError(String)
    /// The handshake did not complete within the listener's `handshakeTimeout`.
    case handshakeTimeout

    /// The metric label.
    public var label: String {
        switch self {
        case .unrecognizedName: "unrecognized_name"
        case .noClientCertificate: "no_client_certificate"
        case .certificate(let r): "certificate_\(r.rawValue)"
        case .noApplicationProtocol: "no_application_protocol"
        case .protocolError: "protocol_error"
        case .handshakeTimeout: "handshake_timeout"
        }
    }
}

/// Fired (as a user inbound event) when the handshake completes: what the MQTT layer needs to learn the tenant and
/// the principal.
public struct TLSHandshakeCompleted: Sendable, Equatable {
    public var serverName: String?
    /// The selected `TLSServerContext`'s name (the domain configuration).
    public var contextName: String
    public var alpn: String?
    /// e.g. `TLSv1.3`.
    public var protocolVersion: String
    public var peerCertificate: ClientCertificate?
}
