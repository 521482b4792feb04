import IoTTypes

/// A registry thing (AWS-IOT-SPEC §3.1).
public struct Thing: Sendable, Hashable {
    public var tenant: TenantID
    public var thingName: String
    /// UUID-shaped, derived deterministically from the state's thing counter (never random: every node must agree).
    public var thingId: String
    public var thingTypeName: String?
    public var attributes: [String: String]
    /// Starts at 1; each update adds 1.
    public var version: Int64
    public var createdAtMs: Int64
    public var lastModifiedAtMs: Int64

    public init(tenant: TenantID, thingName: String, thingId: String, thingTypeName: String?,
                attributes: [String: String], version: Int64, createdAtMs: Int64, lastModifiedAtMs: Int64) {
        self.tenant = tenant
        self.thingName = thingName
        self.thingId = thingId
        self.thingTypeName = thingTypeName
        self.attributes = attributes
        self.version = version
        self.createdAtMs = createdAtMs
        self.lastModifiedAtMs = lastModifiedAtMs
    }

    /// `arn:aws:iot:<region>:<account>:thing/<name>`; the region is node configuration, not replicated state.
    public func thingArn(region: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):thing/\(thingName)"
    }

    /// The default MQTT client id of a thing is its name.
    public var defaultClientId: String { thingName }
}

/// AWS IoT's input rules for things (AWS-IOT-SPEC §3.1), checked inside `apply` so every node rejects alike.
enum ThingRules {
    static let maxAttributesWithoutType = 3
    static let maxAttributesWithType = 50

    /// `[a-zA-Z0-9:_-]+`, 1–128.
    static func isValidThingName(_ s: String) -> Bool {
        s.utf8.count >= 1 && s.utf8.count <= 128 && s.utf8.allSatisfy { isAlnum($0) || ":_-".utf8.contains($0) }
    }

    /// Thing type names follow the same pattern and length.
    static func isValidThingTypeName(_ s: String) -> Bool { isValidThingName(s) }

    /// `[a-zA-Z0-9_.,@/:#-]+`, at most 128.
    static func isValidAttributeName(_ s: String) -> Bool {
        s.utf8.count >= 1 && s.utf8.count <= 128 && s.utf8.allSatisfy { isAlnum($0) || "_.,@/:#-".utf8.contains($0) }
    }

    /// `[a-zA-Z0-9_.,@/:#=\[\]-]*`, at most 800.
    static func isValidAttributeValue(_ s: String) -> Bool {
        s.utf8.count <= 800 && s.utf8.allSatisfy { isAlnum($0) || "_.,@/:#=[]-".utf8.contains($0) }
    }

    static func maxAttributes(hasType: Bool) -> Int { hasType ? maxAttributesWithType : maxAttributesWithoutType }

    /// A UUID-shaped id (version 4 layout) from a counter: SplitMix64's finaliser is a bijection, so distinct
    /// counters give distinct ids.
    static func thingId(sequence: UInt64) -> String {
        let hi = mix(sequence)
        let lo = mix(sequence ^ 0xA5A5_A5A5_A5A5_A5A5)
        let a = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version nibble 4
        let b = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // variant 10
        let h = hex(a, 16) + hex(b, 16)
        let c = Array(h)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20])
            + "-" + String(c[20..<32])
    }

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func hex(_ v: UInt64, _ digits: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: digits - s.count) + s
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
    }
}
