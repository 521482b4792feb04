import NIOCore

/// MQTT 3.1.1 / 5.0 packet serializer.
///
/// Each packet's Remaining Length is computed first (properties included, without an intermediate buffer), then
/// the capacity is reserved once and the fixed header and body are written straight into the output buffer.
///
/// For MQTT 3.1.1 the v5-only fields are dropped: properties, the reason codes of PUBACK/PUBREC/PUBREL/PUBCOMP,
/// DISCONNECT and UNSUBACK; CONNACK and SUBACK codes go through ``ReasonCode/v311ConnAckReturnCode`` and
/// ``ReasonCode/v311SubAckReturnCode``. AUTH does not exist in 3.1.1 and traps.
///
/// The caller passes valid packets: a string or binary field over 65,535 bytes, or a packet over the protocol
/// maximum, traps with a precondition message. Nothing else is checked.
public enum MQTTEncoder {
    /// Appends the encoding of `packet` for `version` to `buffer`.
    public static func encode(_ packet: MQTTPacket, version: ProtocolVersion, into buffer: inout ByteBuffer) {
        switch packet {
        case .connect(let p): p.encode(into: &buffer)  // a CONNECT carries its own protocol level
        case .connack(let p): p.encode(version: version, into: &buffer)
        case .publish(let p): p.encode(version: version, into: &buffer, includePayload: true)
        case .puback(let p): p.encode(type: .puback, version: version, into: &buffer)
        case .pubrec(let p): p.encode(type: .pubrec, version: version, into: &buffer)
        case .pubrel(let p): p.encode(type: .pubrel, version: version, into: &buffer)
        case .pubcomp(let p): p.encode(type: .pubcomp, version: version, into: &buffer)
        case .subscribe(let p): p.encode(version: version, into: &buffer)
        case .suback(let p): p.encode(version: version, into: &buffer)
        case .unsubscribe(let p): p.encode(version: version, into: &buffer)
        case .unsuback(let p): p.encode(version: version, into: &buffer)
        case .pingreq: writeFixedHeader(type: .pingreq, flags: 0, remainingLength: 0, into: &buffer)
        case .pingresp: writeFixedHeader(type: .pingresp, flags: 0, remainingLength: 0, into: &buffer)
        case .disconnect(let p): p.encode(version: version, into: &buffer)
        case .auth(let p):
            precondition(version == .v5, "AUTH does not exist in MQTT 3.1.1")
            p.encode(into: &buffer)
        }
    }

    /// Appends everything of a PUBLISH except its payload: the fixed header (whose Remaining Length counts the
    /// payload) and the variable header. Writing `packet.payload` right after, e.g. as a second channel write,
    /// gives the same bytes as ``encode(_:version:into:)`` without copying the payload, which suits fan-out.
    public static func encodePublishHeader(_ packet: PublishPacket, version: ProtocolVersion,
                                           into buffer: inout ByteBuffer) {
        packet.encode(version: version, into: &buffer, includePayload: false)
    }

    /// Writes the fixed header and reserves room for it plus `bodyBytes` (default: the whole Remaining Length).
    @inline(__always)
    static func writeFixedHeader(type: PacketType, flags: UInt8, remainingLength: Int, into buffer: inout ByteBuffer,
                                 reserving bodyBytes: Int? = nil) {
        precondition(remainingLength <= Int(maxVarint), "MQTT packet too large: remaining length \(remainingLength)")
        buffer.reserveCapacity(minimumWritableBytes: 1 + varintSize(remainingLength) + (bodyBytes ?? remainingLength))
        buffer.writeInteger(type.rawValue << 4 | flags)
        buffer.mqttWriteVarint(remainingLength)
    }
}

extension MQTTProperties {
    /// Size of a property block (Property Length field plus properties) given its ``encodedLength``.
    @inline(__always)
    static func blockSize(_ length: Int) -> Int { varintSize(length) + length }
}
