import ClusterState
import ControlPlane
import Foundation
import IoTTypes
import TLS
import Testing

extension CertificateCrypto {
    /// The TLS module's X.509 work, adapted as the executable does (`ControlPlaneWiring.swift`).
    static let real = CertificateCrypto(
        facts: { pem in
            guard let f = try? CertificateIssuer.facts(pem: pem) else { return nil }
            return Facts(id: f.id, subjectCommonName: f.subjectCommonName, notBeforeMs: f.notBeforeMs,
                         notAfterMs: f.notAfterMs, isCA: f.isCA)
        },
        isSigned: { CertificateIssuer.isSigned(certificatePEM: $0, byCA: $1) },
        makeIssuingCA: { name in
            do throws(CertificateIssuer.Failure) {
                return .success(try CertificateIssuer.makeIssuingCA(commonName: name))
            } catch {
                return .failure(.internalFailure("\(error)"))
            }
        },
        createKeysAndCertificate: { ca, key in
            do throws(CertificateIssuer.Failure) {
                let k = try CertificateIssuer.createKeysAndCertificate(caCertificatePEM: ca, caPrivateKeyPEM: key)
                return .success(IssuedKeyPair(certificatePEM: k.certificatePEM, publicKeyPEM: k.publicKeyPEM,
                                              privateKeyPEM: k.privateKeyPEM))
            } catch {
                return .failure(.internalFailure("\(error)"))
            }
        },
        certificateFromCSR: { csr, ca, key in
            do throws(CertificateIssuer.Failure) {
                return .success(try CertificateIssuer.certificate(fromCSR: csr, caCertificatePEM: ca,
                                                                  caPrivateKeyPEM: key))
            } catch {
                if case .invalid(let m) = error { return .failure(.invalid(m)) }
                return .failure(.internalFailure("\(error)"))
            }
        },
        newRegistrationCode: { CertificateIssuer.randomHex(bytes: 32) })
}

private func body(_ members: [String: String]) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: members), as: UTF8.self)
}

/// A CA of the test's own (as a customer would make with openssl).
struct TestCA {
    let pem: String
    let key: String
    init() {
        let ca = try! CertificateIssuer.makeIssuingCA(commonName: "Customer CA")
        pem = ca.certificatePEM
        key = ca.privateKeyPEM
    }

    func sign(_ cn: String) -> CertificateIssuer.IssuedKeyPair {
        try! CertificateIssuer.makeCertificate(commonName: cn, caCertificatePEM: pem, caPrivateKeyPEM: key)
    }
}

@Suite("CertificatesAPI")
struct CertificatesAPITests {
    func expectError(_ a: Answer, _ type: String, _ status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.errorType == type, "\(a.response.bodyText)", sourceLocation: sourceLocation)
        #expect(a.status == status, sourceLocation: sourceLocation)
    }

    func certificateIds(_ a: Answer) -> [String] {
        (a.json["certificates"] as? [[String: Any]] ?? []).compactMap { $0["certificateId"] as? String }
    }

    @Test("CreateKeysAndCertificate: the model's members, an issued certificate registered without a CA")
    func createKeysAndCertificate() async throws {
        let c = Client(crypto: .real)
        let a = await c.call("POST", "/keys-and-certificate?setAsActive=true")
        #expect(a.status == 200)
        #expect(a.keys == ["certificateArn", "certificateId", "certificatePem", "keyPair"])
        let id = try #require(a.string("certificateId"))
        let pem = try #require(a.string("certificatePem"))
        #expect(id == (try certificateIDs(pem: pem)).first)
        #expect(a.string("certificateArn") == "arn:aws:iot:us-east-1:000000000000:cert/\(id)")
        let pair = try #require(a.json["keyPair"] as? [String: String])
        #expect(pair["PrivateKey"]?.hasPrefix("-----BEGIN PRIVATE KEY-----") == true)
        #expect(pair["PublicKey"]?.hasPrefix("-----BEGIN PUBLIC KEY-----") == true)
        let state = c.backend.read { $0 }
        let cert = try #require(state.certificate(tenant: .default, id: id))
        #expect(cert.status == .active && cert.caCertificateId == nil && cert.mode == .default)
        let issuer = try #require(state.issuingCA(tenant: .default))
        #expect(CertificateIssuer.isSigned(certificatePEM: pem, byCA: issuer.certificatePEM))
        // The private key was never proposed.
        let proposed = c.backend.proposals.withLock { $0 }
        #expect(!proposed.contains { String(decoding: $0.encoded(), as: UTF8.self).contains(pair["PrivateKey"]!) })
        // A second call reuses the issuing CA; without setAsActive the certificate is INACTIVE.
        let b = await c.call("POST", "/keys-and-certificate")
        let id2 = try #require(b.string("certificateId"))
        #expect(c.backend.read { $0.issuingCA(tenant: .default) } == issuer)
        #expect(c.backend.read { $0.certificate(tenant: .default, id: id2)?.status } == .inactive)
        #expect(c.backend.proposals.withLock { $0.filter { if case .createIssuingCA = $0 { true } else { false } } }.count == 1)
        expectError(await c.call("POST", "/keys-and-certificate?setAsActive=yes"), "InvalidRequestException", 400)
    }

    @Test("an issuing CA another node made first is the one used: no second CA is proposed")
    func usesTheirIssuingCA() async throws {
        let c = Client(crypto: .real)
        let theirs = try CertificateIssuer.makeIssuingCA(commonName: "made elsewhere")
        let id = try #require(try certificateIDs(pem: theirs.certificatePEM).first)
        _ = c.backend.state.withLock {
            $0.apply(.createIssuingCA(IssuingCA(tenant: .default, certificateId: id, certificatePEM: theirs.certificatePEM,
                                                privateKeyPEM: theirs.privateKeyPEM, createdAtMs: 1)), index: 1)
        }
        let (csr, _) = try CertificateIssuer.makeCSR(commonName: "d")
        let a = await c.call("POST", "/certificates", json: body(["certificateSigningRequest": csr]))
        let pem = try #require(a.string("certificatePem"))
        #expect(CertificateIssuer.isSigned(certificatePEM: pem, byCA: theirs.certificatePEM))
        #expect(c.backend.proposals.withLock { $0.allSatisfy { if case .createIssuingCA = $0 { false } else { true } } })
    }

    @Test("an operation with a private key describes itself without it")
    func operationDescriptionHasNoKey() {
        let keys = CertificateCrypto.IssuedKeyPair(certificatePEM: "C", publicKeyPEM: "P", privateKeyPEM: "SECRET-KEY")
        let op = CertificateOperation.createKeysAndCertificate(setAsActive: true, prepared: PreparedCertificate(
            certificateId: "id", certificatePEM: "C", caCertificateId: nil, status: .active, mode: .default,
            notBeforeMs: nil, notAfterMs: nil, keyPair: keys))
        #expect(!"\(op)".contains("SECRET-KEY"))
        #expect(!String(reflecting: op).contains("SECRET-KEY"))
    }

    @Test("CreateCertificateFromCsr: signs a good CSR; a bad or missing CSR is InvalidRequestException")
    func createFromCSR() async throws {
        let c = Client(crypto: .real)
        let (csr, _) = try CertificateIssuer.makeCSR(commonName: "device-1")
        let a = await c.call("POST", "/certificates?setAsActive=true", json: body(["certificateSigningRequest": csr]))
        #expect(a.status == 200)
        #expect(a.keys == ["certificateArn", "certificateId", "certificatePem"])
        let id = try #require(a.string("certificateId"))
        #expect(c.backend.read { $0.certificate(tenant: .default, id: id)?.status } == .active)
        expectError(await c.call("POST", "/certificates", json: body(["certificateSigningRequest": "junk"])),
                    "InvalidRequestException", 400)
        expectError(await c.call("POST", "/certificates", json: "{}"), "InvalidRequestException", 400)
        expectError(await c.call("POST", "/certificates",
                                 json: body(["certificateSigningRequest": String(repeating: "a", count: 4097)])),
                    "InvalidRequestException", 400)
        let (weak, _) = try CertificateIssuer.makeCSR(commonName: "weak", rsaBits: 1024)
        expectError(await c.call("POST", "/certificates", json: body(["certificateSigningRequest": weak])),
                    "InvalidRequestException", 400)
    }

    @Test("GetRegistrationCode: 64 hex, stable")
    func registrationCode() async throws {
        let c = Client(crypto: .real)
        let a = await c.call("GET", "/registrationcode")
        #expect(a.keys == ["registrationCode"])
        let code = try #require(a.string("registrationCode"))
        #expect(CertificateRules.isValidRegistrationCode(code))
        #expect(await c.call("GET", "/registrationcode").string("registrationCode") == code)
    }

    @Test("RegisterCACertificate: proof of the key by a verification certificate with CN = registration code")
    func registerCA() async throws {
        let c = Client(crypto: .real)
        let ca = TestCA()
        let code = try #require(await c.call("GET", "/registrationcode").string("registrationCode"))
        let verification = ca.sign(code).certificatePEM
        // Missing or misplaced verification, bad mode.
        expectError(await c.call("POST", "/cacertificate", json: body(["caCertificate": ca.pem])),
                    "InvalidRequestException", 400)
        expectError(await c.call("POST", "/cacertificate", json: body([
            "caCertificate": ca.pem, "verificationCertificate": verification, "certificateMode": "SNI_ONLY"])),
                    "InvalidRequestException", 400)
        expectError(await c.call("POST", "/cacertificate", json: body([
            "caCertificate": ca.pem, "verificationCertificate": verification, "certificateMode": "OTHER"])),
                    "InvalidRequestException", 400)
        expectError(await c.call("POST", "/cacertificate", json: "{}"), "InvalidRequestException", 400)
        // Wrong CN, wrong signer, not a CA, not a certificate.
        expectError(await c.call("POST", "/cacertificate", json: body([
            "caCertificate": ca.pem, "verificationCertificate": ca.sign("not-the-code").certificatePEM])),
                    "RegistrationCodeValidationException", 400)
        expectError(await c.call("POST", "/cacertificate", json: body([
            "caCertificate": ca.pem, "verificationCertificate": TestCA().sign(code).certificatePEM])),
                    "CertificateValidationException", 400)
        expectError(await c.call("POST", "/cacertificate", json: body([
            "caCertificate": ca.sign("leaf").certificatePEM, "verificationCertificate": verification])),
                    "CertificateValidationException", 400)
        expectError(await c.call("POST", "/cacertificate", json: body([
            "caCertificate": "junk", "verificationCertificate": verification])),
                    "CertificateValidationException", 400)
        #expect(c.backend.read { $0.caCertificates(tenant: .default) }.isEmpty)

        let ok = await c.call("POST", "/cacertificate?setAsActive=true&allowAutoRegistration=true",
                              json: body(["caCertificate": ca.pem, "verificationCertificate": verification]))
        #expect(ok.status == 200)
        #expect(ok.keys == ["certificateArn", "certificateId"])
        let id = try #require(ok.string("certificateId"))
        #expect(ok.string("certificateArn") == "arn:aws:iot:us-east-1:000000000000:cacert/\(id)")
        let d = await c.call("GET", "/cacertificate/\(id)")
        let desc = try #require(d.json["certificateDescription"] as? [String: Any])
        #expect(desc["status"] as? String == "ACTIVE")
        #expect(desc["autoRegistrationStatus"] as? String == "ENABLE")
        #expect(desc["certificateMode"] as? String == "DEFAULT")
        #expect(desc["ownedBy"] as? String == "000000000000")
        #expect((desc["validity"] as? [String: Any])?["notAfter"] as? Double == 2_556_143_999)
        let again = await c.call("POST", "/cacertificate",
                                 json: body(["caCertificate": ca.pem, "verificationCertificate": verification]))
        expectError(again, "ResourceAlreadyExistsException", 409)
        #expect(again.string("resourceId") == id)
        // SNI_ONLY needs no verification certificate.
        let sni = TestCA()
        let s = await c.call("POST", "/cacertificate", json: body(["caCertificate": sni.pem, "certificateMode": "SNI_ONLY"]))
        #expect(s.status == 200)
        #expect(c.backend.read { $0.caCertificate(tenant: .default, id: s.string("certificateId") ?? "")?.mode } == .sniOnly)
        // UpdateCACertificate, DeleteCACertificate (ACTIVE refuses), ListCACertificates.
        expectError(await c.call("DELETE", "/cacertificate/\(id)"), "CertificateStateException", 406)
        expectError(await c.call("PUT", "/cacertificate/\(id)?newStatus=PAUSED"), "InvalidRequestException", 400)
        expectError(await c.call("PUT", "/cacertificate/\(id)?newAutoRegistrationStatus=MAYBE"),
                    "InvalidRequestException", 400)
        expectError(await c.call("PUT", "/cacertificate/\(String(repeating: "e", count: 64))?newStatus=INACTIVE"),
                    "ResourceNotFoundException", 404)
        #expect(await c.call("PUT", "/cacertificate/\(id)?newStatus=INACTIVE&newAutoRegistrationStatus=DISABLE").status
            == 200)
        let ca2 = try #require(c.backend.read { $0.caCertificate(tenant: .default, id: id) })
        #expect(ca2.status == .inactive && ca2.autoRegistration == .disable)
        let list = await c.call("GET", "/cacertificates")
        #expect(Set(certificateIds(list)) == [id, s.string("certificateId")!])
        #expect(await c.call("DELETE", "/cacertificate/\(id)").status == 200)
        expectError(await c.call("GET", "/cacertificate/\(id)"), "ResourceNotFoundException", 404)
        expectError(await c.call("GET", "/cacertificate/xyz"), "InvalidRequestException", 400)
    }

    /// A client with a registered ACTIVE CA; returns the CA and its id.
    func withCA(_ c: Client) async throws -> (TestCA, String) {
        let ca = TestCA()
        let code = try #require(await c.call("GET", "/registrationcode").string("registrationCode"))
        let ok = await c.call("POST", "/cacertificate?setAsActive=true",
                              json: body(["caCertificate": ca.pem, "verificationCertificate": ca.sign(code).certificatePEM]))
        return (ca, try #require(ok.string("certificateId")))
    }

    @Test("RegisterCertificate: must be signed by a registered ACTIVE CA of the tenant")
    func registerCertificate() async throws {
        let c = Client(crypto: .real)
        let (ca, caID) = try await withCA(c)
        let device = ca.sign("device-1").certificatePEM
        let ok = await c.call("POST", "/certificate/register?setAsActive=true", json: body(["certificatePem": device]))
        #expect(ok.status == 200)
        #expect(ok.keys == ["certificateArn", "certificateId"])
        let id = try #require(ok.string("certificateId"))
        let cert = try #require(c.backend.read { $0.certificate(tenant: .default, id: id) })
        #expect(cert.caCertificateId == caID && cert.status == .active && cert.mode == .default)
        let dup = await c.call("POST", "/certificate/register", json: body(["certificatePem": device]))
        expectError(dup, "ResourceAlreadyExistsException", 409)
        #expect(dup.string("resourceId") == id)
        // With the CA named, and a status.
        let second = ca.sign("device-2").certificatePEM
        let named = await c.call("POST", "/certificate/register",
                                 json: body(["certificatePem": second, "caCertificatePem": ca.pem, "status": "INACTIVE"]))
        #expect(named.status == 200)
        #expect(c.backend.read { $0.certificate(tenant: .default, id: named.string("certificateId")!)?.status } == .inactive)
        // Not signed by a registered CA; a named CA that is not registered; not a certificate; bad statuses.
        let stranger = TestCA()
        expectError(await c.call("POST", "/certificate/register", json: body(["certificatePem": stranger.sign("x").certificatePEM])),
                    "CertificateValidationException", 400)
        expectError(await c.call("POST", "/certificate/register", json: body([
            "certificatePem": stranger.sign("x").certificatePEM, "caCertificatePem": stranger.pem])),
                    "CertificateValidationException", 400)
        expectError(await c.call("POST", "/certificate/register", json: body(["certificatePem": "junk"])),
                    "CertificateValidationException", 400)
        expectError(await c.call("POST", "/certificate/register", json: body([
            "certificatePem": ca.sign("y").certificatePEM, "status": "REVOKED"])), "InvalidRequestException", 400)
        expectError(await c.call("POST", "/certificate/register", json: body([
            "certificatePem": ca.sign("y").certificatePEM, "status": "SHINY"])), "InvalidRequestException", 400)
        expectError(await c.call("POST", "/certificate/register", json: "{}"), "InvalidRequestException", 400)
        // An INACTIVE CA: CertificateStateException.
        #expect(await c.call("PUT", "/cacertificate/\(caID)?newStatus=INACTIVE").status == 200)
        expectError(await c.call("POST", "/certificate/register", json: body(["certificatePem": ca.sign("z").certificatePEM])),
                    "CertificateStateException", 406)
        // ListCertificatesByCA.
        let byCA = await c.call("GET", "/certificates-by-ca/\(caID)")
        #expect(Set(certificateIds(byCA)) == [id, named.string("certificateId")!])
        #expect(certificateIds(await c.call("GET", "/certificates-by-ca/\(String(repeating: "0", count: 64))")).isEmpty)
    }

    @Test("RegisterCertificateWithoutCA: SNI_ONLY, no CA needed")
    func registerWithoutCA() async throws {
        let c = Client(crypto: .real)
        let pem = TestCA().sign("lone").certificatePEM
        let a = await c.call("POST", "/certificate/register-no-ca", json: body(["certificatePem": pem, "status": "ACTIVE"]))
        #expect(a.status == 200)
        let cert = try #require(c.backend.read { $0.certificate(tenant: .default, id: a.string("certificateId")!) })
        #expect(cert.mode == .sniOnly && cert.caCertificateId == nil && cert.status == .active)
        let d = await c.call("GET", "/certificates/\(cert.certificateId)")
        let desc = try #require(d.json["certificateDescription"] as? [String: Any])
        #expect(desc["certificateMode"] as? String == "SNI_ONLY")
        expectError(await c.call("POST", "/certificate/register-no-ca", json: body(["certificatePem": "junk"])),
                    "CertificateValidationException", 400)
    }

    @Test("Describe / Update / Delete / List certificates: AWS's rules and error shapes")
    func lifecycle() async throws {
        let c = Client(crypto: .real)
        let a = await c.call("POST", "/keys-and-certificate?setAsActive=true")
        let id = try #require(a.string("certificateId"))
        let d = await c.call("GET", "/certificates/\(id.uppercased())")
        let desc = try #require(d.json["certificateDescription"] as? [String: Any])
        #expect(Set(desc.keys) == ["certificateArn", "certificateId", "status", "certificatePem", "ownedBy",
                                   "creationDate", "lastModifiedDate", "customerVersion", "generationId", "validity",
                                   "certificateMode"])
        #expect((desc["validity"] as? [String: Any])?["notAfter"] as? Double == 2_524_607_999)
        expectError(await c.call("GET", "/certificates/\(String(repeating: "0", count: 64))"),
                    "ResourceNotFoundException", 404)
        expectError(await c.call("GET", "/certificates/abc"), "InvalidRequestException", 400)
        // UpdateCertificate.
        expectError(await c.call("PUT", "/certificates/\(id)"), "InvalidRequestException", 400)
        expectError(await c.call("PUT", "/certificates/\(id)?newStatus=SHINY"), "InvalidRequestException", 400)
        expectError(await c.call("PUT", "/certificates/\(id)?newStatus=PENDING_TRANSFER"), "InvalidRequestException", 400)
        expectError(await c.call("PUT", "/certificates/\(String(repeating: "0", count: 64))?newStatus=INACTIVE"),
                    "ResourceNotFoundException", 404)
        // DeleteCertificate: ACTIVE refuses; attached policies refuse unless forced.
        expectError(await c.call("DELETE", "/certificates/\(id)"), "CertificateStateException", 406)
        #expect(await c.call("PUT", "/certificates/\(id)?newStatus=INACTIVE").status == 200)
        let arn = try #require(a.string("certificateArn"))
        let doc = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
        #expect(await c.call("POST", "/policies/p", json: body(["policyDocument": doc])).status == 200)
        #expect(await c.call("PUT", "/target-policies/p", json: body(["target": arn])).status == 200)
        expectError(await c.call("DELETE", "/certificates/\(id)"), "DeleteConflictException", 409)
        expectError(await c.call("DELETE", "/certificates/\(id)?forceDelete=maybe"), "InvalidRequestException", 400)
        #expect(await c.call("DELETE", "/certificates/\(id)?forceDelete=true").status == 200)
        expectError(await c.call("DELETE", "/certificates/\(id)"), "ResourceNotFoundException", 404)
        // REVOKED is final.
        let b = await c.call("POST", "/keys-and-certificate")
        let id2 = try #require(b.string("certificateId"))
        #expect(await c.call("PUT", "/certificates/\(id2)?newStatus=REVOKED").status == 200)
        expectError(await c.call("PUT", "/certificates/\(id2)?newStatus=ACTIVE"), "CertificateStateException", 406)
        // ListCertificates: pages with markers, both orders.
        _ = await c.call("POST", "/keys-and-certificate")
        _ = await c.call("POST", "/keys-and-certificate")
        let all = certificateIds(await c.call("GET", "/certificates"))
        #expect(all.count == 3 && all == all.sorted())
        let p1 = await c.call("GET", "/certificates?pageSize=2")
        #expect(certificateIds(p1) == Array(all.prefix(2)))
        let marker = try #require(p1.string("nextMarker"))
        let p2 = await c.call("GET", "/certificates?pageSize=2&marker=\(marker)")
        #expect(certificateIds(p2) == [all[2]] && p2.string("nextMarker") == nil)
        #expect(certificateIds(await c.call("GET", "/certificates?isAscendingOrder=false")) == all.reversed())
        let first = try #require((p1.json["certificates"] as? [[String: Any]])?.first)
        #expect(Set(first.keys) == ["certificateArn", "certificateId", "status", "certificateMode", "creationDate"])
        expectError(await c.call("GET", "/certificates?pageSize=0"), "InvalidRequestException", 400)
        expectError(await c.call("GET", "/certificates?pageSize=251"), "InvalidRequestException", 400)
        expectError(await c.call("GET", "/certificates?marker=zz"), "InvalidRequestException", 400)
        expectError(await c.call("PATCH", "/certificates"), "UnknownOperationException", 404)
    }

    @Test("without X.509 support the issuing operations fail as internal errors, not silently")
    func unavailable() async {
        let c = Client()
        expectError(await c.call("POST", "/keys-and-certificate"), "InternalFailureException", 500)
    }
}
