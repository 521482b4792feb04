// BrokerTestKit — NOT FOR PRODUCTION. Raw-byte builders shared by tests, fuzzers and benchmarks. They are written
// independently of MQTTEncoder so that decoder tests do not trust the code under test, and they happily produce
// invalid bytes when asked to.
import MQTTCodec
import NIOCore

/// The MQTT Variable Byte Integer encoding of `value` (not for production). Values above 268,435,455 produce a
/// (deliberately invalid) 5-byte or longer encoding; `minimal: false` pads with one extra `0x80 … 0x00` byte.
public func encodeVarint(_ value: Int, minimal: Bool = true) -> [UInt8] {
    var out: [UInt8] = []
    var v = value
    repeat {
        var byte = UInt8(v & 0x7F)
        v >>= 7
        if v > 0 || !minimal { byte |= 0x80 }
        out.append(byte)
    } while v > 0
    if !minimal { out.append(0x00) }
    return out
}

/// A chainable builder of raw field bytes (not for production): `Wire().u16(1).string("a/b").bytes`.
public struct Wire: Sendable, Hashable {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8] = []) { self.bytes = bytes }

    /// One byte.
    public func u8(_ v: UInt8) -> Wire { Wire(bytes + [v]) }
    /// Two Byte Integer, big endian.
    public func u16(_ v: UInt16) -> Wire { Wire(bytes + [UInt8(v >> 8), UInt8(v & 0xFF)]) }
    /// Four Byte Integer, big endian.
    public func u32(_ v: UInt32) -> Wire {
        Wire(bytes + [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)])
    }
    /// Variable Byte Integer.
    public func varint(_ v: Int) -> Wire { Wire(bytes + encodeVarint(v)) }
    /// UTF-8 Encoded String (two-byte length + UTF-8).
    public func string(_ s: String) -> Wire { binary(Array(s.utf8)) }
    /// Two-byte length + arbitrary bytes (Binary Data, or a deliberately invalid "string").
    public func binary(_ b: [UInt8]) -> Wire { u16(UInt16(truncatingIfNeeded: b.count)).raw(b) }
    /// Bytes as they are.
    public func raw(_ b: [UInt8]) -> Wire { Wire(bytes + b) }
    /// A v5 property block: Property Length then `properties` (raw property bytes, built with ``Wire``).
    public func properties(_ properties: [UInt8]) -> Wire { varint(properties.count).raw(properties) }
}

/// A frame with a fixed header around an arbitrary body (not for production). `remainingLength` overrides the
/// announced length to build frames whose length deliberately disagrees with the body.
public struct RawPacket: Sendable, Hashable {
    public var type: UInt8
    public var flags: UInt8
    public var body: [UInt8]
    public var remainingLength: Int?

    /// - Parameters:
    ///   - type: packet type 0–15 (0 is reserved and therefore useful for negative tests).
    ///   - flags: the low nibble of the first byte.
    public init(type: UInt8, flags: UInt8 = 0, body: [UInt8] = [], remainingLength: Int? = nil) {
        self.type = type
        self.flags = flags
        self.body = body
        self.remainingLength = remainingLength
    }

    public init(type: PacketType, flags: UInt8 = 0, body: [UInt8] = [], remainingLength: Int? = nil) {
        self.init(type: type.rawValue, flags: flags, body: body, remainingLength: remainingLength)
    }

    public init(type: PacketType, flags: UInt8 = 0, body: Wire, remainingLength: Int? = nil) {
        self.init(type: type.rawValue, flags: flags, body: body.bytes, remainingLength: remainingLength)
    }

    /// Fixed header plus body.
    public var bytes: [UInt8] { [type << 4 | (flags & 0x0F)] + encodeVarint(remainingLength ?? body.count) + body }
    /// ``bytes`` in a fresh buffer.
    public var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }
}

extension Array where Element == UInt8 {
    /// The bytes in a fresh `ByteBuffer` (not for production).
    public var byteBuffer: ByteBuffer { ByteBuffer(bytes: self) }
}
