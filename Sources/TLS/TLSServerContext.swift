internal import COpenSSL

/// One server identity: an OpenSSL `SSL_CTX` with a certificate chain, its key, the CAs trusted for client
/// certificates, and Flotilla's security policy. Immutable after init, so it is shared by every connection (and
/// thread) that serves this domain.
///
/// Policy (close to AWS IoT's default `IoTSecurityPolicy_TLS13_1_2_2022_10`): TLS 1.2 minimum and TLS 1.3; ECDHE
/// with AES-GCM or ChaCha20 only (no CBC-SHA1, no RSA key exchange); server cipher preference; no renegotiation; no
/// compression. Resumption: a server-side session cache and TLS 1.3 session tickets.
///
/// The verify mode is *not* a property of the context: it is decided per connection by the listener and the ALPN
/// protocol (see `TLSListenerConfiguration`) and re-applied after every SNI switch, because `SSL_set_SSL_CTX` does
/// not carry it over (TOOLCHAIN.md §4 pitfall).
public final class TLSServerContext: @unchecked Sendable {
    static let tls12Ciphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    /// A name for logs and for the certificate decision hook (e.g. the domain configuration's name).
    public let name: String
    let ctx: OpaquePointer

    /// - Parameters:
    ///   - certificateChainPEM: the server certificate first, then any intermediates.
    ///   - privateKeyPEM: the server certificate's key (unencrypted PEM).
    ///   - trustedClientCAsPEM: CA certificates a client certificate may chain to (the tenant's registered CAs).
    public init(
        name: String, certificateChainPEM: String, privateKeyPEM: String, trustedClientCAsPEM: [String] = []
    ) throws(TLSError) {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError.openSSL("SSL_CTX_new", errorStack()) }
        self.name = name
        self.ctx = ctx
        ERR_clear_error()
        let certs = try readCertificates(certificateChainPEM)
        defer { certs.forEach { X509_free($0) } }
        guard let leaf = certs.first else { throw TLSError.invalidPEM("no certificate in the chain") }
        guard SSL_CTX_use_certificate(ctx, leaf) == 1 else { throw TLSError.openSSL("use_certificate", errorStack()) }
        for intermediate in certs.dropFirst() where copenssl_ctx_add1_chain_cert(ctx, intermediate) != 1 {
            throw TLSError.openSSL("add1_chain_cert", errorStack())
        }
        guard let key = readPrivateKey(privateKeyPEM) else { throw TLSError.invalidPEM("no private key") }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_PrivateKey(ctx, key) == 1, SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError.openSSL("use_PrivateKey", errorStack())
        }
        let store = SSL_CTX_get_cert_store(ctx)
        for pem in trustedClientCAsPEM {
            let cas = try readCertificates(pem)
            defer { cas.forEach { X509_free($0) } }
            for ca in cas where X509_STORE_add_cert(store, ca) != 1 {
                throw TLSError.openSSL("X509_STORE_add_cert", errorStack())
            }
        }
        guard copenssl_ctx_set_min_proto(ctx, TLS1_2_VERSION) == 1, copenssl_ctx_set_max_proto(ctx, 0) == 1,
            SSL_CTX_set_cipher_list(ctx, Self.tls12Ciphers) == 1,
            SSL_CTX_set_ciphersuites(ctx, Self.tls13Suites) == 1
        else { throw TLSError.openSSL("security policy", errorStack()) }
        _ = copenssl_ctx_set_server_options(ctx)
        _ = copenssl_ctx_set_session_cache_server(ctx)
        let sid: [UInt8] = Array("flotilla".utf8)
        _ = SSL_CTX_set_session_id_context(ctx, sid, UInt32(sid.count))
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        // Every context carries the same thunks: after an SNI switch OpenSSL consults the *new* context's callbacks.
        _ = copenssl_ctx_set_servername_cb(ctx, serverNameThunk)
        SSL_CTX_set_alpn_select_cb(ctx, alpnSelectThunk, nil)
        SSL_CTX_set_cert_verify_callback(ctx, certificateVerifyThunk, nil)
    }

    deinit { SSL_CTX_free(ctx) }
}

/// A TLS setup or handshake failure with OpenSSL's error queue copied out.
public enum TLSError: Error, Equatable, Sendable {
    case invalidPEM(String)
    case openSSL(String, [String])
}

/// Drains OpenSSL's thread-local error queue into strings.
func errorStack() -> [String] {
    var out: [String] = []
    for _ in 0..<32 {
        let code = ERR_get_error()
        if code == 0 { break }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        out.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return out
}

func readCertificates(_ pem: String) throws(TLSError) -> [OpaquePointer] {
    let bytes = Array(pem.utf8)
    // The memory BIO reads the caller's buffer in place, so all reads happen inside withUnsafeBytes.
    let certs = bytes.withUnsafeBytes { raw -> [OpaquePointer]? in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
        defer { BIO_free(bio) }
        var certs: [OpaquePointer] = []
        for _ in 0..<64 {
            guard let x = PEM_read_bio_X509(bio, nil, nil, nil) else { break }
            certs.append(x)
        }
        return certs
    }
    ERR_clear_error()  // the read loop ends on "no start line"
    guard let certs else { throw TLSError.openSSL("BIO_new_mem_buf", []) }
    return certs
}

func readPrivateKey(_ pem: String) -> OpaquePointer? {
    let bytes = Array(pem.utf8)
    return bytes.withUnsafeBytes { raw -> OpaquePointer? in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
        defer { BIO_free(bio) }
        return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
    }
}

/// AWS certificate ids (SHA-256 of the DER, lower-case hex) of the certificates in a PEM bundle, in order: what
/// `RegisterCertificate` / `RegisterCACertificate` store and the certificate decision hook compares.
public func certificateIDs(pem: String) throws(TLSError) -> [String] {
    let certs = try readCertificates(pem)
    defer { certs.forEach { X509_free($0) } }
    return certs.map(certificateID)
}
