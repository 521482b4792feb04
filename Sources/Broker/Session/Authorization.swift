import IoTTypes

// The broker's authorization port (AWS-IOT-SPEC §2.4). The broker does not know policies: it asks a
// per-connection ``ConnectionAuthorizer`` (made at CONNECT by an ``Authorizing`` factory the executable wires over
// the replicated registry and the policy engine) and keeps the answers in an ``AuthorizationCache`` that is dropped
// whenever the factory's ``AuthorizationEpoch`` moves.

/// One data-plane question: may this connection do this? The resource strings are the literal MQTT names (AWS
/// builds `client/<id>`, `topic/<name>`, `topicfilter/<filter>` from them).
public enum AuthorizationAction: Hashable, Sendable {
    /// `iot:Connect` on `client/<clientId>`.
    case connect
    /// `iot:Publish` on `topic/<topic>`.
    case publish(topic: String)
    /// `iot:RetainPublish` on `topic/<topic>` (a retained publish needs this and ``publish(topic:)``).
    case retainPublish(topic: String)
    /// `iot:Subscribe` on `topicfilter/<filter>`: the filter as the client sent it (`$share/…` included).
    case subscribe(filter: String)
    /// `iot:Receive` on `topic/<topic>`, at every delivery.
    case receive(topic: String)

    /// The `iot:` action name, for logs and metric labels.
    public var name: String {
        switch self {
        case .connect: "iot:Connect"
        case .publish: "iot:Publish"
        case .retainPublish: "iot:RetainPublish"
        case .subscribe: "iot:Subscribe"
        case .receive: "iot:Receive"
        }
    }

    public var isReceive: Bool {
        if case .receive = self { return true }
        return false
    }

    /// The topic or filter the action is about (empty for connect).
    public var resourceName: String {
        switch self {
        case .connect: ""
        case .publish(let t), .retainPublish(let t), .receive(let t): t
        case .subscribe(let f): f
        }
    }
}

/// Who is asking, as CONNECT established it.
public struct ConnectionIdentity: Hashable, Sendable {
    public var tenant: TenantID
    public var principal: Principal
    /// The MQTT client id; nil over HTTPS, where AWS leaves `iot:ClientId` unavailable.
    public var clientID: String?
    /// The client certificate's names, for `iot:Certificate.*` (nil: no certificate, or not known).
    public var certificateNames: CertificateNames?
    /// The peer's address (`aws:SourceIp`), when the shell knows it.
    public var sourceIP: String?
    /// `iot:ConnectAttributes`: the session outlives the connection (3.1.1 clean session 0, v5 expiry > 0).
    public var persistentConnect: Bool
    /// `iot:ConnectAttributes`: CONNECT carries a Will.
    public var lastWill: Bool

    public init(tenant: TenantID, principal: Principal, clientID: String?, certificateNames: CertificateNames? = nil,
                sourceIP: String? = nil, persistentConnect: Bool = false, lastWill: Bool = false) {
        self.tenant = tenant
        self.principal = principal
        self.clientID = clientID
        self.certificateNames = certificateNames
        self.sourceIP = sourceIP
        self.persistentConnect = persistentConnect
        self.lastWill = lastWill
    }
}

/// Where authorization decisions come from. Changes whenever any decision may have changed (a policy, an
/// attachment, a certificate's status, a thing attached to a principal, a state restored from a snapshot).
public struct AuthorizationEpoch: Hashable, Sendable {
    public var restores: Int
    public var generation: UInt64
    public init(restores: Int, generation: UInt64) {
        self.restores = restores
        self.generation = generation
    }
}

/// One connection's authorizer. Its answers are uncached evaluations; ``AuthorizationCache`` caches them.
public protocol ConnectionAuthorizer: Sendable {
    /// The current epoch of the source: a cheap read, asked before every cached answer is used.
    func epoch() -> AuthorizationEpoch
    /// Whether the connection's principal still authenticates (its certificate is still ACTIVE). Asked once per
    /// epoch; false ends the connection (AWS disconnects devices whose certificate leaves ACTIVE).
    func principalIsActive() -> Bool
    func isAllowed(_ action: AuthorizationAction) -> Bool
}

/// Makes a connection's authorizer at CONNECT.
public protocol Authorizing: Sendable {
    /// The source's current epoch (the shell polls it to end connections whose certificate left ACTIVE).
    func epoch() -> AuthorizationEpoch
    /// Nil when this connection is not subject to policies (the plain development listener's `.anonymous`).
    func authorizer(for identity: ConnectionIdentity) -> (any ConnectionAuthorizer)?
}

/// A connection's cached decisions. Bounded (a client publishing to ever new topics would otherwise grow it
/// without end: past ``limit`` entries it starts again empty), and emptied whenever the epoch moves, so a policy
/// change, detach or certificate status change applies to the next operation without a reconnect.
public struct AuthorizationCache: Sendable {
    public enum Answer: Sendable, Hashable {
        case allow
        case deny
        /// The principal no longer authenticates: end the connection.
        case principalInactive
    }

    public let authorizer: any ConnectionAuthorizer
    public let limit: Int
    private var epoch: AuthorizationEpoch
    private var active: Bool
    private var decisions: [AuthorizationAction: Bool] = [:]
    /// How many answers came from the cache (for tests and metrics).
    public private(set) var hits = 0

    public init(_ authorizer: any ConnectionAuthorizer, limit: Int = 256) {
        self.authorizer = authorizer
        self.limit = max(1, limit)
        self.epoch = authorizer.epoch()
        self.active = authorizer.principalIsActive()
    }

    public var count: Int { decisions.count }

    /// Re-reads the epoch; returns false when the principal no longer authenticates.
    public mutating func refresh() -> Bool {
        let now = authorizer.epoch()
        if now != epoch {
            epoch = now
            decisions.removeAll(keepingCapacity: true)
            active = authorizer.principalIsActive()
        }
        return active
    }

    public mutating func check(_ action: AuthorizationAction) -> Answer {
        guard refresh() else { return .principalInactive }
        if let d = decisions[action] {
            hits += 1
            return d ? .allow : .deny
        }
        let d = authorizer.isAllowed(action)
        if decisions.count >= limit { decisions.removeAll(keepingCapacity: true) }
        decisions[action] = d
        return d ? .allow : .deny
    }
}
