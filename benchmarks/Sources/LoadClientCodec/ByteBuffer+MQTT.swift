import NIOCore

extension ByteBuffer {
    /// Writes an MQTT variable byte integer (remaining length) and returns how many bytes it took [MQTT-2.2.3].
    @discardableResult
    @inlinable
    public mutating func writeMQTTRemainingLength(_ value: Int) -> Int {
        precondition(value >= 0 && value <= 268_435_455, "remaining length out of range")
        var value = value
        var written = 0
        repeat {
            var byte = UInt8(value & 0x7F)
            value >>= 7
            if value > 0 { byte |= 0x80 }
            self.writeInteger(byte)
            written += 1
        } while value > 0
        return written
    }

    /// Writes an MQTT UTF-8 string: a two-byte big-endian length, then the bytes [MQTT-1.5.3].
    @inlinable
    public mutating func writeMQTTString(_ string: String) {
        let count = string.utf8.count
        precondition(count <= 0xFFFF, "MQTT strings are at most 65535 bytes")
        self.writeInteger(UInt16(count))
        self.writeString(string)
    }
}

/// How many bytes a remaining-length varint takes for `value`.
@inlinable
public func mqttRemainingLengthSize(_ value: Int) -> Int {
    switch value {
    case ..<128: return 1
    case ..<16_384: return 2
    case ..<2_097_152: return 3
    default: return 4
    }
}
