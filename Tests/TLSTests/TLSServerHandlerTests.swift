import COpenSSL
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import TLSConfig
import Testing

@testable import TLS

/// Records the handshake event and the plaintext the TLS handler passes up.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var events: [TLSHandshakeCompleted] = []
    var received = ""
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? TLSHandshakeCompleted { events.append(e) }
    }
}

/// The test tenant's registry, as the certificate decision hook would read it: device-1 is not registered itself
/// but chains to the registered, ACTIVE device CA; device-revoked is registered REVOKED; device-unknown is neither.
struct TestRegistry {
    static let deviceCAID = try! certificateIDs(pem: Fixtures.deviceCaCertificate)[0]
    static let device1ID = try! certificateIDs(pem: Fixtures.device1Certificate)[0]
    static let revokedID = try! certificateIDs(pem: Fixtures.deviceRevokedCertificate)[0]

    @Sendable static func decide(_ check: CertificateCheck) -> CertificateDecision {
        let statuses = [revokedID: "REVOKED"]
        if let status = statuses[check.certificate.id] { return status == "ACTIVE" ? .allow : .refuse(.revoked) }
        if let ca = check.certificate.issuerChainIDs.first, ca == deviceCAID { return .allow }
        return .refuse(.unknown)
    }
}

final class Refusals: Sendable {
    let reasons = Mutex<[TLSRefusalReason]>([])
    var all: [TLSRefusalReason] { reasons.withLock { $0 } }
}

enum Contexts {
    static let a = try! TLSServerContext(
        name: "domain-a", certificateChainPEM: Fixtures.serverACertificate, privateKeyPEM: Fixtures.serverAKey,
        trustedClientCAsPEM: [Fixtures.deviceCaCertificate])
    static let b = try! TLSServerContext(
        name: "domain-b", certificateChainPEM: Fixtures.serverBCertificate, privateKeyPEM: Fixtures.serverBKey,
        trustedClientCAsPEM: [Fixtures.deviceCaCertificate])
    static let fallback = try! TLSServerContext(
        name: "default", certificateChainPEM: Fixtures.serverDefaultCertificate,
        privateKeyPEM: Fixtures.serverDefaultKey, trustedClientCAsPEM: [Fixtures.deviceCaCertificate])
}

struct Server {
    let channel: EmbeddedChannel
    let recorder = Recorder()
    let refusals = Refusals()

    init(
        unknownSNI: SNISelector<TLSServerContext>.Fallback = .reject, initial: TLSServerContext = Contexts.a,
        alpn: [String] = [], certificates: TLSListenerConfiguration.ClientCertificateRequirement = .required
    ) throws {
        var selector = SNISelector<TLSServerContext>(fallback: unknownSNI)
        selector.add("a.example.test", Contexts.a)
        selector.add("b.example.test", Contexts.b)
        var logger = Logger(label: "tls-test")
        logger.logLevel = .critical
        let refusals = self.refusals
        let configuration = TLSListenerConfiguration(
            selector: selector, initialContext: initial, alpnPreference: alpn, clientCertificate: certificates,
            decideCertificate: TestRegistry.decide, logger: logger,
            onRefusal: { reason in refusals.reasons.withLock { $0.append(reason) } })
        channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(TLSServerHandler(configuration: configuration))
        try channel.pipeline.syncOperations.addHandler(recorder)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8883)).wait()
    }
}

func device1Client(sni: String?, alpn: [String] = []) -> TestTLSClient {
    TestTLSClient(sni: sni, alpn: alpn, certificatePEM: Fixtures.device1Certificate, keyPEM: Fixtures.device1Key)
}

@Suite struct TLSServerHandlerTests {
    // MARK: SNI

    @Test("SNI selects the server certificate, and the event carries SNI, context and the device certificate",
        arguments: [("a.example.test", "/CN=a.example.test", "domain-a"), ("B.example.test.", "/CN=b.example.test", "domain-b")])
    func test_sni_selectsCertificate(sni: String, subject: String, contextName: String) throws {
        let server = try Server(initial: Contexts.fallback)
        let client = device1Client(sni: sni)
        try interactInMemory(client, server.channel)
        #expect(client.handshakeDone)
        #expect(client.serverSubject == subject)
        #expect(server.refusals.all.isEmpty)
        let event = try #require(server.recorder.events.first)
        #expect(event.serverName == sni)
        #expect(event.contextName == contextName)
        #expect(event.peerCertificate?.id == TestRegistry.device1ID)
        #expect(event.peerCertificate?.subject == "/CN=device-1")
        #expect(event.peerCertificate?.issuerChainIDs == [TestRegistry.deviceCAID])
        #expect(server.channel.isActive)
    }

    @Test func test_applicationData_roundTrips_andWritesBeforeTheHandshakeAreBuffered() throws {
        let server = try Server()
        server.channel.writeAndFlush(server.channel.allocator.buffer(string: "early "), promise: nil)
        let client = device1Client(sni: "a.example.test")
        try interactInMemory(client, server.channel)
        #expect(client.handshakeDone)
        client.send("CONNECT")
        try interactInMemory(client, server.channel)
        #expect(server.recorder.received == "CONNECT")
        server.channel.writeAndFlush(server.channel.allocator.buffer(string: "CONNACK"), promise: nil)
        try interactInMemory(client, server.channel)
        #expect(client.receive().text == "early CONNACK")
    }

    @Test func test_close_sendsCloseNotify() throws {
        let server = try Server()
        let client = device1Client(sni: "a.example.test")
        try interactInMemory(client, server.channel)
        _ = client.receive()  // session tickets
        try server.channel.close().wait()
        try interactInMemory(client, server.channel)
        #expect(client.receive().status == 6)  // SSL_ERROR_ZERO_RETURN: a clean close_notify
    }

    @Test func test_peerCloseNotify_closesTheChannel() throws {
        let server = try Server()
        let client = device1Client(sni: "a.example.test")
        try interactInMemory(client, server.channel)
        _ = SSL_shutdown(client.ssl)
        try interactInMemory(client, server.channel)
        #expect(!server.channel.isActive)
        #expect(server.refusals.all.isEmpty)
    }

    // MARK: Unknown SNI

    @Test("unknown or absent SNI with .reject: unrecognized_name alert, closed", arguments: ["c.example.test", nil])
    func test_unknownSNI_reject(sni: String?) throws {
        let server = try Server(unknownSNI: .reject)
        let client = device1Client(sni: sni)
        try interactInMemory(client, server.channel)
        #expect(!client.handshakeDone)
        #expect(client.lastErrors.contains { $0.contains("unrecognized name") })
        #expect(server.refusals.all == [.unrecognizedName])
        #expect(!server.channel.isActive)
    }

    @Test("unknown or absent SNI with .default: the default endpoint", arguments: ["c.example.test", nil])
    func test_unknownSNI_default(sni: String?) throws {
        let server = try Server(unknownSNI: .default(Contexts.fallback))
        let client = device1Client(sni: sni)
        try interactInMemory(client, server.channel)
        #expect(client.handshakeDone)
        #expect(client.serverSubject == "/CN=default.example.test")
        #expect(server.recorder.events.first?.contextName == "default")
    }

    // MARK: Mutual TLS

    @Test("no client certificate where mTLS is required: refused, also after the SNI switched contexts",
        arguments: [("a.example.test", "a"), ("b.example.test", "a"), ("a.example.test", "default")])
    func test_mTLS_noCertificate_refused(sni: String, initial: String) throws {
        let server = try Server(initial: initial == "a" ? Contexts.a : Contexts.fallback)
        let client = TestTLSClient(sni: sni)
        try interactInMemory(client, server.channel)
        _ = client.receive()
        #expect(server.refusals.all == [.noClientCertificate])
        #expect(server.recorder.events.isEmpty)
        #expect(!server.channel.isActive)
        #expect(client.lastErrors.contains { $0.contains("alert") })
    }

    @Test("revoked and unknown certificates are refused with their reason and alert", arguments: [
        ("device-revoked", CertificateRefusal.revoked, "certificate revoked"),
        ("device-unknown", CertificateRefusal.unknown, "bad certificate"),
    ])
    func test_mTLS_refusedCertificates(device: String, why: CertificateRefusal, alert: String) throws {
        let (pem, key) =
            device == "device-revoked"
            ? (Fixtures.deviceRevokedCertificate, Fixtures.deviceRevokedKey)
            : (Fixtures.deviceUnknownCertificate, Fixtures.deviceUnknownKey)
        let server = try Server()
        let client = TestTLSClient(sni: "a.example.test", certificatePEM: pem, keyPEM: key)
        try interactInMemory(client, server.channel)
        _ = client.receive()
        #expect(server.refusals.all == [.certificate(why)])
        #expect(server.recorder.events.isEmpty)
        #expect(!server.channel.isActive)
        #expect(client.lastErrors.contains { $0.contains(alert) })
    }

    // MARK: ALPN

    @Test func test_alpn_serverPreferenceWins() throws {
        let server = try Server(alpn: TLSListenerConfiguration.awsALPNPreference, certificates: .awsALPN)
        let client = device1Client(sni: "a.example.test", alpn: ["mqtt", "x-amzn-mqtt-ca"])
        try interactInMemory(client, server.channel)
        #expect(client.selectedALPN == "x-amzn-mqtt-ca")
        #expect(server.recorder.events.first?.alpn == "x-amzn-mqtt-ca")
    }

    @Test("ALPN decides whether a client certificate is required (port 8443)", arguments: [
        ("mqtt", true), ("http/1.1", true), ("x-amzn-mqtt-ca", false), ("x-amzn-http-ca", false),
    ])
    func test_alpn_certificateRequirement(alpn: String, allowedWithoutCertificate: Bool) throws {
        let server = try Server(alpn: TLSListenerConfiguration.awsALPNPreference, certificates: .awsALPN)
        let client = TestTLSClient(sni: "b.example.test", alpn: [alpn])
        try interactInMemory(client, server.channel)
        _ = client.receive()
        if allowedWithoutCertificate {
            #expect(server.recorder.events.first?.alpn == alpn)
            #expect(server.recorder.events.first?.peerCertificate == nil)
            #expect(server.channel.isActive)
        } else {
            #expect(server.refusals.all == [.noClientCertificate])
            #expect(!server.channel.isActive)
        }
    }

    @Test("8443 asks for a certificate under http/1.1 and without ALPN (and gets it), never under mqtt", arguments: [
        (["http/1.1"], true), ([], true), (["x-amzn-http-ca"], true), (["mqtt"], false),
    ])
    func test_alpn_certificateRequested(alpn: [String], certificateSeen: Bool) throws {
        let server = try Server(alpn: TLSListenerConfiguration.awsALPNPreference, certificates: .awsALPN)
        let client = device1Client(sni: "a.example.test", alpn: alpn)
        try interactInMemory(client, server.channel)
        _ = client.receive()
        #expect(server.refusals.all.isEmpty)
        #expect(server.recorder.events.count == 1)
        #expect((server.recorder.events.first?.peerCertificate != nil) == certificateSeen)
        #expect(server.channel.isActive)
    }

    @Test func test_alpn_requestedCertificate_stillDecided() throws {
        // Optional does not mean unchecked: a certificate that is sent must pass the registry.
        let server = try Server(alpn: TLSListenerConfiguration.awsALPNPreference, certificates: .awsALPN)
        let client = TestTLSClient(sni: "a.example.test", alpn: ["http/1.1"],
                                   certificatePEM: Fixtures.deviceRevokedCertificate, keyPEM: Fixtures.deviceRevokedKey)
        try interactInMemory(client, server.channel)
        _ = client.receive()
        #expect(server.refusals.all == [.certificate(.revoked)])
        #expect(!server.channel.isActive)
    }

    @Test("a client that never finishes the handshake is refused after the handshake timeout")
    func test_handshakeTimeout() throws {
        let server = try Server()
        // Half a ClientHello, then silence.
        try server.channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]))
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(server.channel.isActive)
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(server.refusals.all == [.handshakeTimeout])
        #expect(!server.channel.isActive)
    }

    @Test("a completed handshake is not timed out later")
    func test_handshakeTimeout_notAfterCompletion() throws {
        let server = try Server()
        let client = device1Client(sni: "a.example.test")
        try interactInMemory(client, server.channel)
        #expect(server.recorder.events.count == 1)
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(server.refusals.all.isEmpty)
        #expect(server.channel.isActive)
    }

    @Test func test_alpn_noCommonProtocol_refused() throws {
        let server = try Server(alpn: TLSListenerConfiguration.awsALPNPreference, certificates: .awsALPN)
        let client = device1Client(sni: "a.example.test", alpn: ["h2"])
        try interactInMemory(client, server.channel)
        #expect(server.refusals.all == [.noApplicationProtocol])
        #expect(client.lastErrors.contains { $0.contains("no application protocol") })
        #expect(!server.channel.isActive)
    }

    // MARK: Not TLS, malformed records

    @Test("garbage and plain-text MQTT on a TLS port: a clean close, no crash", arguments: [
        [0x10, 0x10, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x04, 0x64, 0x65, 0x76, 0x31],
        Array("GET / HTTP/1.1\r\n\r\n".utf8),
        [0x16, 0x03, 0x01, 0xFF, 0xFF] + [UInt8](repeating: 0xAB, count: 64),  // oversized record length
        [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00],  // empty ClientHello
        [UInt8](repeating: 0, count: 32),
    ] as [[UInt8]])
    func test_notTLS_closes(bytes: [UInt8]) throws {
        let server = try Server()
        try server.channel.writeInbound(server.channel.allocator.buffer(bytes: bytes))
        #expect(!server.channel.isActive)
        #expect(server.refusals.all.count == 1)
        if case .protocolError = server.refusals.all.first {} else { Issue.record("\(server.refusals.all)") }
        #expect(server.recorder.received.isEmpty)
    }

    @Test func test_malformedRecordAfterTheHandshake_closes() throws {
        let server = try Server()
        let client = device1Client(sni: "a.example.test")
        try interactInMemory(client, server.channel)
        #expect(server.channel.isActive)
        try server.channel.writeInbound(server.channel.allocator.buffer(bytes: [0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]))
        #expect(!server.channel.isActive)
        #expect(server.refusals.all.count == 1)
    }
}
