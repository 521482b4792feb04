internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A development CA and a server certificate it signed, made on the first start of the embedded default so that
/// TLS (and mTLS with device certificates from `ops/make-device-cert.sh`) works without any setup. Development
/// only: the CA key sits unencrypted next to the data, and anyone who can read it can mint device certificates.
///
/// Files in `directory`: `dev-ca.pem`, `dev-ca.key`, `server.pem`, `server.key` (keys 0600, certificates 0644,
/// each written to a temporary file and renamed, so a crash never leaves a truncated PEM behind).
public enum DevelopmentCertificates {
    public static let caCommonName = "Flotilla Development CA"
    static let caDays: Int32 = 3650
    static let serverDays: Int32 = 825  // the longest validity Apple platforms accept for a TLS server certificate

    public struct Paths: Sendable, Equatable {
        public var directory: String
        public var caCertificate: String
        public var caKey: String
        public var serverCertificate: String
        public var serverKey: String
        /// This call made a new CA (devices must get new certificates).
        public var caCreated: Bool
        /// This call made a new server certificate.
        public var serverCreated: Bool
        public var created: Bool { caCreated || serverCreated }

        init(directory: String, caCreated: Bool = false, serverCreated: Bool = false) {
            self.directory = directory
            caCertificate = directory + "/dev-ca.pem"
            caKey = directory + "/dev-ca.key"
            serverCertificate = directory + "/server.pem"
            serverKey = directory + "/server.key"
            self.caCreated = caCreated
            self.serverCreated = serverCreated
        }
    }

    public enum Failure: Error, Equatable, Sendable {
        /// No host name, or a name or address that would change the subjectAltName list (a comma, a space).
        case invalidName(String)
        /// `dev-ca.pem` exists without `dev-ca.key`: devices may trust that CA, so it is not replaced silently.
        case caKeyMissing(String)
        /// The existing CA certificate and key do not belong together, or do not parse.
        case invalidCA(String)
        case file(String, path: String, errno: Int32)
        case openSSL(String, [String])
    }

    /// Makes whatever is missing and returns where the files are.
    ///
    /// - The CA is reused when `dev-ca.pem` and `dev-ca.key` both exist. A lone `dev-ca.key` is what a crash
    ///   between the two writes leaves (the key is written first), so it is replaced; a lone `dev-ca.pem` throws.
    /// - The server certificate is reused when `server.pem` and `server.key` both exist (it is not re-checked
    ///   against new host names: delete it to re-issue), and issued by the CA otherwise.
    /// - Parameters:
    ///   - hostNames: the first is the subject CN; all go into subjectAltName as DNS names.
    ///   - ipAddresses: subjectAltName IP addresses (IPv4 or IPv6 text).
    public static func ensure(
        directory: String, hostNames: [String], ipAddresses: [String]
    ) throws(Failure) -> Paths {
        guard let commonName = hostNames.first else { throw .invalidName("at least one host name is needed") }
        // The names are spliced into OpenSSL's "DNS:a,IP:b" syntax, so a separator in one would add or break entries.
        for name in hostNames where name.isEmpty || name.contains(where: { ",: \t\r\n".contains($0) }) {
            throw .invalidName(name)
        }
        for address in ipAddresses where address.isEmpty || address.contains(where: { ", \t\r\n".contains($0) }) {
            throw .invalidName(address)
        }
        try makeDirectories(directory)
        var paths = Paths(directory: directory)
        ERR_clear_error()

        let ca: (cert: OpaquePointer, key: OpaquePointer)
        switch (exists(paths.caCertificate), exists(paths.caKey)) {
        case (true, true):
            ca = try loadCA(paths)
        case (true, false):
            throw .caKeyMissing(paths.caCertificate)
        case (false, _):
            let key = try generateKey()
            let cert: OpaquePointer
            do {
                cert = try makeCertificate(
                    commonName: caCommonName, publicKey: key, issuer: nil, signingKey: key, days: caDays,
                    extensions: [
                        (NID_basic_constraints, "critical,CA:TRUE"),
                        (NID_key_usage, "critical,keyCertSign,cRLSign"),
                        (NID_subject_key_identifier, "hash"),
                    ])
            } catch {
                EVP_PKEY_free(key)
                throw error
            }
            ca = (cert, key)
            do {
                try writeAtomically(try privateKeyPEM(key), to: paths.caKey, mode: 0o600)
                try writeAtomically(try certificatePEM(cert), to: paths.caCertificate, mode: 0o644)
            } catch {
                X509_free(cert)
                EVP_PKEY_free(key)
                throw error
            }
            paths.caCreated = true
        }
        defer {
            X509_free(ca.cert)
            EVP_PKEY_free(ca.key)
        }

        // A new CA invalidates a server certificate signed by the old one.
        if paths.caCreated || !exists(paths.serverCertificate) || !exists(paths.serverKey) {
            let key = try generateKey()
            defer { EVP_PKEY_free(key) }
            let san = (hostNames.map { "DNS:" + $0 } + ipAddresses.map { "IP:" + $0 }).joined(separator: ",")
            let cert = try makeCertificate(
                commonName: commonName, publicKey: key, issuer: ca.cert, signingKey: ca.key, days: serverDays,
                extensions: [
                    (NID_basic_constraints, "critical,CA:FALSE"),
                    // ECDSA only signs: keyEncipherment is for RSA key transport.
                    (NID_key_usage, "critical,digitalSignature"),
                    (NID_ext_key_usage, "serverAuth"),
                    (NID_subject_alt_name, san),
                    (NID_subject_key_identifier, "hash"),
                    (NID_authority_key_identifier, "keyid:always"),
                ])
            defer { X509_free(cert) }
            try writeAtomically(try privateKeyPEM(key), to: paths.serverKey, mode: 0o600)
            try writeAtomically(try certificatePEM(cert), to: paths.serverCertificate, mode: 0o644)
            paths.serverCreated = true
        }
        if paths.created { syncDirectory(directory) }
        return paths
    }

    // MARK: - OpenSSL

    static func generateKey() throws(Failure) -> OpaquePointer {
        guard let key = copenssl_ec_p256_keygen() else { throw .openSSL("EC P-256 keygen", errorStack()) }
        return key
    }

    /// A signed X.509 v3 certificate (the caller frees it). `issuer` nil: self-signed.
    static func makeCertificate(
        commonName: String, publicKey: OpaquePointer, issuer: OpaquePointer?, signingKey: OpaquePointer,
        days: Int32, extensions: [(Int32, String)]
    ) throws(Failure) -> OpaquePointer {
        do {
            return try X509Build.certificate(commonName: commonName, publicKey: publicKey, issuer: issuer,
                                             signingKey: signingKey, notAfter: .days(days), extensions: extensions)
        } catch {
            throw .openSSL(error.what, error.stack)
        }
    }

    static func loadCA(_ paths: Paths) throws(Failure) -> (cert: OpaquePointer, key: OpaquePointer) {
        guard let certBIO = BIO_new_file(paths.caCertificate, "r") else {
            throw .openSSL("open \(paths.caCertificate)", errorStack())
        }
        let cert = PEM_read_bio_X509(certBIO, nil, nil, nil)
        BIO_free(certBIO)
        guard let cert else { throw .invalidCA("\(paths.caCertificate): \(errorStack())") }
        guard let keyBIO = BIO_new_file(paths.caKey, "r") else {
            X509_free(cert)
            throw .openSSL("open \(paths.caKey)", errorStack())
        }
        let key = PEM_read_bio_PrivateKey(keyBIO, nil, nil, nil)
        BIO_free(keyBIO)
        guard let key else {
            X509_free(cert)
            throw .invalidCA("\(paths.caKey): \(errorStack())")
        }
        guard X509_check_private_key(cert, key) == 1 else {
            X509_free(cert)
            EVP_PKEY_free(key)
            throw .invalidCA("\(paths.caKey) is not the key of \(paths.caCertificate)")
        }
        return (cert, key)
    }

    static func privateKeyPEM(_ key: OpaquePointer) throws(Failure) -> [UInt8] {
        try pem("PEM_write_bio_PrivateKey") { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }

    static func certificatePEM(_ cert: OpaquePointer) throws(Failure) -> [UInt8] {
        try pem("PEM_write_bio_X509") { PEM_write_bio_X509($0, cert) }
    }

    private static func pem(_ what: String, _ write: (OpaquePointer) -> Int32) throws(Failure) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL("BIO_new", errorStack()) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .openSSL(what, errorStack()) }
        var out = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
        guard BIO_read(bio, &out, Int32(out.count)) == Int32(out.count) else { throw .openSSL("BIO_read", []) }
        return out
    }

    // MARK: - Files

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `mkdir -p` with 0700 for the directories it makes (the CA key lives there).
    static func makeDirectories(_ path: String) throws(Failure) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0, errno != EEXIST { throw .file("mkdir", path: prefix, errno: errno) }
        }
    }

    /// Temp file (created with the final mode, so a key is never readable by others), fsync, rename.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t) throws(Failure) {
        let temp = path + ".tmp-\(getpid())"
        _ = unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .file("open", path: temp, errno: errno) }
        var failure: Failure?
        if fchmod(fd, mode) != 0 { failure = .file("fchmod", path: temp, errno: errno) }  // umask may have cut it
        var written = 0
        while failure == nil, written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = .file("write", path: temp, errno: errno)
            } else {
                written += n
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = .file("fsync", path: temp, errno: errno) }
        if close(fd) != 0, failure == nil { failure = .file("close", path: temp, errno: errno) }
        if failure == nil, rename(temp, path) != 0 { failure = .file("rename", path: path, errno: errno) }
        if let failure {
            _ = unlink(temp)
            throw failure
        }
    }

    /// Makes the renames durable; best effort.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = close(fd)
    }
}
