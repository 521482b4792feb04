import NIOCore

/// MQTT packet serializer (STUB: to be implemented).
public enum MQTTEncoder {
    public static func encode(_ packet: MQTTPacket, version: ProtocolVersion, into buffer: inout ByteBuffer) {
        fatalError("not implemented")
    }
}
