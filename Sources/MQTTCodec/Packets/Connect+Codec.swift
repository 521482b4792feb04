import NIOCore

// CONNECT ([MQTT-3.1]) and CONNACK ([MQTT-3.2]).

/// CONNECT Flags (3.1.2.3).
private enum ConnectFlag {
    static let reserved: UInt8 = 0x01
    static let cleanStart: UInt8 = 0x02
    static let will: UInt8 = 0x04
    static let willQoSShift: UInt8 = 3
    static let willQoSMask: UInt8 = 0x18
    static let willRetain: UInt8 = 0x20
    static let password: UInt8 = 0x40
    static let username: UInt8 = 0x80
}

// MARK: - CONNECT

extension ConnectPacket {
    static func decode(from b: inout ByteBuffer) throws(MQTTCodecError) -> ConnectPacket {
        let name = try b.mqttReadString("protocol name")
        let level = try b.mqttReadUInt8("protocol level")
        let version: ProtocolVersion
        switch name {
        case "MQTT":
            // [MQTT-3.1.2-2] unsupported level → CONNACK 0x84 (3.1.1: return code 1), then close.
            guard let v = ProtocolVersion(rawValue: level) else { throw .unsupportedProtocolVersion(level) }
            version = v
        case "MQIsdp" where level == 3:
            throw .unsupportedProtocolVersion(level)  // MQTT 3.1: refused with return code 1
        default:
            throw .malformed("protocol name \"\(name)\" level \(level) [MQTT-3.1.2-1]")
        }

        let flags = try b.mqttReadUInt8("connect flags")
        if flags & ConnectFlag.reserved != 0 { throw .malformed("connect flags reserved bit is 1 [MQTT-3.1.2-3]") }
        let hasWill = flags & ConnectFlag.will != 0
        let willQoSBits = (flags & ConnectFlag.willQoSMask) >> ConnectFlag.willQoSShift
        let willRetain = flags & ConnectFlag.willRetain != 0
        if !hasWill && willQoSBits != 0 { throw .malformed("Will QoS without Will Flag [MQTT-3.1.2-11]") }
        if !hasWill && willRetain { throw .malformed("Will Retain without Will Flag [MQTT-3.1.2-13]") }
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw .malformed("Will QoS 3 [MQTT-3.1.2-12]") }
        let hasUsername = flags & ConnectFlag.username != 0
        let hasPassword = flags & ConnectFlag.password != 0
        if version == .v311 && hasPassword && !hasUsername {
            throw .malformed("Password Flag without User Name Flag [MQTT-3.1.2-22]")
        }

        let keepAlive = try b.mqttReadUInt16("keep alive")
        let properties = try version == .v5 ? MQTTProperties.decode(from: &b, context: .connect) : MQTTProperties()
        // [MQTT-3.1.3-3] the Client Identifier is always present; it may be empty (the broker decides, 3.1.3.1).
        let clientID = try b.mqttReadString("client identifier")

        var will: WillMessage?
        if hasWill {
            let willProperties = try version == .v5 ? MQTTProperties.decode(from: &b, context: .will) : MQTTProperties()
            let topic = try b.mqttReadString("will topic")
            let payload = try b.mqttReadBinary("will payload")
            will = WillMessage(topic: topic, payload: payload, qos: willQoS, retain: willRetain,
                               properties: willProperties)
        }
        let username = try hasUsername ? b.mqttReadString("user name") : nil  // [MQTT-3.1.2-19]
        let password = try hasPassword ? b.mqttReadBinary("password") : nil  // [MQTT-3.1.2-21]
        return ConnectPacket(protocolVersion: version, cleanStart: flags & ConnectFlag.cleanStart != 0,
                             keepAlive: keepAlive, clientID: clientID, will: will, username: username,
                             password: password, properties: properties)
    }

    /// Encodes for `protocolVersion`. Note that 3.1.1 cannot carry a password without a user name
    /// ([MQTT-3.1.2-22]); such a packet is written as given and the peer will reject it.
    func encode(into buffer: inout ByteBuffer) {
        let v5 = protocolVersion == .v5
        let propLength = v5 ? properties.encodedLength : 0
        let willPropLength = v5 ? (will?.properties.encodedLength ?? 0) : 0

        // Variable header: protocol name (2 + 4), level, flags, keep alive.
        var length = 10 + (v5 ? MQTTProperties.blockSize(propLength) : 0) + stringSize(clientID)
        var flags: UInt8 = cleanStart ? ConnectFlag.cleanStart : 0
        if let will {
            flags |= ConnectFlag.will | will.qos.rawValue << ConnectFlag.willQoSShift
            if will.retain { flags |= ConnectFlag.willRetain }
            length += (v5 ? MQTTProperties.blockSize(willPropLength) : 0) + stringSize(will.topic)
                + 2 + will.payload.readableBytes
        }
        if let username {
            flags |= ConnectFlag.username
            length += stringSize(username)
        }
        if let password {
            flags |= ConnectFlag.password
            length += 2 + password.readableBytes
        }

        MQTTEncoder.writeFixedHeader(type: .connect, flags: 0, remainingLength: length, into: &buffer)
        buffer.mqttWriteString("MQTT")
        buffer.writeInteger(protocolVersion.rawValue)
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAlive, endianness: .big)
        if v5 { properties.write(length: propLength, into: &buffer) }
        buffer.mqttWriteString(clientID)
        if let will {
            if v5 { will.properties.write(length: willPropLength, into: &buffer) }
            buffer.mqttWriteString(will.topic)
            buffer.mqttWriteBinary(will.payload)
        }
        if let username { buffer.mqttWriteString(username) }
        if let password { buffer.mqttWriteBinary(password) }
    }
}

// MARK: - CONNACK

extension ConnAckPacket {
    static func decode(from b: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> ConnAckPacket {
        let ackFlags = try b.mqttReadUInt8("connect acknowledge flags")
        // Bits 7-1 are reserved and set to 0 ([MQTT-3.2.2-1]); v5 calls a non-zero value Malformed (3.2.2.1).
        if ackFlags & 0xFE != 0 { throw .malformed("CONNACK reserved flags set [MQTT-3.2.2-1]") }
        let code = try b.mqttReadUInt8("connect reason code")
        switch version {
        case .v311:
            // 6-255 are reserved ([MQTT-3.2.2.3], table 3.1).
            guard let reason = ReasonCode(v311ConnAckReturnCode: code) else {
                throw .malformed("reserved CONNACK return code \(code)")
            }
            return ConnAckPacket(sessionPresent: ackFlags & 1 != 0, reasonCode: reason)
        case .v5:
            let reason = ReasonCode(code)
            guard reason.isValid(in: .connack) else { throw .protocolError("CONNACK reason code \(reason)") }
            let properties = try MQTTProperties.decode(from: &b, context: .connack)
            return ConnAckPacket(sessionPresent: ackFlags & 1 != 0, reasonCode: reason, properties: properties)
        }
    }

    func encode(version: ProtocolVersion, into buffer: inout ByteBuffer) {
        let flags: UInt8 = sessionPresent ? 1 : 0
        switch version {
        case .v311:
            MQTTEncoder.writeFixedHeader(type: .connack, flags: 0, remainingLength: 2, into: &buffer)
            buffer.writeInteger(flags)
            buffer.writeInteger(reasonCode.v311ConnAckReturnCode)
        case .v5:
            let propLength = properties.encodedLength
            MQTTEncoder.writeFixedHeader(type: .connack, flags: 0,
                                         remainingLength: 2 + MQTTProperties.blockSize(propLength), into: &buffer)
            buffer.writeInteger(flags)
            buffer.writeInteger(reasonCode.rawValue)
            properties.write(length: propLength, into: &buffer)
        }
    }
}
