import NIOCore

// DISCONNECT ([MQTT-3.14]) and AUTH ([MQTT-3.15], v5 only).

// MARK: - DISCONNECT

extension DisconnectPacket {
    /// v3.1.1: no body. v5: Remaining Length 0 means Normal Disconnection (3.14.2.1); with fewer than 2 bytes there
    /// is no Property Length (3.14.2.2.1).
    static func decode(from b: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError)
        -> DisconnectPacket
    {
        guard version == .v5, b.readableBytes > 0 else { return DisconnectPacket() }
        let reason = ReasonCode(try b.mqttReadUInt8("reason code"))
        guard reason.isValid(in: .disconnect) else { throw .protocolError("DISCONNECT reason code \(reason)") }
        let properties = try b.readableBytes > 0 ? MQTTProperties.decode(from: &b, context: .disconnect) : []
        return DisconnectPacket(reasonCode: reason, properties: properties)
    }

    /// v3.1.1: empty. v5: empty for Normal Disconnection without properties, the reason byte alone when there are no
    /// properties, otherwise reason and properties.
    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer) {
        guard version == .v5, !(reasonCode == .normalDisconnection && properties.isEmpty) else {
            MQTTEncoder.writeFixedHeader(type: .disconnect, flags: 0, remainingLength: 0, into: &buffer)
            return
        }
        if properties.isEmpty {
            MQTTEncoder.writeFixedHeader(type: .disconnect, flags: 0, remainingLength: 1, into: &buffer)
            buffer.writeInteger(reasonCode.rawValue)
            return
        }
        let propLength = properties.encodedLength
        MQTTEncoder.writeFixedHeader(type: .disconnect, flags: 0,
                                     remainingLength: 1 + MQTTProperties.blockSize(propLength), into: &buffer)
        buffer.writeInteger(reasonCode.rawValue)
        properties.write(length: propLength, into: &buffer)
    }
}

// MARK: - AUTH

extension AuthPacket {
    /// Remaining Length 0 means Success without properties (3.15.2.1). A lone reason byte is accepted too.
    static func decode(from b: inout ByteBuffer) throws(MQTTCodecError) -> AuthPacket {
        guard b.readableBytes > 0 else { return AuthPacket() }
        let reason = ReasonCode(try b.mqttReadUInt8("reason code"))
        guard reason.isValid(in: .auth) else { throw .protocolError("AUTH reason code \(reason) [MQTT-3.15.2-1]") }
        let properties = try b.readableBytes > 0 ? MQTTProperties.decode(from: &b, context: .auth) : []
        return AuthPacket(reasonCode: reason, properties: properties)
    }

    /// Empty for Success without properties; otherwise reason code and a (possibly empty) property block.
    func encode(into buffer: inout ByteBuffer) {
        if reasonCode == .success && properties.isEmpty {
            MQTTEncoder.writeFixedHeader(type: .auth, flags: 0, remainingLength: 0, into: &buffer)
            return
        }
        let propLength = properties.encodedLength
        MQTTEncoder.writeFixedHeader(type: .auth, flags: 0,
                                     remainingLength: 1 + MQTTProperties.blockSize(propLength), into: &buffer)
        buffer.writeInteger(reasonCode.rawValue)
        properties.write(length: propLength, into: &buffer)
    }
}
