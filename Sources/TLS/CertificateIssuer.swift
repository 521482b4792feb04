internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The X.509 work of the `iot` certificate operations (AWS-IOT-SPEC §2.1, §3.4): issuing certificates for
/// CreateKeysAndCertificate and CreateCertificateFromCsr with a tenant's issuing CA, and reading and checking the
/// certificates clients register. Stateless functions over PEM text; the control plane reaches them through closures
/// injected by the executable (it imports neither this module nor OpenSSL). Private keys are returned to the caller
/// and never logged or kept here.
public enum CertificateIssuer {
    /// Subject of every certificate the issuing CA signs, as AWS's (`CN=AWS IoT Certificate`).
    public static let issuedCommonName = "AWS IoT Certificate"
    /// AWS's expiry for the certificates it issues: 2049-12-31T23:59:59Z.
    static let issuedNotAfter = "20491231235959Z"
    static let caNotAfter = "20501231235959Z"
    /// AWS accepts CSRs with RSA of at least 2048 bits or EC P-256, P-384, P-521 keys.
    static let minimumRSABits: Int32 = 2048

    public enum Failure: Error, Equatable, Sendable {
        /// The input is not what it must be (no certificate, a bad CSR signature, a weak key): the client's fault.
        case invalid(String)
        /// OpenSSL failed where it should not have (allocation, signing): the server's fault.
        case openSSL(String, [String])
    }

    /// What the control plane needs to know about a certificate.
    public struct Facts: Sendable, Equatable {
        /// Lower-case hex SHA-256 of the DER.
        public var id: String
        /// The subject's first commonName, nil when there is none.
        public var subjectCommonName: String?
        /// Validity, epoch milliseconds.
        public var notBeforeMs: Int64
        public var notAfterMs: Int64
        /// basicConstraints CA:TRUE (or a v1 self-signed root, as OpenSSL's `X509_check_ca` counts it).
        public var isCA: Bool
    }

    /// A new key pair and its certificate. `privateKeyPEM` goes to the client once and nowhere else.
    public struct IssuedKeyPair: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        public var certificatePEM: String
        public var publicKeyPEM: String
        public var privateKeyPEM: String
        public var description: String { "IssuedKeyPair(certificatePEM: …, publicKeyPEM: …, privateKeyPEM: <redacted>)" }
        public var debugDescription: String { description }
    }

    // MARK: - Reading

    /// Facts of the first certificate in `pem`.
    public static func facts(pem: String) throws(Failure) -> Facts {
        let x = try firstCertificate(pem)
        defer { X509_free(x) }
        guard let from = epochMs(X509_get0_notBefore(x)), let to = epochMs(X509_get0_notAfter(x)) else {
            throw .invalid("the certificate's validity dates cannot be read")
        }
        return Facts(id: certificateID(x), subjectCommonName: commonName(X509_get_subject_name(x)),
                     notBeforeMs: from, notAfterMs: to, isCA: X509_check_ca(x) > 0)
    }

    /// Whether the first certificate in `certificatePEM` was issued by the first in `caPEM`: the issuer name is the
    /// CA's subject and the signature verifies with the CA's public key. Dates are not checked.
    public static func isSigned(certificatePEM: String, byCA caPEM: String) -> Bool {
        guard let cert = try? firstCertificate(certificatePEM) else { return false }
        defer { X509_free(cert) }
        guard let ca = try? firstCertificate(caPEM) else { return false }
        defer { X509_free(ca) }
        defer { ERR_clear_error() }
        guard X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)) == 0,
            let key = X509_get0_pubkey(ca)
        else { return false }
        return X509_verify(cert, key) == 1
    }

    // MARK: - Issuing

    /// A new self-signed CA (EC P-256) to issue a tenant's certificates. Valid from now until the end of 2050, so it
    /// outlives every certificate it signs.
    public static func makeIssuingCA(commonName: String) throws(Failure) -> (certificatePEM: String, privateKeyPEM: String) {
        ERR_clear_error()
        guard let key = copenssl_ec_p256_keygen() else { throw .openSSL("EC P-256 keygen", errorStack()) }
        defer { EVP_PKEY_free(key) }
        let x = try build(commonName: commonName, publicKey: key, issuer: nil, signingKey: key, notAfter: caNotAfter,
                          extensions: [
                              (NID_basic_constraints, "critical,CA:TRUE"),
                              (NID_key_usage, "critical,keyCertSign,cRLSign"),
                              (NID_subject_key_identifier, "hash"),
                          ])
        defer { X509_free(x) }
        return (try pem { PEM_write_bio_X509($0, x) }, try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) })
    }

    /// CreateKeysAndCertificate: a new RSA-2048 key pair and a certificate for it signed by the CA.
    public static func createKeysAndCertificate(caCertificatePEM: String, caPrivateKeyPEM: String) throws(Failure)
        -> IssuedKeyPair
    {
        ERR_clear_error()
        guard let key = copenssl_rsa_keygen(2048) else { throw .openSSL("RSA-2048 keygen", errorStack()) }
        defer { EVP_PKEY_free(key) }
        let certificate = try issue(publicKey: key, caCertificatePEM: caCertificatePEM, caPrivateKeyPEM: caPrivateKeyPEM)
        return IssuedKeyPair(
            certificatePEM: certificate, publicKeyPEM: try pem { PEM_write_bio_PUBKEY($0, key) },
            privateKeyPEM: try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) })
    }

    /// CreateCertificateFromCsr: checks the CSR's self-signature and key (RSA ≥ 2048 bits, EC P-256/384/521) and
    /// signs its public key with the CA. `.invalid` for a CSR that fails any of that.
    public static func certificate(fromCSR csrPEM: String, caCertificatePEM: String, caPrivateKeyPEM: String)
        throws(Failure) -> String
    {
        ERR_clear_error()
        let bytes = Array(csrPEM.utf8)
        let request = bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509_REQ(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let request else { throw .invalid("the certificate signing request is not a PEM CSR") }
        defer { X509_REQ_free(request) }
        guard let key = X509_REQ_get0_pubkey(request) else { throw .invalid("the CSR has no readable public key") }
        guard X509_REQ_verify(request, key) == 1 else {
            ERR_clear_error()
            throw .invalid("the CSR's signature does not verify with its public key")
        }
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA:
            guard EVP_PKEY_get_bits(key) >= minimumRSABits else {
                throw .invalid("RSA keys in a CSR must be at least \(minimumRSABits) bits")
            }
        case EVP_PKEY_EC:
            guard [256, 384, 521].contains(EVP_PKEY_get_bits(key)) else {
                throw .invalid("EC keys in a CSR must be on P-256, P-384 or P-521")
            }
        default:
            throw .invalid("a CSR's key must be RSA (2048 bits or more) or EC (P-256, P-384, P-521)")
        }
        return try issue(publicKey: key, caCertificatePEM: caCertificatePEM, caPrivateKeyPEM: caPrivateKeyPEM)
    }

    /// A certificate for a new EC P-256 key with subject `CN=<commonName>`, signed by the CA: a device or
    /// verification certificate (tools and tests; AWS's verification certificates are made this way).
    public static func makeCertificate(commonName: String, caCertificatePEM: String, caPrivateKeyPEM: String,
                                       isCA: Bool = false) throws(Failure) -> IssuedKeyPair
    {
        ERR_clear_error()
        guard let key = copenssl_ec_p256_keygen() else { throw .openSSL("EC P-256 keygen", errorStack()) }
        defer { EVP_PKEY_free(key) }
        let ca = try firstCertificate(caCertificatePEM)
        defer { X509_free(ca) }
        guard let caKey = readPrivateKey(caPrivateKeyPEM) else { throw .invalid("the CA key does not parse") }
        defer { EVP_PKEY_free(caKey) }
        let x = try build(commonName: commonName, publicKey: key, issuer: ca, signingKey: caKey,
                          notAfter: issuedNotAfter,
                          extensions: [(NID_basic_constraints, isCA ? "critical,CA:TRUE" : "critical,CA:FALSE")])
        defer { X509_free(x) }
        return IssuedKeyPair(
            certificatePEM: try pem { PEM_write_bio_X509($0, x) }, publicKeyPEM: try pem { PEM_write_bio_PUBKEY($0, key) },
            privateKeyPEM: try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) })
    }

    /// A CSR for a new key (EC P-256, or RSA of `rsaBits`) with subject `CN=<commonName>`: what a device sends to
    /// CreateCertificateFromCsr (tools and tests). Returns the CSR and the key PEMs.
    public static func makeCSR(commonName: String, rsaBits: UInt32? = nil) throws(Failure)
        -> (csrPEM: String, privateKeyPEM: String)
    {
        ERR_clear_error()
        guard let key = rsaBits.map({ copenssl_rsa_keygen($0) }) ?? copenssl_ec_p256_keygen() else {
            throw .openSSL("keygen", errorStack())
        }
        defer { EVP_PKEY_free(key) }
        guard let req = X509_REQ_new() else { throw .openSSL("X509_REQ_new", errorStack()) }
        defer { X509_REQ_free(req) }
        guard let name = X509_NAME_new() else { throw .openSSL("X509_NAME_new", errorStack()) }
        defer { X509_NAME_free(name) }
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1,
            X509_REQ_set_subject_name(req, name) == 1, X509_REQ_set_pubkey(req, key) == 1,
            X509_REQ_sign(req, key, EVP_sha256()) > 0
        else { throw .openSSL("CSR", errorStack()) }
        return (try pem { PEM_write_bio_X509_REQ($0, req) },
                try pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) })
    }

    /// `bytes` random bytes (OpenSSL's CSPRNG) as lower-case hex: registration codes.
    public static func randomHex(bytes: Int) -> String {
        var raw = [UInt8](repeating: 0, count: bytes)
        if RAND_bytes(&raw, Int32(bytes)) != 1 {
            var g = SystemRandomNumberGenerator()
            for i in raw.indices { raw[i] = g.next() }
        }
        let hex = Array("0123456789abcdef".utf8)
        return String(decoding: raw.flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 0xF)]] }, as: UTF8.self)
    }

    // MARK: - OpenSSL

    static func issue(publicKey: OpaquePointer, caCertificatePEM: String, caPrivateKeyPEM: String) throws(Failure)
        -> String
    {
        let ca: OpaquePointer
        do {
            ca = try firstCertificate(caCertificatePEM)
        } catch {
            throw .openSSL("the issuing CA's certificate does not parse", [])
        }
        defer { X509_free(ca) }
        guard let caKey = readPrivateKey(caPrivateKeyPEM) else {
            ERR_clear_error()
            throw .openSSL("the issuing CA's key does not parse", [])
        }
        defer { EVP_PKEY_free(caKey) }
        let x = try build(commonName: issuedCommonName, publicKey: publicKey, issuer: ca, signingKey: caKey,
                          notAfter: issuedNotAfter,
                          extensions: [
                              (NID_basic_constraints, "critical,CA:FALSE"),
                              (NID_key_usage, "critical,digitalSignature"),
                              (NID_ext_key_usage, "clientAuth"),
                              (NID_subject_key_identifier, "hash"),
                              (NID_authority_key_identifier, "keyid:always"),
                          ])
        defer { X509_free(x) }
        return try pem { PEM_write_bio_X509($0, x) }
    }

    /// An X.509 v3 certificate valid from now to `notAfter` (ASN.1 GeneralizedTime text), random serial; `issuer`
    /// nil: self-signed. The caller frees it.
    static func build(commonName: String, publicKey: OpaquePointer, issuer: OpaquePointer?, signingKey: OpaquePointer,
                      notAfter: String, extensions: [(Int32, String)]) throws(Failure) -> OpaquePointer
    {
        do {
            return try X509Build.certificate(commonName: commonName, publicKey: publicKey, issuer: issuer,
                                             signingKey: signingKey, notAfter: .time(notAfter), extensions: extensions)
        } catch {
            throw .openSSL(error.what, error.stack)
        }
    }

    static func firstCertificate(_ pem: String) throws(Failure) -> OpaquePointer {
        let certs: [OpaquePointer]
        do {
            certs = try readCertificates(pem)
        } catch {
            throw .invalid("the certificate PEM cannot be read")
        }
        guard let first = certs.first else { throw .invalid("no certificate in the PEM") }
        for x in certs.dropFirst() { X509_free(x) }
        return first
    }

    static func epochMs(_ t: UnsafePointer<ASN1_TIME>?) -> Int64? {
        guard let t else { return nil }
        var tm = tm()
        guard ASN1_TIME_to_tm(t, &tm) == 1 else { return nil }
        return Int64(timegm(&tm)) * 1000
    }

    static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        let i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard i >= 0, let entry = X509_NAME_get_entry(name, i), let data = X509_NAME_ENTRY_get_data(entry) else {
            return nil
        }
        var out: UnsafeMutablePointer<UInt8>?
        let n = ASN1_STRING_to_UTF8(&out, data)
        guard n >= 0, let out else { return nil }
        defer { CRYPTO_free(out, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: out, count: Int(n)), as: UTF8.self)
    }

    static func pem(_ write: (OpaquePointer) -> Int32) throws(Failure) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL("BIO_new", errorStack()) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .openSSL("PEM write", errorStack()) }
        var out = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
        guard BIO_read(bio, &out, Int32(out.count)) == Int32(out.count) else { throw .openSSL("BIO_read", []) }
        return String(decoding: out, as: UTF8.self)
    }
}
