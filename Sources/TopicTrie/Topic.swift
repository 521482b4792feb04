/// Limits applied to topic names and filters. Defaults are AWS IoT Core's (AWS-IOT-SPEC §1.8).
public struct TopicLimits: Sendable, Hashable {
    /// Maximum UTF-8 bytes of a topic name or of the filter part of a subscription.
    public var maxLength: Int
    /// Maximum number of `/` separators (7 → 8 levels). `$share/<group>/` is not counted.
    public var maxSlashes: Int
    /// Maximum length of a `$share` group name.
    public var maxShareNameLength: Int

    public init(maxLength: Int = 256, maxSlashes: Int = 7, maxShareNameLength: Int = 128) {
        self.maxLength = maxLength
        self.maxSlashes = maxSlashes
        self.maxShareNameLength = maxShareNameLength
    }
    /// The MQTT specification's own limits (65535 bytes, no level limit).
    public static let unlimited = TopicLimits(maxLength: 65_535, maxSlashes: Int.max, maxShareNameLength: 65_535)
}

public enum TopicError: Error, Hashable, Sendable {
    case empty
    case tooLong(Int)
    case tooManyLevels(Int)
    /// `+` or `#` in a topic name ([MQTT-3.3.2-2]).
    case wildcardInTopicName
    /// `#` not last or not alone in its level, `+` not alone in its level ([MQTT-4.7.1-1], [MQTT-4.7.1-2]).
    case invalidWildcard
    /// U+0000 anywhere ([MQTT-4.7.3-2]).
    case nullCharacter
    /// `$share/` without a valid group name (empty, or containing `+`, `#`) or without a filter ([MQTT-4.8.2-1], [MQTT-4.8.2-2]).
    case invalidSharedSubscription
}

/// A validated subscription filter. For `$share/g/a/+`, `raw` is the whole string, `filter` is `a/+`, `shareGroup` is `g`.
public struct TopicFilter: Sendable, Hashable {
    public let raw: String
    public let filter: String
    public let shareGroup: String?
    public let hasWildcards: Bool
    public init(raw: String, filter: String, shareGroup: String?, hasWildcards: Bool) {
        self.raw = raw
        self.filter = filter
        self.shareGroup = shareGroup
        self.hasWildcards = hasWildcards
    }
}

public enum Topic {
    /// Validates a PUBLISH topic name (STUB).
    public static func validateName(_ name: String, limits: TopicLimits = TopicLimits()) throws(TopicError) {
        fatalError("not implemented")
    }
    /// Parses and validates a SUBSCRIBE/UNSUBSCRIBE filter, including `$share/{group}/{filter}` (STUB).
    public static func parseFilter(_ filter: String, limits: TopicLimits = TopicLimits()) throws(TopicError) -> TopicFilter {
        fatalError("not implemented")
    }
    /// Whether `filter` (without any `$share` prefix) matches `topic`, with the `$`-rule of [MQTT-4.7.2-1] (STUB).
    public static func matches(filter: String, topic: String) -> Bool {
        fatalError("not implemented")
    }
}
