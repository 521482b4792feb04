import Foundation
import Testing

@testable import TLS

@Suite("CertificateIssuer: issuing CA, CreateKeysAndCertificate, CSRs, signature checks")
struct CertificateIssuerTests {
    static let issuer = try! CertificateIssuer.makeIssuingCA(commonName: "Test Issuing CA")

    @Test("the issuing CA is a CA, self-signed, valid through 2050")
    func issuingCA() throws {
        let f = try CertificateIssuer.facts(pem: Self.issuer.certificatePEM)
        #expect(f.isCA)
        #expect(f.subjectCommonName == "Test Issuing CA")
        #expect(f.id == (try certificateIDs(pem: Self.issuer.certificatePEM)).first)
        #expect(f.notAfterMs == 2_556_143_999_000)  // 2050-12-31T23:59:59Z
        #expect(CertificateIssuer.isSigned(certificatePEM: Self.issuer.certificatePEM, byCA: Self.issuer.certificatePEM))
        #expect(Self.issuer.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
    }

    @Test("CreateKeysAndCertificate: RSA-2048, CN=AWS IoT Certificate, expires 2049-12-31T23:59:59Z, signed by the CA")
    func keysAndCertificate() throws {
        let k = try CertificateIssuer.createKeysAndCertificate(
            caCertificatePEM: Self.issuer.certificatePEM, caPrivateKeyPEM: Self.issuer.privateKeyPEM)
        let f = try CertificateIssuer.facts(pem: k.certificatePEM)
        #expect(f.subjectCommonName == "AWS IoT Certificate")
        #expect(!f.isCA)
        #expect(f.notAfterMs == 2_524_607_999_000)
        #expect(CertificateIssuer.isSigned(certificatePEM: k.certificatePEM, byCA: Self.issuer.certificatePEM))
        #expect(k.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(k.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        // The key is RSA-2048: its PKCS#8 PEM is about 1.7 KB (an EC key is ~240 bytes).
        #expect(k.privateKeyPEM.utf8.count > 1500)
        #expect(!"\(k)".contains("PRIVATE KEY"))
        // The pair works for TLS: the key matches the certificate.
        #expect(try TLSServerContext(name: "t", certificateChainPEM: k.certificatePEM, privateKeyPEM: k.privateKeyPEM)
            .name == "t")
    }

    @Test("another CA's certificate, a self-signed one and garbage are not signed by the issuing CA")
    func signatureChecks() throws {
        let other = try CertificateIssuer.makeIssuingCA(commonName: "Test Issuing CA")  // same name, other key
        let k = try CertificateIssuer.makeCertificate(
            commonName: "d", caCertificatePEM: other.certificatePEM, caPrivateKeyPEM: other.privateKeyPEM)
        #expect(CertificateIssuer.isSigned(certificatePEM: k.certificatePEM, byCA: other.certificatePEM))
        #expect(!CertificateIssuer.isSigned(certificatePEM: k.certificatePEM, byCA: Self.issuer.certificatePEM))
        #expect(!CertificateIssuer.isSigned(certificatePEM: other.certificatePEM, byCA: Self.issuer.certificatePEM))
        #expect(!CertificateIssuer.isSigned(certificatePEM: "junk", byCA: Self.issuer.certificatePEM))
        #expect(throws: CertificateIssuer.Failure.self) { try CertificateIssuer.facts(pem: "junk") }
    }

    @Test("a CSR is signed with the CA after its self-signature and key are checked")
    func csr() throws {
        for bits: UInt32? in [nil, 2048] {
            let (csr, _) = try CertificateIssuer.makeCSR(commonName: "device-1", rsaBits: bits)
            let pem = try CertificateIssuer.certificate(
                fromCSR: csr, caCertificatePEM: Self.issuer.certificatePEM, caPrivateKeyPEM: Self.issuer.privateKeyPEM)
            #expect(CertificateIssuer.isSigned(certificatePEM: pem, byCA: Self.issuer.certificatePEM))
            #expect(try CertificateIssuer.facts(pem: pem).subjectCommonName == "AWS IoT Certificate")
        }
        // The same CSR twice: two different certificates (new serials).
        let (csr, _) = try CertificateIssuer.makeCSR(commonName: "device-1")
        let a = try CertificateIssuer.certificate(
            fromCSR: csr, caCertificatePEM: Self.issuer.certificatePEM, caPrivateKeyPEM: Self.issuer.privateKeyPEM)
        let b = try CertificateIssuer.certificate(
            fromCSR: csr, caCertificatePEM: Self.issuer.certificatePEM, caPrivateKeyPEM: Self.issuer.privateKeyPEM)
        #expect(try CertificateIssuer.facts(pem: a).id != CertificateIssuer.facts(pem: b).id)
    }

    @Test("a CSR that is not one, is tampered with, or has a weak RSA key is invalid")
    func badCSRs() throws {
        func sign(_ csr: String) throws(CertificateIssuer.Failure) -> String {
            try CertificateIssuer.certificate(
                fromCSR: csr, caCertificatePEM: Self.issuer.certificatePEM, caPrivateKeyPEM: Self.issuer.privateKeyPEM)
        }
        func isInvalid(_ csr: String) -> Bool {
            do {
                _ = try sign(csr)
                return false
            } catch {
                if case .invalid = error { return true }
                return false
            }
        }
        #expect(isInvalid("not a csr"))
        #expect(isInvalid(Self.issuer.certificatePEM))
        let (weak, _) = try CertificateIssuer.makeCSR(commonName: "weak", rsaBits: 1024)
        #expect(isInvalid(weak))
        // Flip one byte inside the base64 body's signature: the self-signature no longer verifies.
        let (good, _) = try CertificateIssuer.makeCSR(commonName: "device-1")
        var lines = good.split(separator: "\n").map(String.init)
        let i = lines.count - 2  // last base64 line, inside the signature
        var chars = Array(lines[i])
        chars[0] = chars[0] == "A" ? "B" : "A"
        lines[i] = String(chars)
        #expect(isInvalid(lines.joined(separator: "\n") + "\n"))
    }

    @Test("registration codes are 64 random lower-case hex")
    func randomHex() {
        let a = CertificateIssuer.randomHex(bytes: 32), b = CertificateIssuer.randomHex(bytes: 32)
        #expect(a.count == 64 && a != b)
        #expect(a.allSatisfy { "0123456789abcdef".contains($0) })
    }
}
