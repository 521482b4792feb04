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

    /// The broker's hot path. The fixed header, Topic Name, Packet Identifier and an empty Property Length are
    /// written with one raw-pointer write (one capacity and uniqueness check instead of one per field); properties
    /// and payload follow.
    @inline(__always)
    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer, includePayload: Bool) {
        let v5 = version == .v5
        let propLength = v5 ? properties.encodedLength : 0
        let hasID = qos != .atMostOnce
        let topicLength = topic.utf8.count
        precondition(topicLength <= 65_535, "MQTT topic name longer than 65535 bytes (\(topicLength))")
        let headerBody = 2 + topicLength + (hasID ? 2 : 0) + (v5 ? MQTTProperties.blockSize(propLength) : 0)
        let remaining = headerBody + payload.readableBytes
        precondition(remaining <= Int(maxVarint), "MQTT packet too large: remaining length \(remaining)")
        var first = PacketType.publish.rawValue << 4 | qos.rawValue << 1
        if retain { first |= 0x01 }
        if dup { first |= 0x08 }
        // [MQTT-2.2.1-2]: a QoS > 0 PUBLISH needs an identifier; a missing one is written as 0 (invalid).
        let id = packetID ?? 0
        let emptyProperties = v5 && propLength == 0
        // Without properties to write in between, the payload joins the raw write too.
        let inlinePayload = includePayload && (!v5 || emptyProperties)
        let payloadLength = payload.readableBytes
        let rawLength = 1 + varintSize(remaining) + 2 + topicLength + (hasID ? 2 : 0) + (emptyProperties ? 1 : 0)
            + (inlinePayload ? payloadLength : 0)
        buffer.reserveCapacity(minimumWritableBytes: 1 + varintSize(remaining) + (includePayload ? remaining : headerBody))

        let wroteRaw: Int? = topic.utf8.withContiguousStorageIfAvailable { utf8 in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: rawLength) { out in
                out[0] = first
                var i = 1
                var v = remaining
                repeat {  // Remaining Length, [MQTT-1.5.5]
                    out[i] = UInt8(truncatingIfNeeded: v & 0x7F) | (v > 0x7F ? 0x80 : 0)
                    v >>= 7
                    i += 1
                } while v > 0
                out[i] = UInt8(truncatingIfNeeded: topicLength >> 8)
                out[i + 1] = UInt8(truncatingIfNeeded: topicLength)
                i += 2
                if topicLength > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: out[i..<(i + topicLength)])
                        .copyMemory(from: UnsafeRawBufferPointer(utf8))
                    i += topicLength
                }
                if hasID {
                    out[i] = UInt8(truncatingIfNeeded: id >> 8)
                    out[i + 1] = UInt8(truncatingIfNeeded: id)
                    i += 2
                }
                if emptyProperties {
                    out[i] = 0
                    i += 1
                }
                if inlinePayload {
                    payload.withUnsafeReadableBytes { bytes in
                        UnsafeMutableRawBufferPointer(rebasing: out[i...]).copyMemory(from: bytes)
                    }
                    i += payloadLength
                }
                return i
            }
        }
        if wroteRaw == nil {  // a non-contiguous (bridged) String: write field by field
            MQTTEncoder.writeFixedHeader(type: .publish, flags: first & 0x0F, remainingLength: remaining, into: &buffer,
                                         reserving: includePayload ? nil : headerBody)
            buffer.mqttWriteString(topic)
            if hasID { buffer.writeInteger(id, endianness: .big) }
            if emptyProperties { buffer.writeInteger(UInt8(0)) }
        }
        if v5 && !emptyProperties { properties.write(length: propLength, into: &buffer) }
        if includePayload && (wroteRaw == nil || !inlinePayload) { buffer.writeImmutableBuffer(payload) }
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
