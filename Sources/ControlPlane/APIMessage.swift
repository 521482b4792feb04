/// One HTTP request as the control plane sees it: no sockets, no NIO. The HTTP shell fills it in (today the
/// metrics listener; with issue 5, Hummingbird) and writes the `APIResponse` back.
public struct APIRequest: Sendable, Hashable {
    /// `GET`, `POST`, `PATCH`, `DELETE`, … (upper case, as sent).
    public var method: String
    /// The path as sent, still percent-encoded (labels are split on `/` first, then decoded).
    public var path: String
    /// The raw query string after `?` (empty when there is none).
    public var query: String
    /// The body, or nil when it was larger than the server's limit and was discarded unread (answered 413).
    public var body: [UInt8]?
    /// The peer's IP address as text (`127.0.0.1`, `::1`), nil when unknown. Until SigV4 (issue 5) the control
    /// plane answers loopback peers only.
    public var peerAddress: String?
    /// Request headers, names in lower case; a repeated header's values joined with `,` (RFC 9110 §5.3).
    public var headers: [String: String]

    public init(method: String, path: String, query: String = "", body: [UInt8]? = [], peerAddress: String?,
                headers: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.peerAddress = peerAddress
        self.headers = headers
    }

    /// A header's value by case-insensitive name.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Splits a request target (`/things/a?maxResults=2`) into path and query.
    public init(method: String, target: String, body: [UInt8]?, peerAddress: String?,
                headers: [String: String] = [:]) {
        if let mark = target.firstIndex(of: "?") {
            self.init(method: method, path: String(target[..<mark]),
                      query: String(target[target.index(after: mark)...]), body: body, peerAddress: peerAddress,
                      headers: headers)
        } else {
            self.init(method: method, path: target, query: "", body: body, peerAddress: peerAddress,
                      headers: headers)
        }
    }
}

/// What to answer: status, headers and body bytes.
public struct APIResponse: Sendable, Hashable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A 200 with a JSON body.
    static func json(_ body: [UInt8], status: Int = 200) -> APIResponse {
        APIResponse(status: status, headers: ["content-type": "application/json"], body: body)
    }

    /// The body as text (tests and logs).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
