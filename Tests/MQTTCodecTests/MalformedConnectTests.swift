import BrokerTestKit
import MQTTCodec
import NIOCore
import Testing

/// CONNECT, CONNACK and UTF-8 strings.
@Suite("Malformed: CONNECT, CONNACK and UTF-8")
struct MalformedConnectTests {
    /// A CONNECT with a hand-set protocol name, level and flags; `tail` follows the keep alive.
    func connect(name: String = "MQTT", level: UInt8 = 5, flags: UInt8 = 0x02, tail: Wire? = nil) -> [UInt8] {
        let head = Wire().string(name).u8(level).u8(flags).u16(60)
        let rest = tail ?? (level == 5 ? Wire().properties([]).string("id") : Wire().string("id"))
        return RawPacket(type: .connect, body: head.raw(rest.bytes)).bytes
    }

    func expectConnectFailure(_ bytes: [UInt8], _ kind: ErrorKind, cites: String? = nil,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        expectFailure(bytes, kind, cites: cites, version: nil, sourceLocation: sourceLocation)
    }

    @Test("[MQTT-3.1.2-1] a protocol name other than MQTT is malformed")
    func badProtocolName() {
        expectConnectFailure(connect(name: "MQTX"), .malformed, cites: "[MQTT-3.1.2-1]")
        expectConnectFailure(connect(name: "mqtt", level: 4), .malformed, cites: "[MQTT-3.1.2-1]")
    }

    @Test("[MQTT-3.1.2-2] an unsupported protocol level is refused with the level")
    func unsupportedLevel() {
        var decoder = MQTTDecoder(role: .server)
        var buffer = connect(level: 6).byteBuffer
        #expect(throws: MQTTCodecError.unsupportedProtocolVersion(6)) { try decoder.decode(&buffer) }
        var mqtt3 = connect(level: 3).byteBuffer
        #expect(throws: MQTTCodecError.unsupportedProtocolVersion(3)) { try decoder.decode(&mqtt3) }
        #expect(decoder.version == nil)
    }

    @Test("MQTT 3.1 (\"MQIsdp\", level 3) is refused as an unsupported version")
    func mqisdp() {
        var decoder = MQTTDecoder(role: .server)
        var buffer = connect(name: "MQIsdp", level: 3).byteBuffer
        #expect(throws: MQTTCodecError.unsupportedProtocolVersion(3)) { try decoder.decode(&buffer) }
        expectConnectFailure(connect(name: "MQIsdp", level: 4), .malformed)
    }

    @Test("[MQTT-3.1.2-3] the reserved connect flag must be 0")
    func reservedConnectFlag() {
        expectConnectFailure(connect(flags: 0x03), .malformed, cites: "[MQTT-3.1.2-3]")
    }

    @Test("[MQTT-3.1.2-11] Will QoS must be 0 when the Will Flag is 0")
    func willQoSWithoutWill() {
        expectConnectFailure(connect(flags: 0x02 | 0x08), .malformed, cites: "[MQTT-3.1.2-11]")
    }

    @Test("[MQTT-3.1.2-13] Will Retain must be 0 when the Will Flag is 0")
    func willRetainWithoutWill() {
        expectConnectFailure(connect(flags: 0x02 | 0x20), .malformed, cites: "[MQTT-3.1.2-13]")
    }

    @Test("[MQTT-3.1.2-12] Will QoS 3 is malformed")
    func willQoS3() {
        let tail = Wire().properties([]).string("id").properties([]).string("w").binary([1])
        expectConnectFailure(connect(flags: 0x02 | 0x04 | 0x18, tail: tail), .malformed, cites: "[MQTT-3.1.2-12]")
    }

    @Test("[MQTT-3.1.2-22] 3.1.1: a password without a user name is malformed; v5 allows it")
    func passwordWithoutUsername() {
        expectConnectFailure(connect(level: 4, flags: 0x42, tail: Wire().string("id").binary([1, 2])), .malformed,
                             cites: "[MQTT-3.1.2-22]")
        let v5 = decodeOne(PacketBytes.connect(clientID: "id", password: [1, 2]), version: nil)
        #expect(v5 == .connect(ConnectPacket(protocolVersion: .v5, clientID: "id",
                                             password: ByteBuffer(bytes: [1, 2]))))
    }

    @Test("[MQTT-3.1.3-3] a CONNECT whose Client Identifier runs past the Remaining Length is malformed")
    func truncatedClientID() {
        expectConnectFailure(connect(level: 4, tail: Wire().u16(10).raw([0x61])), .malformed)
    }

    @Test("[MQTT-3.1.2-9] a Will Flag without Will Topic and Will Payload is malformed")
    func willFieldsMissing() {
        expectConnectFailure(connect(level: 4, flags: 0x06, tail: Wire().string("id")), .malformed)
    }

    @Test("[MQTT-3.1.2-19] a User Name Flag without a User Name is malformed")
    func usernameMissing() {
        expectConnectFailure(connect(level: 4, flags: 0x82, tail: Wire().string("id")), .malformed)
    }

    @Test("[MQTT-3.1.0-2] a second CONNECT is decoded for the broker to reject; the version stays")
    func secondConnect() throws {
        var decoder = MQTTDecoder(role: .server)
        let bytes = PacketBytes.connect(version: .v311, clientID: "a") + PacketBytes.connect(version: .v5, clientID: "b")
        let packets = try decodeAll(bytes, decoder: &decoder)
        #expect(packets.map(\.type) == [.connect, .connect])
        #expect(decoder.version == .v311)
    }

    @Test("[MQTT-3.1.3-6] an empty Client Identifier is decoded (the broker decides)")
    func emptyClientID() {
        #expect(decodeOne(PacketBytes.connect(version: .v311, clientID: ""), version: nil)
                == .connect(ConnectPacket(protocolVersion: .v311, clientID: "")))
    }

    // MARK: CONNACK

    @Test("[MQTT-3.2.2-1] CONNACK reserved acknowledge flags must be 0")
    func connackReservedFlags() {
        expectFailure(RawPacket(type: .connack, body: Wire().u8(0x02).u8(0)).bytes, .malformed,
                      cites: "[MQTT-3.2.2-1]", role: .client, version: .v311)
    }

    @Test("[MQTT-3.2.2.3] a reserved 3.1.1 CONNACK return code (6) is malformed")
    func connackReservedReturnCode() {
        expectFailure(PacketBytes.connack(version: .v311, returnCode: 6), .malformed, role: .client,
                      version: .v311)
    }

    @Test("[MQTT-3.2.2-8] a v5 CONNACK reason code outside table 3-1 is a protocol error")
    func connackBadReason() {
        expectFailure(PacketBytes.connack(returnCode: 0x01), .protocolError, role: .client)
    }

    // MARK: UTF-8

    /// A v5 PUBLISH whose Topic Name has the raw bytes `topic`.
    func publish(topicBytes topic: [UInt8]) -> [UInt8] {
        RawPacket(type: .publish, body: Wire().binary(topic).properties([])).bytes
    }

    @Test("[MQTT-1.5.4-1] ill-formed UTF-8 is malformed", arguments: [
        [0xFF] as [UInt8],  // never valid
        [0x61, 0x80],  // lone continuation byte
        [0xC0, 0xAF],  // overlong "/"
        [0xE0, 0x80, 0xAF],  // overlong three-byte form
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate U+D800
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0x61, 0x62, 0xE6, 0x97],  // truncated sequence at the end
        Array("0123456789abcdef".utf8) + [0xED, 0xBF, 0xBF],  // surrogate after the ASCII fast path
    ])
    func invalidUTF8(bytes: [UInt8]) {
        expectFailure(publish(topicBytes: bytes), .malformed, cites: "[MQTT-1.5.4-1]")
    }

    @Test("[MQTT-1.5.4-2] U+0000 in a UTF-8 string is malformed", arguments: [
        [0x00] as [UInt8], [0x61, 0x00], Array("abc".utf8) + [0] + Array("defghijklmnop".utf8),
        Array("abcdefghijklmnop".utf8) + [0], Array("日本語日本語".utf8) + [0, 0x61],
    ])
    func nullCharacter(bytes: [UInt8]) {
        expectFailure(publish(topicBytes: bytes), .malformed, cites: "[MQTT-1.5.4-2]")
    }

    @Test("[MQTT-1.5.4-2] U+0000 in a Client Identifier or User Property is malformed")
    func nullInOtherStrings() {
        expectConnectFailure(connect(level: 4, tail: Wire().binary([0x61, 0x00])), .malformed, cites: "[MQTT-1.5.4-2]")
        let userProp = [UInt8(0x26)] + Wire().string("k").binary([0]).bytes
        expectFailure(PacketBytes.publish(topic: "t", properties: userProp), .malformed, cites: "[MQTT-1.5.4-2]")
    }

    @Test("[MQTT-1.5.4-3] a BOM, non-characters and 4-byte sequences are valid and kept")
    func validUnicode() {
        let topic = "\u{FEFF}a/\u{FFFF}/😀/\u{10FFFF}/" + String(repeating: "x", count: 40)
        #expect(decodeOne(PacketBytes.publish(topic: topic))
                == .publish(PublishPacket(topic: topic, payload: ByteBuffer())))
    }
}
