import NIOCore

/// Encodes the packets a benchmark client sends (MQTT 3.1.1, protocol level 4).
public enum ClientEncoder {
    /// CONNECT with an empty will, no user name and no password [MQTT-3.1].
    public static func writeConnect(
        clientID: String,
        keepAliveSeconds: UInt16,
        cleanSession: Bool = true,
        into buffer: inout ByteBuffer
    ) {
        let remaining = 10 + 2 + clientID.utf8.count  // variable header is 10 bytes for "MQTT" level 4
        buffer.writeInteger(ControlPacketType.connect.rawValue << 4)
        buffer.writeMQTTRemainingLength(remaining)
        buffer.writeMQTTString("MQTT")
        buffer.writeInteger(UInt8(4))  // protocol level 4 = 3.1.1 [MQTT-3.1.2-2]
        buffer.writeInteger(UInt8(cleanSession ? 0x02 : 0x00))
        buffer.writeInteger(keepAliveSeconds)
        buffer.writeMQTTString(clientID)
    }

    /// SUBSCRIBE to one filter; the fixed-header flags must be 0b0010 [MQTT-3.8.1-1].
    public static func writeSubscribe(packetID: UInt16, filter: String, qos: UInt8, into buffer: inout ByteBuffer) {
        precondition(qos <= 2)
        let remaining = 2 + 2 + filter.utf8.count + 1
        buffer.writeInteger(ControlPacketType.subscribe.rawValue << 4 | 0x02)
        buffer.writeMQTTRemainingLength(remaining)
        buffer.writeInteger(packetID)
        buffer.writeMQTTString(filter)
        buffer.writeInteger(qos)
    }

    /// PUBLISH. A packet identifier is present only for QoS > 0 [MQTT-2.3.1-5].
    public static func writePublish(
        topic: String,
        qos: UInt8,
        packetID: UInt16,
        payload: ByteBuffer,
        retain: Bool = false,
        into buffer: inout ByteBuffer
    ) {
        precondition(qos <= 2)
        let remaining = 2 + topic.utf8.count + (qos > 0 ? 2 : 0) + payload.readableBytes
        buffer.writeInteger(ControlPacketType.publish.rawValue << 4 | qos << 1 | (retain ? 1 : 0))
        buffer.writeMQTTRemainingLength(remaining)
        buffer.writeMQTTString(topic)
        if qos > 0 { buffer.writeInteger(packetID) }
        buffer.writeImmutableBuffer(payload)
    }

    /// PUBACK for a QoS 1 PUBLISH received from the server [MQTT-3.4].
    public static func writePuback(packetID: UInt16, into buffer: inout ByteBuffer) {
        buffer.writeInteger(ControlPacketType.puback.rawValue << 4)
        buffer.writeInteger(UInt8(2))
        buffer.writeInteger(packetID)
    }

    /// PINGREQ [MQTT-3.12].
    public static func writePingreq(into buffer: inout ByteBuffer) {
        buffer.writeInteger(ControlPacketType.pingreq.rawValue << 4)
        buffer.writeInteger(UInt8(0))
    }

    /// DISCONNECT [MQTT-3.14].
    public static func writeDisconnect(into buffer: inout ByteBuffer) {
        buffer.writeInteger(ControlPacketType.disconnect.rawValue << 4)
        buffer.writeInteger(UInt8(0))
    }
}

/// A pre-encoded PUBLISH whose packet identifier and first payload bytes are patched per message, so the hot path
/// is one allocation, one copy and two stores.
public struct PublishTemplate: Sendable {
    /// The whole encoded packet, payload zero-filled.
    public let bytes: ByteBuffer
    /// Offset of the packet identifier, or nil at QoS 0.
    public let packetIDOffset: Int?
    /// Offset of the first payload byte.
    public let payloadOffset: Int
    /// Payload length in bytes.
    public let payloadLength: Int

    public init(topic: String, qos: UInt8, payloadLength: Int, allocator: ByteBufferAllocator = .init()) {
        let payload = ByteBuffer(repeating: 0, count: payloadLength)
        var buffer = allocator.buffer(capacity: 5 + 2 + topic.utf8.count + 2 + payloadLength)
        ClientEncoder.writePublish(topic: topic, qos: qos, packetID: 0, payload: payload, into: &buffer)
        self.bytes = buffer
        self.payloadLength = payloadLength
        self.payloadOffset = buffer.readableBytes - payloadLength
        self.packetIDOffset = qos > 0 ? self.payloadOffset - 2 : nil
    }

    /// A fresh copy of the packet with the packet identifier (QoS > 0) and a big-endian UInt64 at payload offset 0.
    @inlinable
    public func make(packetID: UInt16, stamp: UInt64, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: self.bytes.readableBytes)
        buffer.writeImmutableBuffer(self.bytes)
        if let offset = self.packetIDOffset { buffer.setInteger(packetID, at: offset) }
        if self.payloadLength >= 8 { buffer.setInteger(stamp, at: self.payloadOffset) }
        return buffer
    }
}
