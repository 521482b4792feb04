/// The interim guard of the control plane: until requests are authenticated with SigV4 (issue 5), the API and the
/// admin routes answer only peers on the loopback network — 127.0.0.0/8, `::1`, and IPv4-mapped `::ffff:127.x.y.z`.
/// Everyone else gets 403 AccessDeniedException.
public enum Loopback {
    /// Whether `address` (textual IPv4 or IPv6, as the socket reports it; an IPv6 zone suffix is ignored) is a
    /// loopback address. Anything unparsable is not.
    public static func contains(_ address: String) -> Bool {
        if let v4 = ipv4(Substring(address)) { return v4[0] == 127 }
        guard let v6 = ipv6(address) else { return false }
        if v6 == [UInt8](repeating: 0, count: 15) + [1] { return true }  // ::1
        // ::ffff:a.b.c.d, an IPv4 address on a dual-stack socket.
        return v6[0..<10].allSatisfy { $0 == 0 } && v6[10] == 0xFF && v6[11] == 0xFF && v6[12] == 127
    }

    /// Dotted quad, four decimal parts 0–255 (no leading `+`, at most 3 digits each).
    static func ipv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard (1...3).contains(p.count), p.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = UInt8(p)
            else { return nil }
            out.append(v)
        }
        return out
    }

    /// RFC 4291 text forms: eight groups, `::` once for a run of zeros, optionally a dotted quad at the end.
    static func ipv6(_ text: String) -> [UInt8]? {
        var text = Substring(text)
        if let zone = text.firstIndex(of: "%") { text = text[..<zone] }
        guard !text.isEmpty, text.utf8.count <= 45 else { return nil }
        let halves = text.splitOnDoubleColon()
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring, allowQuad: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var bytes: [UInt8] = []
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, item) in items.enumerated() {
                if allowQuad && i == items.count - 1 && item.contains(".") {
                    guard let quad = ipv4(item) else { return nil }
                    bytes += quad
                    continue
                }
                guard (1...4).contains(item.count), let v = UInt16(item, radix: 16) else { return nil }
                bytes += [UInt8(v >> 8), UInt8(v & 0xFF)]
            }
            return bytes
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowQuad: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowQuad: false), let tail = groups(halves[1], allowQuad: true),
              head.count + tail.count <= 14
        else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

extension Substring {
    /// Splits on every `::` (a valid address has at most one, so more than two parts is refused by the caller).
    fileprivate func splitOnDoubleColon() -> [Substring] {
        var parts: [Substring] = []
        var rest = self[...]
        while let range = rest.firstRange(of: "::") {
            parts.append(rest[..<range.lowerBound])
            rest = rest[range.upperBound...]
        }
        parts.append(rest)
        return parts
    }
}
