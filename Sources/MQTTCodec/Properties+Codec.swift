import NIOCore

// MQTT 5 properties on the wire ([MQTT-2.2.2]): a Variable Byte Integer length, then (identifier, value) pairs.

// MARK: - Decoding

extension MQTTProperties {
    /// Reads a property block (length + properties) for `context`. Enforces table 2-4 (which property may appear
    /// where), the "more than once" rules and the value ranges the specification calls a Protocol Error.
    static func decode(from buffer: inout ByteBuffer, context: PropertyID.Context) throws(MQTTCodecError)
        -> MQTTProperties
    {
        let length = Int(try buffer.mqttReadVarint("property length"))
        if length == 0 { return MQTTProperties() }
        guard var block = buffer.readSlice(length: length) else {
            throw .malformed("property length \(length) runs past the remaining length")
        }
        var list: [MQTTProperty] = []
        list.reserveCapacity(4)
        var seen: UInt64 = 0  // bit n set once property id n was read (ids are < 64)
        while block.readableBytes > 0 {
            let rawID = try block.mqttReadVarint("property identifier")
            guard rawID <= UInt32(UInt8.max), let id = PropertyID(rawValue: UInt8(rawID)) else {
                throw .malformed("unknown property identifier 0x\(String(rawID, radix: 16))")
            }
            // [MQTT-2.2.2.2] "an Identifier which is not valid for its packet type" is a Malformed Packet.
            guard id.allowed(in: context) else {
                throw .malformed("property \(id) is not allowed in \(context) (table 2-4)")
            }
            let bit: UInt64 = 1 << UInt64(id.rawValue)
            if seen & bit != 0 && !id.mayRepeat(in: context) {
                throw .protocolError("property \(id) included more than once in \(context)")
            }
            seen |= bit
            list.append(try decodeValue(id, from: &block))
        }
        // "It is a Protocol Error to include Authentication Data if there is no Authentication Method"
        // (3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.4).
        let dataBit: UInt64 = 1 << UInt64(PropertyID.authenticationData.rawValue)
        let methodBit: UInt64 = 1 << UInt64(PropertyID.authenticationMethod.rawValue)
        if seen & dataBit != 0 && seen & methodBit == 0 {
            throw .protocolError("authenticationData without authenticationMethod")
        }
        return MQTTProperties(list)
    }

    private static func decodeValue(_ id: PropertyID, from b: inout ByteBuffer) throws(MQTTCodecError)
        -> MQTTProperty
    {
        switch id {
        case .payloadFormatIndicator:
            return .payloadFormatIndicator(try flag(id, &b))
        case .messageExpiryInterval:
            return .messageExpiryInterval(try b.mqttReadUInt32("messageExpiryInterval"))
        case .contentType:
            return .contentType(try b.mqttReadString("contentType"))
        case .responseTopic:
            return .responseTopic(try b.mqttReadString("responseTopic"))
        case .correlationData:
            return .correlationData(try b.mqttReadBinary("correlationData"))
        case .subscriptionIdentifier:
            let v = try b.mqttReadVarint("subscriptionIdentifier")
            // "It is a Protocol Error if the Subscription Identifier has a value of 0" (3.3.2.3.8, 3.8.2.1.2).
            guard v != 0 else { throw .protocolError("subscriptionIdentifier 0") }
            return .subscriptionIdentifier(v)
        case .sessionExpiryInterval:
            return .sessionExpiryInterval(try b.mqttReadUInt32("sessionExpiryInterval"))
        case .assignedClientIdentifier:
            return .assignedClientIdentifier(try b.mqttReadString("assignedClientIdentifier"))
        case .serverKeepAlive:
            return .serverKeepAlive(try b.mqttReadUInt16("serverKeepAlive"))
        case .authenticationMethod:
            return .authenticationMethod(try b.mqttReadString("authenticationMethod"))
        case .authenticationData:
            return .authenticationData(try b.mqttReadBinary("authenticationData"))
        case .requestProblemInformation:
            return .requestProblemInformation(try flag(id, &b))
        case .willDelayInterval:
            return .willDelayInterval(try b.mqttReadUInt32("willDelayInterval"))
        case .requestResponseInformation:
            return .requestResponseInformation(try flag(id, &b))
        case .responseInformation:
            return .responseInformation(try b.mqttReadString("responseInformation"))
        case .serverReference:
            return .serverReference(try b.mqttReadString("serverReference"))
        case .reasonString:
            return .reasonString(try b.mqttReadString("reasonString"))
        case .receiveMaximum:
            let v = try b.mqttReadUInt16("receiveMaximum")
            // "It is a Protocol Error to include the Receive Maximum value … for it to have the value 0" (3.1.2.11.3).
            guard v != 0 else { throw .protocolError("receiveMaximum 0") }
            return .receiveMaximum(v)
        case .topicAliasMaximum:
            return .topicAliasMaximum(try b.mqttReadUInt16("topicAliasMaximum"))
        case .topicAlias:
            // Topic Alias 0 is a protocol violation the broker answers with 0x94, so it is passed through.
            return .topicAlias(try b.mqttReadUInt16("topicAlias"))
        case .maximumQoS:
            return .maximumQoS(try flag(id, &b))
        case .retainAvailable:
            return .retainAvailable(try flag(id, &b))
        case .userProperty:
            let key = try b.mqttReadString("userProperty name")
            return .userProperty(key, try b.mqttReadString("userProperty value"))
        case .maximumPacketSize:
            let v = try b.mqttReadUInt32("maximumPacketSize")
            // "It is a Protocol Error to include the Maximum Packet Size … for the value to be set to zero" (3.1.2.11.4).
            guard v != 0 else { throw .protocolError("maximumPacketSize 0") }
            return .maximumPacketSize(v)
        case .wildcardSubscriptionAvailable:
            return .wildcardSubscriptionAvailable(try flag(id, &b))
        case .subscriptionIdentifierAvailable:
            return .subscriptionIdentifierAvailable(try flag(id, &b))
        case .sharedSubscriptionAvailable:
            return .sharedSubscriptionAvailable(try flag(id, &b))
        }
    }

    /// A one-byte property whose only legal values are 0 and 1 ("It is a Protocol Error to include … a value other
    /// than 0 or 1"; Maximum QoS likewise, 3.2.2.3.4).
    @inline(__always)
    private static func flag(_ id: PropertyID, _ b: inout ByteBuffer) throws(MQTTCodecError) -> UInt8 {
        let v = try b.mqttReadUInt8("property value")
        guard v <= 1 else { throw .protocolError("property \(id) has value \(v), only 0 or 1 are allowed") }
        return v
    }
}

// MARK: - Encoding

extension MQTTProperty {
    /// Bytes this property takes on the wire: identifier plus value.
    @inline(__always)
    var encodedSize: Int {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
            .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
            .sharedSubscriptionAvailable:
            return 2
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias:
            return 3
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize:
            return 5
        case .subscriptionIdentifier(let v):
            return 1 + varintSize(Int(v))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            return 1 + stringSize(s)
        case .correlationData(let d), .authenticationData(let d):
            return 3 + d.readableBytes
        case .userProperty(let k, let v):
            return 1 + stringSize(k) + stringSize(v)
        }
    }

    @inline(__always)
    func write(into b: inout ByteBuffer) {
        b.writeInteger(id.rawValue)
        switch self {
        case .payloadFormatIndicator(let v), .requestProblemInformation(let v), .requestResponseInformation(let v),
            .maximumQoS(let v), .retainAvailable(let v), .wildcardSubscriptionAvailable(let v),
            .subscriptionIdentifierAvailable(let v), .sharedSubscriptionAvailable(let v):
            b.writeInteger(v)
        case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
            b.writeInteger(v, endianness: .big)
        case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
            .maximumPacketSize(let v):
            b.writeInteger(v, endianness: .big)
        case .subscriptionIdentifier(let v):
            b.mqttWriteVarint(Int(v))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            b.mqttWriteString(s)
        case .correlationData(let d), .authenticationData(let d):
            b.mqttWriteBinary(d)
        case .userProperty(let k, let v):
            b.mqttWriteString(k)
            b.mqttWriteString(v)
        }
    }
}

extension MQTTProperties {
    /// Sum of the encoded properties, i.e. the value of the Property Length field.
    @inline(__always)
    var encodedLength: Int {
        var n = 0
        for p in list { n += p.encodedSize }
        return n
    }

    /// Writes the Property Length (`length`, from ``encodedLength``) followed by the properties.
    @inline(__always)
    func write(length: Int, into b: inout ByteBuffer) {
        b.mqttWriteVarint(length)
        for p in list { p.write(into: &b) }
    }
}
