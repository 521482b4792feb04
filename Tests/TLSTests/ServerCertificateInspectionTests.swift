import Foundation
import Testing

@testable import TLS

/// `ServerCertificateInspection` on certificates OpenSSL really made (the development CA's server certificate).
@Suite struct ServerCertificateInspectionTests {
    static func pem(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    @Test func readsNamesIdAndValidityWhenTheKeyMatches() throws {
        let dir = NSTemporaryDirectory() + "flotilla-inspect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = try DevelopmentCertificates.ensure(directory: dir, hostNames: ["iot.brand.test", "*.brand.test"],
                                                       ipAddresses: ["127.0.0.1"])
        let chain = try Self.pem(paths.serverCertificate)
        let key = try Self.pem(paths.serverKey)
        let i = try ServerCertificateInspection(chainPEM: chain, privateKeyPEM: key)
        #expect(i.dnsNames == ["iot.brand.test", "*.brand.test"])  // DNS entries only, not the IP
        #expect(i.sha256Hex == (try certificateIDs(pem: chain)).first)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(i.notBeforeMs <= now && now < i.notAfterMs)
        #expect((i.notAfterMs - i.notBeforeMs) / 86_400_000 >= 824)  // 825 days, as the development certificate

        // The CA's key is not the server certificate's.
        #expect(throws: ServerCertificateInspection.Failure.keyMismatch) {
            try ServerCertificateInspection(chainPEM: chain, privateKeyPEM: try Self.pem(paths.caKey))
        }
        // A CA certificate has no SAN: its subject CN is its name.
        let ca = try ServerCertificateInspection(chainPEM: try Self.pem(paths.caCertificate),
                                                 privateKeyPEM: try Self.pem(paths.caKey))
        #expect(ca.dnsNames == ["Flotilla Development CA"])
    }

    @Test func unreadableInputsAreSaidSo() throws {
        #expect(throws: ServerCertificateInspection.Failure.self) {
            try ServerCertificateInspection(chainPEM: "not a pem", privateKeyPEM: "nor this")
        }
        let dir = NSTemporaryDirectory() + "flotilla-inspect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = try DevelopmentCertificates.ensure(directory: dir, hostNames: ["a.test"], ipAddresses: [])
        do {
            _ = try ServerCertificateInspection(chainPEM: try Self.pem(paths.serverCertificate), privateKeyPEM: "junk")
            Issue.record("a junk key was accepted")
        } catch {
            guard case ServerCertificateInspection.Failure.unreadable = error else { Issue.record("\(error)"); return }
        }
    }
}
