import Crypto

/// The SigV4 canonical request, built as AWS (and botocore's `SigV4Auth`) build it for every service but S3:
///
///     METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n \n SignedHeaders \n PayloadHash
///
/// - CanonicalURI: the raw path with dot segments and empty segments removed, then every byte outside RFC 3986
///   unreserved characters and `/` percent-encoded *again*: `/topics/a%2Fb` → `/topics/a%252Fb` (AWS-IOT-SPEC §1.10,
///   §2.2; botocore `quote(normalize_url_path(path), safe='/~')`).
/// - CanonicalQuery: each `name=value` decoded, re-encoded with only unreserved characters left bare (`%20`, never
///   `+`), then sorted by name and value (byte order).
/// - CanonicalHeaders: for each signed header, `name:value` with the name lower-cased, runs of whitespace in the value
///   collapsed to one space and the ends trimmed, repeated headers joined with `,`.
enum CanonicalRequest {
    static func build(
        method: String, path: String, query: [(name: [UInt8], value: [UInt8])], headers: HeaderMap,
        signedHeaders: String, payloadHash: String
    ) -> String {
        var lines = [method, canonicalURI(path), canonicalQuery(query)]
        let names = signedHeaders.split(separator: ";", omittingEmptySubsequences: false)
        let canonicalHeaders = names.map { n in "\(n.lowercased()):\(headers.canonicalValue(n.lowercased()))" }
        lines.append(canonicalHeaders.joined(separator: "\n") + "\n")
        lines.append(signedHeaders)
        lines.append(payloadHash)
        return lines.joined(separator: "\n")
    }

    static func stringToSign(timestamp: String, scope: String, canonicalRequest: String) -> String {
        "AWS4-HMAC-SHA256\n\(timestamp)\n\(scope)\n\(Hex.sha256(Array(canonicalRequest.utf8)))"
    }

    /// HMAC chain `AWS4<secret>` → date → region → service → `aws4_request` → string to sign, as lower-case hex.
    static func signature(secret: String, date: String, region: String, service: String, stringToSign: String)
        -> String
    {
        var key = SymmetricKey(data: Array("AWS4\(secret)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return Hex.encode(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
    }

    // MARK: - URI

    static func canonicalURI(_ rawPath: String) -> String {
        guard !rawPath.isEmpty else { return "/" }
        // RFC 3986 §5.2.4 dot-segment removal, plus dropping empty segments (AWS: `//` is `/`).
        var out: [Substring] = []
        for segment in rawPath.split(separator: "/", omittingEmptySubsequences: true) where segment != "." {
            if segment == ".." {
                if !out.isEmpty { out.removeLast() }
            } else {
                out.append(segment)
            }
        }
        var normalized = rawPath.hasPrefix("/") ? "/" : ""
        normalized += out.joined(separator: "/")
        if rawPath.hasSuffix("/") && !out.isEmpty { normalized += "/" }
        return uriEncode(Array(normalized.utf8), keepSlash: true)
    }

    // MARK: - Query

    /// Splits a raw query into decoded `(name, value)` byte pairs. A name without `=` has an empty value; an
    /// undecodable escape is kept literally (its `%` is then encoded), so such a query simply fails to match.
    static func parseQuery(_ raw: String) -> [(name: [UInt8], value: [UInt8])] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(parts[0]), parts.count > 1 ? percentDecode(parts[1]) : [])
        }
    }

    static func canonicalQuery(_ pairs: [(name: [UInt8], value: [UInt8])]) -> String {
        pairs.map { (uriEncode($0.name, keepSlash: false), uriEncode($0.value, keepSlash: false)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }  // ASCII only, so String order is byte order
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    // MARK: - Encoding

    /// RFC 3986: unreserved bytes (`A-Z a-z 0-9 - . _ ~`) stay, everything else becomes `%XX` (upper-case hex).
    static func uriEncode(_ bytes: [UInt8], keepSlash: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3)
        for b in bytes {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepSlash:
                out.append(b)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(Hex.upper[Int(b >> 4)])
                out.append(Hex.upper[Int(b & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `%XX` → byte; `+` stays `+` (SigV4 signers encode a space as `%20`). A malformed escape is kept as it is.
    static func percentDecode(_ text: Substring) -> [UInt8] {
        let b = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let hi = Hex.value(b[i + 1]),
               let lo = Hex.value(b[i + 2])
            {
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return out
    }
}

/// Request headers by lower-case name, values in arrival order.
struct HeaderMap {
    private var values: [String: [String]] = [:]

    init(_ headers: [(name: String, value: String)]) {
        for (name, value) in headers { values[name.lowercased(), default: []].append(value) }
    }

    private static func isSpace(_ c: Character) -> Bool {
        c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\r\n" || c == "\u{0B}" || c == "\u{0C}"
    }

    /// The first value of a header, or nil.
    subscript(_ name: String) -> String? { values[name]?.first }

    /// Trimmed, whitespace-collapsed values joined by `,` (botocore: `' '.join(value.split())` per value).
    func canonicalValue(_ name: String) -> String {
        (values[name] ?? []).map { v in
            v.split(whereSeparator: Self.isSpace).joined(separator: " ")
        }.joined(separator: ",")
    }
}

enum Hex {
    static let upper = Array("0123456789ABCDEF".utf8)
    static let lower = Array("0123456789abcdef".utf8)

    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes {
            out.append(lower[Int(b >> 4)])
            out.append(lower[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func sha256(_ bytes: [UInt8]) -> String { encode(SHA256.hash(data: bytes)) }

    static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// 64 hex digits.
    static func isSHA256(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { value($0) != nil } }

    /// Equal strings, in time that depends only on the lengths (never on where the first difference is).
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff: UInt8 = x.count == y.count ? 0 : 1
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}
