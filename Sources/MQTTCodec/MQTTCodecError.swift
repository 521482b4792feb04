/// Everything the decoder can reject. Each case maps to exactly one MQTT 5 reason code (``reasonCode``), used for the
/// DISCONNECT (or CONNACK, before the session is up) that the broker sends before closing; 3.1.1 connections are
/// simply closed ([MQTT-4.8.0-1], [MQTT-4.13.1-1]).
public enum MQTTCodecError: Error, Hashable, Sendable {
    /// The bytes do not form a valid packet: bad remaining length, truncated field, invalid UTF-8, U+0000, a
    /// reserved bit set, a fixed-header flag combination the spec forbids. → 0x81
    case malformed(String)
    /// The packet is well formed but breaks a protocol rule (duplicate property, property not allowed here,
    /// first packet not CONNECT, packet id 0, empty SUBSCRIBE, …). → 0x82
    case protocolError(String)
    /// The Remaining Length announces more than the maximum packet size; detected before the body is buffered. → 0x95
    case packetTooLarge(size: Int, limit: Int)
    /// CONNECT with a protocol name/level we do not speak. → CONNACK 0x84 (3.1.1: return code 1)
    case unsupportedProtocolVersion(UInt8)

    public var reasonCode: ReasonCode {
        switch self {
        case .malformed: return .malformedPacket
        case .protocolError: return .protocolError
        case .packetTooLarge: return .packetTooLarge
        case .unsupportedProtocolVersion: return .unsupportedProtocolVersion
        }
    }
}
