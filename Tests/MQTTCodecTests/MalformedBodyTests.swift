import BrokerTestKit
import MQTTCodec
import NIOCore
import Testing

/// PUBLISH, SUBSCRIBE, UNSUBSCRIBE, acknowledgements, DISCONNECT and AUTH bodies.
@Suite("Malformed: packet bodies")
struct MalformedBodyTests {
    @Test("[MQTT-2.2.1-3] PUBLISH with QoS > 0 and packet identifier 0 is a protocol error", arguments: [1, 2] as [UInt8])
    func publishPacketIDZero(qos: UInt8) {
        expectFailure(PacketBytes.publish(topic: "t", qos: qos, packetID: 0), .protocolError, cites: "[MQTT-2.2.1-3]")
    }

    @Test("[MQTT-2.2.1-3] SUBSCRIBE with packet identifier 0 is a protocol error")
    func subscribePacketIDZero() {
        expectFailure(PacketBytes.subscribe(packetID: 0, filters: [("a", 0)]), .protocolError, cites: "[MQTT-2.2.1-3]")
    }

    @Test("[MQTT-2.2.1-3] UNSUBSCRIBE with packet identifier 0 is a protocol error")
    func unsubscribePacketIDZero() {
        expectFailure(PacketBytes.unsubscribe(packetID: 0, filters: ["a"]), .protocolError, cites: "[MQTT-2.2.1-3]")
    }

    @Test("[MQTT-2.2.1-2] PUBLISH with QoS 1 but no packet identifier is malformed")
    func publishMissingPacketID() {
        expectFailure(RawPacket(type: .publish, flags: 0b0010, body: Wire().string("t")).bytes, .malformed,
                      version: .v311)
    }

    @Test("[MQTT-2.2.2-1] a v5 PUBLISH without a Property Length is malformed")
    func publishMissingPropertyLength() {
        expectFailure(RawPacket(type: .publish, body: Wire().string("t")).bytes, .malformed)
    }

    @Test("[MQTT-3.8.3-3] SUBSCRIBE without a topic filter is a protocol error", arguments: [ProtocolVersion.v311, .v5])
    func subscribeEmpty(version: ProtocolVersion) {
        expectFailure(PacketBytes.subscribe(version: version, packetID: 1, filters: []), .protocolError,
                      cites: "[MQTT-3.8.3-3]", version: version)
    }

    @Test("[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter is a protocol error",
          arguments: [ProtocolVersion.v311, .v5])
    func unsubscribeEmpty(version: ProtocolVersion) {
        expectFailure(PacketBytes.unsubscribe(version: version, packetID: 1, filters: []), .protocolError,
                      cites: "[MQTT-3.10.3-2]", version: version)
    }

    @Test("[MQTT-3.8.3-4] 3.1.1 subscription options with reserved bits set are malformed",
          arguments: [0x04, 0x80, 0x21] as [UInt8])
    func v311ReservedOptionBits(options: UInt8) {
        expectFailure(PacketBytes.subscribe(version: .v311, packetID: 1, filters: [("a", options)]), .malformed,
                      cites: "[MQTT-3.8.3-4]", version: .v311)
    }

    @Test("[MQTT-3-8.3-4] a requested QoS of 3 is malformed in 3.1.1")
    func subscribeQoS3V311() {
        expectFailure(PacketBytes.subscribe(version: .v311, packetID: 1, filters: [("a", 3)]), .malformed,
                      cites: "[MQTT-3.8.3-4]", version: .v311)
    }

    @Test("(3.8.3.1) a requested QoS of 3 is a protocol error in v5")
    func subscribeQoS3V5() {
        expectFailure(PacketBytes.subscribe(version: .v5, packetID: 1, filters: [("a", 3)]), .protocolError,
                      cites: "3.8.3.1", version: .v5)
    }

    @Test("[MQTT-3.8.3-5] v5 subscription options with bits 6-7 set are malformed", arguments: [0x40, 0x80] as [UInt8])
    func v5ReservedOptionBits(options: UInt8) {
        expectFailure(PacketBytes.subscribe(packetID: 1, filters: [("a", options)]), .malformed,
                      cites: "[MQTT-3.8.3-5]")
    }

    @Test("[MQTT-3.8.3.1] Retain Handling 3 is a protocol error")
    func retainHandling3() {
        expectFailure(PacketBytes.subscribe(packetID: 1, filters: [("a", 0x30)]), .protocolError)
    }

    @Test("[MQTT-3.8.3-1] a topic filter without its subscription options byte is malformed")
    func subscribeMissingOptions() {
        let body = Wire().u16(1).properties([]).string("a/b")
        expectFailure(RawPacket(type: .subscribe, flags: 0b0010, body: body).bytes, .malformed)
    }

    @Test("[MQTT-3.9.3-2] a reserved 3.1.1 SUBACK return code is malformed")
    func v311SubackReserved() {
        expectFailure(PacketBytes.suback(version: .v311, packetID: 1, codes: [0, 3]), .malformed,
                      cites: "[MQTT-3.9.3-2]", role: .client, version: .v311)
    }

    @Test("[MQTT-3.9.3-2] a v5 SUBACK reason code outside its table is a protocol error")
    func v5SubackBadReason() {
        expectFailure(PacketBytes.suback(packetID: 1, codes: [0x05]), .protocolError, role: .client)
    }

    @Test("[MQTT-3.11.2] a 3.1.1 UNSUBACK has no payload")
    func v311UnsubackPayload() {
        expectFailure(RawPacket(type: .unsuback, body: Wire().u16(1).u8(0)).bytes, .malformed, role: .client,
                      version: .v311)
    }

    @Test("[MQTT-3.11.3-2] a v5 UNSUBACK reason code outside its table is a protocol error")
    func v5UnsubackBadReason() {
        expectFailure(PacketBytes.unsuback(packetID: 1, codes: [0x10]), .protocolError, role: .client)
    }

    @Test("[MQTT-3.4.2-1] a PUBACK reason code outside its table is a protocol error")
    func pubackBadReason() {
        expectFailure(PacketBytes.ack(.puback, packetID: 1, reason: 0x05), .protocolError)
    }

    @Test("[MQTT-3.6.2-1] a PUBREL reason code valid only for PUBACK is a protocol error")
    func pubrelBadReason() {
        expectFailure(PacketBytes.ack(.pubrel, packetID: 1, reason: 0x10), .protocolError)
    }

    @Test("[MQTT-3.4.2] a PUBACK with a 1-byte body is malformed")
    func pubackTruncated() {
        expectFailure(RawPacket(type: .puback, body: [0x00]).bytes, .malformed)
    }

    @Test("[MQTT-3.4.2] a 3.1.1 PUBACK with a reason code is malformed (Remaining Length must be 2)")
    func v311PubackReason() {
        expectFailure(PacketBytes.ack(.pubcomp, packetID: 1, reason: 0), .malformed, version: .v311)
    }

    @Test("[MQTT-3.14.2-1] a DISCONNECT reason code outside its table is a protocol error")
    func disconnectBadReason() {
        expectFailure(PacketBytes.disconnect(reason: 0x05), .protocolError)
        expectFailure(PacketBytes.disconnect(reason: 0x91), .protocolError)
    }

    @Test("[MQTT-3.15.2-1] an AUTH reason code other than 0x00, 0x18, 0x19 is a protocol error")
    func authBadReason() {
        expectFailure(PacketBytes.auth(reason: 0x01, properties: []), .protocolError, cites: "[MQTT-3.15.2-1]")
    }

    @Test("[MQTT-3.3.4] Topic Alias 0 is passed through for the broker to answer 0x94")
    func topicAliasZero() {
        let packet = decodeOne(PacketBytes.publish(topic: "", properties: prop(0x23, Wire().u16(0))))
        #expect(packet == .publish(PublishPacket(topic: "", payload: ByteBuffer(), properties: [.topicAlias(0)])))
    }
}
