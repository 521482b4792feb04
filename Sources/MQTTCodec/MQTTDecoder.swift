import NIOCore

/// Incremental MQTT 3.1.1 / 5.0 packet parser: a pure value type with no I/O.
///
/// - `decode` returns one packet from the front of `buffer` and moves the reader index past it, or returns nil and
///   leaves the reader index where it was when more bytes are needed. Any split of a byte stream therefore yields the
///   same packets. The fixed header (at most 5 bytes) is re-read on each call instead of being cached, so the decoder
///   holds no per-frame state and can be handed a different buffer at any time.
/// - Everything that can be judged from the fixed header is checked before the body is buffered: the packet type,
///   the fixed-header flags, the role/direction, "first packet is CONNECT", the Remaining Length encoding and the
///   maximum packet size.
/// - A body must be consumed exactly: a field running past the Remaining Length, or bytes left after the last field,
///   make the packet malformed.
/// - Payloads, passwords, Will payloads and binary properties are slices of the input buffer (no copy); see
///   ``PublishPacket/payload``.
public struct MQTTDecoder: Sendable {
    /// Which side of the connection this decoder runs on. A server decodes client-to-server packets, a client
    /// server-to-client ones ([MQTT-2.1.2] table 2-1, "Direction of flow"); a packet sent in the wrong direction
    /// is a Protocol Error.
    public enum Role: Sendable { case server, client }
    public let role: Role
    /// Largest accepted packet, fixed header included (the MQTT 5 definition of Maximum Packet Size). The default is
    /// the protocol maximum: 1 + 4 + 268,435,455.
    public var maxPacketSize: Int
    /// Server role: nil until a CONNECT has been decoded, then that CONNECT's version. Client role: the version
    /// negotiated in CONNECT, given at init.
    public var version: ProtocolVersion?

    /// - Precondition: a client-role decoder needs `version`.
    public init(role: Role, maxPacketSize: Int = 268_435_460, version: ProtocolVersion? = nil) {
        precondition(role == .server || version != nil, "MQTTDecoder(role: .client) needs the protocol version")
        self.role = role
        self.maxPacketSize = maxPacketSize
        self.version = version
    }

    /// Decodes the next packet from the front of `buffer`, or returns nil (reader index untouched) if the packet
    /// is not complete yet. After a thrown error the connection must be closed; the buffer is left as it was.
    public mutating func decode(_ buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        let type = try validateFixedHeaderByte(first)

        let remaining: Int
        let headerLength: Int
        switch VarintPeek.peek(buffer, at: start + 1) {
        case .value(let value, let length):
            remaining = Int(value)
            headerLength = 1 + length
        case .needMoreBytes(let lowerBound, let bytesSeen):
            // The length is not complete, but it can already be too large.
            let minimum = 1 + (bytesSeen + 1) + lowerBound
            if minimum > maxPacketSize { throw .packetTooLarge(size: minimum, limit: maxPacketSize) }
            return nil
        case .tooLong:
            throw .malformed("Remaining Length longer than 4 bytes [MQTT-1.5.5] [MQTT-2.2.3]")
        case .notMinimal:
            throw .malformed("Remaining Length not minimally encoded [MQTT-1.5.5-1]")
        }

        let total = headerLength + remaining
        // Checked before the body is buffered, so an oversized announcement fails after its header alone.
        guard total <= maxPacketSize else { throw .packetTooLarge(size: total, limit: maxPacketSize) }
        guard buffer.readableBytes >= total else { return nil }

        var body = buffer.getSlice(at: start + headerLength, length: remaining)!
        let packet = try decodeBody(type: type, flags: first & 0x0F, body: &body)
        guard body.readableBytes == 0 else {
            throw .malformed("\(body.readableBytes) unexpected byte(s) after the last field of \(type)")
        }
        buffer.moveReaderIndex(forwardBy: total)
        return packet
    }

    // MARK: - Fixed header

    /// Validates byte 1 of the fixed header: packet type, direction, "CONNECT first" and flags.
    @inline(__always)
    private func validateFixedHeaderByte(_ byte: UInt8) throws(MQTTCodecError) -> PacketType {
        guard let type = PacketType(rawValue: byte >> 4) else {
            throw .malformed("reserved packet type 0 [MQTT-2.1.2]")
        }
        if role == .server && version == nil && type != .connect {
            throw .protocolError("first packet must be CONNECT, got \(type) [MQTT-3.1.0-1]")
        }
        if type == .auth && version == .v311 {
            throw .malformed("packet type 15 is reserved in MQTT 3.1.1 [MQTT-2.2.1]")
        }
        switch (type, role) {
        case (.connect, .client), (.subscribe, .client), (.unsubscribe, .client), (.pingreq, .client):
            throw .protocolError("\(type) is only sent from client to server")
        case (.connack, .server), (.suback, .server), (.unsuback, .server), (.pingresp, .server):
            throw .protocolError("\(type) is only sent from server to client")
        default:
            break
        }
        let flags = byte & 0x0F
        switch type {
        case .publish:
            let qos = (flags >> 1) & 0x03
            if qos == 3 { throw .malformed("PUBLISH with QoS 3 [MQTT-3.3.1-4]") }
            if qos == 0 && flags & 0x08 != 0 { throw .malformed("PUBLISH with QoS 0 and DUP 1 [MQTT-3.3.1-2]") }
        case .pubrel, .subscribe, .unsubscribe:
            // [MQTT-2.1.3-1] (3.1.1: [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1])
            if flags != 0b0010 { throw .malformed("\(type) fixed header flags must be 0010 [MQTT-2.1.3-1]") }
        default:
            if flags != 0 { throw .malformed("\(type) fixed header flags must be 0000 [MQTT-2.1.3-1]") }
        }
        return type
    }

    // MARK: - Body dispatch

    private mutating func decodeBody(type: PacketType, flags: UInt8, body: inout ByteBuffer)
        throws(MQTTCodecError) -> MQTTPacket
    {
        if type == .connect {
            let connect = try ConnectPacket.decode(from: &body)
            // Only the first CONNECT fixes the version; a second one is decoded for the broker to reject.
            if version == nil { version = connect.protocolVersion }
            return .connect(connect)
        }
        // Server role: validateFixedHeaderByte only lets CONNECT through while version is nil; client role: set in init.
        guard let version else { throw .protocolError("first packet must be CONNECT [MQTT-3.1.0-1]") }
        switch type {
        case .connect:
            preconditionFailure("handled above")
        case .connack:
            return .connack(try ConnAckPacket.decode(from: &body, version: version))
        case .publish:
            return .publish(try PublishPacket.decode(from: &body, flags: flags, version: version))
        case .puback:
            return .puback(try PubAckPacket.decode(from: &body, type: type, version: version))
        case .pubrec:
            return .pubrec(try PubAckPacket.decode(from: &body, type: type, version: version))
        case .pubrel:
            return .pubrel(try PubAckPacket.decode(from: &body, type: type, version: version))
        case .pubcomp:
            return .pubcomp(try PubAckPacket.decode(from: &body, type: type, version: version))
        case .subscribe:
            return .subscribe(try SubscribePacket.decode(from: &body, version: version))
        case .suback:
            return .suback(try SubAckPacket.decode(from: &body, version: version))
        case .unsubscribe:
            return .unsubscribe(try UnsubscribePacket.decode(from: &body, version: version))
        case .unsuback:
            return .unsuback(try UnsubAckPacket.decode(from: &body, version: version))
        case .pingreq:
            return .pingreq  // any body byte is caught by the "consumed exactly" check
        case .pingresp:
            return .pingresp
        case .disconnect:
            return .disconnect(try DisconnectPacket.decode(from: &body, version: version))
        case .auth:
            return .auth(try AuthPacket.decode(from: &body))
        }
    }
}
