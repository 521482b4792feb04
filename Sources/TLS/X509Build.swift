internal import COpenSSL

/// The one X.509 v3 certificate builder of this module: development certificates and the certificates a tenant's
/// issuing CA signs are made the same way (version 3, a random positive 16-byte serial, valid from now, a CN
/// subject, the issuer's subject or its own, `extensions` through OpenSSL's config syntax, SHA-256 signature).
enum X509Build {
    /// What failed, and OpenSSL's error queue at that moment; each caller maps it to its own `openSSL` case.
    struct Failure: Error {
        var what: String
        var stack: [String]
        init(_ what: String) {
            self.what = what
            self.stack = errorStack()
        }
    }

    enum NotAfter {
        /// This many days from now.
        case days(Int32)
        /// ASN.1 GeneralizedTime text (`YYYYMMDDHHMMSSZ`).
        case time(String)
    }

    /// A signed certificate (the caller frees it). `issuer` nil: self-signed.
    static func certificate(commonName: String, publicKey: OpaquePointer, issuer: OpaquePointer?,
                            signingKey: OpaquePointer, notAfter: NotAfter, extensions: [(Int32, String)])
        throws(Failure) -> OpaquePointer
    {
        guard let x = X509_new() else { throw Failure("X509_new") }
        var ok = false
        defer { if !ok { X509_free(x) } }
        guard X509_set_version(x, 2) == 1 else { throw Failure("X509_set_version") }
        try setRandomSerial(x)
        guard X509_gmtime_adj(X509_getm_notBefore(x), 0) != nil else { throw Failure("validity") }
        switch notAfter {
        case .days(let days):
            guard X509_time_adj_ex(X509_getm_notAfter(x), days, 0, nil) != nil else { throw Failure("validity") }
        case .time(let text):
            guard ASN1_TIME_set_string_X509(X509_getm_notAfter(x), text) == 1 else { throw Failure("validity") }
        }
        guard let name = X509_NAME_new() else { throw Failure("X509_NAME_new") }
        defer { X509_NAME_free(name) }
        guard X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1,
            X509_set_subject_name(x, name) == 1,
            X509_set_issuer_name(x, issuer.map { X509_get_subject_name($0) } ?? name) == 1,
            X509_set_pubkey(x, publicKey) == 1
        else { throw Failure("subject") }
        var v3 = X509V3_CTX()
        X509V3_set_ctx(&v3, issuer ?? x, x, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_nconf_nid(nil, &v3, nid, value) else {
                throw Failure("extension \(String(cString: OBJ_nid2sn(nid))) = \(value)")
            }
            defer { X509_EXTENSION_free(ext) }
            guard X509_add_ext(x, ext, -1) == 1 else { throw Failure("X509_add_ext") }
        }
        guard X509_sign(x, signingKey, EVP_sha256()) > 0 else { throw Failure("X509_sign") }
        ok = true
        return x
    }

    /// 16 random bytes, top bit clear (positive) and first byte non-zero (all 16 significant).
    static func setRandomSerial(_ x: OpaquePointer) throws(Failure) {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw Failure("RAND_bytes") }
        bytes[0] &= 0x7F
        if bytes[0] == 0 { bytes[0] = 1 }
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw Failure("BN_bin2bn") }
        defer { BN_free(bn) }
        guard BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != nil else { throw Failure("serial") }
    }
}
