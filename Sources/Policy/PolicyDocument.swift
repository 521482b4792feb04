/// A parsed AWS IoT policy document (AWS-IOT-SPEC §2.4): IAM's grammar with `Version`, `Id` and `Statement`.
///
/// Parse it once from the JSON text the control plane stores (``init(json:maxCharacters:)``), then evaluate it as
/// often as needed with ``PolicyEngine``. Parsing checks everything that can be checked without a request, so a
/// document that parses never fails later; what it cannot know (an unknown variable or condition key) simply does
/// not match at evaluation time.
///
/// Versions: `2012-10-17` enables policy variables (`${iot:ClientId}`, …). `2008-10-17`, and a document without
/// `Version`, are accepted as IAM accepts them, but there `${…}` is ordinary text — IAM's rule for older versions.
public struct PolicyDocument: Hashable, Sendable {
    /// The `Version` member as written, or nil when absent.
    public let version: String?
    /// The optional `Id` member.
    public let id: String?
    /// The statements in document order (`Statement` may be a single object; it then becomes one element here).
    public let statements: [PolicyStatement]

    /// The one version in which `${…}` policy variables are substituted.
    public static let currentVersion = "2012-10-17"
    /// AWS's limit for IoT policy documents and for documents a custom authorizer returns: 2048 characters,
    /// whitespace excluded (AWS-IOT-SPEC §2.3, §2.4).
    public static let awsMaxCharacters = 2048

    /// Whether `${…}` in resources and condition values are policy variables (true only for `2012-10-17`).
    public var substitutesVariables: Bool { version == Self.currentVersion }

    /// Parses and validates a policy document. `maxCharacters` counts Unicode scalars other than JSON whitespace
    /// (space, tab, CR, LF); nil removes the limit.
    public init(json text: String, maxCharacters: Int? = PolicyDocument.awsMaxCharacters) throws(PolicyError) {
        if let limit = maxCharacters {
            var count = 0
            for s in text.unicodeScalars where !(s == " " || s == "\t" || s == "\n" || s == "\r") { count += 1 }
            if count > limit { throw .documentTooLarge(characters: count, limit: limit) }
        }
        guard case .object(let members) = try PolicyJSON.parse(text) else { throw .documentNotAnObject }
        let top = try Self.uniqueMembers(members, where: "the document")
        var version: String?
        var id: String?
        var statementJSON: PolicyJSON?
        for (key, value) in top {
            switch key {
            case "Version":
                guard case .string(let v) = value else {
                    throw .invalidType(element: "Version", statement: nil, expected: "a string")
                }
                guard v == "2012-10-17" || v == "2008-10-17" else { throw .unsupportedVersion(v) }
                version = v
            case "Id":
                guard case .string(let v) = value else {
                    throw .invalidType(element: "Id", statement: nil, expected: "a string")
                }
                id = v
            case "Statement":
                statementJSON = value
            default:
                throw .unknownTopLevelKey(key)
            }
        }
        guard let statementJSON else { throw .missingStatement }
        let raw: [PolicyJSON]
        switch statementJSON {
        case .object: raw = [statementJSON]
        case .array(let items):
            guard !items.isEmpty else { throw .emptyStatement }
            raw = items
        default:
            throw .invalidType(element: "Statement", statement: nil, expected: "an object or an array of objects")
        }
        let variables = version == Self.currentVersion
        var statements: [PolicyStatement] = []
        for (i, s) in raw.enumerated() {
            statements.append(try PolicyStatement(json: s, index: i, variables: variables))
        }
        self.version = version
        self.id = id
        self.statements = statements
    }

    /// The members of an object, refusing duplicate names.
    static func uniqueMembers(
        _ members: [(key: String, value: PolicyJSON)], where place: String
    ) throws(PolicyError) -> [(key: String, value: PolicyJSON)] {
        var seen = Set<String>()
        for m in members where !seen.insert(m.key).inserted { throw .duplicateKey(m.key, where: place) }
        return members
    }
}

/// `Allow` or `Deny`.
public enum Effect: String, Hashable, Sendable {
    case allow = "Allow"
    case deny = "Deny"
}

/// One statement of a ``PolicyDocument``.
public struct PolicyStatement: Hashable, Sendable {
    /// The optional `Sid`.
    public let sid: String?
    public let effect: Effect
    /// The `Action` (or, when ``isNotAction``, `NotAction`) patterns as written.
    public let actions: [String]
    /// True when the statement used `NotAction`: it applies to every action *not* listed.
    public let isNotAction: Bool
    /// The `Resource` (or, when ``isNotResource``, `NotResource`) patterns as written.
    public let resources: [String]
    /// True when the statement used `NotResource`: it applies to every resource *not* listed.
    public let isNotResource: Bool
    /// The `Condition` block, one entry per operator and key (all must hold).
    public let conditions: [PolicyCondition]

    /// Lower-cased action patterns (actions compare case-insensitively, as in AWS).
    let actionPatterns: [[PatternToken]]
    /// Resource patterns with their `${…}` variables located (literal text when the version has no variables).
    let resourceTemplates: [Template]

    init(json: PolicyJSON, index i: Int, variables: Bool) throws(PolicyError) {
        guard case .object(let rawMembers) = json else {
            throw .invalidType(element: "Statement", statement: i, expected: "an object")
        }
        let members = try PolicyDocument.uniqueMembers(rawMembers, where: "statement \(i + 1)")
        var sid: String?
        var effect: Effect?
        var action: [String]?
        var notAction: [String]?
        var resource: [String]?
        var notResource: [String]?
        var conditions: [PolicyCondition] = []
        for (key, value) in members {
            switch key {
            case "Sid":
                guard case .string(let s) = value else {
                    throw .invalidType(element: "Sid", statement: i, expected: "a string")
                }
                sid = s
            case "Effect":
                guard case .string(let e) = value else {
                    throw .invalidType(element: "Effect", statement: i, expected: "a string")
                }
                guard let parsed = Effect(rawValue: e) else { throw .invalidEffect(e, statement: i) }
                effect = parsed
            case "Action": action = try Self.stringList(value, element: key, statement: i)
            case "NotAction": notAction = try Self.stringList(value, element: key, statement: i)
            case "Resource": resource = try Self.stringList(value, element: key, statement: i)
            case "NotResource": notResource = try Self.stringList(value, element: key, statement: i)
            case "Condition": conditions = try PolicyCondition.parseBlock(value, statement: i, variables: variables)
            case "Principal", "NotPrincipal": throw .principalNotAllowed(statement: i)
            default: throw .unknownStatementKey(key, statement: i)
            }
        }
        guard let effect else { throw .missingEffect(statement: i) }
        if action != nil, notAction != nil { throw .bothActionAndNotAction(statement: i) }
        guard let actions = action ?? notAction else { throw .missingAction(statement: i) }
        if resource != nil, notResource != nil { throw .bothResourceAndNotResource(statement: i) }
        guard let resources = resource ?? notResource else { throw .missingResource(statement: i) }
        for a in actions where !Self.isValidAction(a) { throw .invalidAction(a, statement: i) }
        for r in resources where !(r == "*" || r.hasPrefix("arn:")) { throw .invalidResource(r, statement: i) }

        self.sid = sid
        self.effect = effect
        self.actions = actions
        self.isNotAction = notAction != nil
        self.resources = resources
        self.isNotResource = notResource != nil
        self.conditions = conditions
        self.actionPatterns = actions.map { PatternToken.compile(asciiLowercased($0)) }
        self.resourceTemplates = resources.map { Template(parsing: $0, variables: variables) }
    }

    /// A string, or a non-empty array of strings.
    static func stringList(_ value: PolicyJSON, element: String, statement i: Int) throws(PolicyError) -> [String] {
        let expected = "a string or an array of strings"
        switch value {
        case .string(let s): return [s]
        case .array(let items):
            guard !items.isEmpty else { throw .emptyElement(element: element, statement: i) }
            var out: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    throw .invalidType(element: element, statement: i, expected: expected)
                }
                out.append(s)
            }
            return out
        default:
            throw .invalidType(element: element, statement: i, expected: expected)
        }
    }

    /// `*`, or `<service>:<action>` where both parts are non-empty and may hold `*`/`?` (`iot:*`, `iot:Get*`).
    static func isValidAction(_ a: String) -> Bool {
        if a == "*" { return true }
        let parts = a.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        let serviceOK = parts[0].unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "*"
                || $0 == "?"
        }
        let actionOK = parts[1].unicodeScalars.allSatisfy { $0.properties.isWhitespace == false && $0.value >= 0x21 }
        return serviceOK && actionOK
    }
}

/// ASCII-only lower-casing: AWS action names are ASCII, and this keeps comparison independent of locale tables.
func asciiLowercased(_ s: String) -> String {
    var scalars = String.UnicodeScalarView()
    for c in s.unicodeScalars {
        if c.value >= 0x41 && c.value <= 0x5A {
            scalars.append(Unicode.Scalar(c.value + 0x20)!)
        } else {
            scalars.append(c)
        }
    }
    return String(scalars)
}
