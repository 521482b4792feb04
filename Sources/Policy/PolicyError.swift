/// Why a policy document was refused. The control plane renders every case as AWS's `MalformedPolicyException`
/// (HTTP 400) with ``message`` as the body's `message`; the cases stay separate so tests and callers can tell them
/// apart. Statement indexes in the cases are zero-based; the messages count from 1, as people do.
public enum PolicyError: Error, Hashable, Sendable {
    /// The text is not JSON (RFC 8259). `offset` is the UTF-8 byte offset where reading stopped.
    case invalidJSON(offset: Int, reason: String)
    /// More than the limit of non-whitespace characters (AWS-IOT-SPEC §2.4: 2048, whitespace excluded).
    case documentTooLarge(characters: Int, limit: Int)
    /// The document is JSON but not an object.
    case documentNotAnObject
    /// A top-level member other than `Version`, `Id` and `Statement`.
    case unknownTopLevelKey(String)
    /// The same member name twice in one object (`where` names the object: "document", "statement 2", …).
    case duplicateKey(String, where: String)
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    case unsupportedVersion(String)
    /// No `Statement` member.
    case missingStatement
    /// `Statement` is an empty array.
    case emptyStatement
    /// A member has the wrong JSON type (`expected` is e.g. "a string or an array of strings").
    case invalidType(element: String, statement: Int?, expected: String)
    /// A statement member other than the IAM statement elements.
    case unknownStatementKey(String, statement: Int)
    /// A statement without `Effect`.
    case missingEffect(statement: Int)
    /// `Effect` other than `Allow` or `Deny` (case-sensitive, as in IAM).
    case invalidEffect(String, statement: Int)
    /// Neither `Action` nor `NotAction`.
    case missingAction(statement: Int)
    /// Both `Action` and `NotAction`.
    case bothActionAndNotAction(statement: Int)
    /// Neither `Resource` nor `NotResource`.
    case missingResource(statement: Int)
    /// Both `Resource` and `NotResource`.
    case bothResourceAndNotResource(statement: Int)
    /// An empty `Action`/`NotAction`/`Resource`/`NotResource` list.
    case emptyElement(element: String, statement: Int)
    /// An action that is neither `*` nor `<service>:<action>`.
    case invalidAction(String, statement: Int)
    /// A resource that is neither `*` nor an ARN (`arn:…`).
    case invalidResource(String, statement: Int)
    /// `Principal` / `NotPrincipal`: identity policies (IoT policies are attached to principals) may not name one.
    case principalNotAllowed(statement: Int)
    /// A condition operator this engine does not know (after removing `ForAnyValue:`/`ForAllValues:` and
    /// `IfExists`), or a qualifier/suffix that cannot apply to it (`NullIfExists`).
    case unknownConditionOperator(String, statement: Int)
    /// A condition key's values are empty, or not strings/numbers/booleans.
    case invalidConditionValue(operator: String, key: String, statement: Int)

    /// Text for the `message` of a `MalformedPolicyException`.
    public var message: String {
        func st(_ i: Int) -> String { "Statement \(i + 1)" }
        switch self {
        case .invalidJSON(let offset, let reason):
            return "Policy document is not valid JSON: \(reason) at offset \(offset)."
        case .documentTooLarge(let n, let limit):
            return "Policy document is too large: \(n) characters excluding whitespace; the limit is \(limit)."
        case .documentNotAnObject:
            return "Policy document must be a JSON object."
        case .unknownTopLevelKey(let k):
            return "Policy document has an unsupported element: \(k)."
        case .duplicateKey(let k, let w):
            return "Policy document has a duplicate element \(k) in \(w)."
        case .unsupportedVersion(let v):
            return "Policy document has an unsupported Version: \(v). Use 2012-10-17."
        case .missingStatement:
            return "Policy document is missing the required element Statement."
        case .emptyStatement:
            return "Policy document Statement must not be empty."
        case .invalidType(let element, let i, let expected):
            let place = i.map { " in \(st($0))" } ?? ""
            return "Policy document element \(element)\(place) must be \(expected)."
        case .unknownStatementKey(let k, let i):
            return "\(st(i)) has an unsupported element: \(k)."
        case .missingEffect(let i):
            return "\(st(i)) is missing the required element Effect."
        case .invalidEffect(let e, let i):
            return "\(st(i)) has an invalid Effect: \(e). Effect must be Allow or Deny."
        case .missingAction(let i):
            return "\(st(i)) must contain Action or NotAction."
        case .bothActionAndNotAction(let i):
            return "\(st(i)) must not contain both Action and NotAction."
        case .missingResource(let i):
            return "\(st(i)) must contain Resource or NotResource."
        case .bothResourceAndNotResource(let i):
            return "\(st(i)) must not contain both Resource and NotResource."
        case .emptyElement(let element, let i):
            return "\(st(i)) has an empty \(element)."
        case .invalidAction(let a, let i):
            return "\(st(i)) has an invalid action: \(a). Actions must be \"*\" or <service>:<action>."
        case .invalidResource(let r, let i):
            return "\(st(i)) has an invalid resource: \(r). Resources must be \"*\" or an ARN."
        case .principalNotAllowed(let i):
            return "\(st(i)): a policy attached to a principal must not specify Principal or NotPrincipal."
        case .unknownConditionOperator(let op, let i):
            return "\(st(i)) has an unsupported condition operator: \(op)."
        case .invalidConditionValue(let op, let key, let i):
            return "\(st(i)) has an invalid value for condition \(op) on \(key)."
        }
    }
}
