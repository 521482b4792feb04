import NIOCore

// Wire primitives shared by every packet: Two Byte Integer, Four Byte Integer, Variable Byte Integer, UTF-8 Encoded
// String and Binary Data ([MQTT-1.5]). Readers throw `.malformed` when a field runs past the end of the buffer they
// read from; packet decoders always read from a slice that ends at the packet's Remaining Length, so "past the end"
// means "past the Remaining Length".

/// Largest value a Variable Byte Integer can hold (four bytes, [MQTT-1.5.5]).
let maxVarint: UInt32 = 268_435_455

/// Number of bytes the Variable Byte Integer encoding of `value` takes (1...4).
@inline(__always)
func varintSize(_ value: Int) -> Int {
    value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4
}

// MARK: - Reading

extension ByteBuffer {
    @inline(__always)
    mutating func mqttReadUInt8(_ field: StaticString) throws(MQTTCodecError) -> UInt8 {
        guard let v = readInteger(as: UInt8.self) else { throw .malformed("truncated \(field)") }
        return v
    }

    @inline(__always)
    mutating func mqttReadUInt16(_ field: StaticString) throws(MQTTCodecError) -> UInt16 {
        guard let v = readInteger(endianness: .big, as: UInt16.self) else { throw .malformed("truncated \(field)") }
        return v
    }

    @inline(__always)
    mutating func mqttReadUInt32(_ field: StaticString) throws(MQTTCodecError) -> UInt32 {
        guard let v = readInteger(endianness: .big, as: UInt32.self) else { throw .malformed("truncated \(field)") }
        return v
    }

    /// Reads a Variable Byte Integer. At most four bytes ([MQTT-1.5.5]) in the minimum number of bytes
    /// ([MQTT-1.5.5-1]); anything else is malformed.
    mutating func mqttReadVarint(_ field: StaticString) throws(MQTTCodecError) -> UInt32 {
        switch VarintPeek.peek(self, at: readerIndex) {
        case .value(let value, let length):
            moveReaderIndex(forwardBy: length)
            return value
        case .needMoreBytes:
            throw .malformed("truncated \(field)")
        case .tooLong:
            throw .malformed("\(field): variable byte integer longer than 4 bytes [MQTT-1.5.5]")
        case .notMinimal:
            throw .malformed("\(field): variable byte integer not minimally encoded [MQTT-1.5.5-1]")
        }
    }

    /// Reads a UTF-8 Encoded String: it must be well-formed UTF-8 ([MQTT-1.5.4-1]) without U+0000 ([MQTT-1.5.4-2]).
    mutating func mqttReadString(_ field: StaticString) throws(MQTTCodecError) -> String {
        let length = Int(try mqttReadUInt16(field))
        guard readableBytes >= length else { throw .malformed("truncated \(field)") }
        let result: UTF8Check = withUnsafeReadableBytes { raw in
            validatedUTF8(UnsafeRawBufferPointer(rebasing: raw[..<length]))
        }
        moveReaderIndex(forwardBy: length)
        switch result {
        case .valid(let s): return s
        case .containsNull: throw .malformed("\(field) contains U+0000 [MQTT-1.5.4-2]")
        case .invalid: throw .malformed("\(field) is not well-formed UTF-8 [MQTT-1.5.4-1]")
        }
    }

    /// Reads Binary Data (two-byte length, then bytes) as a slice sharing this buffer's storage (no copy).
    mutating func mqttReadBinary(_ field: StaticString) throws(MQTTCodecError) -> ByteBuffer {
        let length = Int(try mqttReadUInt16(field))
        guard let slice = readSlice(length: length) else { throw .malformed("truncated \(field)") }
        return slice
    }
}

/// Result of looking at a Variable Byte Integer without consuming it.
enum VarintPeek: Equatable {
    case value(UInt32, length: Int)
    case needMoreBytes(lowerBound: Int, bytesSeen: Int)
    case tooLong
    case notMinimal

    /// Decodes the Variable Byte Integer starting at `index` without moving the reader index. With minimal encoding
    /// a value still missing its last byte after `k` continuation bytes is at least `acc + 128^k`, which lets the
    /// decoder reject an oversized packet before its length has fully arrived.
    @inline(__always)
    static func peek(_ buffer: ByteBuffer, at index: Int) -> VarintPeek {
        var value: UInt32 = 0
        var shift: UInt32 = 0
        for i in 0..<4 {
            guard let byte = buffer.getInteger(at: index + i, as: UInt8.self) else {
                return .needMoreBytes(lowerBound: Int(value) + (i == 0 ? 0 : 1 << shift), bytesSeen: i)
            }
            value |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                // [MQTT-1.5.5-1] a final byte of 0 after continuation bytes means a longer encoding than needed.
                if byte == 0 && i > 0 { return .notMinimal }
                return .value(value, length: i + 1)
            }
            shift += 7
        }
        return .tooLong  // a fourth byte with the continuation bit set ([MQTT-1.5.5])
    }
}

// MARK: - UTF-8 validation

enum UTF8Check {
    case valid(String)
    case containsNull
    case invalid
}

/// Validates `bytes` as an MQTT UTF-8 string. A word-at-a-time scan looks for U+0000 and non-ASCII bytes; the
/// standard library's strict validator (which rejects overlong forms, surrogates and code points above U+10FFFF)
/// only runs when a non-ASCII byte is present.
@inline(__always)
func validatedUTF8(_ bytes: UnsafeRawBufferPointer) -> UTF8Check {
    let count = bytes.count
    if count == 0 { return .valid("") }
    var i = 0
    var high: UInt64 = 0
    let lows: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    while i + 8 <= count {
        let w = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        // Classic "has zero byte" test: non-zero iff some byte of w is 0x00.
        if (w &- lows) & ~w & highs != 0 { return .containsNull }
        high |= w
        i += 8
    }
    while i < count {
        let b = bytes[i]
        if b == 0 { return .containsNull }
        high |= UInt64(b)
        i += 1
    }
    if high & highs == 0 {
        return .valid(String(decoding: bytes, as: UTF8.self))  // pure ASCII, always valid
    }
    let validated = bytes.withMemoryRebound(to: UInt8.self) { String(validating: $0, as: UTF8.self) }
    guard let s = validated else { return .invalid }
    return .valid(s)
}

// MARK: - Writing

extension ByteBuffer {
    /// Writes a Variable Byte Integer (`value` ≤ 268,435,455).
    @inline(__always)
    mutating func mqttWriteVarint(_ value: Int) {
        precondition(value >= 0 && value <= Int(maxVarint), "MQTT variable byte integer out of range: \(value)")
        var v = value
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v > 0 { byte |= 0x80 }
            writeInteger(byte)
        } while v > 0
    }

    /// Writes a UTF-8 Encoded String. Strings longer than 65,535 bytes cannot be represented and trap.
    @inline(__always)
    mutating func mqttWriteString(_ string: String) {
        let length = string.utf8.count
        precondition(length <= 65_535, "MQTT string longer than 65535 bytes (\(length))")
        writeInteger(UInt16(truncatingIfNeeded: length), endianness: .big)
        writeString(string)
    }

    /// Writes Binary Data (two-byte length prefix). Longer than 65,535 bytes traps.
    @inline(__always)
    mutating func mqttWriteBinary(_ data: ByteBuffer) {
        let length = data.readableBytes
        precondition(length <= 65_535, "MQTT binary data longer than 65535 bytes (\(length))")
        writeInteger(UInt16(truncatingIfNeeded: length), endianness: .big)
        writeImmutableBuffer(data)
    }
}

/// Encoded size of a UTF-8 Encoded String field (length prefix included).
@inline(__always)
func stringSize(_ s: String) -> Int { 2 &+ s.utf8.count }
