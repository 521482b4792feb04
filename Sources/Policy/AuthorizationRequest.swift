import IoTTypes

/// The `iot:*` action names the data plane checks (AWS-IOT-SPEC §2.4). Any other `service:Action` string works with
/// ``AuthorizationRequest`` too; these are here so callers do not spell them by hand.
public enum IoTAction {
    public static let connect = "iot:Connect"
    public static let publish = "iot:Publish"
    public static let retainPublish = "iot:RetainPublish"
    public static let subscribe = "iot:Subscribe"
    public static let receive = "iot:Receive"
    public static let getRetainedMessage = "iot:GetRetainedMessage"
    public static let listRetainedMessages = "iot:ListRetainedMessages"
    public static let getThingShadow = "iot:GetThingShadow"
    public static let updateThingShadow = "iot:UpdateThingShadow"
    public static let deleteThingShadow = "iot:DeleteThingShadow"
    public static let listNamedShadowsForThing = "iot:ListNamedShadowsForThing"
    public static let describeJobExecution = "iot:DescribeJobExecution"
    public static let getPendingJobExecutions = "iot:GetPendingJobExecutions"
    public static let updateJobExecution = "iot:UpdateJobExecution"
    public static let startNextPendingJobExecution = "iot:StartNextPendingJobExecution"
    public static let assumeRoleWithCertificate = "iot:AssumeRoleWithCertificate"
}

/// One question for the engine: may this principal perform `action` on `resource`?
public struct AuthorizationRequest: Hashable, Sendable {
    /// `service:Action`, e.g. `iot:Publish` (compared case-insensitively).
    public var action: String
    /// The full resource ARN, e.g. `arn:aws:iot:us-east-1:123456789012:topic/a/b` (compared case-sensitively).
    public var resource: String
    /// Values for policy variables and condition keys.
    public var context: AuthorizationContext

    public init(action: String, resource: String, context: AuthorizationContext) {
        self.action = action
        self.resource = resource
        self.context = context
    }

    /// `arn:aws:iot:<region>:<account>:<suffix>` for the context's region and account.
    public static func arn(_ suffix: String, in context: AuthorizationContext) -> String {
        "arn:aws:iot:\(context.region):\(context.account.accountID):\(suffix)"
    }

    /// `iot:Connect` on `client/<clientId>`.
    public static func connect(clientID: String, context: AuthorizationContext) -> Self {
        Self(action: IoTAction.connect, resource: arn("client/\(clientID)", in: context), context: context)
    }
    /// `iot:Publish` on `topic/<topic>`. A retained publish needs this and ``retainPublish(topic:context:)``.
    public static func publish(topic: String, context: AuthorizationContext) -> Self {
        Self(action: IoTAction.publish, resource: arn("topic/\(topic)", in: context), context: context)
    }
    /// `iot:RetainPublish` on `topic/<topic>`.
    public static func retainPublish(topic: String, context: AuthorizationContext) -> Self {
        Self(action: IoTAction.retainPublish, resource: arn("topic/\(topic)", in: context), context: context)
    }
    /// `iot:Subscribe` on `topicfilter/<filter>`: the literal filter string, wildcards and all.
    public static func subscribe(filter: String, context: AuthorizationContext) -> Self {
        Self(action: IoTAction.subscribe, resource: arn("topicfilter/\(filter)", in: context), context: context)
    }
    /// `iot:Receive` on `topic/<topic>`, checked on every delivery.
    public static func receive(topic: String, context: AuthorizationContext) -> Self {
        Self(action: IoTAction.receive, resource: arn("topic/\(topic)", in: context), context: context)
    }
}

/// The thing attached to the connection's principal, as the registry knows it (AWS-IOT-SPEC §2.4): with a
/// non-exclusive attachment the shell passes it only when the client id equals the thing name; with an exclusive
/// attachment, the associated thing.
public struct ConnectionThing: Hashable, Sendable {
    public var name: String
    public var typeName: String?
    /// Attribute name → value (names are case-sensitive).
    public var attributes: [String: String]

    public init(name: String, typeName: String? = nil, attributes: [String: String] = [:]) {
        self.name = name
        self.typeName = typeName
        self.attributes = attributes
    }
}

/// Fields of the client certificate, for `iot:Certificate.*` variables and keys.
///
/// `subject` and `issuer` map a field name to its values in certificate order: `CommonName`, `Country`,
/// `Organization`, `OrganizationalUnit`, `State`, `DistinguishedNameQualifier`, `SerialNumber`, `Title`, `Surname`,
/// `GivenName`, `Initials`, `Pseudonym`, `GenerationQualifier` — and the alternative names under
/// `AlternativeName.DNSName`, `AlternativeName.IPAddress`, `AlternativeName.RFC822Name`,
/// `AlternativeName.UniformResourceIdentifier`, `AlternativeName.DirectoryName` (subject alternative names under
/// `subject`, issuer alternative names under `issuer`). Names compare case-insensitively.
public struct CertificateFields: Hashable, Sendable {
    public var subject: [String: [String]]
    public var issuer: [String: [String]]
    /// `iot:Certificate.SerialNumber` (the certificate's own serial, not the subject's `SerialNumber` field).
    public var serialNumber: String?

    public init(subject: [String: [String]] = [:], issuer: [String: [String]] = [:], serialNumber: String? = nil) {
        self.subject = subject
        self.issuer = issuer
        self.serialNumber = serialNumber
    }
}

/// Everything the engine may read about the request besides action and resource. Pure data: the shell fills it
/// from the connection, the registry and its clock. A nil or absent value means the key is not in the request
/// context: variables using it do not resolve, conditions on it see a missing key.
///
/// Keys it answers (case-insensitively), for both `${…}` variables and `Condition` keys:
/// - `iot:ClientId`; `iot:Connection.Thing.ThingName`, `.ThingTypeName`, `.Attributes[<name>]`, `.IsAttached`
///   (`"true"` when ``thing`` is set, otherwise `"false"`);
/// - `iot:Certificate.Subject.<F>`, `iot:Certificate.Issuer.<F>` (the first value; `.<F>.<n>` the value at
///   zero-based index n, so `.1` is the second, as AWS documents; `.<F>.List` all values, for `ForAnyValue` /
///   `ForAllValues`), `iot:Certificate.SerialNumber`, `iot:Certificate.AvailableKeys` (the keys above that have a
///   value);
/// - `iot:ConnectAttributes` (multi-valued: `PersistentConnect`, `LastWill`);
/// - `aws:SourceIp`, `aws:CurrentTime` (ISO 8601, UTC, seconds), `aws:EpochTime` (seconds), `aws:SecureTransport`,
///   `aws:PrincipalAccount` (the tenant's account id), `aws:RequestedRegion`;
/// - anything in ``additionalKeys`` (Cognito's `cognito-identity.amazonaws.com:sub`, `iot:DomainName`, …).
public struct AuthorizationContext: Hashable, Sendable {
    /// The tenant (AWS account) the request belongs to; used to build ARNs and for `aws:PrincipalAccount`.
    public var account: TenantID
    /// The region used to build ARNs, and `aws:RequestedRegion`.
    public var region: String
    /// Who authenticated. Informational for the engine (TestAuthorization-style reporting); the certificate's
    /// fields for variables come from ``certificate``.
    public var principal: Principal
    /// The MQTT client id (`iot:ClientId`); nil over HTTP, where AWS leaves it unavailable.
    public var clientID: String?
    /// The thing attached to the principal for this connection, if any.
    public var thing: ConnectionThing?
    /// The client certificate's fields, if the principal is a certificate.
    public var certificate: CertificateFields?
    /// The peer's address, IPv4 or IPv6 text (`aws:SourceIp`).
    public var sourceIP: String?
    /// Wall-clock time since the Unix epoch, injected by the shell (`aws:CurrentTime`, `aws:EpochTime`).
    public var currentTime: Timestamp?
    /// Whether the request came over TLS (`aws:SecureTransport`).
    public var secureTransport: Bool?
    /// `iot:ConnectAttributes` for `iot:Connect`: `PersistentConnect` (clean session off / session expiry > 0)
    /// and/or `LastWill`.
    public var connectAttributes: [String]?
    /// Other keys, by name (looked up case-insensitively), each with one or more values.
    public var additionalKeys: [String: [String]]

    public init(
        account: TenantID = .default, region: String = "us-east-1", principal: Principal = .anonymous,
        clientID: String? = nil, thing: ConnectionThing? = nil, certificate: CertificateFields? = nil,
        sourceIP: String? = nil, currentTime: Timestamp? = nil, secureTransport: Bool? = nil,
        connectAttributes: [String]? = nil, additionalKeys: [String: [String]] = [:]
    ) {
        self.account = account
        self.region = region
        self.principal = principal
        self.clientID = clientID
        self.thing = thing
        self.certificate = certificate
        self.sourceIP = sourceIP
        self.currentTime = currentTime
        self.secureTransport = secureTransport
        self.connectAttributes = connectAttributes
        self.additionalKeys = additionalKeys
    }
}
