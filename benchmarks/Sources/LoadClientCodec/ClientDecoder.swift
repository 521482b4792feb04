import NIOCore

/// Incremental parser for packets a broker sends to an MQTT 3.1.1 client.
///
/// Rules: a fixed header byte, a 1–4 byte remaining length [MQTT-2.2.3], then the body. The size limit and the
/// fixed-header flags are checked before the body is buffered, so a hostile length cannot make the client buffer it.
public struct ClientPacketParser: Sendable {
    /// Largest packet (whole frame) accepted.
    public let maximumPacketSize: Int

    public init(maximumPacketSize: Int = 1 << 20) {
        self.maximumPacketSize = maximumPacketSize
    }

    /// Decodes one packet from the front of `buffer`, or returns nil and consumes nothing when it is incomplete.
    public func parse(_ buffer: inout ByteBuffer) throws -> ServerPacket? {
        guard let (first, remaining, headerSize) = try self.peekFixedHeader(buffer) else { return nil }
        guard headerSize + remaining <= buffer.readableBytes else { return nil }
        buffer.moveReaderIndex(forwardBy: headerSize)
        // The body is sliced off first, so a malformed body never desynchronises the stream.
        var body = buffer.readSlice(length: remaining)!
        return try Self.decodeBody(type: first >> 4, flags: first & 0x0F, body: &body)
    }

    private func peekFixedHeader(_ buffer: ByteBuffer) throws -> (UInt8, Int, Int)? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return nil }
        var value = 0
        var multiplier = 1
        var index = 1
        while true {
            guard index <= 4 else { throw ClientCodecError.malformedRemainingLength }
            guard let byte = buffer.getInteger(at: buffer.readerIndex + index, as: UInt8.self) else { return nil }
            value += Int(byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if byte & 0x80 == 0 { break }
        }
        guard index + value <= self.maximumPacketSize else { throw ClientCodecError.packetTooLarge(index + value) }
        try Self.validateFlags(type: first >> 4, flags: first & 0x0F)
        return (first, value, index)
    }

    /// Reserved fixed-header flags [MQTT-2.2.2-1, MQTT-2.2.2-2]; PUBLISH QoS 3 is malformed [MQTT-3.3.1-4].
    private static func validateFlags(type: UInt8, flags: UInt8) throws {
        switch type {
        case ControlPacketType.publish.rawValue:
            guard (flags >> 1) & 0x03 != 3 else { throw ClientCodecError.malformedPacket(type: type) }
        case 6:  // PUBREL has flags 0b0010
            guard flags == 0x02 else { throw ClientCodecError.malformedPacket(type: type) }
        case ControlPacketType.connack.rawValue, ControlPacketType.puback.rawValue, 5, 7,
            ControlPacketType.suback.rawValue, ControlPacketType.unsuback.rawValue,
            ControlPacketType.pingresp.rawValue:
            guard flags == 0 else { throw ClientCodecError.malformedPacket(type: type) }
        default:
            // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT and 0/15 never travel server → client.
            throw ClientCodecError.unexpectedPacketType(type)
        }
    }

    private static func decodeBody(type: UInt8, flags: UInt8, body: inout ByteBuffer) throws -> ServerPacket {
        let malformed = ClientCodecError.malformedPacket(type: type)
        switch type {
        case ControlPacketType.connack.rawValue:
            guard body.readableBytes == 2, let ack = body.readInteger(as: UInt8.self),
                let code = body.readInteger(as: UInt8.self), ack & 0xFE == 0
            else { throw malformed }
            return .connack(sessionPresent: ack == 1, returnCode: code)
        case ControlPacketType.publish.rawValue:
            let qos = (flags >> 1) & 0x03
            guard let topicLength = body.readInteger(as: UInt16.self),
                let topic = body.readSlice(length: Int(topicLength))
            else { throw malformed }
            var packetID: UInt16?
            if qos > 0 {
                guard let id = body.readInteger(as: UInt16.self), id != 0 else { throw malformed }  // [MQTT-2.3.1-1]
                packetID = id
            }
            return .publish(
                qos: qos,
                retain: flags & 0x01 != 0,
                dup: flags & 0x08 != 0,
                packetID: packetID,
                topic: topic,
                payload: body
            )
        case ControlPacketType.puback.rawValue:
            guard body.readableBytes == 2, let id = body.readInteger(as: UInt16.self) else { throw malformed }
            return .puback(packetID: id)
        case ControlPacketType.suback.rawValue:
            guard body.readableBytes >= 3, let id = body.readInteger(as: UInt16.self) else { throw malformed }
            return .suback(packetID: id, returnCodes: body.readBytes(length: body.readableBytes) ?? [])
        case ControlPacketType.pingresp.rawValue:
            guard body.readableBytes == 0 else { throw malformed }
            return .pingresp
        default:
            return .other(type: type, flags: flags)
        }
    }
}

/// The parser as a pipeline decoder: wrap it in `ByteToMessageHandler`.
public struct ClientPacketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ServerPacket

    private let parser: ClientPacketParser

    public init(maximumPacketSize: Int = 1 << 20) {
        self.parser = ClientPacketParser(maximumPacketSize: maximumPacketSize)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ServerPacket? {
        try self.parser.parse(&buffer)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ServerPacket? {
        try self.parser.parse(&buffer)
    }
}
