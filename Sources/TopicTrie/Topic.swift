/// Limits applied to topic names and filters. Defaults are AWS IoT Core's (AWS-IOT-SPEC §1.8).
public struct TopicLimits: Sendable, Hashable {
    /// Maximum UTF-8 bytes of a topic name or of the filter part of a subscription.
    public var maxLength: Int
    /// Maximum number of `/` separators (7 → 8 levels). `$share/<group>/` is not counted.
    public var maxSlashes: Int
    /// Maximum length of a `$share` group name, in UTF-8 bytes.
    public var maxShareNameLength: Int

    public init(maxLength: Int = 256, maxSlashes: Int = 7, maxShareNameLength: Int = 128) {
        self.maxLength = maxLength
        self.maxSlashes = maxSlashes
        self.maxShareNameLength = maxShareNameLength
    }
    /// The MQTT specification's own limits (65535 bytes, no level limit).
    public static let unlimited = TopicLimits(maxLength: 65_535, maxSlashes: Int.max, maxShareNameLength: 65_535)
}

/// Why a topic name or filter was rejected.
///
/// Checks run in a fixed order, so one input always gives the same error: `empty`, then (for `$share/…`)
/// the group, then `tooLong`, then a single left-to-right scan that reports the first `nullCharacter` or
/// wildcard problem, then `tooManyLevels`.
public enum TopicError: Error, Hashable, Sendable {
    /// A zero-length name or filter ([MQTT-4.7.3-1]).
    case empty
    /// More UTF-8 bytes than `TopicLimits.maxLength`; carries the byte count found.
    case tooLong(Int)
    /// More `/` than `TopicLimits.maxSlashes`; carries the number of levels found (slashes + 1).
    case tooManyLevels(Int)
    /// `+` or `#` in a topic name ([MQTT-3.3.2-2]).
    case wildcardInTopicName
    /// `#` not last or not alone in its level, `+` not alone in its level ([MQTT-4.7.1-2], [MQTT-4.7.1-3]).
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

/// Validation and matching of MQTT topic names and filters.
///
/// Everything works on UTF-8 bytes: the server must not normalize topics ([MQTT-4.7.3-4]), so `"é"` written as
/// U+00E9 and as `e` + U+0301 are different topics here even though Swift's `==` calls them equal.
public enum Topic {
    /// Validates a PUBLISH topic name.
    ///
    /// Names starting with `$` are accepted; whether a client may publish to a reserved topic is the broker's call.
    public static func validateName(_ name: String, limits: TopicLimits = TopicLimits()) throws(TopicError) {
        let utf8 = name.utf8
        guard !utf8.isEmpty else { throw .empty }  // [MQTT-4.7.3-1]
        guard utf8.count <= limits.maxLength else { throw .tooLong(utf8.count) }
        var slashes = 0
        for byte in utf8 {
            switch byte {
            case .slash: slashes += 1
            case .plus, .hash: throw .wildcardInTopicName  // [MQTT-3.3.2-2]
            case .null: throw .nullCharacter  // [MQTT-4.7.3-2]
            default: break
            }
        }
        guard slashes <= limits.maxSlashes else { throw .tooManyLevels(slashes + 1) }
    }

    /// Parses and validates a SUBSCRIBE/UNSUBSCRIBE filter, including `$share/{group}/{filter}`.
    ///
    /// The `$share/{group}/` prefix does not count toward `maxLength` or `maxSlashes`. A string that merely starts
    /// with `$share` but not `$share/` (such as `$share` or `$shared/x`) is an ordinary filter.
    public static func parseFilter(_ filter: String, limits: TopicLimits = TopicLimits()) throws(TopicError)
        -> TopicFilter
    {
        guard !filter.isEmpty else { throw .empty }  // [MQTT-4.7.3-1]
        guard let (group, rest) = try self.splitShare(filter, limits: limits) else {
            let hasWildcards = try self.validateFilter(Substring(filter), limits: limits)
            return TopicFilter(raw: filter, filter: filter, shareGroup: nil, hasWildcards: hasWildcards)
        }
        let hasWildcards = try self.validateFilter(rest, limits: limits)
        return TopicFilter(raw: filter, filter: String(rest), shareGroup: String(group), hasWildcards: hasWildcards)
    }

    /// Whether `filter` (without any `$share` prefix) matches `topic`, with the `$`-rule of [MQTT-4.7.2-1].
    ///
    /// Levels are compared byte for byte. A level that is exactly `+` matches any one level, including an empty one;
    /// a last level that is exactly `#` matches the parent level and any number of levels below it. Anything else,
    /// including a `#` that is not last in an invalid filter, is compared literally. This is the reference the tries
    /// are tested against.
    public static func matches(filter: String, topic: String) -> Bool {
        var filterLevels = TopicLevels(filter)
        var topicLevels = TopicLevels(topic)
        let reserved = topic.utf8.first == .dollar
        var isFirstLevel = true
        while let filterLevel = filterLevels.next() {
            if filterLevels.isAtEnd && filterLevel.isMultiLevelWildcard {
                return !(isFirstLevel && reserved)  // [MQTT-4.7.1-2] parent included; [MQTT-4.7.2-1]
            }
            guard let topicLevel = topicLevels.next() else { return false }
            if filterLevel.isSingleLevelWildcard {
                if isFirstLevel && reserved { return false }  // [MQTT-4.7.2-1]
            } else if !filterLevel.utf8.elementsEqual(topicLevel.utf8) {
                return false
            }
            isFirstLevel = false
        }
        return topicLevels.next() == nil
    }

    // MARK: - Helpers

    /// Splits `$share/{group}/{rest}`; nil when `filter` is not a shared subscription.
    private static func splitShare(
        _ filter: String, limits: TopicLimits
    ) throws(TopicError) -> (group: Substring, rest: Substring)? {
        let utf8 = filter.utf8
        guard utf8.starts(with: sharePrefix) else { return nil }
        let groupStart = utf8.index(utf8.startIndex, offsetBy: sharePrefix.count)
        // [MQTT-4.8.2-2]: a `/` and a filter must follow the group.
        guard let groupEnd = utf8[groupStart...].firstIndex(of: .slash) else { throw .invalidSharedSubscription }
        let group = filter[groupStart..<groupEnd]
        // [MQTT-4.8.2-1]: the group is at least one character and contains no `/`, `+` or `#`.
        guard !group.isEmpty, group.utf8.count <= limits.maxShareNameLength else { throw .invalidSharedSubscription }
        for byte in group.utf8 {
            switch byte {
            case .plus, .hash: throw .invalidSharedSubscription
            case .null: throw .nullCharacter  // [MQTT-4.7.3-2]
            default: break
            }
        }
        let rest = filter[utf8.index(after: groupEnd)...]
        guard !rest.isEmpty else { throw .invalidSharedSubscription }  // `$share/g/` has no filter
        return (group, rest)
    }

    private static let sharePrefix = Array("$share/".utf8)

    /// Checks the filter part of a subscription; returns whether it contains a wildcard level.
    private static func validateFilter(_ filter: Substring, limits: TopicLimits) throws(TopicError) -> Bool {
        let utf8 = filter.utf8
        guard utf8.count <= limits.maxLength else { throw .tooLong(utf8.count) }
        var slashes = 0
        var atLevelStart = true
        var levelIsPlus = false  // the current level so far is exactly `+`
        var sawHash = false
        var hasWildcards = false
        for byte in utf8 {
            guard !sawHash else { throw .invalidWildcard }  // [MQTT-4.7.1-2]: `#` must be the last character
            switch byte {
            case .slash:
                slashes += 1
                atLevelStart = true
                levelIsPlus = false
                continue
            case .plus:
                guard atLevelStart else { throw .invalidWildcard }  // [MQTT-4.7.1-3]: `+` fills a whole level
                levelIsPlus = true
                hasWildcards = true
            case .hash:
                guard atLevelStart else { throw .invalidWildcard }  // [MQTT-4.7.1-2]: `#` fills a whole level
                sawHash = true
                hasWildcards = true
            case .null:
                throw .nullCharacter  // [MQTT-4.7.3-2]
            default:
                guard !levelIsPlus else { throw .invalidWildcard }  // [MQTT-4.7.1-3]
            }
            atLevelStart = false
        }
        guard slashes <= limits.maxSlashes else { throw .tooManyLevels(slashes + 1) }
        return hasWildcards
    }
}

// MARK: - Bytes and levels

extension UInt8 {
    @usableFromInline static let slash = UInt8(ascii: "/")
    @usableFromInline static let plus = UInt8(ascii: "+")
    @usableFromInline static let hash = UInt8(ascii: "#")
    @usableFromInline static let dollar = UInt8(ascii: "$")
    @usableFromInline static let null: UInt8 = 0
}

extension Substring {
    /// This level is exactly `+`.
    @inlinable var isSingleLevelWildcard: Bool { self.utf8.count == 1 && self.utf8.first == .plus }
    /// This level is exactly `#` (a wildcard only when it is also the last level).
    @inlinable var isMultiLevelWildcard: Bool { self.utf8.count == 1 && self.utf8.first == .hash }
}
