import IoTTypes

/// One version of an IoT policy: the document as the client sent it (JSON text; the control plane checked it with
/// the policy engine before proposing) and when it was made.
public struct PolicyVersion: Sendable, Hashable {
    /// AWS version ids are integers as strings, from "1".
    public var versionId: Int64
    public var document: String
    public var createdAtMs: Int64

    public init(versionId: Int64, document: String, createdAtMs: Int64) {
        self.versionId = versionId
        self.document = document
        self.createdAtMs = createdAtMs
    }
}

/// An IoT policy (AWS-IOT-SPEC §2.4): up to five versions, exactly one of them the default.
public struct IoTPolicy: Sendable, Hashable {
    public var tenant: TenantID
    public var policyName: String
    /// In version id order.
    public var versions: [PolicyVersion]
    public var defaultVersionId: Int64
    /// The next version id to hand out (ids are never reused, as AWS).
    public var nextVersionId: Int64
    public var createdAtMs: Int64
    public var lastModifiedAtMs: Int64

    public var defaultVersion: PolicyVersion? { versions.first { $0.versionId == defaultVersionId } }

    public func version(_ id: Int64) -> PolicyVersion? { versions.first { $0.versionId == id } }

    /// `arn:aws:iot:<region>:<account>:policy/<name>`.
    public func policyArn(region: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):policy/\(policyName)"
    }
}

/// How a principal is attached to a thing (AWS `ThingPrincipalType`).
public enum ThingPrincipalType: UInt8, Sendable, Hashable, CaseIterable {
    /// The principal may be attached to other things too (AWS's default).
    case nonExclusive = 0
    /// The principal is attached to this thing only.
    case exclusive = 1

    public var awsName: String { self == .exclusive ? "EXCLUSIVE_THING" : "NON_EXCLUSIVE_THING" }

    public init?(awsName: String) {
        switch awsName {
        case "EXCLUSIVE_THING": self = .exclusive
        case "NON_EXCLUSIVE_THING": self = .nonExclusive
        default: return nil
        }
    }
}

/// Input rules for policies and attachments, checked inside `apply` (and by proposers, to save a log entry).
public enum PolicyRules {
    /// AWS: at most five versions per policy.
    public static let maxVersions = 5
    /// AWS: at most ten policies attached to one target.
    public static let maxPoliciesPerTarget = 10
    /// AWS counts 2048 characters without whitespace; stored documents are bounded in bytes with room for it.
    public static let maxDocumentCharacters = 2048
    public static let maxStoredDocumentBytes = 20_480

    /// `[\w+=,.@-]+`, 1–128 characters.
    public static func isValidPolicyName(_ s: String) -> Bool {
        let u = s.utf8
        guard (1...128).contains(u.count) else { return false }
        return u.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || "_+=,.@-".utf8.contains(c)
        }
    }

    /// Characters of a document that AWS counts (whitespace excluded).
    public static func countedCharacters(_ document: String) -> Int {
        document.unicodeScalars.reduce(0) { n, s in
            n + ((s == " " || s == "\n" || s == "\r" || s == "\t") ? 0 : 1)
        }
    }

    /// Targets and principals are ARNs or Cognito identity ids: non-empty, at most 2048 bytes, no control characters.
    public static func isValidTarget(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 2048 && s.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }
}
