import NIOCore

// PUBLISH ([MQTT-3.3]) and PUBACK / PUBREC / PUBREL / PUBCOMP ([MQTT-3.4]–[MQTT-3.7]).

// MARK: - PUBLISH

extension PublishPacket {
    /// `flags` were validated with the fixed header (QoS 3 and DUP on QoS 0 are already rejected).
    @inline(__always)
    static func decode(from b: inout ByteBuffer, flags: UInt8, version: ProtocolVersion) throws(MQTTCodecError)
        -> PublishPacket
    {
        let qos = QoS(rawValue: (flags >> 1) & 0x03)!
        // Wildcards in or emptiness of the Topic Name ([MQTT-3.3.2-2], [MQTT-4.7.3-1]) are left to the broker,
        // which answers v5 clients with 0x90 Topic Name Invalid (or resolves a Topic Alias).
        let topic = try b.mqttReadString("topic name")
        var packetID: UInt16?
        if qos != .atMostOnce {  // [MQTT-2.2.1-2] a packet identifier only when QoS > 0
            let id = try b.mqttReadUInt16("packet identifier")
            guard id != 0 else { throw .protocolError("PUBLISH with packet identifier 0 [MQTT-2.2.1-3]") }
            packetID = id
        }
        let properties = try version == .v5 ? MQTTProperties.decode(from: &b, context: .publish) : MQTTProperties()
        // The rest of the body is the payload ([MQTT-3.3.3]): a zero-copy slice.
        let payload = b.readSlice(length: b.readableBytes)!
        return PublishPacket(topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0,
                             dup: flags & 0x08 != 0, packetID: packetID, properties: properties)
    }

    @inline(__always)
    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer, includePayload: Bool) {
        let v5 = version == .v5
        let propLength = v5 ? properties.encodedLength : 0
        let hasID = qos != .atMostOnce
        let headerBody = stringSize(topic) + (hasID ? 2 : 0) + (v5 ? MQTTProperties.blockSize(propLength) : 0)
        let payloadLength = payload.readableBytes
        var flags = qos.rawValue << 1
        if retain { flags |= 0x01 }
        if dup { flags |= 0x08 }
        MQTTEncoder.writeFixedHeader(type: .publish, flags: flags, remainingLength: headerBody + payloadLength,
                                     into: &buffer, reserving: includePayload ? nil : headerBody)
        buffer.mqttWriteString(topic)
        if hasID {
            // [MQTT-2.2.1-2]: a QoS > 0 PUBLISH needs an identifier; a missing one is written as 0 (invalid).
            buffer.writeInteger(packetID ?? 0, endianness: .big)
        }
        if v5 { properties.write(length: propLength, into: &buffer) }
        if includePayload { buffer.writeImmutableBuffer(payload) }
    }
}

// MARK: - PUBACK / PUBREC / PUBREL / PUBCOMP

extension PubAckPacket {
    /// v3.1.1: exactly a packet identifier. v5: Remaining Length 2 means Success without properties; 3 means a
    /// reason code without properties; 4 or more adds a property block (3.4.2.1, 3.4.2.2.1).
    static func decode(from b: inout ByteBuffer, type: PacketType, version: ProtocolVersion) throws(MQTTCodecError)
        -> PubAckPacket
    {
        let id = try b.mqttReadUInt16("packet identifier")
        guard version == .v5, b.readableBytes > 0 else { return PubAckPacket(packetID: id) }
        let reason = ReasonCode(try b.mqttReadUInt8("reason code"))
        guard reason.isValid(in: type) else { throw .protocolError("\(type) reason code \(reason)") }
        let properties = try b.readableBytes > 0 ? MQTTProperties.decode(from: &b, context: .pubAck) : []
        return PubAckPacket(packetID: id, reasonCode: reason, properties: properties)
    }

    /// Short forms for v5: 2 bytes for Success without properties, 3 bytes for any other reason without properties.
    @inline(__always)
    func encode(type: PacketType, version: ProtocolVersion, into buffer: inout ByteBuffer) {
        let flags: UInt8 = type == .pubrel ? 0b0010 : 0  // [MQTT-3.6.1-1]
        guard version == .v5, !(reasonCode == .success && properties.isEmpty) else {
            MQTTEncoder.writeFixedHeader(type: type, flags: flags, remainingLength: 2, into: &buffer)
            buffer.writeInteger(packetID, endianness: .big)
            return
        }
        if properties.isEmpty {
            MQTTEncoder.writeFixedHeader(type: type, flags: flags, remainingLength: 3, into: &buffer)
            buffer.writeInteger(packetID, endianness: .big)
            buffer.writeInteger(reasonCode.rawValue)
            return
        }
        let propLength = properties.encodedLength
        MQTTEncoder.writeFixedHeader(type: type, flags: flags,
                                     remainingLength: 3 + MQTTProperties.blockSize(propLength), into: &buffer)
        buffer.writeInteger(packetID, endianness: .big)
        buffer.writeInteger(reasonCode.rawValue)
        properties.write(length: propLength, into: &buffer)
    }
}
