#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Certificate ids as AWS IoT computes them: the lower-case hex SHA-256 of the certificate's DER (AWS-IOT-SPEC
/// §2.1). The control plane is the proposer, so it computes the id from the PEM it was given; `apply` only checks
/// the id's shape. Written from FIPS 180-4 (no crypto library in this pure target); checked against its examples.
public enum CertificateIdentity {
    /// The DER of the first `CERTIFICATE` block of a PEM text, or nil when there is none or it is not base64.
    public static func firstCertificateDER(pem: String) -> [UInt8]? {
        let text = Array(pem.utf8)
        let begin = Array("-----BEGIN CERTIFICATE-----".utf8), end = Array("-----END CERTIFICATE-----".utf8)
        guard let b = find(begin, in: text, from: 0), let e = find(end, in: text, from: b + begin.count) else {
            return nil
        }
        let body = text[(b + begin.count)..<e].filter { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        guard !body.isEmpty, let data = Data(base64Encoded: Data(body)) else { return nil }
        return Array(data)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for i in start...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }

    /// The certificate id of the first certificate in `pem`, or nil when there is none.
    public static func certificateId(pem: String) -> String? {
        firstCertificateDER(pem: pem).map { hex(sha256($0)) }
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// SHA-256 (FIPS 180-4 §6.2).
    public static func sha256(_ message: [UInt8]) -> [UInt8] {
        var h = initialHash
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bitLength = UInt64(message.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) {
            padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        var w = [UInt32](repeating: 0, count: 64)
        for block in stride(from: 0, to: padded.count, by: 64) {
            for t in 0..<16 {
                let i = block + t * 4
                w[t] = UInt32(padded[i]) << 24 | UInt32(padded[i + 1]) << 16 | UInt32(padded[i + 2]) << 8
                    | UInt32(padded[i + 3])
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for t in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ roundConstants[t] &+ w[t]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                hh = g
                g = f
                f = e
                e = d &+ t1
                d = c
                c = b
                b = a
                a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
            h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
        var out: [UInt8] = []
        for word in h { for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) } }
        return out
    }

    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// The first 64 primes.
    private static let primes: [UInt64] = {
        var out: [UInt64] = []
        var n: UInt64 = 2
        while out.count < 64 {
            if !out.contains(where: { n % $0 == 0 }) { out.append(n) }
            n += 1
        }
        return out
    }()

    /// FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes,
    /// computed exactly (integer cube root of p · 2^96) rather than typed in.
    private static let roundConstants: [UInt32] = primes.map {
        UInt32(truncatingIfNeeded: integerRoot(p: $0, degree: 3))
    }

    /// §5.3.3: the same for the square roots of the first 8 primes.
    private static let initialHash: [UInt32] = primes.prefix(8).map {
        UInt32(truncatingIfNeeded: integerRoot(p: $0, degree: 2))
    }

    /// floor(root(p · 2^(32·degree))) mod 2^64: the root's integer part and 32 fractional bits. Binary search on
    /// UInt128 (p < 2^9, so p · 2^96 < 2^105 and the root < 2^36, whose cube still fits).
    private static func integerRoot(p: UInt64, degree: Int) -> UInt64 {
        let target = UInt128(p) << UInt128(32 * degree)
        var lo: UInt128 = 0, hi: UInt128 = 1 << 36
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            var power: UInt128 = 1
            for _ in 0..<degree { power *= mid }
            if power <= target { lo = mid } else { hi = mid - 1 }
        }
        return UInt64(lo)
    }
}
