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
            guard let decoded = PercentEncoding.decode(part) else { return nil }
            segments.append(decoded)
        }
        if segments == [""] { segments = [] }
        guard let items = PercentEncoding.queryItems(rawQuery) else { return nil }
        var query: [String: String] = [:]
        for (name, value) in items where query[name] == nil { query[name] = value }
        self.segments = segments
        self.query = query
    }
}
