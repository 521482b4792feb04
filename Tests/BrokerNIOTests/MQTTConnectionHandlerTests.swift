import BrokerTestKit
import Broker
@testable import BrokerNIO
import Logging
import MQTTCodec
import NIOCore
import NIOEmbedded
import Testing

/// Tier-2 tests: the real connection handler on EmbeddedChannels sharing one EmbeddedEventLoop, with bytes in
/// and bytes out. Time moves only through `loop.advanceTime`.
@Suite struct MQTTConnectionHandlerTests {
    final class Harness {
        let loop = EmbeddedEventLoop()
        let core = BrokerCore(limits: BrokerLimits(), metrics: BrokerMetrics(), logger: Logger(label: "test"))

        func channel() throws -> EmbeddedChannel {
            let ch = EmbeddedChannel(handler: MQTTConnectionHandler(core: core, logger: Logger(label: "test")), loop: loop)
            try ch.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9999)).wait()
            return ch
        }

        func send(_ ch: EmbeddedChannel, _ packet: MQTTPacket, version: ProtocolVersion) throws {
            var b = ByteBuffer()
            MQTTEncoder.encode(packet, version: version, into: &b)
            try ch.writeInbound(b)
            loop.run()
        }

        func sendRaw(_ ch: EmbeddedChannel, _ bytes: [UInt8]) throws {
            try ch.writeInbound(ByteBuffer(bytes: bytes))
            loop.run()
        }

        /// Everything the handler wrote, decoded as a client would.
        func received(_ ch: EmbeddedChannel, version: ProtocolVersion) throws -> [MQTTPacket] {
            loop.run()
            var all = ByteBuffer()
            while var b = try ch.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&b) }
            var d = MQTTDecoder(role: .client, version: version)
            var out: [MQTTPacket] = []
            while let p = try d.decode(&all) { out.append(p) }
            return out
        }

        func connect(_ ch: EmbeddedChannel, id: String, version: ProtocolVersion = .v5, keepAlive: UInt16 = 60,
                     clean: Bool = true) throws -> ConnAckPacket? {
            try send(ch, .connect(ConnectPacket(protocolVersion: version, cleanStart: clean, keepAlive: keepAlive, clientID: id)),
                     version: version)
            for p in try received(ch, version: version) { if case .connack(let a) = p { return a } }
            return nil
        }
    }

    @Test("CONNECT v5 gets CONNACK success with our limits")
    func connect() throws {
        let h = Harness()
        let ch = try h.channel()
        let ack = try h.connect(ch, id: "c1")
        #expect(ack?.reasonCode == .success)
        #expect(ack?.properties.maximumPacketSize == 131_072)
        _ = try? ch.finish()
    }

    @Test("QoS 1 publish on one connection reaches a subscriber on another; publisher gets PUBACK")
    func pubSub() throws {
        let h = Harness()
        let sub = try h.channel()
        let pub = try h.channel()
        _ = try h.connect(sub, id: "sub")
        _ = try h.connect(pub, id: "pub", version: .v311)
        try h.send(sub, .subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription(filter: "a/#", options: SubscriptionOptions(qos: .atLeastOnce))])), version: .v5)
        #expect(try h.received(sub, version: .v5) == [.suback(SubAckPacket(packetID: 1, reasonCodes: [.grantedQoS1]))])
        try h.send(pub, .publish(PublishPacket(topic: "a/b", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce, packetID: 3)),
                   version: .v311)
        #expect(try h.received(pub, version: .v311) == [.puback(PubAckPacket(packetID: 3))])
        let got = try h.received(sub, version: .v5)
        guard case .publish(let p) = got.first else {
            Issue.record("subscriber got \(got)")
            return
        }
        #expect(p.topic == "a/b")
        #expect(String(buffer: p.payload) == "hi")
        #expect(p.qos == .atLeastOnce)
        _ = try? sub.finish()
        _ = try? pub.finish()
    }

    @Test("a retained message reaches a later subscriber with RETAIN=1")
    func retained() throws {
        let h = Harness()
        let pub = try h.channel()
        _ = try h.connect(pub, id: "pub")
        try h.send(pub, .publish(PublishPacket(topic: "r/1", payload: ByteBuffer(string: "kept"), retain: true)), version: .v5)
        let sub = try h.channel()
        _ = try h.connect(sub, id: "sub")
        try h.send(sub, .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter: "r/+")])), version: .v5)
        let got = try h.received(sub, version: .v5)
        #expect(got.count == 2)
        guard got.count == 2, case .publish(let p) = got[1] else {
            Issue.record("got \(got)")
            return
        }
        #expect(p.retain)
        #expect(String(buffer: p.payload) == "kept")
    }

    @Test("[MQTT-1.5.4-1] invalid UTF-8 in a topic on a v5 session → DISCONNECT 0x81 and close")
    func malformedAfterConnect() throws {
        let h = Harness()
        let ch = try h.channel()
        _ = try h.connect(ch, id: "c")
        // PUBLISH QoS 0, topic length 2, bytes C3 28 (invalid UTF-8), no properties.
        try h.sendRaw(ch, [0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, 0x00])
        #expect(try h.received(ch, version: .v5) == [.disconnect(DisconnectPacket(reasonCode: .malformedPacket))])
        #expect(!ch.isActive)
    }

    @Test("a Remaining Length over the maximum packet size → DISCONNECT 0x95 before the body arrives")
    func packetTooLarge() throws {
        let h = Harness()
        let ch = try h.channel()
        _ = try h.connect(ch, id: "c")
        try h.sendRaw(ch, [0x30, 0xFF, 0xFF, 0x7F])  // announces ~2 MB
        #expect(try h.received(ch, version: .v5) == [.disconnect(DisconnectPacket(reasonCode: .packetTooLarge))])
        #expect(!ch.isActive)
    }

    @Test("[MQTT-3.1.2-2] protocol level 6 → CONNACK return code 1, then close")
    func unsupportedVersion() throws {
        let h = Harness()
        let ch = try h.channel()
        // CONNECT "MQTT" level 6, clean, keepalive 60, client id "c".
        try h.sendRaw(ch, [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x63])
        h.loop.run()
        var out = ByteBuffer()
        while var b = try ch.readOutbound(as: ByteBuffer.self) { out.writeBuffer(&b) }
        #expect(Array(out.readableBytesView) == [0x20, 0x02, 0x00, 0x01])
        #expect(!ch.isActive)
    }

    @Test("[MQTT-3.1.2-22] no traffic for 1.5× keep alive → DISCONNECT 0x8D")
    func keepAlive() throws {
        let h = Harness()
        let ch = try h.channel()
        _ = try h.connect(ch, id: "c", keepAlive: 60)
        h.loop.advanceTime(by: .seconds(89))
        #expect(try h.received(ch, version: .v5).isEmpty)
        #expect(ch.isActive)
        h.loop.advanceTime(by: .seconds(2))
        #expect(try h.received(ch, version: .v5) == [.disconnect(DisconnectPacket(reasonCode: .keepAliveTimeout))])
        #expect(!ch.isActive)
    }

    @Test("[MQTT-3.1.4] a connection that sends no CONNECT within the connect timeout is closed, silently")
    func connectTimeout() throws {
        let h = Harness()
        let idle = try h.channel()
        let prompt = try h.channel()
        h.loop.advanceTime(by: .seconds(Int64(h.core.limits.connectTimeout) - 1))
        #expect(idle.isActive)
        _ = try h.connect(prompt, id: "prompt", keepAlive: 60)
        h.loop.advanceTime(by: .seconds(2))
        #expect(try h.received(idle, version: .v5).isEmpty)  // nothing to say to a client that said nothing
        #expect(!idle.isActive)
        #expect(prompt.isActive)  // CONNECT in time: keep alive rules from here
    }

    @Test("[MQTT-3.1.4-3] the same client id connecting again takes over: old v5 connection gets 0x8E, session moves")
    func takeover() throws {
        let h = Harness()
        let first = try h.channel()
        _ = try h.connect(first, id: "dup", clean: false)
        try h.send(first, .subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription(filter: "t", options: SubscriptionOptions(qos: .atLeastOnce))])), version: .v5)
        _ = try h.received(first, version: .v5)
        let second = try h.channel()
        try h.send(second, .connect(ConnectPacket(protocolVersion: .v5, cleanStart: false, clientID: "dup",
                                                  properties: [.sessionExpiryInterval(60)])), version: .v5)
        #expect(try h.received(first, version: .v5) == [.disconnect(DisconnectPacket(reasonCode: .sessionTakenOver))])
        #expect(!first.isActive)
        h.loop.run()
        let got = try h.received(second, version: .v5)
        guard case .connack(let ack) = got.first else {
            Issue.record("second got \(got)")
            return
        }
        #expect(ack.reasonCode == .success)
        // The subscription came along: a publish on "t" reaches the new connection.
        let pub = try h.channel()
        _ = try h.connect(pub, id: "p")
        try h.send(pub, .publish(PublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, packetID: 1)), version: .v5)
        #expect(try h.received(second, version: .v5).contains { if case .publish = $0 { return true } else { return false } })
    }

    @Test("a Will is published when the connection drops without DISCONNECT")
    func willOnDrop() throws {
        let h = Harness()
        let watcher = try h.channel()
        _ = try h.connect(watcher, id: "w")
        try h.send(watcher, .subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter: "will/#")])), version: .v5)
        _ = try h.received(watcher, version: .v5)
        let dying = try h.channel()
        try h.send(dying, .connect(ConnectPacket(protocolVersion: .v311, clientID: "d",
                                                 will: WillMessage(topic: "will/d", payload: ByteBuffer(string: "bye")))),
                   version: .v311)
        _ = try h.received(dying, version: .v311)
        _ = try? dying.close().wait()
        h.loop.run()
        let got = try h.received(watcher, version: .v5)
        #expect(got.contains { if case .publish(let p) = $0 { return p.topic == "will/d" } else { return false } })
    }

    @Test("graceful shutdown: v5 clients get DISCONNECT 0x8B")
    func shutdown() throws {
        let h = Harness()
        let ch = try h.channel()
        _ = try h.connect(ch, id: "c")
        for handle in h.core.connectedHandles() { handle.withHandler { $0.serverShutdown() } }
        #expect(try h.received(ch, version: .v5) == [.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown))])
    }

    @Test("a stream of packets split at any point (or fed a byte at a time) gives the same replies")
    func splitReads() throws {
        var stream = ByteBuffer()
        MQTTEncoder.encode(.connect(ConnectPacket(protocolVersion: .v5, clientID: "split")), version: .v5, into: &stream)
        MQTTEncoder.encode(.subscribe(SubscribePacket(packetID: 1, subscriptions: [TopicSubscription(filter: "s/#")])),
                           version: .v5, into: &stream)
        for i in 0..<20 {
            let payload = ByteBuffer(string: String(repeating: "x", count: i * 37))
            MQTTEncoder.encode(.publish(PublishPacket(topic: "s/\(i)", payload: payload, qos: .atLeastOnce,
                                                      packetID: UInt16(i + 10))), version: .v5, into: &stream)
        }
        MQTTEncoder.encode(.pingreq, version: .v5, into: &stream)
        let bytes = Array(stream.readableBytesView)

        func run(chunks: [Int]) throws -> [MQTTPacket] {
            let h = Harness()
            let ch = try h.channel()
            var offset = 0
            for size in chunks where offset < bytes.count {
                let end = min(bytes.count, offset + size)
                try ch.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
            }
            if offset < bytes.count { try ch.writeInbound(ByteBuffer(bytes: bytes[offset...])) }
            h.loop.run()
            return try h.received(ch, version: .v5)
        }
        let whole = try run(chunks: [bytes.count])
        // CONNACK, SUBACK, 20 × (PUBLISH to ourselves + PUBACK), PINGRESP.
        #expect(whole.count == 43)
        #expect(try run(chunks: Array(repeating: 1, count: bytes.count)) == whole)
        var rng = SplitMix64(seed: 0x5EED)
        for round in 0..<20 {
            var chunks: [Int] = []
            var total = 0
            while total < bytes.count {
                let n = Int(rng.next() % 300) + 1
                chunks.append(n)
                total += n
            }
            #expect(try run(chunks: chunks) == whole, "seed 0x5EED round \(round) chunks \(chunks)")
        }
    }

    @Test("frame length from a partial fixed header")
    func frameLength() {
        #expect(MQTTConnectionHandler.frameLength(ByteBuffer(bytes: [0x30])) == .needMore)
        #expect(MQTTConnectionHandler.frameLength(ByteBuffer(bytes: [0x30, 0x05])) == .complete(7))
        #expect(MQTTConnectionHandler.frameLength(ByteBuffer(bytes: [0x30, 0x80])) == .needMore)
        #expect(MQTTConnectionHandler.frameLength(ByteBuffer(bytes: [0x30, 0x80, 0x01])) == .complete(131))
        #expect(MQTTConnectionHandler.frameLength(ByteBuffer(bytes: [0x30, 0xFF, 0xFF, 0xFF, 0x7F])) == .complete(268_435_460))
        #expect(MQTTConnectionHandler.frameLength(ByteBuffer(bytes: [0x30, 0x80, 0x80, 0x80, 0x80, 0x01])) == .invalid)
    }
}

