import COpenSSL
import Foundation
import Testing

@testable import TLS

/// A fresh directory under the system temp dir, removed afterwards.
private func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
    let dir = NSTemporaryDirectory() + "flotilla-devca-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try body(dir)
}

private func readPEM(_ path: String) throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

private func loadCertificate(_ path: String) throws -> OpaquePointer {
    let bio = try #require(BIO_new_file(path, "r"))
    defer { BIO_free(bio) }
    return try #require(PEM_read_bio_X509(bio, nil, nil, nil))
}

private func loadKey(_ path: String) throws -> OpaquePointer {
    let bio = try #require(BIO_new_file(path, "r"))
    defer { BIO_free(bio) }
    return try #require(PEM_read_bio_PrivateKey(bio, nil, nil, nil))
}

private func permissions(_ path: String) throws -> Int {
    try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
}

private func subjectLine(_ x: OpaquePointer) -> String {
    guard let s = X509_NAME_oneline(X509_get_subject_name(x), nil, 0) else { return "" }
    defer { CRYPTO_free(s, #fileID, #line) }
    return String(cString: s)
}

/// Days between notBefore and notAfter.
private func validityDays(_ x: OpaquePointer) -> Int32 {
    var days: Int32 = 0
    var seconds: Int32 = 0
    _ = ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(x), X509_get0_notAfter(x))
    return days
}

@Suite struct DevelopmentCertificatesTests {
    @Test func generatesACAAndAServerCertificateThatVerifies() throws {
        try withTemporaryDirectory { root in
            let dir = root + "/data/tls"
            let paths = try DevelopmentCertificates.ensure(
                directory: dir, hostNames: ["localhost", "flotilla.local"], ipAddresses: ["127.0.0.1", "::1"])
            #expect(paths.caCreated && paths.serverCreated)
            #expect(paths.caCertificate == dir + "/dev-ca.pem" && paths.serverKey == dir + "/server.key")

            let ca = try loadCertificate(paths.caCertificate)
            defer { X509_free(ca) }
            let caKey = try loadKey(paths.caKey)
            defer { EVP_PKEY_free(caKey) }
            let server = try loadCertificate(paths.serverCertificate)
            defer { X509_free(server) }
            let serverKey = try loadKey(paths.serverKey)
            defer { EVP_PKEY_free(serverKey) }

            // The CA: self-signed, a CA, its key, ten years.
            #expect(subjectLine(ca) == "/CN=Flotilla Development CA")
            #expect(X509_check_ca(ca) == 1)
            #expect(X509_check_private_key(ca, caKey) == 1)
            #expect(X509_check_issued(ca, ca) == X509_V_OK)
            #expect(X509_get_ext_by_NID(ca, NID_subject_key_identifier, -1) >= 0)
            #expect(validityDays(ca) == 3650)

            // The server certificate: chains to the CA for TLS server use, names match, its key, 825 days.
            let store = try #require(X509_STORE_new())
            defer { X509_STORE_free(store) }
            #expect(X509_STORE_add_cert(store, ca) == 1)
            let ctx = try #require(X509_STORE_CTX_new())
            defer { X509_STORE_CTX_free(ctx) }
            #expect(X509_STORE_CTX_init(ctx, store, server, nil) == 1)
            #expect(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) == 1)
            let verified = X509_verify_cert(ctx)
            #expect(
                verified == 1,
                "\(String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(ctx)))))")
            #expect(subjectLine(server) == "/CN=localhost")
            #expect(X509_check_host(server, "localhost", 0, 0, nil) == 1)
            #expect(X509_check_host(server, "flotilla.local", 0, 0, nil) == 1)
            #expect(X509_check_host(server, "example.com", 0, 0, nil) == 0)
            #expect(X509_check_ip_asc(server, "127.0.0.1", 0) == 1)
            #expect(X509_check_ip_asc(server, "::1", 0) == 1)
            #expect(X509_check_ca(server) == 0)
            #expect(X509_get_ext_by_NID(server, NID_authority_key_identifier, -1) >= 0)
            #expect(X509_check_private_key(server, serverKey) == 1)
            #expect(X509_check_private_key(server, caKey) == 0)
            ERR_clear_error()
            #expect(validityDays(server) == 825)

            // Serials: 16 random bytes each, so the two differ.
            let caSerial = try #require(ASN1_INTEGER_to_BN(X509_get_serialNumber(ca), nil))
            defer { BN_free(caSerial) }
            let serverSerial = try #require(ASN1_INTEGER_to_BN(X509_get_serialNumber(server), nil))
            defer { BN_free(serverSerial) }
            #expect(BN_num_bits(caSerial) > 120 && BN_num_bits(caSerial) <= 127)
            #expect(BN_cmp(caSerial, serverSerial) != 0)

            #expect(try permissions(paths.caKey) == 0o600)
            #expect(try permissions(paths.serverKey) == 0o600)
            #expect(try permissions(paths.caCertificate) == 0o644)
            #expect(try permissions(paths.serverCertificate) == 0o644)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
                == ["dev-ca.key", "dev-ca.pem", "server.key", "server.pem"])
        }
    }

    @Test func aSecondCallReusesTheFiles() throws {
        try withTemporaryDirectory { dir in
            let first = try DevelopmentCertificates.ensure(
                directory: dir, hostNames: ["localhost"], ipAddresses: ["127.0.0.1"])
            let files = [first.caCertificate, first.caKey, first.serverCertificate, first.serverKey]
            let before = try files.map(readPEM)
            let second = try DevelopmentCertificates.ensure(
                directory: dir, hostNames: ["localhost"], ipAddresses: ["127.0.0.1"])
            #expect(!second.created)
            #expect(try files.map(readPEM) == before)
        }
    }

    @Test func aMissingServerCertificateIsReissuedByTheExistingCA() throws {
        try withTemporaryDirectory { dir in
            let first = try DevelopmentCertificates.ensure(directory: dir, hostNames: ["localhost"], ipAddresses: [])
            let caPEM = try readPEM(first.caCertificate)
            let oldServer = try readPEM(first.serverCertificate)
            try FileManager.default.removeItem(atPath: first.serverKey)
            let second = try DevelopmentCertificates.ensure(directory: dir, hostNames: ["localhost"], ipAddresses: [])
            #expect(!second.caCreated && second.serverCreated)
            #expect(try readPEM(first.caCertificate) == caPEM)
            #expect(try readPEM(first.serverCertificate) != oldServer)
        }
    }

    @Test func aCACertificateWithoutItsKeyIsNotReplaced() throws {
        try withTemporaryDirectory { dir in
            let first = try DevelopmentCertificates.ensure(directory: dir, hostNames: ["localhost"], ipAddresses: [])
            try FileManager.default.removeItem(atPath: first.caKey)
            #expect(throws: DevelopmentCertificates.Failure.caKeyMissing(first.caCertificate)) {
                try DevelopmentCertificates.ensure(directory: dir, hostNames: ["localhost"], ipAddresses: [])
            }
        }
    }

    @Test func namesThatWouldInjectSubjectAltNameEntriesAreRefused() throws {
        try withTemporaryDirectory { dir in
            #expect(throws: DevelopmentCertificates.Failure.invalidName("a,DNS:evil")) {
                try DevelopmentCertificates.ensure(directory: dir, hostNames: ["a,DNS:evil"], ipAddresses: [])
            }
            #expect(throws: DevelopmentCertificates.Failure.self) {
                try DevelopmentCertificates.ensure(directory: dir, hostNames: [], ipAddresses: [])
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/dev-ca.pem"))
        }
    }

    @Test func aServerContextLoadsTheFilesWithTheCAAsTrustedClientCA() throws {
        try withTemporaryDirectory { dir in
            let paths = try DevelopmentCertificates.ensure(
                directory: dir, hostNames: ["localhost"], ipAddresses: ["127.0.0.1"])
            let context = try TLSServerContext(
                name: "dev", certificateChainPEM: try readPEM(paths.serverCertificate),
                privateKeyPEM: try readPEM(paths.serverKey), trustedClientCAsPEM: [try readPEM(paths.caCertificate)])
            #expect(context.name == "dev")
        }
    }
}
