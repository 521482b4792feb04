// BrokerTestKit — NOT FOR PRODUCTION.
import MQTTCodec
import NIOCore

/// Raw bytes of valid MQTT packets for both versions, assembled field by field from the specification (not for
/// production, and independent of ``MQTTEncoder``). Property arguments are raw property bytes without the Property
/// Length (build them with ``Wire``); they are ignored for 3.1.1.
public enum PacketBytes {
    /// A Will for ``connect(version:clientID:cleanStart:keepAlive:will:username:password:properties:)``.
    public struct Will: Sendable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: UInt8
        public var retain: Bool
        public var properties: [UInt8]
        public init(topic: String, payload: [UInt8], qos: UInt8 = 0, retain: Bool = false, properties: [UInt8] = []) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
            self.properties = properties
        }
    }

    /// CONNECT with protocol name "MQTT" and level 4 or 5.
    public static func connect(
        version: ProtocolVersion = .v5, clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60,
        will: Will? = nil, username: String? = nil, password: [UInt8]? = nil, properties: [UInt8] = []
    ) -> [UInt8] {
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if let will { flags |= 0x04 | will.qos << 3 | (will.retain ? 0x20 : 0) }
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        let v5 = version == .v5
        var w = Wire().string("MQTT").u8(version.rawValue).u8(flags).u16(keepAlive)
        if v5 { w = w.properties(properties) }
        w = w.string(clientID)
        if let will {
            if v5 { w = w.properties(will.properties) }
            w = w.string(will.topic).binary(will.payload)
        }
        if let username { w = w.string(username) }
        if let password { w = w.binary(password) }
        return RawPacket(type: .connect, body: w).bytes
    }

    /// CONNACK; `returnCode` is the 3.1.1 return code or the v5 reason code.
    public static func connack(version: ProtocolVersion = .v5, sessionPresent: Bool = false, returnCode: UInt8 = 0,
                               properties: [UInt8] = []) -> [UInt8] {
        var w = Wire().u8(sessionPresent ? 1 : 0).u8(returnCode)
        if version == .v5 { w = w.properties(properties) }
        return RawPacket(type: .connack, body: w).bytes
    }

    /// PUBLISH; `packetID` is written when given (it must be for QoS > 0).
    public static func publish(
        version: ProtocolVersion = .v5, topic: String, payload: [UInt8] = [], qos: UInt8 = 0, retain: Bool = false,
        dup: Bool = false, packetID: UInt16? = nil, properties: [UInt8] = []
    ) -> [UInt8] {
        var w = Wire().string(topic)
        if let packetID { w = w.u16(packetID) }
        if version == .v5 { w = w.properties(properties) }
        let flags = qos << 1 | (retain ? 1 : 0) | (dup ? 0x08 : 0)
        return RawPacket(type: .publish, flags: flags, body: w.raw(payload)).bytes
    }

    /// PUBACK, PUBREC, PUBREL or PUBCOMP. Without `reason` it is the 2-byte form; with `reason` but without
    /// `properties` the 3-byte v5 form; with both the full v5 form.
    public static func ack(_ type: PacketType, packetID: UInt16, reason: UInt8? = nil, properties: [UInt8]? = nil)
        -> [UInt8]
    {
        var w = Wire().u16(packetID)
        if let reason { w = w.u8(reason) }
        if let properties { w = w.properties(properties) }
        return RawPacket(type: type, flags: type == .pubrel ? 0b0010 : 0, body: w).bytes
    }

    /// SUBSCRIBE; each filter comes with its raw Subscription Options byte.
    public static func subscribe(version: ProtocolVersion = .v5, packetID: UInt16, filters: [(String, UInt8)],
                                 properties: [UInt8] = []) -> [UInt8] {
        var w = Wire().u16(packetID)
        if version == .v5 { w = w.properties(properties) }
        for (filter, options) in filters { w = w.string(filter).u8(options) }
        return RawPacket(type: .subscribe, flags: 0b0010, body: w).bytes
    }

    /// SUBACK with raw return/reason codes.
    public static func suback(version: ProtocolVersion = .v5, packetID: UInt16, codes: [UInt8],
                              properties: [UInt8] = []) -> [UInt8] {
        var w = Wire().u16(packetID)
        if version == .v5 { w = w.properties(properties) }
        return RawPacket(type: .suback, body: w.raw(codes)).bytes
    }

    /// UNSUBSCRIBE.
    public static func unsubscribe(version: ProtocolVersion = .v5, packetID: UInt16, filters: [String],
                                   properties: [UInt8] = []) -> [UInt8] {
        var w = Wire().u16(packetID)
        if version == .v5 { w = w.properties(properties) }
        for filter in filters { w = w.string(filter) }
        return RawPacket(type: .unsubscribe, flags: 0b0010, body: w).bytes
    }

    /// UNSUBACK (3.1.1: packet identifier only).
    public static func unsuback(version: ProtocolVersion = .v5, packetID: UInt16, codes: [UInt8] = [],
                                properties: [UInt8] = []) -> [UInt8] {
        var w = Wire().u16(packetID)
        if version == .v5 { w = w.properties(properties).raw(codes) }
        return RawPacket(type: .unsuback, body: w).bytes
    }

    /// PINGREQ.
    public static var pingreq: [UInt8] { [0xC0, 0x00] }
    /// PINGRESP.
    public static var pingresp: [UInt8] { [0xD0, 0x00] }

    /// DISCONNECT: empty, reason only, or reason plus properties.
    public static func disconnect(reason: UInt8? = nil, properties: [UInt8]? = nil) -> [UInt8] {
        var w = Wire()
        if let reason { w = w.u8(reason) }
        if let properties { w = w.properties(properties) }
        return RawPacket(type: .disconnect, body: w).bytes
    }

    /// AUTH (v5): empty, or reason plus properties.
    public static func auth(reason: UInt8? = nil, properties: [UInt8]? = nil) -> [UInt8] {
        var w = Wire()
        if let reason { w = w.u8(reason) }
        if let properties { w = w.properties(properties) }
        return RawPacket(type: .auth, body: w).bytes
    }
}
