/// Maps the server name a client sent in its TLS ClientHello (SNI) to a domain entry — a domain configuration with
/// its tenant and server certificate. Pure and synchronous: OpenSSL's servername callback calls it during the
/// handshake, and it is tested without OpenSSL (STYLE C7).
///
/// Rules, in order:
/// 1. Host names compare case-insensitively (ASCII; IDNA is not supported), and one trailing dot is ignored
///    (`A.Example.TEST.` is `a.example.test`).
/// 2. An exact entry wins.
/// 3. Otherwise a wildcard entry `*.example.test` matches exactly one more label (`x.example.test`, never
///    `example.test` or `y.x.example.test`), as RFC 6125 §6.4.3 allows for certificates.
/// 4. No match, no SNI, or an unusable name → the fallback: `.reject` (the shell answers with the
///    `unrecognized_name` alert) or `.default(entry)` (serve the default endpoint).
public struct SNISelector<Entry: Sendable>: Sendable {
    /// What to do when the name matches no entry or the client sent no name.
    public enum Fallback: Sendable {
        case reject
        case `default`(Entry)
    }

    /// The outcome of one lookup.
    public enum Selection: Sendable {
        /// The name matched an entry (exactly or by wildcard).
        case matched(Entry)
        /// No entry matched (or no name was sent) and the fallback serves the default entry.
        case fallback(Entry)
        /// No entry matched and the fallback is `.reject`.
        case reject

        /// The entry to serve, if any.
        public var entry: Entry? {
            switch self {
            case .matched(let e), .fallback(let e): e
            case .reject: nil
            }
        }
    }

    private var exact: [String: Entry] = [:]
    private var wildcards: [String: Entry] = [:]  // keyed by the parent domain, without "*."
    public var fallback: Fallback

    public init(fallback: Fallback) {
        self.fallback = fallback
    }

    /// Adds (or replaces) an entry for `pattern`: a host name or `*.` followed by a parent domain.
    /// Returns false, and adds nothing, for an empty name or a wildcard anywhere but the whole first label.
    @discardableResult
    public mutating func add(_ pattern: String, _ entry: Entry) -> Bool {
        guard let name = Self.normalise(pattern) else { return false }
        if name.hasPrefix("*.") {
            let parent = String(name.dropFirst(2))
            guard !parent.isEmpty, !parent.contains("*") else { return false }
            wildcards[parent] = entry
        } else {
            guard !name.contains("*") else { return false }
            exact[name] = entry
        }
        return true
    }

    /// Looks up the entry for the server name a client sent (nil: no SNI extension).
    public func select(_ serverName: String?) -> Selection {
        if let serverName, let name = Self.normalise(serverName), !name.contains("*") {
            if let e = exact[name] { return .matched(e) }
            if let dot = name.firstIndex(of: "."), dot != name.startIndex {
                if let e = wildcards[String(name[name.index(after: dot)...])] { return .matched(e) }
            }
        }
        switch fallback {
        case .reject: return .reject
        case .default(let e): return .fallback(e)
        }
    }

    /// Lower-cases ASCII, drops one trailing dot; nil for names that are empty or have empty labels.
    static func normalise(_ raw: String) -> String? {
        var name = raw
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty, name.utf8.count <= 253 else { return nil }
        let lowered = String(
            decoding: name.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
        guard !lowered.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
            return nil
        }
        return lowered
    }
}
