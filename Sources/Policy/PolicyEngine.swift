/// The outcome of an authorization check.
public enum Decision: Hashable, Sendable {
    /// At least one statement allowed the request and none denied it (AWS `authDecision` `ALLOWED`).
    case allow
    /// Refused; the reason says why.
    case deny(Denial)

    /// Why a request was refused.
    public enum Denial: Hashable, Sendable {
        /// A `Deny` statement matched (`EXPLICIT_DENY`); no `Allow` can override it.
        case explicit
        /// No statement allowed it (`IMPLICIT_DENY`): the default.
        case `default`
    }

    public var isAllowed: Bool { self == .allow }
}

/// The engine's full answer, for TestAuthorization-style reporting: which of the given documents allowed or denied.
public struct Evaluation: Hashable, Sendable {
    public var decision: Decision
    /// Indexes into the `policies` argument of the documents with a matching `Allow` statement.
    public var allowingPolicies: [Int]
    /// Indexes of the documents with a matching `Deny` statement.
    public var denyingPolicies: [Int]
}

/// Evaluates IoT policies (AWS-IOT-SPEC §2.4). Pure and stateless: the same request and documents always give the
/// same decision.
///
/// Algorithm:
/// 1. A statement *matches* when its action list matches the request's action (`Action`: any pattern matches,
///    case-insensitively; `NotAction`: none does), its resource list matches the resource (`Resource`: any pattern,
///    after variable substitution; `NotResource`: none — and if a `NotResource` entry has an unresolvable variable
///    the statement does not match), and every condition holds.
/// 2. Any matching `Deny` → `.deny(.explicit)`. Otherwise any matching `Allow` → `.allow`. Otherwise
///    `.deny(.default)`.
///
/// `policies` is the union of every document that applies to the principal: the ones attached to its certificate
/// (or Cognito identity, or returned by a custom authorizer) **and** the ones attached to the thing groups the
/// principal's thing belongs to, inherited down the static group hierarchy. The engine does not know where a
/// document came from; the caller resolves groups and passes their documents in the same list. Order does not
/// matter.
public enum PolicyEngine {
    public static func evaluate(request: AuthorizationRequest, policies: [PolicyDocument]) -> Decision {
        let action = asciiLowercased(request.action)
        let resource = Array(request.resource.unicodeScalars)
        var allowed = false
        for policy in policies {
            for statement in policy.statements where statement.effect == .deny || !allowed {
                guard statement.matches(action: action, resource: resource, request: request) else { continue }
                if statement.effect == .deny { return .deny(.explicit) }
                allowed = true
            }
        }
        return allowed ? .allow : .deny(.default)
    }

    /// Like ``evaluate(request:policies:)``, but looks at every document and reports which allowed and which
    /// denied.
    public static func explain(request: AuthorizationRequest, policies: [PolicyDocument]) -> Evaluation {
        let action = asciiLowercased(request.action)
        let resource = Array(request.resource.unicodeScalars)
        var allowing: [Int] = []
        var denying: [Int] = []
        for (i, policy) in policies.enumerated() {
            var allows = false
            var denies = false
            for statement in policy.statements
            where statement.matches(action: action, resource: resource, request: request) {
                if statement.effect == .deny { denies = true } else { allows = true }
            }
            if allows { allowing.append(i) }
            if denies { denying.append(i) }
        }
        let decision: Decision = !denying.isEmpty ? .deny(.explicit) : !allowing.isEmpty ? .allow : .deny(.default)
        return Evaluation(decision: decision, allowingPolicies: allowing, denyingPolicies: denying)
    }
}

extension PolicyStatement {
    /// `action` is the request's action lower-cased, `resource` its resource ARN as scalars.
    func matches(action: String, resource: [Unicode.Scalar], request: AuthorizationRequest) -> Bool {
        let actionListed = actionPatterns.contains { PatternToken.matches($0, action) }
        guard actionListed != isNotAction else { return false }
        guard resourceMatches(resource, in: request.context) else { return false }
        return conditions.allSatisfy { $0.holds(in: request.context) }
    }

    private func resourceMatches(_ resource: [Unicode.Scalar], in context: AuthorizationContext) -> Bool {
        if isNotResource {
            for t in resourceTemplates {
                guard let p = t.pattern(in: context) else { return false }  // unresolvable: statement does not match
                if PatternToken.matches(p, resource) { return false }
            }
            return true
        }
        // An entry whose variable cannot be resolved cannot match; the other entries still can.
        return resourceTemplates.contains { t in
            t.pattern(in: context).map { PatternToken.matches($0, resource) } ?? false
        }
    }
}
