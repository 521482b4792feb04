/// Why bytes could not be read back (internal: callers map it to their own error).
struct BinaryReadError: Error, Hashable {}

/// Reads what `BinaryWriter` wrote. Every read checks the bytes left first, so garbage never traps and a length
/// prefix can never make us allocate more than the input holds.
struct BinaryReader {
    private let bytes: [UInt8]
    private var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func readUInt8() throws(BinaryReadError) -> UInt8 {
        guard remaining >= 1 else { throw BinaryReadError() }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readBool() throws(BinaryReadError) -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        default: throw BinaryReadError()
        }
    }

    mutating func readUInt16() throws(BinaryReadError) -> UInt16 { UInt16(try readBigEndian(width: 2)) }
    mutating func readUInt32() throws(BinaryReadError) -> UInt32 { UInt32(try readBigEndian(width: 4)) }
    mutating func readUInt64() throws(BinaryReadError) -> UInt64 { try readBigEndian(width: 8) }
    mutating func readInt64() throws(BinaryReadError) -> Int64 { Int64(bitPattern: try readBigEndian(width: 8)) }

    mutating func readBytes() throws(BinaryReadError) -> [UInt8] {
        let n = try readCount(minimumElementSize: 1)
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// A UTF-8 string; invalid UTF-8 is an error, not a repair.
    mutating func readString() throws(BinaryReadError) -> String {
        let raw = try readBytes()
        guard let s = String(validating: raw, as: UTF8.self) else { throw BinaryReadError() }
        return s
    }

    /// A count that the rest of the input could hold, at `minimumElementSize` bytes per element.
    mutating func readCount(minimumElementSize: Int) throws(BinaryReadError) -> Int {
        let n = Int(try readUInt32())
        guard n <= remaining / max(1, minimumElementSize) else { throw BinaryReadError() }
        return n
    }

    mutating func readOptional<T>(_ body: (inout BinaryReader) throws(BinaryReadError) -> T)
        throws(BinaryReadError) -> T?
    {
        try readBool() ? try body(&self) : nil
    }

    /// A `[String: String]`; keys must be strictly increasing (the canonical form), so one state has one encoding.
    mutating func readStringMap() throws(BinaryReadError) -> [String: String] {
        let n = try readCount(minimumElementSize: 8)
        var map: [String: String] = [:]
        var previous: String?
        for _ in 0..<n {
            let key = try readString()
            if let previous, !String.utf8Less(previous, key) { throw BinaryReadError() }
            map[key] = try readString()
            previous = key
        }
        return map
    }

    private mutating func readBigEndian(width: Int) throws(BinaryReadError) -> UInt64 {
        guard remaining >= width else { throw BinaryReadError() }
        var v: UInt64 = 0
        for i in 0..<width { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += width
        return v
    }
}
