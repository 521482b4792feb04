/// The `Condition` element: operators, their parsing and their evaluation.
///
/// Rules (IAM's, which IoT policies follow; AWS-IOT-SPEC §2.4):
/// - all operators in a block must hold (AND), all keys under an operator must hold (AND);
/// - several policy values for one key: any may match (OR); for a negated operator (`StringNotEquals`,
///   `NotIpAddress`, …) none may match (NOR);
/// - a key missing from the request context fails the condition, except: negated operators hold, `…IfExists`
///   holds, `ForAllValues:` holds (vacuously), and `Null` is about exactly that;
/// - `ForAnyValue:` holds if at least one of the key's values satisfies the operator, `ForAllValues:` if every one
///   does; without a qualifier a multi-valued key behaves like `ForAnyValue:` (and like "no value matches" for a
///   negated operator);
/// - a policy variable in a condition value that cannot be resolved makes the condition fail (the statement then
///   does not apply, whether it allows or denies) — the spec's "unresolvable variable → the statement does not
///   match".
public struct PolicyCondition: Hashable, Sendable {
    /// `ForAnyValue:` / `ForAllValues:` prefixes.
    public enum Qualifier: Hashable, Sendable {
        case none
        case forAnyValue
        case forAllValues
    }

    public let qualifier: Qualifier
    public let `operator`: ConditionOperator
    /// The `…IfExists` suffix: a missing key makes the condition hold.
    public let ifExists: Bool
    /// The context key as written (e.g. `iot:Connection.Thing.IsAttached`).
    public let key: String
    /// The policy's values as written (numbers and booleans as their JSON text).
    public let values: [String]

    let templates: [Template]

    /// Parses a whole `Condition` object into one entry per operator and key.
    static func parseBlock(
        _ json: PolicyJSON, statement i: Int, variables: Bool
    ) throws(PolicyError) -> [PolicyCondition] {
        guard case .object(let rawOps) = json else {
            throw .invalidType(element: "Condition", statement: i, expected: "an object")
        }
        var out: [PolicyCondition] = []
        for (opName, body) in try PolicyDocument.uniqueMembers(rawOps, where: "the Condition of statement \(i + 1)") {
            guard let (qualifier, op, ifExists) = Self.parseOperator(opName) else {
                throw .unknownConditionOperator(opName, statement: i)
            }
            guard case .object(let rawKeys) = body else {
                throw .invalidType(element: "Condition \(opName)", statement: i, expected: "an object")
            }
            let keys = try PolicyDocument.uniqueMembers(rawKeys, where: "condition \(opName) of statement \(i + 1)")
            for (key, value) in keys {
                let values = try Self.values(value, op: opName, key: key, statement: i)
                if op == .null, !values.allSatisfy({ ["true", "false"].contains(asciiLowercased($0)) }) {
                    throw .invalidConditionValue(operator: opName, key: key, statement: i)
                }
                out.append(
                    PolicyCondition(
                        qualifier: qualifier, operator: op, ifExists: ifExists, key: key, values: values,
                        templates: values.map { Template(parsing: $0, variables: variables) }))
            }
        }
        return out
    }

    private static func values(
        _ json: PolicyJSON, op: String, key: String, statement i: Int
    ) throws(PolicyError) -> [String] {
        func scalar(_ v: PolicyJSON) -> String? {
            switch v {
            case .string(let s): s
            case .number(let n): n
            case .bool(let b): b ? "true" : "false"
            default: nil
            }
        }
        if let s = scalar(json) { return [s] }
        guard case .array(let items) = json, !items.isEmpty else {
            throw .invalidConditionValue(operator: op, key: key, statement: i)
        }
        var out: [String] = []
        for item in items {
            guard let s = scalar(item) else { throw .invalidConditionValue(operator: op, key: key, statement: i) }
            out.append(s)
        }
        return out
    }

    /// `[ForAnyValue:|ForAllValues:]<Operator>[IfExists]`, case-insensitively. `Null` takes neither decoration's
    /// `IfExists` (it would make no sense).
    static func parseOperator(_ name: String) -> (Qualifier, ConditionOperator, Bool)? {
        var rest = asciiLowercased(name)
        var qualifier = Qualifier.none
        if rest.hasPrefix("foranyvalue:") {
            qualifier = .forAnyValue
            rest.removeFirst("foranyvalue:".count)
        } else if rest.hasPrefix("forallvalues:") {
            qualifier = .forAllValues
            rest.removeFirst("forallvalues:".count)
        }
        var ifExists = false
        if let op = ConditionOperator.byLowercasedName[rest] { return (qualifier, op, false) }
        if rest.hasSuffix("ifexists") {
            rest.removeLast("ifexists".count)
            ifExists = true
        }
        guard let op = ConditionOperator.byLowercasedName[rest], !(ifExists && op == .null) else { return nil }
        return (qualifier, op, ifExists)
    }

    // MARK: - Evaluation

    func holds(in context: AuthorizationContext) -> Bool {
        let requestValues = context.values(forKey: key)
        if `operator` == .null {
            let absent = requestValues == nil
            return values.contains { asciiLowercased($0) == "true" ? absent : !absent }
        }
        var policyValues: [PolicyValue] = []
        for t in templates {
            guard let v = PolicyValue(t, for: `operator`, in: context) else { return false }
            policyValues.append(v)
        }
        guard let requestValues else {
            if ifExists { return true }
            switch qualifier {
            case .forAllValues: return true
            case .forAnyValue: return false
            case .none: return `operator`.isNegated
            }
        }
        let positive = `operator`.positive
        func satisfies(_ v: String) -> Bool {
            let matched = policyValues.contains { positive.matches(request: v, policy: $0) }
            return `operator`.isNegated ? !matched : matched
        }
        switch qualifier {
        case .forAllValues: return requestValues.allSatisfy(satisfies)
        case .forAnyValue: return requestValues.contains(where: satisfies)
        case .none:
            return `operator`.isNegated
                ? requestValues.allSatisfy(satisfies) : requestValues.contains(where: satisfies)
        }
    }
}

/// A policy value after variable substitution: text, or a pattern for the `…Like` and ARN operators.
enum PolicyValue {
    case text(String)
    case pattern([PatternToken])

    init?(_ t: Template, for op: ConditionOperator, in context: AuthorizationContext) {
        switch op.positive {
        case .stringLike, .arnEquals, .arnLike:
            guard let p = t.pattern(in: context) else { return nil }
            self = .pattern(p)
        default:
            guard let s = t.resolved(in: context) else { return nil }
            self = .text(s)
        }
    }
}

/// IAM's condition operators (without the `ForAnyValue:`/`ForAllValues:` qualifiers and `IfExists` suffix).
public enum ConditionOperator: String, Hashable, Sendable, CaseIterable {
    case stringEquals = "StringEquals"
    case stringNotEquals = "StringNotEquals"
    case stringEqualsIgnoreCase = "StringEqualsIgnoreCase"
    case stringNotEqualsIgnoreCase = "StringNotEqualsIgnoreCase"
    case stringLike = "StringLike"
    case stringNotLike = "StringNotLike"
    case numericEquals = "NumericEquals"
    case numericNotEquals = "NumericNotEquals"
    case numericLessThan = "NumericLessThan"
    case numericLessThanEquals = "NumericLessThanEquals"
    case numericGreaterThan = "NumericGreaterThan"
    case numericGreaterThanEquals = "NumericGreaterThanEquals"
    case dateEquals = "DateEquals"
    case dateNotEquals = "DateNotEquals"
    case dateLessThan = "DateLessThan"
    case dateLessThanEquals = "DateLessThanEquals"
    case dateGreaterThan = "DateGreaterThan"
    case dateGreaterThanEquals = "DateGreaterThanEquals"
    case bool = "Bool"
    case binaryEquals = "BinaryEquals"
    case ipAddress = "IpAddress"
    case notIpAddress = "NotIpAddress"
    case arnEquals = "ArnEquals"
    case arnLike = "ArnLike"
    case arnNotEquals = "ArnNotEquals"
    case arnNotLike = "ArnNotLike"
    case null = "Null"

    static let byLowercasedName: [String: ConditionOperator] = Dictionary(
        uniqueKeysWithValues: allCases.map { (asciiLowercased($0.rawValue), $0) })

    /// The negated operators: their values combine with NOR, and a missing key satisfies them.
    public var isNegated: Bool { positive != self }

    /// The operator a negated one negates (itself for the others).
    var positive: ConditionOperator {
        switch self {
        case .stringNotEquals: .stringEquals
        case .stringNotEqualsIgnoreCase: .stringEqualsIgnoreCase
        case .stringNotLike: .stringLike
        case .numericNotEquals: .numericEquals
        case .dateNotEquals: .dateEquals
        case .notIpAddress: .ipAddress
        case .arnNotEquals: .arnEquals
        case .arnNotLike: .arnLike
        default: self
        }
    }

    /// One request value against one policy value, for a non-negated operator.
    func matches(request r: String, policy p: PolicyValue) -> Bool {
        switch (self, p) {
        case (.stringEquals, .text(let v)), (.binaryEquals, .text(let v)): return r == v
        case (.stringEqualsIgnoreCase, .text(let v)): return r.lowercased() == v.lowercased()
        case (.stringLike, .pattern(let tokens)): return PatternToken.matches(tokens, r)
        case (.bool, .text(let v)): return asciiLowercased(r) == asciiLowercased(v)
        case (.ipAddress, .text(let v)):
            guard let range = IPAddressRange(v), let address = IPAddressRange.parseAddress(Substring(r)) else {
                return false
            }
            return range.contains(address)
        case (.arnEquals, .pattern(let tokens)), (.arnLike, .pattern(let tokens)):
            return Self.arnMatches(tokens, r)
        case (.numericEquals, .text(let v)), (.numericLessThan, .text(let v)), (.numericLessThanEquals, .text(let v)),
            (.numericGreaterThan, .text(let v)), (.numericGreaterThanEquals, .text(let v)):
            guard let a = Double(r), let b = Double(v), a.isFinite, b.isFinite else { return false }
            return compare(a, b)
        case (.dateEquals, .text(let v)), (.dateLessThan, .text(let v)), (.dateLessThanEquals, .text(let v)),
            (.dateGreaterThan, .text(let v)), (.dateGreaterThanEquals, .text(let v)):
            guard let a = PolicyDate.parse(r), let b = PolicyDate.parse(v) else { return false }
            return compare(a, b)
        default:
            return false
        }
    }

    private func compare<T: Comparable>(_ a: T, _ b: T) -> Bool {
        switch self {
        case .numericEquals, .dateEquals: a == b
        case .numericLessThan, .dateLessThan: a < b
        case .numericLessThanEquals, .dateLessThanEquals: a <= b
        case .numericGreaterThan, .dateGreaterThan: a > b
        case .numericGreaterThanEquals, .dateGreaterThanEquals: a >= b
        default: false
        }
    }

    /// `ArnEquals`/`ArnLike` (identical in IAM): the six `:`-separated parts are matched one by one, so a `*` in
    /// the region part cannot swallow the account; the last part (the resource) may itself contain `:`.
    static func arnMatches(_ pattern: [PatternToken], _ arn: String) -> Bool {
        var parts: [[PatternToken]] = [[]]
        for t in pattern {
            if t == .scalar(":"), parts.count < 6 { parts.append([]) } else { parts[parts.count - 1].append(t) }
        }
        let arnParts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, arnParts.count == 6 else { return false }
        return zip(parts, arnParts).allSatisfy { PatternToken.matches($0, String($1)) }
    }
}
