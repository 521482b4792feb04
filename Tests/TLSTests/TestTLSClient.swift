import COpenSSL
import NIOCore
import NIOEmbedded
import TLS

/// A TLS client for in-memory tests: a plain OpenSSL `SSL` on memory BIOs (no sockets), trusting the test server
/// CA, optionally presenting a client certificate, sending SNI and ALPN.
final class TestTLSClient {
    let ctx: OpaquePointer
    let ssl: OpaquePointer
    let rbio: OpaquePointer
    let wbio: OpaquePointer
    /// OpenSSL's errors from the last failed call (e.g. the alert the server sent).
    var lastErrors: [String] = []

    init(sni: String?, alpn: [String] = [], certificatePEM: String? = nil, keyPEM: String? = nil) {
        let ctx = SSL_CTX_new(TLS_client_method())!
        self.ctx = ctx
        _ = copenssl_ctx_set_min_proto(ctx, TLS1_2_VERSION)
        let store = SSL_CTX_get_cert_store(ctx)
        withPEMBIO(Fixtures.serverCaCertificate) { bio in
            let ca = PEM_read_bio_X509(bio, nil, nil, nil)!
            X509_STORE_add_cert(store, ca)
            X509_free(ca)
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if let certificatePEM, let keyPEM {
            withPEMBIO(certificatePEM) { bio in
                let x = PEM_read_bio_X509(bio, nil, nil, nil)!
                precondition(SSL_CTX_use_certificate(ctx, x) == 1)
                X509_free(x)
            }
            withPEMBIO(keyPEM) { bio in
                let k = PEM_read_bio_PrivateKey(bio, nil, nil, nil)!
                precondition(SSL_CTX_use_PrivateKey(ctx, k) == 1)
                EVP_PKEY_free(k)
            }
        }
        ssl = SSL_new(ctx)!
        rbio = BIO_new(BIO_s_mem())!
        wbio = BIO_new(BIO_s_mem())!
        SSL_set_bio(ssl, rbio, wbio)
        SSL_set_connect_state(ssl)
        if let sni { _ = copenssl_set_tlsext_host_name(ssl, sni) }
        if !alpn.isEmpty {
            let wire = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            precondition(SSL_set_alpn_protos(ssl, wire, UInt32(wire.count)) == 0)
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    var handshakeDone: Bool { SSL_is_init_finished(ssl) == 1 }

    /// One handshake step; returns SSL_get_error (0 when complete).
    @discardableResult
    func step() -> Int32 {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        let err = SSL_get_error(ssl, rc)
        if rc != 1 && err != SSL_ERROR_WANT_READ { lastErrors = drainErrors() }
        return rc == 1 ? 0 : err
    }

    func feed(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        _ = BIO_write(rbio, bytes, Int32(bytes.count))
    }

    func drain() -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(wbio))
        guard pending > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: pending)
        let n = BIO_read(wbio, &out, Int32(pending))
        return Array(out.prefix(Int(max(0, n))))
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        precondition(SSL_write(ssl, bytes, Int32(bytes.count)) == Int32(bytes.count))
    }

    /// Reads all available plaintext; `status` is SSL_get_error of the last read (2 = want read, 6 = close_notify).
    func receive() -> (text: String, status: Int32) {
        var text: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        for _ in 0..<64 {
            ERR_clear_error()
            let n = SSL_read(ssl, &buf, Int32(buf.count))
            let err = SSL_get_error(ssl, n)
            if n > 0 {
                text += buf.prefix(Int(n))
                continue
            }
            if err == SSL_ERROR_SSL { lastErrors = drainErrors() }
            return (String(decoding: text, as: UTF8.self), err)
        }
        return (String(decoding: text, as: UTF8.self), -1)
    }

    /// The subject of the certificate the server presented.
    var serverSubject: String? {
        guard let x = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(x) }
        var buf = [CChar](repeating: 0, count: 256)
        X509_NAME_oneline(X509_get_subject_name(x), &buf, 256)
        return cString(buf)
    }

    var selectedALPN: String? {
        var p: UnsafePointer<UInt8>? = nil
        var len: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &p, &len)
        guard let p, len > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(len)), as: UTF8.self)
    }

    private func drainErrors() -> [String] {
        var out: [String] = []
        for _ in 0..<16 {
            let e = ERR_get_error()
            if e == 0 { break }
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, 256)
            out.append(cString(buf))
        }
        return out
    }
}

private func withPEMBIO(_ pem: String, _ body: (OpaquePointer) -> Void) {
    let bytes = Array(pem.utf8)
    bytes.withUnsafeBytes { raw in
        let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count))!
        body(bio)
        BIO_free(bio)
    }
}

/// Moves bytes between the client and the server channel until both are quiet (bounded: a TLS handshake needs
/// about three flights). Returns when nothing moved in a round.
func interactInMemory(_ client: TestTLSClient, _ channel: EmbeddedChannel) throws {
    for _ in 0..<16 {
        if !client.handshakeDone { client.step() }
        let out = client.drain()
        if !out.isEmpty, channel.isActive {
            try channel.writeInbound(channel.allocator.buffer(bytes: out))
        }
        var moved = !out.isEmpty && channel.isActive
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            client.feed(Array(buffer.readableBytesView))
            moved = true
        }
        if !moved { return }
    }
}

private func cString(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
