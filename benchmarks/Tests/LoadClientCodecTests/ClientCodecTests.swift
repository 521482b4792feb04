import LoadClientCodec
import NIOCore
import NIOTestUtils
import Testing

@Suite struct ClientEncoderTests {
    @Test("CONNECT matches the bytes of MQTT 3.1.1 §3.1 for client id \"a\", keepalive 300, clean session")
    func test_connect_golden() {
        var buffer = ByteBuffer()
        ClientEncoder.writeConnect(clientID: "a", keepAliveSeconds: 300, into: &buffer)
        #expect(
            Array(buffer.readableBytesView) == [
                0x10, 13, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x01, 0x2C, 0x00, 0x01, 0x61,
            ]
        )
    }

    @Test("SUBSCRIBE carries flags 0b0010 [MQTT-3.8.1-1], the packet id, one filter and its QoS")
    func test_subscribe_golden() {
        var buffer = ByteBuffer()
        ClientEncoder.writeSubscribe(packetID: 7, filter: "a/+", qos: 1, into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x82, 8, 0x00, 0x07, 0x00, 0x03, 0x61, 0x2F, 0x2B, 0x01])
    }

    @Test("PUBACK, PINGREQ and DISCONNECT are fixed-size")
    func test_smallPackets_golden() {
        var buffer = ByteBuffer()
        ClientEncoder.writePuback(packetID: 0x0102, into: &buffer)
        ClientEncoder.writePingreq(into: &buffer)
        ClientEncoder.writeDisconnect(into: &buffer)
        #expect(Array(buffer.readableBytesView) == [0x40, 0x02, 0x01, 0x02, 0xC0, 0x00, 0xE0, 0x00])
    }

    @Test("Remaining length uses 1–4 bytes at the boundaries of MQTT 3.1.1 table 2.4")
    func test_remainingLength_boundaries() {
        for (value, size) in [(0, 1), (127, 1), (128, 2), (16_383, 2), (16_384, 3), (2_097_151, 3), (2_097_152, 4)] {
            var buffer = ByteBuffer()
            #expect(buffer.writeMQTTRemainingLength(value) == size)
            #expect(mqttRemainingLengthSize(value) == size)
        }
    }
}

@Suite struct ClientDecoderTests {
    private func parse(_ bytes: [UInt8]) throws -> ServerPacket? {
        var buffer = ByteBuffer(bytes: bytes)
        return try ClientPacketParser().parse(&buffer)
    }

    @Test("A PUBLISH built from a template decodes back to its topic, packet id and stamped payload")
    func test_publishTemplate_roundTrip() throws {
        for qos: UInt8 in [0, 1] {
            let template = PublishTemplate(topic: "bench/x/1", qos: qos, payloadLength: 200)
            var buffer = template.make(packetID: 42, stamp: 0xDEAD_BEEF, allocator: .init())
            guard case .publish(let q, _, _, let id, let topic, var payload) = try ClientPacketParser().parse(&buffer)
            else {
                Issue.record("not a publish")
                return
            }
            #expect(q == qos)
            #expect(id == (qos == 0 ? nil : 42))
            #expect(String(buffer: topic) == "bench/x/1")
            #expect(payload.readableBytes == 200)
            #expect(payload.readInteger(as: UInt64.self) == 0xDEAD_BEEF)
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("CONNACK, PUBACK, SUBACK and PINGRESP decode")
    func test_acks() throws {
        #expect(try self.parse([0x20, 2, 0, 5]) == .connack(sessionPresent: false, returnCode: 5))
        #expect(try self.parse([0x40, 2, 0x12, 0x34]) == .puback(packetID: 0x1234))
        #expect(try self.parse([0x90, 3, 0, 9, 0x80]) == .suback(packetID: 9, returnCodes: [0x80]))
        #expect(try self.parse([0xD0, 0]) == .pingresp)
    }

    @Test("An incomplete frame consumes nothing")
    func test_incomplete() throws {
        var buffer = ByteBuffer(bytes: [0x40, 2, 0x12])
        #expect(try ClientPacketParser().parse(&buffer) == nil)
        #expect(buffer.readableBytes == 3)
    }

    @Test("Malformed input: 5-byte length [MQTT-2.2.3], reserved flags [MQTT-2.2.2-2], QoS 3 [MQTT-3.3.1-4]")
    func test_malformed() {
        #expect(throws: ClientCodecError.malformedRemainingLength) {
            try self.parse([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        }
        #expect(throws: ClientCodecError.malformedPacket(type: 4)) { try self.parse([0x41, 2, 0, 1]) }
        #expect(throws: ClientCodecError.malformedPacket(type: 3)) { try self.parse([0x36, 2, 0, 0]) }
        #expect(throws: ClientCodecError.unexpectedPacketType(1)) { try self.parse([0x10, 0]) }
        #expect(throws: ClientCodecError.packetTooLarge(4 + 100_000)) {
            var buffer = ByteBuffer(bytes: [0x30, 0xA0, 0x8D, 0x06])
            _ = try ClientPacketParser(maximumPacketSize: 1024).parse(&buffer)
        }
    }

    @Test("Drip-fed and coalesced input decodes the same (ByteToMessageDecoderVerifier)")
    func test_verifier() throws {
        var publish = ByteBuffer()
        ClientEncoder.writePublish(
            topic: "t",
            qos: 1,
            packetID: 3,
            payload: ByteBuffer(bytes: [1, 2, 3]),
            into: &publish
        )
        let cases: [(ByteBuffer, [ServerPacket])] = [
            (ByteBuffer(bytes: [0x20, 2, 1, 0]), [.connack(sessionPresent: true, returnCode: 0)]),
            (ByteBuffer(bytes: [0x90, 4, 0, 1, 0, 1]), [.suback(packetID: 1, returnCodes: [0, 1])]),
            (
                publish,
                [
                    .publish(
                        qos: 1,
                        retain: false,
                        dup: false,
                        packetID: 3,
                        topic: ByteBuffer(string: "t"),
                        payload: ByteBuffer(bytes: [1, 2, 3])
                    )
                ]
            ),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: cases) { ClientPacketDecoder() }
    }
}
