/// AWS IoT's limits on policies (AWS-IOT-SPEC §2.4), for the control plane to enforce where policies are created
/// and attached. The engine itself only applies the document size, in ``PolicyDocument/init(json:maxCharacters:)``.
public enum PolicyLimits {
    /// Characters of a document, whitespace excluded.
    public static let maxDocumentCharacters = 2048
    /// Policies attached to one principal.
    public static let maxPoliciesPerPrincipal = 10
    /// Versions kept per policy (one more → `VersionsLimitExceededException`).
    public static let maxVersionsPerPolicy = 5
    public static let maxNameLength = 128

    /// A policy name: `[\w+=,.@-]+` (`\w` is ASCII letters, digits and `_`), 1–128 characters.
    public static func isValidPolicyName(_ name: String) -> Bool {
        guard !name.isEmpty, name.unicodeScalars.count <= maxNameLength else { return false }
        return name.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
                || "_+=,.@-".unicodeScalars.contains(c)
        }
    }
}
