/// Appends fixed-width big-endian integers, length-prefixed strings and byte arrays to a `[UInt8]`.
///
/// The encoding shared by commands and snapshots: integers are big-endian and fixed width, strings are UTF-8 and
/// byte arrays are raw, both after a `UInt32` length; an optional is a presence byte (0 or 1) then the value; a
/// collection is a `UInt32` count then its elements. Callers sort map keys first, so equal states encode equally.
struct BinaryWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    mutating func write(_ v: UInt8) { bytes.append(v) }
    mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    mutating func write(_ v: UInt16) { writeBigEndian(UInt64(v), width: 2) }
    mutating func write(_ v: UInt32) { writeBigEndian(UInt64(v), width: 4) }
    mutating func write(_ v: UInt64) { writeBigEndian(v, width: 8) }
    mutating func write(_ v: Int64) { writeBigEndian(UInt64(bitPattern: v), width: 8) }

    mutating func write(_ s: String) { write(Array(s.utf8)) }

    mutating func write(_ b: [UInt8]) {
        writeCount(b.count)
        bytes.append(contentsOf: b)
    }

    mutating func writeCount(_ n: Int) {
        precondition(n >= 0 && n <= Int(UInt32.max), "collection too large to encode: \(n)")
        write(UInt32(n))
    }

    mutating func write<T>(_ v: T?, _ body: (inout BinaryWriter, T) -> Void) {
        if let v {
            write(true)
            body(&self, v)
        } else {
            write(false)
        }
    }

    /// `[String: String]` in key order.
    mutating func write(_ map: [String: String]) {
        writeCount(map.count)
        for key in map.keys.sorted(by: String.utf8Less) {
            write(key)
            write(map[key]!)
        }
    }

    private mutating func writeBigEndian(_ v: UInt64, width: Int) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift)))
        }
    }
}

extension String {
    /// The canonical key order of every encoding: UTF-8 bytes, compared lexicographically. Not Swift's `<`, which
    /// compares canonically equivalent strings as equal, while topics are compared byte for byte ([MQTT-4.7.3-4]).
    static func utf8Less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}
