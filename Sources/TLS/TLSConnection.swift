internal import COpenSSL
import NIOCore

/// One server-side `SSL` on two memory BIOs (ciphertext in through `rbio`, out through `wbio`), plus the state
/// OpenSSL's callbacks fill in during the handshake. Loop-confined: owned by one `TLSServerHandler`.
///
/// The callbacks are free `@convention(c)` thunks that find this object through SSL ex_data (STYLE C7): they never
/// throw across C; what they learn (SNI, ALPN, the certificate, a refusal) is stored here for the handler.
final class TLSConnection {
    enum Step: Equatable {
        case complete
        case wantRead
        case failed
    }

    let ssl: OpaquePointer
    private let rbio: OpaquePointer
    private let wbio: OpaquePointer
    let configuration: TLSListenerConfiguration

    // Filled in by the callbacks.
    private(set) var context: TLSServerContext
    private(set) var serverName: String?
    private(set) var alpn: String?
    private(set) var peerCertificate: ClientCertificate?
    /// A refusal decided inside a callback; the handshake then fails and the handler reports this reason.
    private(set) var refusal: TLSRefusalReason?

    init(configuration: TLSListenerConfiguration) throws(TLSError) {
        self.configuration = configuration
        self.context = configuration.initialContext
        guard let ssl = SSL_new(configuration.initialContext.ctx) else {
            throw TLSError.openSSL("SSL_new", errorStack())
        }
        guard let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError.openSSL("BIO_new", errorStack())
        }
        self.ssl = ssl
        self.rbio = rbio
        self.wbio = wbio
        SSL_set_bio(ssl, rbio, wbio)  // the SSL owns both BIOs now
        SSL_set_accept_state(ssl)
        applyVerifyMode(configuration.clientCertificate.mode(alpn: nil))
        SSL_set_ex_data(ssl, connectionExDataIndex, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        SSL_set_ex_data(ssl, connectionExDataIndex, nil)
        SSL_free(ssl)
    }

    private func applyVerifyMode(_ mode: TLSListenerConfiguration.ClientCertificateMode) {
        let flags: Int32 =
            switch mode {
            case .required: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
            case .requested: SSL_VERIFY_PEER
            case .none: SSL_VERIFY_NONE
            }
        SSL_set_verify(ssl, flags, nil)
    }

    // MARK: Bytes in and out

    func feed(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { raw in
            var offset = 0
            // A memory BIO takes everything; the bound only guards against a broken BIO.
            for _ in 0..<64 where offset < raw.count {
                let n = BIO_write(rbio, raw.baseAddress! + offset, Int32(min(raw.count - offset, Int(Int32.max))))
                if n <= 0 { break }
                offset += Int(n)
            }
        }
    }

    /// Pending ciphertext (handshake records, alerts, application data), or nil.
    func drainOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = Int(BIO_ctrl_pending(wbio))
        guard pending > 0 else { return nil }
        var out = allocator.buffer(capacity: pending)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { ptr in
            max(0, Int(BIO_read(wbio, ptr.baseAddress, Int32(pending))))
        }
        return out
    }

    // MARK: Handshake, read, write, shutdown

    func handshake() -> (Step, [String]) {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        let err = SSL_get_error(ssl, rc)  // right away: the next BIO_write would clear the retry flags
        if rc == 1 { return (.complete, []) }
        if err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE { return (.wantRead, []) }
        return (.failed, errorStack())
    }

    enum ReadResult {
        case data(ByteBuffer)
        case wantRead
        case closeNotify
        case failed([String])
    }

    func read(allocator: ByteBufferAllocator) -> ReadResult {
        ERR_clear_error()
        var buffer = allocator.buffer(capacity: 16384)
        var err: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16384) { ptr in
            let n = SSL_read(ssl, ptr.baseAddress, Int32(ptr.count))
            err = SSL_get_error(ssl, n)
            return max(0, Int(n))
        }
        if buffer.readableBytes > 0 { return .data(buffer) }
        switch err {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        case SSL_ERROR_ZERO_RETURN: return .closeNotify
        default: return .failed(errorStack())
        }
    }

    /// Encrypts all of `plaintext` (a memory BIO never pushes back). False on a TLS failure.
    func write(_ plaintext: ByteBuffer) -> Bool {
        guard plaintext.readableBytes > 0 else { return true }
        ERR_clear_error()
        return plaintext.withUnsafeReadableBytes { raw in
            let n = SSL_write(ssl, raw.baseAddress, Int32(raw.count))
            _ = SSL_get_error(ssl, n)
            return Int(n) == raw.count
        }
    }

    /// Queues our close_notify.
    func shutdown() {
        ERR_clear_error()
        let rc = SSL_shutdown(ssl)
        _ = SSL_get_error(ssl, rc)
        ERR_clear_error()
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    // MARK: Callback bodies (called by the thunks, inside SSL_do_handshake)

    /// SNI → context. Switches the SSL to it and re-applies the listener's verify mode, which `SSL_set_SSL_CTX`
    /// does not carry (TOOLCHAIN.md §4: without this a client with no certificate passes an mTLS context).
    fileprivate func onServerName(_ name: String?) -> Bool {
        serverName = name
        guard let selected = configuration.selectContext(name) else {
            refusal = .unrecognizedName
            return false
        }
        context = selected
        if SSL_set_SSL_CTX(ssl, selected.ctx) == nil { return false }
        applyVerifyMode(configuration.clientCertificate.mode(alpn: alpn))
        return true
    }

    /// Picks the server's most preferred protocol the client offers; sets the verify mode that protocol needs.
    fileprivate func onALPN(offered: [String]) -> String?? {
        guard !configuration.alpnPreference.isEmpty else { return .some(nil) }  // not negotiated here
        guard let pick = configuration.alpnPreference.first(where: offered.contains) else {
            refusal = .noApplicationProtocol
            return nil
        }
        alpn = pick
        applyVerifyMode(configuration.clientCertificate.mode(alpn: pick))
        return .some(pick)
    }

    fileprivate func onClientCertificate(_ certificate: ClientCertificate, expired: Bool, notYetValid: Bool)
        -> CertificateDecision
    {
        peerCertificate = certificate
        let decision: CertificateDecision =
            if expired { .refuse(.expired) } else if notYetValid { .refuse(.notYetValid) } else {
                configuration.decideCertificate(
                    CertificateCheck(certificate: certificate, serverName: serverName, contextName: context.name))
            }
        if case .refuse(let why) = decision { refusal = .certificate(why) }
        return decision
    }
}

// MARK: - C thunks

let connectionExDataIndex: Int32 = copenssl_ssl_get_ex_new_index()

private func connection(of ssl: OpaquePointer?) -> TLSConnection? {
    guard let ssl, let raw = SSL_get_ex_data(ssl, connectionExDataIndex) else { return nil }
    return Unmanaged<TLSConnection>.fromOpaque(raw).takeUnretainedValue()
}

let serverNameThunk: copenssl_servername_cb = { ssl, alert, _ in
    guard let conn = connection(of: ssl) else { return SSL_TLSEXT_ERR_NOACK }
    let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
    if conn.onServerName(name) { return SSL_TLSEXT_ERR_OK }
    alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
    return SSL_TLSEXT_ERR_ALERT_FATAL
}

let alpnSelectThunk:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { ssl, out, outlen, input, inlen, _ in
        guard let conn = connection(of: ssl), let input, let out, let outlen else { return SSL_TLSEXT_ERR_NOACK }
        // The client's list: u8 length + bytes, repeated (RFC 7301 §3.1).
        var offered: [(String, Int, UInt8)] = []
        var i = 0
        let count = Int(inlen)
        while i < count {
            let len = Int(input[i])
            guard len > 0, i + 1 + len <= count else { break }
            let name = String(decoding: UnsafeBufferPointer(start: input + i + 1, count: len), as: UTF8.self)
            offered.append((name, i + 1, UInt8(len)))
            i += 1 + len
        }
        guard let pick = conn.onALPN(offered: offered.map(\.0)) else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        guard let pick, let hit = offered.first(where: { $0.0 == pick }) else { return SSL_TLSEXT_ERR_NOACK }
        out.pointee = input + hit.1  // points into the ClientHello, which outlives the callback
        outlen.pointee = hit.2
        return SSL_TLSEXT_ERR_OK
    }

/// Replaces OpenSSL's chain verification for client certificates: verify against the selected context's trust
/// store (the tenant's CAs) but let the decision hook have the last word, since AWS also accepts a certificate that
/// is itself registered without its CA. A refusal sets a verify error, so OpenSSL sends the matching alert
/// (`certificate_revoked`, `certificate_expired`, `bad_certificate`).
let certificateVerifyThunk: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { store, _ in
    guard let store,
        let sslRaw = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()),
        let conn = connection(of: OpaquePointer(sslRaw)),
        let leaf = X509_STORE_CTX_get0_cert(store)
    else { return 0 }
    let chainOK = X509_verify_cert(store) == 1
    let chainError = chainOK ? nil : String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(store))))
    var issuerIDs: [String] = []
    if chainOK, let chain = X509_STORE_CTX_get0_chain(store) {
        let n = copenssl_sk_x509_num(chain)
        if n > 1 { for i in 1..<n { if let x = copenssl_sk_x509_value(chain, i) { issuerIDs.append(certificateID(x)) } } }
    }
    let certificate = ClientCertificate(
        id: certificateID(leaf), der: derBytes(leaf), subject: nameString(X509_get_subject_name(leaf)),
        issuer: nameString(X509_get_issuer_name(leaf)), issuerChainIDs: issuerIDs, chainError: chainError,
        subjectFields: policyFields(of: leaf, subject: true), issuerFields: policyFields(of: leaf, subject: false))
    let expired = X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0
    let notYetValid = X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0
    switch conn.onClientCertificate(certificate, expired: expired, notYetValid: notYetValid) {
    case .allow:
        X509_STORE_CTX_set_error(store, X509_V_OK)
        return 1
    case .refuse(let why):
        let code: Int32 =
            switch why {
            case .revoked: X509_V_ERR_CERT_REVOKED
            case .expired: X509_V_ERR_CERT_HAS_EXPIRED
            case .notYetValid: X509_V_ERR_CERT_NOT_YET_VALID
            case .inactive, .unknown, .pendingTransfer: X509_V_ERR_CERT_REJECTED
            }
        X509_STORE_CTX_set_error(store, code)
        return 0
    }
}

// MARK: - X509 helpers

/// AWS's certificate id: SHA-256 of the DER, lower-case hex.
func certificateID(_ x: OpaquePointer) -> String {
    var md = [UInt8](repeating: 0, count: 32)
    var len: UInt32 = 0
    guard X509_digest(x, EVP_sha256(), &md, &len) == 1 else { return "" }
    let hex = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in md.prefix(Int(len)) {
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}

func derBytes(_ x: OpaquePointer) -> [UInt8] {
    let len = i2d_X509(x, nil)
    guard len > 0 else { return [] }
    var der = [UInt8](repeating: 0, count: Int(len))
    der.withUnsafeMutableBufferPointer { buf in
        var p = buf.baseAddress
        _ = i2d_X509(x, &p)
    }
    return der
}

func nameString(_ name: OpaquePointer?) -> String {
    guard let name else { return "" }
    var buf = [CChar](repeating: 0, count: 512)
    guard X509_NAME_oneline(name, &buf, Int32(buf.count)) != nil else { return "" }
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Names for IoT policy variables

/// The distinguished-name attributes AWS exposes as `iot:Certificate.Subject.<Field>` / `.Issuer.<Field>`.
private let policyFieldNames: [Int32: String] = [
    NID_commonName: "CommonName", NID_countryName: "Country", NID_organizationName: "Organization",
    NID_organizationalUnitName: "OrganizationalUnit", NID_stateOrProvinceName: "State",
    NID_dnQualifier: "DistinguishedNameQualifier", NID_serialNumber: "SerialNumber", NID_title: "Title",
    NID_surname: "Surname", NID_givenName: "GivenName", NID_initials: "Initials", NID_pseudonym: "Pseudonym",
    NID_generationQualifier: "GenerationQualifier",
]

/// The subject's (or issuer's) name fields and alternative names of `x`, under AWS's variable names.
func policyFields(of x: OpaquePointer, subject: Bool) -> [String: [String]] {
    var out: [String: [String]] = [:]
    if let name = subject ? X509_get_subject_name(x) : X509_get_issuer_name(x) {
        for i in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, i),
                let field = policyFieldNames[OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry))],
                let value = utf8String(X509_NAME_ENTRY_get_data(entry))
            else { continue }
            out[field, default: []].append(value)
        }
    }
    guard let names = X509_get_ext_d2i(x, subject ? NID_subject_alt_name : NID_issuer_alt_name, nil, nil) else {
        return out
    }
    defer { copenssl_general_names_free(names) }
    for i in 0..<copenssl_general_names_num(names) {
        let type = copenssl_general_name_type(names, i)
        guard let string = copenssl_general_name_string(names, i) else { continue }
        switch type {
        case GEN_DNS: utf8String(string).map { out["AlternativeName.DNSName", default: []].append($0) }
        case GEN_EMAIL: utf8String(string).map { out["AlternativeName.RFC822Name", default: []].append($0) }
        case GEN_URI: utf8String(string).map { out["AlternativeName.UniformResourceIdentifier", default: []].append($0) }
        case GEN_IPADD: ipAddressText(string).map { out["AlternativeName.IPAddress", default: []].append($0) }
        default: break
        }
    }
    return out
}

private func utf8String(_ s: UnsafePointer<ASN1_STRING>?) -> String? {
    guard let s else { return nil }
    var buffer: UnsafeMutablePointer<UInt8>?
    let n = ASN1_STRING_to_UTF8(&buffer, s)
    guard n >= 0, let buffer else { return nil }
    defer { CRYPTO_free(buffer, nil, 0) }
    return String(decoding: UnsafeBufferPointer(start: buffer, count: Int(n)), as: UTF8.self)
}

private func utf8String(_ s: UnsafeMutablePointer<ASN1_STRING>?) -> String? { utf8String(UnsafePointer(s)) }

/// An IP address entry (4 or 16 bytes) as text: dotted IPv4, or eight colon-separated hex groups for IPv6.
private func ipAddressText(_ s: UnsafePointer<ASN1_STRING>) -> String? {
    let n = Int(ASN1_STRING_length(s))
    guard let p = ASN1_STRING_get0_data(s) else { return nil }
    let bytes = Array(UnsafeBufferPointer(start: p, count: n))
    switch n {
    case 4: return bytes.map { String($0) }.joined(separator: ".")
    case 16:
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    default: return nil
    }
}
