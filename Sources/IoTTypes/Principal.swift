/// Who a connection or request was authenticated as, decided by the listener before any MQTT or HTTP byte is read
/// (the TLS handshake) and carried with the connection. Issue 5's policies are evaluated for it; until then it only
/// separates "authenticated" from "not".
public enum Principal: Hashable, Sendable {
    /// A plain development listener (1883, no TLS): no authentication at all. Never used on a TLS listener.
    case anonymous
    /// An X.509 client certificate the handshake verified and the registry accepted: AWS's certificate id
    /// (SHA-256 of the DER, lower-case hex).
    case certificate(id: String)
    /// Nothing authenticated this connection (no certificate where one may be absent, and no other credentials
    /// this node understands): every CONNECT and request is refused as not authorized — default deny.
    case unauthenticated

    /// AWS's `principal()` / `principalIdentifier` text: the certificate id, or empty.
    public var identifier: String {
        switch self {
        case .certificate(let id): id
        case .anonymous, .unauthenticated: ""
        }
    }
}

/// A client certificate's names as IoT policies read them (`iot:Certificate.Subject.<Field>`,
/// `iot:Certificate.Issuer.<Field>`): AWS's field names (`CommonName`, `Organization`, `OrganizationalUnit`,
/// `Country`, `State`, `SerialNumber`, … and `AlternativeName.DNSName`, `.IPAddress`, `.RFC822Name`,
/// `.UniformResourceIdentifier` for the subject alternative names) to their values in certificate order. Taken by
/// the TLS layer from the verified leaf and carried with the connection next to its ``Principal``.
public struct CertificateNames: Hashable, Sendable {
    public var subject: [String: [String]]
    public var issuer: [String: [String]]

    public init(subject: [String: [String]] = [:], issuer: [String: [String]] = [:]) {
        self.subject = subject
        self.issuer = issuer
    }
}
