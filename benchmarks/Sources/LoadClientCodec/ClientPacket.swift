import NIOCore

/// The MQTT 3.1.1 control packet types the load client sends or expects (MQTT 3.1.1 §2.2.1).
public enum ControlPacketType: UInt8, Sendable {
    case connect = 1
    case connack = 2
    case publish = 3
    case puback = 4
    case subscribe = 8
    case suback = 9
    case unsuback = 11
    case pingreq = 12
    case pingresp = 13
    case disconnect = 14
}

/// A packet received from the broker. Only what a benchmark client needs is decoded; the rest is skipped.
public enum ServerPacket: Equatable, Sendable {
    /// CONNACK: session-present flag and return code (0 = accepted) [MQTT-3.2.2].
    case connack(sessionPresent: Bool, returnCode: UInt8)
    /// PUBLISH: topic and payload are slices of the read buffer, so decoding copies nothing.
    case publish(qos: UInt8, retain: Bool, dup: Bool, packetID: UInt16?, topic: ByteBuffer, payload: ByteBuffer)
    /// PUBACK for a QoS 1 PUBLISH that this client sent.
    case puback(packetID: UInt16)
    /// SUBACK: one return code per filter; 0x80 means failure [MQTT-3.9.3].
    case suback(packetID: UInt16, returnCodes: [UInt8])
    /// PINGRESP.
    case pingresp
    /// Any other packet type a server may legally send to a client (UNSUBACK, PUBREC, ...), not interpreted.
    case other(type: UInt8, flags: UInt8)
}

/// Errors of the client decoder. Each one closes the connection.
public enum ClientCodecError: Error, Equatable, Sendable {
    /// The remaining-length varint ran past four bytes [MQTT-2.2.3].
    case malformedRemainingLength
    /// The packet is larger than the decoder's limit.
    case packetTooLarge(Int)
    /// A packet's fixed-header flags or body did not match its type.
    case malformedPacket(type: UInt8)
    /// The server sent a packet type a server must never send (CONNECT, SUBSCRIBE, PINGREQ, ...).
    case unexpectedPacketType(UInt8)
}
