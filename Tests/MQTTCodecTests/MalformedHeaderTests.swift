import BrokerTestKit
import MQTTCodec
import NIOCore
import Testing

/// Fixed header, Remaining Length, packet size, direction and packet order. Every case names the normative
/// statement it checks and asserts the exact ``MQTTCodecError`` case.
@Suite("Malformed: fixed header and framing")
struct MalformedHeaderTests {
    @Test("[MQTT-1.5.5] a Remaining Length with a fifth byte is malformed")
    func remainingLengthFiveBytes() {
        expectFailure([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], .malformed, cites: "[MQTT-1.5.5]")
        // Known as soon as the fourth byte still has its continuation bit set.
        expectFailure([0x30, 0x80, 0x80, 0x80, 0x80], .malformed, cites: "[MQTT-1.5.5]")
    }

    @Test("[MQTT-1.5.5-1] a Remaining Length that is not minimally encoded is malformed")
    func remainingLengthNotMinimal() {
        expectFailure([0xC0, 0x80, 0x00], .malformed, cites: "[MQTT-1.5.5-1]")
        expectFailure([0x30] + encodeVarint(5, minimal: false) + Wire().string("a").u8(0).raw([1]).bytes,
                      .malformed, cites: "[MQTT-1.5.5-1]")
    }

    @Test("Maximum Packet Size: an oversized packet is rejected from its fixed header alone")
    func packetTooLargeHeaderOnly() {
        var decoder = MQTTDecoder(role: .server, maxPacketSize: 100, version: .v5)
        var buffer = ByteBuffer(bytes: [0x30] + encodeVarint(1_000))
        #expect(throws: MQTTCodecError.packetTooLarge(size: 1_003, limit: 100)) { try decoder.decode(&buffer) }
    }

    @Test("Maximum Packet Size: rejected while the Remaining Length is still arriving")
    func packetTooLargePartialLength() throws {
        // One continuation byte so far: the length is at least 128, the packet at least 131 bytes.
        var small = MQTTDecoder(role: .server, maxPacketSize: 100, version: .v5)
        var buffer = ByteBuffer(bytes: [0x30, 0x80])
        #expect(throws: MQTTCodecError.packetTooLarge(size: 131, limit: 100)) { try small.decode(&buffer) }
        var large = MQTTDecoder(role: .server, maxPacketSize: 1_000, version: .v5)
        #expect(try large.decode(&buffer) == nil)
    }

    @Test("Maximum Packet Size: a packet of exactly the maximum size is accepted")
    func packetAtLimit() throws {
        let bytes = PacketBytes.publish(topic: "t", payload: Array(repeating: 7, count: 100))
        var decoder = MQTTDecoder(role: .server, maxPacketSize: bytes.count, version: .v5)
        #expect(try decodeAll(bytes, decoder: &decoder).count == 1)
        expectFailure(bytes, .packetTooLarge, maxPacketSize: bytes.count - 1)
    }

    @Test("[MQTT-2.1.2] packet type 0 is reserved and malformed")
    func packetTypeZero() {
        expectFailure([0x00, 0x00], .malformed, cites: "[MQTT-2.1.2]")
    }

    @Test("Packet type 15 is reserved in MQTT 3.1.1 (AUTH exists only in v5)")
    func authInV311() {
        expectFailure(PacketBytes.auth(), .malformed, version: .v311)
    }

    @Test("[MQTT-3.1.0-1] the first packet from a client must be CONNECT")
    func firstPacketNotConnect() {
        expectFailure(PacketBytes.pingreq, .protocolError, cites: "[MQTT-3.1.0-1]", version: nil)
        expectFailure([0x30], .protocolError, cites: "[MQTT-3.1.0-1]", version: nil)  // judged on the first byte
        expectFailure(PacketBytes.disconnect(), .protocolError, cites: "[MQTT-3.1.0-1]", version: nil)
    }

    @Test("[MQTT-2.1.3-1] PUBREL with flags 0000 is malformed")
    func pubrelFlags() {
        expectFailure(RawPacket(type: .pubrel, flags: 0, body: Wire().u16(1)).bytes, .malformed, cites: "[MQTT-2.1.3-1]")
    }

    @Test("[MQTT-2.1.3-1] SUBSCRIBE with flags 0000 is malformed")
    func subscribeFlags() {
        let body = Wire().u16(1).properties([]).string("a").u8(0)
        expectFailure(RawPacket(type: .subscribe, flags: 0, body: body).bytes, .malformed, cites: "[MQTT-2.1.3-1]")
    }

    @Test("[MQTT-2.1.3-1] UNSUBSCRIBE with flags 0011 is malformed")
    func unsubscribeFlags() {
        let body = Wire().u16(1).properties([]).string("a")
        expectFailure(RawPacket(type: .unsubscribe, flags: 0b0011, body: body).bytes, .malformed,
                      cites: "[MQTT-2.1.3-1]")
    }

    @Test("[MQTT-2.1.3-1] PINGREQ, PUBACK, DISCONNECT and CONNECT with non-zero flags are malformed")
    func otherFlags() {
        expectFailure([0xC1, 0x00], .malformed, cites: "[MQTT-2.1.3-1]")
        expectFailure(RawPacket(type: .puback, flags: 0b0010, body: Wire().u16(1)).bytes, .malformed,
                      cites: "[MQTT-2.1.3-1]")
        expectFailure([0xE8, 0x00], .malformed, cites: "[MQTT-2.1.3-1]")
        var connect = PacketBytes.connect(clientID: "c")
        connect[0] |= 0x01
        expectFailure(connect, .malformed, cites: "[MQTT-2.1.3-1]", version: nil)
    }

    @Test("[MQTT-2.1.3-1] bad flags are detected before the body arrives")
    func flagsBeforeBody() {
        expectFailure([0x60], .malformed, cites: "[MQTT-2.1.3-1]")
    }

    @Test("[MQTT-3.3.1-4] PUBLISH with QoS 3 is malformed")
    func publishQoS3() {
        expectFailure(RawPacket(type: .publish, flags: 0b0110, body: Wire().string("t").u16(1).properties([])).bytes,
                      .malformed, cites: "[MQTT-3.3.1-4]")
        expectFailure([0x36], .malformed, cites: "[MQTT-3.3.1-4]", version: .v311)
    }

    @Test("[MQTT-3.3.1-2] PUBLISH with QoS 0 and DUP 1 is malformed")
    func publishQoS0Dup() {
        expectFailure(RawPacket(type: .publish, flags: 0b1000, body: Wire().string("t").properties([])).bytes,
                      .malformed, cites: "[MQTT-3.3.1-2]")
    }

    @Test("Direction (table 2-1): a server receiving CONNACK, SUBACK, UNSUBACK or PINGRESP is a protocol error")
    func serverReceivesServerPackets() {
        expectFailure(PacketBytes.connack(), .protocolError)
        expectFailure(PacketBytes.suback(packetID: 1, codes: [0]), .protocolError)
        expectFailure(PacketBytes.unsuback(packetID: 1, codes: [0]), .protocolError)
        expectFailure(PacketBytes.pingresp, .protocolError)
    }

    @Test("Direction (table 2-1): a client receiving CONNECT, SUBSCRIBE, UNSUBSCRIBE or PINGREQ is a protocol error")
    func clientReceivesClientPackets() {
        expectFailure(PacketBytes.connect(clientID: "c"), .protocolError, role: .client)
        expectFailure(PacketBytes.subscribe(packetID: 1, filters: [("a", 0)]), .protocolError, role: .client)
        expectFailure(PacketBytes.unsubscribe(packetID: 1, filters: ["a"]), .protocolError, role: .client)
        expectFailure(PacketBytes.pingreq, .protocolError, role: .client)
    }

    @Test("[MQTT-3.12.1] PINGREQ with a body is malformed (its Remaining Length is 0)")
    func pingreqWithBody() {
        expectFailure(RawPacket(type: .pingreq, body: [0]).bytes, .malformed)
    }

    @Test("[MQTT-3.14.1] a 3.1.1 DISCONNECT with a body is malformed")
    func v311DisconnectWithBody() {
        expectFailure(PacketBytes.disconnect(reason: 0), .malformed, version: .v311)
    }

    @Test("A field running past the Remaining Length is malformed")
    func fieldPastRemainingLength() {
        // The topic announces 5 bytes but the Remaining Length ends after 3; the rest belongs to the next packet.
        let bytes = RawPacket(type: .publish, body: Wire().string("topic").properties([]), remainingLength: 3).bytes
        expectFailure(bytes, .malformed)
    }

    @Test("Bytes after the last field (Remaining Length too long) are malformed")
    func trailingBytes() {
        expectFailure(RawPacket(type: .puback, body: Wire().u16(1).u8(0)).bytes, .malformed, version: .v311)
        var connect = PacketBytes.connect(version: .v311, clientID: "c")
        connect[1] += 1
        connect.append(0x00)
        expectFailure(connect, .malformed, version: nil)
    }
}
