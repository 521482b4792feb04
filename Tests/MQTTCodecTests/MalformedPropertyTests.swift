import BrokerTestKit
import MQTTCodec
import NIOCore
import Testing

/// MQTT 5 properties ([MQTT-2.2.2], table 2-4).
@Suite("Malformed: v5 properties")
struct MalformedPropertyTests {
    func publish(_ properties: [UInt8]) -> [UInt8] { PacketBytes.publish(topic: "t", properties: properties) }
    func connect(_ properties: [UInt8]) -> [UInt8] { PacketBytes.connect(clientID: "c", properties: properties) }
    func connack(_ properties: [UInt8]) -> [UInt8] { PacketBytes.connack(properties: properties) }

    @Test("[MQTT-2.2.2.2] an unknown property identifier is malformed", arguments: [
        [0x05, 0x00] as [UInt8], [0x00], [0x2B, 0x00], [0x80, 0x01, 0x00],
    ])
    func unknownProperty(bytes: [UInt8]) {
        expectFailure(publish(bytes), .malformed)
    }

    @Test("[MQTT-2.2.2.2] table 2-4: a property not allowed in the packet is malformed")
    func propertyNotAllowed() {
        expectFailure(connect(prop(0x23, Wire().u16(1))), .malformed, version: nil)  // Topic Alias in CONNECT
        expectFailure(publish(prop(0x18, Wire().u32(1))), .malformed)  // Will Delay in PUBLISH
        expectFailure(PacketBytes.ack(.puback, packetID: 1, reason: 0, properties: prop(0x11, Wire().u32(1))),
                      .malformed)  // Session Expiry in PUBACK
        expectFailure(connack(prop(0x17, Wire().u8(1))), .malformed, role: .client)  // Request Problem Info
        // Will Delay Interval belongs to the Will Properties, not to the CONNECT properties.
        expectFailure(connect(prop(0x18, Wire().u32(1))), .malformed, version: nil)
    }

    @Test("[MQTT-3.1.2.11] a property included more than once is a protocol error")
    func duplicateProperty() {
        let expiry = prop(0x11, Wire().u32(1))
        expectFailure(connect(expiry + expiry), .protocolError, version: nil)
        let alias = prop(0x23, Wire().u16(1))
        expectFailure(publish(alias + alias), .protocolError)
        let reason = prop(0x1F, Wire().string("x"))
        expectFailure(PacketBytes.ack(.pubrec, packetID: 1, reason: 0, properties: reason + reason), .protocolError)
    }

    @Test("[MQTT-3.8.2.1.2] Subscription Identifier may repeat in PUBLISH but not in SUBSCRIBE")
    func subscriptionIdentifierRepeat() {
        let ids = prop(0x0B, Wire().varint(1)) + prop(0x0B, Wire().varint(300))
        expectFailure(PacketBytes.subscribe(packetID: 1, filters: [("a", 0)], properties: ids), .protocolError)
        #expect(decodeOne(publish(ids))
                == .publish(PublishPacket(topic: "t", payload: ByteBuffer(),
                                          properties: [.subscriptionIdentifier(1), .subscriptionIdentifier(300)])))
    }

    @Test("[MQTT-3.3.2-18] User Property may repeat and keeps its order")
    func userPropertyRepeat() {
        let u = prop(0x26, Wire().string("k").string("2")) + prop(0x26, Wire().string("k").string("1"))
        #expect(decodeOne(publish(u)) == .publish(PublishPacket(
            topic: "t", payload: ByteBuffer(), properties: [.userProperty("k", "2"), .userProperty("k", "1")])))
    }

    @Test("[MQTT-3.3.2.3.8] Subscription Identifier 0 is a protocol error")
    func subscriptionIdentifierZero() {
        expectFailure(publish(prop(0x0B, Wire().varint(0))), .protocolError)
        expectFailure(PacketBytes.subscribe(packetID: 1, filters: [("a", 0)], properties: prop(0x0B, Wire().varint(0))),
                      .protocolError)
    }

    @Test("[MQTT-3.3.2.3.2] Payload Format Indicator other than 0 or 1 is a protocol error")
    func payloadFormatIndicator() {
        expectFailure(publish(prop(0x01, Wire().u8(2))), .protocolError)
    }

    @Test("[MQTT-3.1.2.11.6] Request Problem / Response Information other than 0 or 1 is a protocol error",
          arguments: [0x17, 0x19] as [UInt8])
    func requestFlags(id: UInt8) {
        expectFailure(connect(prop(id, Wire().u8(2))), .protocolError, version: nil)
    }

    @Test("[MQTT-3.2.2.3] CONNACK Maximum QoS and …Available flags other than 0 or 1 are a protocol error",
          arguments: [0x24, 0x25, 0x28, 0x29, 0x2A] as [UInt8])
    func connackFlags(id: UInt8) {
        expectFailure(connack(prop(id, Wire().u8(2))), .protocolError, role: .client)
    }

    @Test("[MQTT-3.1.2.11.3] Receive Maximum 0 is a protocol error")
    func receiveMaximumZero() {
        expectFailure(connect(prop(0x21, Wire().u16(0))), .protocolError, version: nil)
    }

    @Test("[MQTT-3.1.2.11.4] Maximum Packet Size 0 is a protocol error")
    func maximumPacketSizeZero() {
        expectFailure(connect(prop(0x27, Wire().u32(0))), .protocolError, version: nil)
        expectFailure(connack(prop(0x27, Wire().u32(0))), .protocolError, role: .client)
    }

    @Test("[MQTT-3.1.2.11.10] Authentication Data without Authentication Method is a protocol error")
    func authDataWithoutMethod() {
        expectFailure(connect(prop(0x16, Wire().binary([1]))), .protocolError, version: nil)
        expectFailure(PacketBytes.auth(reason: 0x18, properties: prop(0x16, Wire().binary([1]))), .protocolError)
    }

    @Test("[MQTT-2.2.2-1] a Property Length running past the Remaining Length is malformed")
    func propertyLengthTooLong() {
        let body = Wire().string("t").varint(10).raw(prop(0x23, Wire().u16(1)))
        expectFailure(RawPacket(type: .publish, body: body).bytes, .malformed)
    }

    @Test("[MQTT-2.2.2.2] a property value running past the Property Length is malformed")
    func propertyValueTruncated() {
        // Message Expiry Interval is a Four Byte Integer, but the property block ends after two bytes.
        let body = Wire().string("t").varint(3).raw([0x02, 0x00, 0x00]).raw([0x00, 0x00])
        expectFailure(RawPacket(type: .publish, body: body).bytes, .malformed)
        expectFailure(publish(prop(0x26, Wire().string("only-a-key"))), .malformed)
    }

    @Test("[MQTT-1.5.5-1] a non-minimal Property Length is malformed")
    func propertyLengthNotMinimal() {
        let body = Wire().string("t").raw(encodeVarint(0, minimal: false))
        expectFailure(RawPacket(type: .publish, body: body).bytes, .malformed, cites: "[MQTT-1.5.5-1]")
    }

    @Test("[MQTT-3.1.3.2] Will Properties are checked against the Will context")
    func willProperties() {
        let will = PacketBytes.Will(topic: "w", payload: [], properties: prop(0x23, Wire().u16(1)))
        expectFailure(PacketBytes.connect(clientID: "c", will: will), .malformed, version: nil)
        let ok = PacketBytes.Will(topic: "w", payload: [1], properties: prop(0x18, Wire().u32(9)))
        #expect(decodeOne(PacketBytes.connect(clientID: "c", will: ok), version: nil) == .connect(ConnectPacket(
            protocolVersion: .v5, clientID: "c",
            will: WillMessage(topic: "w", payload: ByteBuffer(bytes: [1]), properties: [.willDelayInterval(9)]))))
    }
}
