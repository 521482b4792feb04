internal import COpenSSL

/// What a server certificate chain and its key say, for importing it as a domain's server certificate
/// (`flotilla admin server-cert import`): the leaf's id, DNS names and validity, once the key is known to be the
/// leaf's. Reads only; never logs the key.
public struct ServerCertificateInspection: Sendable, Equatable {
    /// Lower-case hex SHA-256 of the leaf's DER (the AWS certificate id).
    public var sha256Hex: String
    /// subjectAltName DNS entries; the subject CN when there are none (RFC 6125's fallback).
    public var dnsNames: [String]
    /// Validity, epoch milliseconds.
    public var notBeforeMs: Int64
    public var notAfterMs: Int64

    /// Why a chain and key cannot serve.
    public enum Failure: Error, Equatable, Sendable {
        /// No certificate, or no private key, could be read from the PEM.
        case unreadable(String)
        /// The private key is not the leaf certificate's.
        case keyMismatch
    }

    public init(chainPEM: String, privateKeyPEM: String) throws(Failure) {
        let certs: [OpaquePointer]
        do {
            certs = try readCertificates(chainPEM)
        } catch {
            throw .unreadable("the certificate chain is not PEM")
        }
        defer { certs.forEach { X509_free($0) } }
        guard let leaf = certs.first else { throw .unreadable("the certificate chain holds no CERTIFICATE block") }
        guard let key = readPrivateKey(privateKeyPEM) else {
            ERR_clear_error()
            throw .unreadable("the private key is not a readable PEM key")
        }
        defer { EVP_PKEY_free(key) }
        guard X509_check_private_key(leaf, key) == 1 else {
            ERR_clear_error()
            throw .keyMismatch
        }
        sha256Hex = certificateID(leaf)
        dnsNames = Self.dnsNames(leaf)
        notBeforeMs = Self.epochMs(X509_get0_notBefore(leaf))
        notAfterMs = Self.epochMs(X509_get0_notAfter(leaf))
    }

    static func dnsNames(_ x: OpaquePointer) -> [String] {
        var buffer = [CChar](repeating: 0, count: 16_384)
        let used = copenssl_x509_dns_names(x, &buffer, Int32(buffer.count))
        if used > 0 {
            let text = String(decoding: buffer.prefix(Int(used)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return text.split(separator: "\n").map(String.init)
        }
        var cn = [CChar](repeating: 0, count: 256)
        let n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, &cn, Int32(cn.count))
        guard n > 0 else { return [] }
        return [String(decoding: cn.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)]
    }

    /// An ASN1_TIME as epoch milliseconds (0 if unreadable).
    static func epochMs(_ t: UnsafePointer<ASN1_TIME>?) -> Int64 {
        guard let t, let epoch = ASN1_TIME_set(nil, 0) else { return 0 }
        defer { ASN1_TIME_free(epoch) }
        var days: Int32 = 0
        var seconds: Int32 = 0
        guard ASN1_TIME_diff(&days, &seconds, epoch, t) == 1 else { return 0 }
        return (Int64(days) * 86_400 + Int64(seconds)) * 1000
    }
}
