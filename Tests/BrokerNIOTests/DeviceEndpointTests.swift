import Broker
@testable import BrokerNIO
import Foundation
import IoTTypes
import Logging
import MQTTCodec
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The device endpoint behind TLS on 8443, without the TLS: HTTPS publish (`POST /topics/…`) and MQTT over
/// WebSocket (`/mqtt`) on EmbeddedChannels sharing one loop, bytes in and bytes out.
@Suite struct DeviceEndpointTests {
    final class Harness {
        let loop = EmbeddedEventLoop()
        let core: BrokerCore

        init(authorizing: (any Authorizing)? = nil) {
            core = BrokerCore(limits: BrokerLimits(), metrics: BrokerMetrics(), authorizing: authorizing,
                              logger: Logger(label: "test"))
        }

        /// A connection past the TLS handshake that routed it to HTTP with `principal`.
        func http(_ principal: Principal) throws -> EmbeddedChannel {
            let ch = EmbeddedChannel(loop: loop)
            try SecureSessionStarter.addHTTPHandlers(
                ch.pipeline.syncOperations, core: core,
                route: SecureRoute(tenant: .default, principal: principal, application: .http,
                                   certificateNames: CertificateNames(subject: ["CommonName": ["device-1"]])),
                logger: Logger(label: "test"))
            try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8443)).wait()
            return ch
        }

        func mqtt(principal: Principal = .anonymous) throws -> EmbeddedChannel {
            let ch = EmbeddedChannel(
                handler: MQTTConnectionHandler(core: core, principal: principal, logger: Logger(label: "test")),
                loop: loop)
            try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1883)).wait()
            return ch
        }

        func request(_ ch: EmbeddedChannel, _ text: String, body: [UInt8] = []) throws -> String {
            try ch.writeInbound(ByteBuffer(bytes: Array(text.utf8) + body))
            loop.run()
            return String(decoding: outbound(ch), as: UTF8.self)
        }

        func outbound(_ ch: EmbeddedChannel) -> [UInt8] {
            loop.run()
            var out: [UInt8] = []
            while let data = try? ch.readOutbound(as: IOData.self) {
                if case .byteBuffer(let b) = data { out += b.readableBytesView }
            }
            return out
        }

        func send(_ ch: EmbeddedChannel, _ packet: MQTTPacket, version: ProtocolVersion = .v5) throws {
            var b = ByteBuffer()
            MQTTEncoder.encode(packet, version: version, into: &b)
            try ch.writeInbound(b)
            loop.run()
        }

        func packets(_ ch: EmbeddedChannel, version: ProtocolVersion = .v5) throws -> [MQTTPacket] {
            loop.run()
            var all = ByteBuffer()
            while var b = try ch.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&b) }
            var d = MQTTDecoder(role: .client, version: version)
            var out: [MQTTPacket] = []
            while let p = try d.decode(&all) { out.append(p) }
            return out
        }

        /// A connected v5 subscriber on `filter`.
        func subscriber(_ filter: String) throws -> EmbeddedChannel {
            let sub = try mqtt()
            try send(sub, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientID: "sub")))
            try send(sub, .subscribe(SubscribePacket(packetID: 1, subscriptions: [
                TopicSubscription(filter: filter, options: SubscriptionOptions(qos: .atLeastOnce))])))
            _ = try packets(sub)
            return sub
        }
    }

    static let device = Principal.certificate(id: String(repeating: "ab", count: 32))

    // MARK: HTTPS publish

    @Test("POST /topics/{topic} with a certificate publishes: %2F decoded, qos and properties carried, 200 OK")
    func httpPublish() throws {
        let h = Harness()
        let sub = try h.subscriber("dt/#")
        let ch = try h.http(Self.device)
        let props = Data(#"[{"k1":"v1"},{"k2":"v2"}]"#.utf8).base64EncodedString()
        let response = try h.request(ch, """
            POST /topics/dt%2Fdevice-1%2Ftemp?qos=1&contentType=application%2Fjson HTTP/1.1\r
            Host: localhost\r
            x-amz-mqtt5-user-properties: \(props)\r
            Content-Length: 11\r
            \r

            """, body: Array(#"{"t":21.5}"#.utf8) + [0x0A])
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        #expect(response.contains(#"{"message":"OK","traceId":""#))
        let got = try h.packets(sub)
        guard case .publish(let p) = got.first else {
            Issue.record("subscriber got \(got)")
            return
        }
        #expect(p.topic == "dt/device-1/temp")
        #expect(p.qos == .atLeastOnce)
        #expect(String(buffer: p.payload) == "{\"t\":21.5}\n")
        #expect(p.properties.list.contains(.contentType("application/json")))
        #expect(p.properties.list.contains(.userProperty("k1", "v1")))
        #expect(p.properties.list.contains(.userProperty("k2", "v2")))
        _ = try? ch.finish()
        _ = try? sub.finish()
    }

    @Test("A retained QoS 1 HTTPS publish is answered once stored, and a later subscriber gets it")
    func httpPublishRetained() throws {
        let h = Harness()
        let ch = try h.http(Self.device)
        let response = try h.request(
            ch, "POST /topics/cfg%2Fd1?qos=1&retain=true HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n",
            body: Array("on".utf8))
        #expect(response.hasPrefix("HTTP/1.1 200 OK"))
        let sub = try h.mqtt()
        try h.send(sub, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientID: "late")))
        try h.send(sub, .subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription(filter: "cfg/#", options: SubscriptionOptions(qos: .atMostOnce))])))
        let retained = try h.packets(sub).compactMap { p -> PublishPacket? in
            if case .publish(let pub) = p { return pub } else { return nil }
        }
        #expect(retained.map(\.topic) == ["cfg/d1"])
        #expect(retained.first?.retain == true)
        _ = try? ch.finish()
        _ = try? sub.finish()
    }

    @Test("HTTPS refusals: each gets its AWS error type and status, and the connection stays usable",
          arguments: [
            ("POST /topics/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", Principal.unauthenticated, 401,
             "UnauthorizedException"),
            ("GET /topics/a HTTP/1.1\r\nHost: x\r\n\r\n", DeviceEndpointTests.device, 405, "MethodNotAllowedException"),
            ("POST /topics/a?qos=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", DeviceEndpointTests.device, 400,
             "InvalidRequestException"),
            ("POST /topics/a%2F%23 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", DeviceEndpointTests.device, 400,
             "InvalidRequestException"),
            ("POST /topics/%24aws%2Fx?retain=true HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
             DeviceEndpointTests.device, 400, "InvalidRequestException"),
            ("POST /things/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", DeviceEndpointTests.device, 404,
             "ResourceNotFoundException"),
            ("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", DeviceEndpointTests.device, 400, "InvalidRequestException"),
          ])
    func httpRefusals(request: String, principal: Principal, status: Int, type: String) throws {
        let h = Harness()
        let ch = try h.http(principal)
        let response = try h.request(ch, request)
        #expect(response.hasPrefix("HTTP/1.1 \(status) "), "\(response)")
        #expect(response.lowercased().contains("x-amzn-errortype: \(type.lowercased())"), "\(response)")
        #expect(response.contains(#"{"message":""#))
        #expect(ch.isActive)
        _ = try? ch.finish()
    }

    @Test("A body over the payload limit is refused with 413 and nothing is published")
    func httpTooLarge() throws {
        let h = Harness()
        let sub = try h.subscriber("big")
        let ch = try h.http(Self.device)
        let size = Int(h.core.limits.maxPacketSize) + 1
        let response = try h.request(ch, "POST /topics/big HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n",
                                     body: [UInt8](repeating: 0x61, count: size))
        #expect(response.hasPrefix("HTTP/1.1 413 "))
        #expect(response.contains("RequestEntityTooLargeException"))
        #expect(try h.packets(sub).isEmpty)
        _ = try? ch.finish()
        _ = try? sub.finish()
    }

    // MARK: MQTT over WebSocket

    static let upgrade = """
        GET /mqtt HTTP/1.1\r
        Host: localhost\r
        Upgrade: websocket\r
        Connection: Upgrade\r
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
        Sec-WebSocket-Version: 13\r
        Sec-WebSocket-Protocol: mqtt\r
        \r

        """

    /// A client frame: FIN, opcode, masked as RFC 6455 requires of clients.
    static func clientFrame(_ payload: [UInt8], opcode: UInt8 = 0x2, fin: Bool = true) -> [UInt8] {
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        var out: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        precondition(payload.count < 126)
        out.append(0x80 | UInt8(payload.count))
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i % 4]) }
        return out
    }

    /// Server frames (unmasked, short) → (opcode, payload).
    static func serverFrames(_ bytes: [UInt8]) -> [(UInt8, [UInt8])] {
        var out: [(UInt8, [UInt8])] = []
        var i = 0
        while i + 2 <= bytes.count {
            let opcode = bytes[i] & 0x0F
            var len = Int(bytes[i + 1] & 0x7F)
            var start = i + 2
            if len == 126 {
                len = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
                start = i + 4
            }
            guard start + len <= bytes.count else { break }
            out.append((opcode, Array(bytes[start..<start + len])))
            i = start + len
        }
        return out
    }

    static func encoded(_ packet: MQTTPacket, version: ProtocolVersion = .v311) -> [UInt8] {
        var b = ByteBuffer()
        MQTTEncoder.encode(packet, version: version, into: &b)
        return Array(b.readableBytesView)
    }

    @Test("GET /mqtt upgrades to WebSocket (subprotocol mqtt); MQTT split across frames works both ways")
    func webSocketMQTT() throws {
        let h = Harness()
        let sub = try h.subscriber("ws/#")
        let ch = try h.http(Self.device)
        let response = try h.request(ch, Self.upgrade)
        #expect(response.hasPrefix("HTTP/1.1 101 Switching Protocols"), "\(response)")
        #expect(response.lowercased().contains("sec-websocket-protocol: mqtt"))
        #expect(response.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))  // RFC 6455's example accept key

        // CONNECT split over a binary frame and a continuation frame.
        let connect = Self.encoded(.connect(ConnectPacket(protocolVersion: .v311, cleanStart: true, keepAlive: 60,
                                                          clientID: "ws-1")))
        try ch.writeInbound(ByteBuffer(bytes: Self.clientFrame(Array(connect.prefix(5)), fin: false)
            + Self.clientFrame(Array(connect.dropFirst(5)), opcode: 0x0)))
        let frames = Self.serverFrames(h.outbound(ch))
        #expect(frames.map(\.0) == [0x2])
        #expect(frames.first?.1 == [0x20, 0x02, 0x00, 0x00])  // CONNACK, accepted

        let publish = Self.encoded(.publish(PublishPacket(topic: "ws/t", payload: ByteBuffer(string: "hello"),
                                                          qos: .atMostOnce)))
        try ch.writeInbound(ByteBuffer(bytes: Self.clientFrame(publish)))
        h.loop.run()
        let got = try h.packets(sub)
        guard case .publish(let p) = got.first else {
            Issue.record("subscriber got \(got)")
            return
        }
        #expect(p.topic == "ws/t" && String(buffer: p.payload) == "hello")

        // Ping is answered with a pong carrying the same data; a close frame is echoed and the channel closes.
        try ch.writeInbound(ByteBuffer(bytes: Self.clientFrame([1, 2, 3], opcode: 0x9)))
        #expect(Self.serverFrames(h.outbound(ch)).map(\.0) == [0xA])
        try ch.writeInbound(ByteBuffer(bytes: Self.clientFrame([0x03, 0xE8], opcode: 0x8)))
        #expect(Self.serverFrames(h.outbound(ch)).first?.0 == 0x8)
        #expect(!ch.isActive)
        _ = try? sub.finish()
    }

    @Test("A WebSocket upgrade without credentials is refused with 401, not upgraded")
    func webSocketUnauthenticated() throws {
        let h = Harness()
        let ch = try h.http(.unauthenticated)
        let response = try h.request(ch, Self.upgrade)
        #expect(response.hasPrefix("HTTP/1.1 401 "), "\(response)")
        #expect(!response.contains("101 Switching"))
        _ = try? ch.finish()
    }

    @Test("A text frame is not MQTT: close 1003")
    func webSocketTextFrame() throws {
        let h = Harness()
        let ch = try h.http(Self.device)
        _ = try h.request(ch, Self.upgrade)
        try ch.writeInbound(ByteBuffer(bytes: Self.clientFrame(Array("hi".utf8), opcode: 0x1)))
        let frames = Self.serverFrames(h.outbound(ch))
        #expect(frames.first?.0 == 0x8)
        #expect(frames.first?.1 == [0x03, 0xEB])
        #expect(!ch.isActive)
    }

    // MARK: No ALPN: the first byte decides

    struct Established {}

    func detecting(_ h: Harness) throws -> EmbeddedChannel {
        let route = SecureRoute(tenant: .default, principal: Self.device, application: .detect)
        let ch = EmbeddedChannel(
            handler: SecureSessionStarter(core: h.core, logger: Logger(label: "test"),
                                          routeFromEvent: { $0 is Established ? route : nil }),
            loop: h.loop)
        try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8443)).wait()
        ch.pipeline.fireUserInboundEventTriggered(Established())
        return ch
    }

    @Test("Without ALPN, a CONNECT as first byte gets MQTT")
    func detectMQTT() throws {
        let h = Harness()
        let ch = try detecting(h)
        try h.send(ch, .connect(ConnectPacket(protocolVersion: .v311, cleanStart: true, keepAlive: 60, clientID: "sdk")),
                   version: .v311)
        #expect(try h.packets(ch, version: .v311) == [.connack(ConnAckPacket(sessionPresent: false, reasonCode: .success))])
        _ = try? ch.finish()
    }

    @Test("Without ALPN, anything else gets HTTP")
    func detectHTTP() throws {
        let h = Harness()
        let ch = try detecting(h)
        let response = try h.request(ch, "POST /topics/x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nz")
        #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(response)")
        _ = try? ch.finish()
    }

    // MARK: MQTT without credentials

    @Test("An unauthenticated MQTT connection (ALPN mqtt, no authorizer) is refused: 0x87 on v5, 0x05 on 3.1.1",
          arguments: [ProtocolVersion.v5, .v311])
    func mqttUnauthenticated(version: ProtocolVersion) throws {
        let h = Harness()
        let ch = try h.mqtt(principal: .unauthenticated)
        try h.send(ch, .connect(ConnectPacket(protocolVersion: version, cleanStart: true, keepAlive: 60,
                                              clientID: "nobody")), version: version)
        let got = try h.packets(ch, version: version)
        guard case .connack(let ack) = got.first else {
            Issue.record("got \(got)")
            return
        }
        #expect(ack.reasonCode == .notAuthorized)
        #expect(!ch.isActive)
    }

    // MARK: The request parser

    @Test func publishRequest_properties() throws {
        let now = Timestamp(nanoseconds: 1_000_000_000)
        let headers = [
            "x-amz-mqtt5-payload-format-indicator": "UTF8_DATA",
            "x-amz-mqtt5-correlation-data": Data("corr".utf8).base64EncodedString(),
        ]
        let m = try DevicePublishRequest.message(
            encodedTopic: "a%2Fb", query: "qos=0&retain=false&responseTopic=r%2F1&messageExpiry=30&SDK=x",
            header: { headers[$0] }, body: ByteBuffer(string: "ok"), tenant: .default, now: now,
            limits: BrokerLimits())
        #expect(m.topic == "a/b" && m.qos == .atMostOnce && !m.retain)
        #expect(m.expiresAt == now.adding(seconds: 30))
        #expect(m.properties.list.contains(.responseTopic("r/1")))
        #expect(m.properties.list.contains(.payloadFormatIndicator(1)))
        #expect(m.properties.list.contains(.correlationData(ByteBuffer(string: "corr"))))
    }

    @Test("Malformed publish parameters", arguments: [
        ("a", "qos=x", [String: String]()),
        ("a", "retain=maybe", [:]),
        ("a", "messageExpiry=-1", [:]),
        ("a%ZZ", "", [:]),
        ("a%FF", "", [:]),
        ("a", "", ["x-amz-mqtt5-payload-format-indicator": "UTF8_DATA"]),  // body below is not UTF-8
        ("a", "", ["x-amz-mqtt5-user-properties": "not base64!"]),
        ("a", "", ["x-amz-mqtt5-user-properties": Data(#"{"k":"v"}"#.utf8).base64EncodedString()]),
        ("a", "", ["x-amz-mqtt5-correlation-data": "%%%"]),
    ])
    func publishRequest_invalid(topic: String, query: String, headers: [String: String]) {
        #expect(throws: DataPlaneError.self) {
            _ = try DevicePublishRequest.message(
                encodedTopic: topic, query: query, header: { headers[$0] }, body: ByteBuffer(bytes: [0xFF, 0xFE]),
                tenant: .default, now: .zero, limits: BrokerLimits())
        }
    }
}

/// A policy source allowing a fixed set of actions; the test moves its epoch and the certificate's status.
final class ScriptedAuthorization: Authorizing, ConnectionAuthorizer {
    struct State {
        var allowed: Set<AuthorizationAction>
        var generation: UInt64 = 1
        var active = true
        var identities: [ConnectionIdentity] = []
    }
    let state: Mutex<State>
    init(allowing: Set<AuthorizationAction>) { state = Mutex(State(allowed: allowing)) }
    func epoch() -> AuthorizationEpoch { AuthorizationEpoch(restores: 0, generation: state.withLock { $0.generation }) }
    func principalIsActive() -> Bool { state.withLock { $0.active } }
    func isAllowed(_ action: AuthorizationAction) -> Bool { state.withLock { $0.allowed.contains(action) } }
    func authorizer(for identity: ConnectionIdentity) -> (any ConnectionAuthorizer)? {
        state.withLock { $0.identities.append(identity) }
        return identity.principal == .anonymous ? nil : self
    }
}

/// Policies on the device endpoint's shells: HTTPS publish and the broker's epoch sweep.
@Suite struct DeviceEndpointAuthorizationTests {
    typealias Harness = DeviceEndpointTests.Harness

    @Test("HTTPS publish refused by policy: 403 ForbiddenException (iot:Publish, and iot:RetainPublish when retained)")
    func httpForbidden() throws {
        let auth = ScriptedAuthorization(allowing: [.publish(topic: "ok/t")])
        let h = Harness(authorizing: auth)
        let ch = try h.http(DeviceEndpointTests.device)
        func post(_ target: String) throws -> String {
            try h.request(ch, "POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", body: [0x31])
        }
        #expect(try post("/topics/ok%2Ft?qos=0").hasPrefix("HTTP/1.1 200 OK"))
        let denied = try post("/topics/no%2Ft?qos=0")
        #expect(denied.hasPrefix("HTTP/1.1 403 Forbidden"))
        #expect(denied.contains("x-amzn-ErrorType: ForbiddenException"))
        #expect(try post("/topics/ok%2Ft?qos=1&retain=true").hasPrefix("HTTP/1.1 403 Forbidden"))
        // One authorizer for the connection, with no client id (AWS: iot:ClientId is unavailable over HTTPS) and
        // the certificate's names from the route.
        let identities = auth.state.withLock { $0.identities }
        #expect(identities.count == 1)
        #expect(identities.first?.clientID == nil)
        #expect(identities.first?.certificateNames?.subject["CommonName"] == ["device-1"])
    }

    @Test("the broker's sweep sees the epoch move and disconnects a connection whose certificate left ACTIVE")
    func sweepDisconnectsInactive() throws {
        let auth = ScriptedAuthorization(allowing: [.connect])
        let h = Harness(authorizing: auth)
        let ch = try h.mqtt(principal: DeviceEndpointTests.device)
        try h.send(ch, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientID: "d1")))
        guard case .connack(let ack) = try h.packets(ch).first else {
            Issue.record("no CONNACK")
            return
        }
        #expect(ack.reasonCode == .success)
        h.core.checkAuthorizationEpoch()  // first look: remembers the epoch
        h.core.checkAuthorizationEpoch()
        h.loop.run()
        #expect(ch.isActive)
        auth.state.withLock {
            $0.active = false
            $0.generation += 1
        }
        h.core.checkAuthorizationEpoch()
        let after = try h.packets(ch)
        #expect(after == [.disconnect(DisconnectPacket(reasonCode: .notAuthorized))])
        h.loop.run()
        #expect(!ch.isActive)
    }
}
