import COpenSSL
import Foundation
import Testing

@testable import TLS

/// The certificate names handed to IoT policies (`iot:Certificate.Subject.*` / `.Issuer.*`).
@Suite struct PolicyFieldsTests {
    func certificate(_ pem: String) throws -> OpaquePointer {
        let x = pem.withCString { text -> OpaquePointer? in  // the memory BIO reads the text in place
            guard let bio = BIO_new_mem_buf(text, -1) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        return try #require(x)
    }

    @Test("subject and issuer common names, and DNS alternative names, under AWS's field names")
    func names() throws {
        let x = try certificate(Fixtures.serverACertificate)
        defer { X509_free(x) }
        #expect(policyFields(of: x, subject: true) == [
            "CommonName": ["a.example.test"], "AlternativeName.DNSName": ["a.example.test"],
        ])
        #expect(policyFields(of: x, subject: false) == ["CommonName": ["Flotilla Test Server CA"]])
    }

    @Test("IP address alternative names as text: dotted IPv4, eight hex groups for IPv6")
    func ipAddresses() throws {
        let dir = NSTemporaryDirectory() + "flotilla-fields-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = try DevelopmentCertificates.ensure(directory: dir, hostNames: ["localhost"],
                                                       ipAddresses: ["127.0.0.1", "::1"])
        let pem = String(decoding: try Data(contentsOf: URL(fileURLWithPath: paths.serverCertificate)), as: UTF8.self)
        let x = try certificate(pem)
        defer { X509_free(x) }
        let fields = policyFields(of: x, subject: true)
        #expect(fields["AlternativeName.IPAddress"] == ["127.0.0.1", "0:0:0:0:0:0:0:1"])
        #expect(fields["AlternativeName.DNSName"] == ["localhost"])
    }
}
