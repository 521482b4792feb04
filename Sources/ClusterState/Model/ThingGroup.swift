import IoTTypes

/// A registry thing type (AWS-IOT-SPEC §3.2): a name, a description, up to three searchable attribute names, and
/// deprecation. A thing with a type may carry up to 50 attributes (3 without one).
public struct ThingType: Sendable, Hashable {
    public var tenant: TenantID
    public var thingTypeName: String
    /// UUID-shaped, from the state's registry counter (deterministic, like thing ids).
    public var thingTypeId: String
    public var description: String?
    /// In the order the client sent them (AWS echoes that order).
    public var searchableAttributes: [String]
    /// When it was deprecated (epoch ms); nil while it is not.
    public var deprecatedAtMs: Int64?
    public var createdAtMs: Int64

    public init(tenant: TenantID, thingTypeName: String, thingTypeId: String, description: String?,
                searchableAttributes: [String], deprecatedAtMs: Int64?, createdAtMs: Int64) {
        self.tenant = tenant
        self.thingTypeName = thingTypeName
        self.thingTypeId = thingTypeId
        self.description = description
        self.searchableAttributes = searchableAttributes
        self.deprecatedAtMs = deprecatedAtMs
        self.createdAtMs = createdAtMs
    }

    public var isDeprecated: Bool { deprecatedAtMs != nil }

    /// `arn:aws:iot:<region>:<account>:thingtype/<name>`.
    public func thingTypeArn(region: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):thingtype/\(thingTypeName)"
    }
}

/// A static thing group (AWS-IOT-SPEC §3.3). The parent is fixed at creation; policies attached to the group's ARN
/// apply to its member things and to the members of every group below it.
public struct ThingGroup: Sendable, Hashable {
    public var tenant: TenantID
    public var thingGroupName: String
    /// UUID-shaped, from the state's registry counter.
    public var thingGroupId: String
    public var parentGroupName: String?
    public var description: String?
    public var attributes: [String: String]
    /// Starts at 1; each update adds 1.
    public var version: Int64
    public var createdAtMs: Int64
    public var lastModifiedAtMs: Int64

    public init(tenant: TenantID, thingGroupName: String, thingGroupId: String, parentGroupName: String?,
                description: String?, attributes: [String: String], version: Int64, createdAtMs: Int64,
                lastModifiedAtMs: Int64) {
        self.tenant = tenant
        self.thingGroupName = thingGroupName
        self.thingGroupId = thingGroupId
        self.parentGroupName = parentGroupName
        self.description = description
        self.attributes = attributes
        self.version = version
        self.createdAtMs = createdAtMs
        self.lastModifiedAtMs = lastModifiedAtMs
    }

    /// `arn:aws:iot:<region>:<account>:thinggroup/<name>`.
    public func thingGroupArn(region: String) -> String {
        ThingGroupRules.arn(tenant: tenant, region: region, name: thingGroupName)
    }
}

/// AWS IoT's limits for thing types and static thing groups, checked inside `apply` (and by proposers, to save a
/// log entry).
public enum ThingGroupRules {
    /// AWS: a hierarchy is at most 7 levels deep (a root group is level 1).
    public static let maxDepth = 7
    /// AWS: at most 100 direct child groups.
    public static let maxChildren = 100
    /// AWS: a thing belongs to at most 10 groups.
    public static let maxGroupsPerThing = 10
    /// AWS: a group has at most 50 attributes.
    public static let maxGroupAttributes = 50
    /// AWS: a thing type has at most three searchable attributes.
    public static let maxSearchableAttributes = 3
    /// `ThingTypeDescription` / `ThingGroupDescription`: at most 2028.
    public static let maxDescriptionLength = 2028
    /// AWS: a thing type can be deleted five minutes after it was deprecated.
    public static let deleteAfterDeprecationMs: Int64 = 5 * 60 * 1000

    /// `[a-zA-Z0-9:_-]+`, 1–128 (ThingGroupName, ThingTypeName).
    public static func isValidName(_ s: String) -> Bool { ThingRules.isValidThingName(s) }

    /// `[a-zA-Z0-9_.,@/:#-]+`, at most 128 (AttributeName).
    public static func isValidAttributeName(_ s: String) -> Bool { ThingRules.isValidAttributeName(s) }

    /// `[\p{Graph}\x20]*`, at most 2028: printable ASCII and the space.
    public static func isValidDescription(_ s: String) -> Bool {
        s.utf8.count <= maxDescriptionLength && s.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    /// `arn:aws:iot:<region>:<account>:thinggroup/<name>`.
    public static func arn(tenant: TenantID, region: String, name: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):thinggroup/\(name)"
    }

    /// The group name of a thing group ARN of `tenant`'s account (any region), or nil when `arn` is not one.
    public static func groupName(fromArn arn: String, tenant: TenantID) -> String? {
        name(fromArn: arn, tenant: tenant, resource: "thinggroup")
    }

    /// The thing name of a thing ARN of `tenant`'s account (any region), or nil when `arn` is not one.
    public static func thingName(fromArn arn: String, tenant: TenantID) -> String? {
        name(fromArn: arn, tenant: tenant, resource: "thing")
    }

    /// `arn:aws:iot:<region>:<account>:<resource>/<name>` → name, when the account is the tenant's.
    private static func name(fromArn arn: String, tenant: TenantID, resource: String) -> String? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1] == "aws", parts[2] == "iot",
            parts[4] == Substring(tenant.accountID), parts[5].hasPrefix(resource + "/")
        else { return nil }
        let name = String(parts[5].dropFirst(resource.count + 1))
        return isValidName(name) ? name : nil
    }

    /// Type and group ids: the thing-id construction over a counter with the top bit set, so they never equal a
    /// thing's id (thing counters stay below 2^63).
    static func registryId(sequence: UInt64) -> String { ThingRules.thingId(sequence: sequence | (1 << 63)) }
}
