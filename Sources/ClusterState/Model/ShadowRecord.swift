import IoTTypes

/// Which shadow: a thing's classic shadow (`shadowName` nil) or one of its named shadows. Shadows do not need the
/// thing to exist in the registry (AWS-IOT-SPEC §5.1).
public struct ShadowKey: Sendable, Hashable, Comparable {
    public var thingName: String
    public var shadowName: String?
    public init(thingName: String, shadowName: String?) {
        self.thingName = thingName
        self.shadowName = shadowName
    }

    /// Thing name, then the classic shadow before named ones, then by name (UTF-8 byte order): the snapshot order.
    public static func < (a: Self, b: Self) -> Bool {
        if a.thingName != b.thingName { return String.utf8Less(a.thingName, b.thingName) }
        switch (a.shadowName, b.shadowName) {
        case (nil, nil): return false
        case (nil, _): return true
        case (_, nil): return false
        case (let x?, let y?): return String.utf8Less(x, y)
        }
    }
}

/// A shadow request that changes state (`/update`, `/delete`, or their HTTP forms), as proposed. The payload is the
/// client's bytes; `apply` runs the pure `Shadow` rules on it, so every node reaches the same document.
public struct ShadowCommand: Sendable, Hashable {
    public enum Operation: UInt8, Sendable, Hashable {
        case update = 1
        case delete = 2
    }

    public var tenant: TenantID
    public var key: ShadowKey
    public var operation: Operation
    public var payload: [UInt8]
    public var nowMs: Int64
    /// Made through the HTTP API: a rejection is the HTTP answer only, with no `/rejected` message (AWS-IOT-SPEC
    /// §5.2); accepted updates publish their messages either way.
    public var viaHTTP: Bool

    public init(tenant: TenantID, key: ShadowKey, operation: Operation, payload: [UInt8], nowMs: Int64,
                viaHTTP: Bool = false) {
        self.tenant = tenant
        self.key = key
        self.operation = operation
        self.payload = payload
        self.nowMs = nowMs
        self.viaHTTP = viaHTTP
    }
}

/// What an applied shadow command answers — on every node, since each node publishes the messages to its own
/// subscribers: the HTTP-style status and body for the requester, and the MQTT messages (topic suffix after the
/// shadow's prefix, payload) in publish order.
public struct ShadowEmission: Sendable, Hashable {
    public struct Message: Sendable, Hashable {
        /// `update/accepted`, `update/delta`, `update/documents`, `update/rejected`, `delete/accepted`, …
        public var suffix: String
        public var payload: [UInt8]
        public init(suffix: String, payload: [UInt8]) {
            self.suffix = suffix
            self.payload = payload
        }
    }

    public var tenant: TenantID
    public var key: ShadowKey
    /// 200 when accepted, else the shadow error code (400, 404, 409, 413, …).
    public var status: Int
    /// The accepted document, or the rejected one (`{"code","message","timestamp","clientToken"?}`).
    public var body: [UInt8]
    /// The rejection's message (AWS's wording), empty when accepted: the HTTP API's error message.
    public var errorMessage: String
    public var messages: [Message]

    public init(tenant: TenantID, key: ShadowKey, status: Int, body: [UInt8], errorMessage: String = "",
                messages: [Message]) {
        self.tenant = tenant
        self.key = key
        self.status = status
        self.body = body
        self.errorMessage = errorMessage
        self.messages = messages
    }

    /// The MQTT topic prefix of this shadow (`$aws/things/<thing>/shadow[/name/<name>]`).
    public var topicPrefix: String { ShadowKey.topicPrefix(key) }
}

extension ShadowKey {
    public static func topicPrefix(_ key: ShadowKey) -> String {
        "$aws/things/\(key.thingName)/shadow" + (key.shadowName.map { "/name/\($0)" } ?? "")
    }
}
