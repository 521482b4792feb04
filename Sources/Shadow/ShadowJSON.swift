/// The JSON value of shadow documents (RFC 8259), with its own reader and canonical writer so this pure module needs
/// no Foundation.
///
/// - Objects keep their members in document order (the order a client wrote is the order it reads back), with
///   unique names: a repeated name keeps the first position and the last value.
/// - Numbers keep their source text, so a document round-trips byte for byte and `1` and `1.0` are different values
///   (as they are to AWS's JSON comparison of desired and reported).
/// - `write` is canonical: no whitespace, members in stored order, strings escaped the same way every time. Every
///   node that applies the same update therefore produces the same bytes.
public enum ShadowJSON: Sendable, Hashable {
    case object([Member])
    case array([ShadowJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: ShadowJSON
        public init(_ key: String, _ value: ShadowJSON) {
            self.key = key
            self.value = value
        }
    }

    /// The members of an object, nil for any other value.
    public var members: [Member]? {
        if case .object(let m) = self { return m }
        return nil
    }

    /// The member `key` of an object (nil when absent or when `self` is not an object).
    public subscript(key: String) -> ShadowJSON? {
        guard case .object(let m) = self else { return nil }
        return m.first { $0.key == key }?.value
    }

    /// Nesting below (and including) this value, counting objects and arrays: a scalar is 0, `{}` is 1,
    /// `{"a":{"b":1}}` is 2.
    public var containerDepth: Int {
        switch self {
        case .object(let m): 1 + (m.map(\.value.containerDepth).max() ?? 0)
        case .array(let a): 1 + (a.map(\.containerDepth).max() ?? 0)
        case .string, .number, .bool, .null: 0
        }
    }

    /// True when an array anywhere below (or at) this value holds a `null` element.
    var hasNullInArray: Bool {
        switch self {
        case .object(let m): m.contains { $0.value.hasNullInArray }
        case .array(let a): a.contains { $0 == .null || $0.hasNullInArray }
        case .string, .number, .bool, .null: false
        }
    }
}

// MARK: - Object helpers (members stay in order, names unique)

extension [ShadowJSON.Member] {
    func value(_ key: String) -> ShadowJSON? { first { $0.key == key }?.value }

    /// Sets `key` in place when present, else appends it.
    mutating func set(_ key: String, _ value: ShadowJSON) {
        if let i = firstIndex(where: { $0.key == key }) {
            self[i].value = value
        } else {
            append(ShadowJSON.Member(key, value))
        }
    }

    mutating func remove(_ key: String) { removeAll { $0.key == key } }
}

// MARK: - Reader

extension ShadowJSON {
    enum ParseError: Error, Equatable {
        /// Not a JSON text.
        case invalid
        /// Nested deeper than `ShadowJSON.maxParseDepth` (guards the recursion; shadow rules allow far less).
        case tooDeep
    }

    /// Containers nested deeper than this are refused while parsing. The shadow's own limit (6 levels in desired
    /// or reported) is checked afterwards with its AWS message; this only bounds the recursion.
    static let maxParseDepth = 64

    /// Parses one JSON text: surrounding whitespace allowed, nothing else after the value. The bytes must already be
    /// valid UTF-8 (`isValidUTF8`).
    static func parse(_ bytes: [UInt8]) throws(ParseError) -> ShadowJSON {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.readValue(depth: 0)
        reader.skipWhitespace()
        guard reader.index == bytes.count else { throw .invalid }
        return value
    }

    /// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
    static func isValidUTF8(_ bytes: [UInt8]) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            if b < 0x80 {
                i += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return false
            }
            guard i + length <= n else { return false }
            guard bytes[i + 1] >= low, bytes[i + 1] <= high else { return false }
            for k in 2..<length where bytes[i + k] & 0xC0 != 0x80 { return false }
            i += length
        }
        return true
    }

    private struct Reader {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func readValue(depth: Int) throws(ParseError) -> ShadowJSON {
            guard index < bytes.count else { throw .invalid }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                guard depth < ShadowJSON.maxParseDepth else { throw .tooDeep }
                return try readObject(depth: depth)
            case UInt8(ascii: "["):
                guard depth < ShadowJSON.maxParseDepth else { throw .tooDeep }
                return try readArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try readString())
            case UInt8(ascii: "t"): try readLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try readLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try readLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try readNumber())
            default: throw .invalid
            }
        }

        mutating func readLiteral(_ word: StaticString) throws(ParseError) {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw .invalid }
            for k in 0..<count where bytes[index + k] != word.utf8Start[k] { throw .invalid }
            index += count
        }

        mutating func readObject(depth: Int) throws(ParseError) -> ShadowJSON {
            index += 1  // {
            var members: [Member] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw .invalid }
                let key = try readString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw .invalid }
                index += 1
                skipWhitespace()
                members.set(key, try readValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw .invalid }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else { throw .invalid }
                index += 1
                return .object(members)
            }
        }

        mutating func readArray(depth: Int) throws(ParseError) -> ShadowJSON {
            index += 1  // [
            var items: [ShadowJSON] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try readValue(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw .invalid }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "]") else { throw .invalid }
                index += 1
                return .array(items)
            }
        }

        mutating func readNumber() throws(ParseError) -> String {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw .invalid }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else {
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw .invalid }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard index < bytes.count, isDigit(bytes[index]) else { throw .invalid }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

        mutating func readString() throws(ParseError) -> String {
            index += 1  // opening quote
            var scalars = String.UnicodeScalarView()
            var runStart = index
            func flushRun(_ end: Int) {
                if end > runStart {
                    scalars.append(contentsOf: String(decoding: bytes[runStart..<end], as: UTF8.self).unicodeScalars)
                }
            }
            while true {
                guard index < bytes.count else { throw .invalid }
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    flushRun(index)
                    index += 1
                    return String(scalars)
                }
                if b < 0x20 { throw .invalid }
                if b != UInt8(ascii: "\\") {
                    index += 1
                    continue
                }
                flushRun(index)
                index += 1
                guard index < bytes.count else { throw .invalid }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try readHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw .invalid }
                        index += 2
                        let low = try readHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .invalid }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw .invalid
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw .invalid }
                    scalars.append(scalar)
                default: throw .invalid
                }
                runStart = index
            }
        }

        mutating func readHex4() throws(ParseError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw .invalid }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[index]
                let d: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw .invalid
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }
    }
}

// MARK: - Canonical writer

extension ShadowJSON {
    /// The canonical compact text (see the type's comment).
    public func bytes() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch self {
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                ShadowJSON.writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                m.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, v) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .string(let s): ShadowJSON.writeString(s, to: &out)
        case .number(let n): out.append(contentsOf: n.utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .null: out.append(contentsOf: "null".utf8)
        }
    }

    /// `"`, `\` and control characters are escaped (short forms where JSON has them, else `\u00XX`); everything
    /// else, `/` and non-ASCII included, is written as its UTF-8 bytes.
    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func int(_ v: Int64) -> ShadowJSON { .number(String(v)) }
}
