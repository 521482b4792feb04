import NIOCore

// SUBSCRIBE ([MQTT-3.8]), SUBACK ([MQTT-3.9]), UNSUBSCRIBE ([MQTT-3.10]) and UNSUBACK ([MQTT-3.11]).

/// Reads a non-zero packet identifier ([MQTT-2.2.1-3]).
@inline(__always)
private func readNonZeroPacketID(_ b: inout ByteBuffer, _ type: PacketType) throws(MQTTCodecError) -> UInt16 {
    let id = try b.mqttReadUInt16("packet identifier")
    guard id != 0 else { throw .protocolError("\(type) with packet identifier 0 [MQTT-2.2.1-3]") }
    return id
}

// MARK: - SUBSCRIBE

extension SubscribePacket {
    static func decode(from b: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> SubscribePacket {
        let id = try readNonZeroPacketID(&b, .subscribe)
        let properties = try version == .v5 ? MQTTProperties.decode(from: &b, context: .subscribe) : MQTTProperties()
        var subscriptions: [TopicSubscription] = []
        while b.readableBytes > 0 {
            let filter = try b.mqttReadString("topic filter")
            let options = try SubscriptionOptions.decode(try b.mqttReadUInt8("subscription options"), version: version)
            subscriptions.append(TopicSubscription(filter: filter, options: options))
        }
        if subscriptions.isEmpty { throw .protocolError("SUBSCRIBE without topic filter [MQTT-3.8.3-3]") }
        return SubscribePacket(packetID: id, subscriptions: subscriptions, properties: properties)
    }

    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer) {
        let v5 = version == .v5
        let propLength = v5 ? properties.encodedLength : 0
        var length = 2 + (v5 ? MQTTProperties.blockSize(propLength) : 0)
        for s in subscriptions { length += stringSize(s.filter) + 1 }
        MQTTEncoder.writeFixedHeader(type: .subscribe, flags: 0b0010, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetID, endianness: .big)
        if v5 { properties.write(length: propLength, into: &buffer) }
        for s in subscriptions {
            buffer.mqttWriteString(s.filter)
            buffer.writeInteger(s.options.encoded(version: version))
        }
    }
}

extension SubscriptionOptions {
    /// Subscription Options byte (3.8.3.1): bits 0-1 QoS, 2 No Local, 3 Retain As Published, 4-5 Retain Handling.
    static func decode(_ byte: UInt8, version: ProtocolVersion) throws(MQTTCodecError) -> SubscriptionOptions {
        switch version {
        case .v311:
            // [MQTT-3-8.3-4]: reserved bits non-zero or QoS 3 is malformed.
            if byte & 0xFC != 0 { throw .malformed("subscription options reserved bits set [MQTT-3.8.3-4]") }
            guard let qos = QoS(rawValue: byte) else { throw .malformed("requested QoS 3 [MQTT-3.8.3-4]") }
            return SubscriptionOptions(qos: qos)
        case .v5:
            if byte & 0xC0 != 0 { throw .malformed("subscription options reserved bits set [MQTT-3.8.3-5]") }
            // v5 3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3".
            guard let qos = QoS(rawValue: byte & 0x03) else { throw .protocolError("requested QoS 3 (3.8.3.1)") }
            // v5 3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
            guard let handling = RetainHandling(rawValue: (byte >> 4) & 0x03) else {
                throw .protocolError("Retain Handling 3 (3.8.3.1)")
            }
            return SubscriptionOptions(qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0,
                                       retainHandling: handling)
        }
    }

    @inline(__always)
    func encoded(version: ProtocolVersion) -> UInt8 {
        guard version == .v5 else { return qos.rawValue }
        var byte = qos.rawValue | retainHandling.rawValue << 4
        if noLocal { byte |= 0x04 }
        if retainAsPublished { byte |= 0x08 }
        return byte
    }
}

// MARK: - SUBACK

extension SubAckPacket {
    static func decode(from b: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> SubAckPacket {
        let id = try b.mqttReadUInt16("packet identifier")
        let properties = try version == .v5 ? MQTTProperties.decode(from: &b, context: .suback) : MQTTProperties()
        var codes: [ReasonCode] = []
        codes.reserveCapacity(b.readableBytes)
        while let raw = b.readInteger(as: UInt8.self) {
            let code = ReasonCode(raw)
            switch version {
            case .v311:
                // [MQTT-3.9.3-2] only 0x00, 0x01, 0x02 and 0x80 are defined.
                guard raw <= 2 || raw == 0x80 else { throw .malformed("reserved SUBACK return code \(code) [MQTT-3.9.3-2]") }
            case .v5:
                guard code.isValid(in: .suback) else { throw .protocolError("SUBACK reason code \(code)") }
            }
            codes.append(code)
        }
        return SubAckPacket(packetID: id, reasonCodes: codes, properties: properties)
    }

    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer) {
        let v5 = version == .v5
        let propLength = v5 ? properties.encodedLength : 0
        let length = 2 + (v5 ? MQTTProperties.blockSize(propLength) : 0) + reasonCodes.count
        MQTTEncoder.writeFixedHeader(type: .suback, flags: 0, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetID, endianness: .big)
        if v5 { properties.write(length: propLength, into: &buffer) }
        for code in reasonCodes { buffer.writeInteger(v5 ? code.rawValue : code.v311SubAckReturnCode) }
    }
}

// MARK: - UNSUBSCRIBE

extension UnsubscribePacket {
    static func decode(from b: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError)
        -> UnsubscribePacket
    {
        let id = try readNonZeroPacketID(&b, .unsubscribe)
        let properties = try version == .v5 ? MQTTProperties.decode(from: &b, context: .unsubscribe) : MQTTProperties()
        var filters: [String] = []
        while b.readableBytes > 0 { filters.append(try b.mqttReadString("topic filter")) }
        if filters.isEmpty { throw .protocolError("UNSUBSCRIBE without topic filter [MQTT-3.10.3-2]") }
        return UnsubscribePacket(packetID: id, filters: filters, properties: properties)
    }

    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer) {
        let v5 = version == .v5
        let propLength = v5 ? properties.encodedLength : 0
        var length = 2 + (v5 ? MQTTProperties.blockSize(propLength) : 0)
        for f in filters { length += stringSize(f) }
        MQTTEncoder.writeFixedHeader(type: .unsubscribe, flags: 0b0010, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetID, endianness: .big)
        if v5 { properties.write(length: propLength, into: &buffer) }
        for f in filters { buffer.mqttWriteString(f) }
    }
}

// MARK: - UNSUBACK

extension UnsubAckPacket {
    /// 3.1.1 UNSUBACK is just a packet identifier; v5 adds properties and one reason code per filter.
    static func decode(from b: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> UnsubAckPacket {
        let id = try b.mqttReadUInt16("packet identifier")
        guard version == .v5 else { return UnsubAckPacket(packetID: id) }
        let properties = try MQTTProperties.decode(from: &b, context: .unsuback)
        var codes: [ReasonCode] = []
        codes.reserveCapacity(b.readableBytes)
        while let raw = b.readInteger(as: UInt8.self) {
            let code = ReasonCode(raw)
            guard code.isValid(in: .unsuback) else { throw .protocolError("UNSUBACK reason code \(code)") }
            codes.append(code)
        }
        return UnsubAckPacket(packetID: id, reasonCodes: codes, properties: properties)
    }

    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer) {
        guard version == .v5 else {
            MQTTEncoder.writeFixedHeader(type: .unsuback, flags: 0, remainingLength: 2, into: &buffer)
            buffer.writeInteger(packetID, endianness: .big)
            return
        }
        let propLength = properties.encodedLength
        let length = 2 + MQTTProperties.blockSize(propLength) + reasonCodes.count
        MQTTEncoder.writeFixedHeader(type: .unsuback, flags: 0, remainingLength: length, into: &buffer)
        buffer.writeInteger(packetID, endianness: .big)
        properties.write(length: propLength, into: &buffer)
        for code in reasonCodes { buffer.writeInteger(code.rawValue) }
    }
}
