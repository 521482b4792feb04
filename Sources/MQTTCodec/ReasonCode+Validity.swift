extension ReasonCode {
    /// Whether this MQTT 5 reason code may appear in a packet of `type` (the per-packet reason code tables of
    /// sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1 and 3.15.2.1). The decoder
    /// rejects any other code as a Protocol Error; packets without reason codes return false.
    public func isValid(in type: PacketType) -> Bool {
        switch type {
        case .connack:
            switch rawValue {
            case 0x00, 0x80...0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99...0x9D, 0x9F: return true
            default: return false
            }
        case .puback, .pubrec:  // [MQTT-3.4.2-1], [MQTT-3.5.2-1]
            switch rawValue {
            case 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99: return true
            default: return false
            }
        case .pubrel, .pubcomp:  // [MQTT-3.6.2-1], [MQTT-3.7.2-1]
            return rawValue == 0x00 || rawValue == 0x92
        case .suback:  // [MQTT-3.9.3-2]
            switch rawValue {
            case 0x00...0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2: return true
            default: return false
            }
        case .unsuback:  // [MQTT-3.11.3-2]
            switch rawValue {
            case 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91: return true
            default: return false
            }
        case .disconnect:  // [MQTT-3.14.2-1]
            switch rawValue {
            case 0x00, 0x04, 0x80...0x83, 0x87, 0x89, 0x8B, 0x8D...0x90, 0x93...0xA2: return true
            default: return false
            }
        case .auth:  // [MQTT-3.15.2-1]
            return rawValue == 0x00 || rawValue == 0x18 || rawValue == 0x19
        case .connect, .publish, .subscribe, .unsubscribe, .pingreq, .pingresp:
            return false
        }
    }

    /// Maps a MQTT 3.1.1 CONNACK return code to its MQTT 5 reason: 0→0x00, 1→0x84, 2→0x85, 3→0x88, 4→0x86,
    /// 5→0x87 (inverse of ``v311ConnAckReturnCode``). Nil for the reserved values 6–255.
    public init?(v311ConnAckReturnCode code: UInt8) {
        switch code {
        case 0: self = .success
        case 1: self = .unsupportedProtocolVersion
        case 2: self = .clientIdentifierNotValid
        case 3: self = .serverUnavailable
        case 4: self = .badUserNameOrPassword
        case 5: self = .notAuthorized
        default: return nil
        }
    }
}
