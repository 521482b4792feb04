/// The X.509 work the certificate operations need, as closures the executable fills in from the TLS module (this
/// module imports neither it nor OpenSSL, like `validatePolicyDocument`). Every closure is a pure function of its
/// inputs except the ones that make keys or codes, which use the system's randomness.
public struct CertificateCrypto: Sendable {
    /// What a certificate says about itself.
    public struct Facts: Sendable, Hashable {
        /// Lower-case hex SHA-256 of the DER (the AWS certificate id).
        public var id: String
        public var subjectCommonName: String?
        public var notBeforeMs: Int64
        public var notAfterMs: Int64
        /// basicConstraints CA:TRUE.
        public var isCA: Bool

        public init(id: String, subjectCommonName: String?, notBeforeMs: Int64, notAfterMs: Int64, isCA: Bool) {
            self.id = id
            self.subjectCommonName = subjectCommonName
            self.notBeforeMs = notBeforeMs
            self.notAfterMs = notAfterMs
            self.isCA = isCA
        }
    }

    /// A new key pair with its certificate (CreateKeysAndCertificate). The private key goes to the client once: it
    /// is never proposed, stored or logged, and descriptions of this value leave it out.
    public struct IssuedKeyPair: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
        public var certificatePEM: String
        public var publicKeyPEM: String
        public var privateKeyPEM: String

        public init(certificatePEM: String, publicKeyPEM: String, privateKeyPEM: String) {
            self.certificatePEM = certificatePEM
            self.publicKeyPEM = publicKeyPEM
            self.privateKeyPEM = privateKeyPEM
        }

        public var description: String { "IssuedKeyPair(privateKeyPEM: <redacted>)" }
        public var debugDescription: String { description }
    }

    /// Why an X.509 step failed.
    public enum Failure: Error, Sendable, Hashable {
        /// The client's input is not acceptable (a CSR that does not verify, a weak key), with the reason.
        case invalid(String)
        /// The server could not do it (OpenSSL failed where it should not).
        case internalFailure(String)
    }

    /// Facts of the first certificate in a PEM, nil when it holds no readable certificate.
    public var facts: @Sendable (_ pem: String) -> Facts?
    /// Whether the first certificate of `certificatePEM` was signed by the key of the first in `caPEM` (and names
    /// it as issuer).
    public var isSigned: @Sendable (_ certificatePEM: String, _ caPEM: String) -> Bool
    /// A new self-signed issuing CA: its certificate and private key PEMs.
    public var makeIssuingCA: @Sendable (_ commonName: String)
        -> Result<(certificatePEM: String, privateKeyPEM: String), Failure>
    /// A new RSA-2048 key pair and a certificate for it signed by the CA.
    public var createKeysAndCertificate: @Sendable (_ caCertificatePEM: String, _ caPrivateKeyPEM: String)
        -> Result<IssuedKeyPair, Failure>
    /// A certificate for a CSR's key, signed by the CA, after checking the CSR's self-signature.
    public var certificateFromCSR: @Sendable (_ csrPEM: String, _ caCertificatePEM: String, _ caPrivateKeyPEM: String)
        -> Result<String, Failure>
    /// A new registration code: 64 random lower-case hex characters.
    public var newRegistrationCode: @Sendable () -> String

    public init(
        facts: @escaping @Sendable (String) -> Facts?,
        isSigned: @escaping @Sendable (String, String) -> Bool,
        makeIssuingCA: @escaping @Sendable (String) -> Result<(certificatePEM: String, privateKeyPEM: String), Failure>,
        createKeysAndCertificate: @escaping @Sendable (String, String) -> Result<IssuedKeyPair, Failure>,
        certificateFromCSR: @escaping @Sendable (String, String, String) -> Result<String, Failure>,
        newRegistrationCode: @escaping @Sendable () -> String
    ) {
        self.facts = facts
        self.isSigned = isSigned
        self.makeIssuingCA = makeIssuingCA
        self.createKeysAndCertificate = createKeysAndCertificate
        self.certificateFromCSR = certificateFromCSR
        self.newRegistrationCode = newRegistrationCode
    }

    /// No X.509 support: every operation that needs it fails with InternalFailureException (routers built without
    /// it, e.g. by tests of other APIs).
    public static let unavailable = CertificateCrypto(
        facts: { _ in nil }, isSigned: { _, _ in false },
        makeIssuingCA: { _ in .failure(.internalFailure("no X.509 support in this router")) },
        createKeysAndCertificate: { _, _ in .failure(.internalFailure("no X.509 support in this router")) },
        certificateFromCSR: { _, _, _ in .failure(.internalFailure("no X.509 support in this router")) },
        newRegistrationCode: { String(repeating: "0", count: 64) })
}
