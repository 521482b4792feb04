/// IPv4 and IPv6 addresses and CIDR blocks for `IpAddress` / `NotIpAddress` (RFC 4632, RFC 4291 text forms).
/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is compared as the IPv4 address it carries, so a dual-stack
/// listener's peer addresses match IPv4 blocks. Addresses of different families never match.
struct IPAddressRange: Hashable, Sendable {
    /// 4 or 16 bytes.
    let bytes: [UInt8]
    let prefixLength: Int

    /// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or `ipv6/n`. A bare address is a block of one.
    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = Self.parseAddress(parts[0]) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...bits).contains(n), parts[1].allSatisfy(\.isASCII) else { return nil }
            prefixLength = n
        } else {
            prefixLength = bits
        }
        bytes = address
    }

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == bytes.count else { return false }
        var remaining = prefixLength
        for i in 0..<bytes.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xFF : ~(0xFF >> UInt8(take))
            if address[i] & mask != bytes[i] & mask { return false }
            remaining -= take
        }
        return true
    }

    /// 4 bytes for IPv4 (and IPv4-mapped IPv6), 16 for IPv6; nil if malformed.
    static func parseAddress(_ text: Substring) -> [UInt8]? {
        if !text.contains(":") { return parseIPv4(text) }
        guard let v6 = parseIPv6(text) else { return nil }
        if v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xFF, v6[11] == 0xFF { return Array(v6[12..<16]) }
        return v6
    }

    private static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var out: [UInt8] = []
        for o in octets {
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(o), v <= 255
            else { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    private static func parseIPv6(_ text: Substring) -> [UInt8]? {
        // Split on "::" (at most once); each side is a list of 16-bit groups, the last may be dotted IPv4.
        let halves = text.split(separator: "::", maxSplits: 2, omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        func groups(_ side: Substring, allowIPv4Tail: Bool) -> [UInt8]? {
            if side.isEmpty { return [] }
            let fields = side.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt8] = []
            for (i, f) in fields.enumerated() {
                if i == fields.count - 1, allowIPv4Tail, f.contains(".") {
                    guard let v4 = parseIPv4(f) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(f.count), let v = UInt16(f, radix: 16) else { return nil }
                out += [UInt8(v >> 8), UInt8(v & 0xFF)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowIPv4Tail: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowIPv4Tail: false), let tail = groups(halves[1], allowIPv4Tail: true),
            head.count + tail.count <= 14
        else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}
