import IoTTypes

/// Path labels and query parameters of a request target, percent-decoded (AWS-IOT-SPEC §11.1: "uri labels are
/// percent-encoded (decode %2F, %3A, %24)"). The path is split on `/` before decoding, so an encoded `%2F` stays
/// inside its label (and then fails name validation) instead of adding a segment.
struct RequestTarget {
    /// Decoded path segments: `/things/a%3Ab` → `["things", "a:b"]`; `/` → `[]`.
    var segments: [String]
    /// Decoded query parameters; the first of repeated names wins.
    var query: [String: String]

    /// nil when an escape is malformed or decodes to invalid UTF-8.
    init?(path: String, query rawQuery: String) {
        var raw = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()  // before the first `/`
        if raw.last == "" && raw.count > 1 { raw = raw.dropLast() }  // `/things/` is `/things`
        var segments: [String] = []
        for part in raw {
            guard let decoded = Self.percentDecode(part, plusIsSpace: false) else { return nil }
            segments.append(decoded)
        }
        if segments == [""] { segments = [] }
        var query: [String: String] = [:]
        for pair in rawQuery.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.percentDecode(parts[0], plusIsSpace: true),
                  let value = Self.percentDecode(parts.count > 1 ? parts[1] : "", plusIsSpace: true)
            else { return nil }
            if query[name] == nil { query[name] = value }
        }
        self.segments = segments
        self.query = query
    }

    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String? {
        PercentEncoding.decode(text, plusIsSpace: plusIsSpace)
    }
}
