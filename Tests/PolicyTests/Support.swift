import IoTTypes

@testable import Policy

/// Shared fixtures: one account and region, ARNs in it, and one-statement documents.
enum Fixture {
    static let account = "123456789012"
    static let region = "us-east-1"

    static func arn(_ suffix: String) -> String { "arn:aws:iot:\(region):\(account):\(suffix)" }

    static func context(
        clientID: String? = "dev-1", thing: ConnectionThing? = nil, certificate: CertificateFields? = nil,
        sourceIP: String? = nil, time: Int64? = nil, connectAttributes: [String]? = nil,
        extra: [String: [String]] = [:]
    ) -> AuthorizationContext {
        AuthorizationContext(
            account: TenantID(account), region: region, principal: .certificate(id: String(repeating: "a", count: 64)),
            clientID: clientID, thing: thing, certificate: certificate, sourceIP: sourceIP,
            currentTime: time.map { Timestamp.seconds($0) }, secureTransport: true,
            connectAttributes: connectAttributes, additionalKeys: extra)
    }

    /// `{"Version":"2012-10-17","Statement":[{"Effect":…,"Action":…,"Resource":…[,"Condition":…]}]}` with the
    /// action/resource given as JSON fragments (a quoted string or an array).
    static func document(
        effect: String = "Allow", action: String = "\"iot:*\"", resource: String = "\"*\"", condition: String? = nil,
        notAction: Bool = false, notResource: Bool = false, version: String? = "2012-10-17"
    ) -> String {
        var members = ["\"Effect\":\"\(effect)\""]
        members.append("\"\(notAction ? "NotAction" : "Action")\":\(action)")
        members.append("\"\(notResource ? "NotResource" : "Resource")\":\(resource)")
        if let condition { members.append("\"Condition\":\(condition)") }
        let v = version.map { "\"Version\":\"\($0)\"," } ?? ""
        return "{\(v)\"Statement\":[{\(members.joined(separator: ","))}]}"
    }

    static func parse(_ json: String) -> PolicyDocument {
        do { return try PolicyDocument(json: json) } catch { fatalError("fixture did not parse: \(error.message)\n\(json)") }
    }

    static func decide(_ docs: [String], _ request: AuthorizationRequest) -> Decision {
        PolicyEngine.evaluate(request: request, policies: docs.map(parse))
    }
}
