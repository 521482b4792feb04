import IoTTypes

/// What a device connection's policy decisions are built from (AWS-IOT-SPEC §2.4), read from the applied state:
/// the policy documents that apply to its certificate, the thing behind `iot:Connection.Thing.*`, and whether
/// the certificate still authenticates. The data plane (the executable's authorizer) evaluates them with the
/// policy engine and re-reads them whenever `authorizationGeneration` moves.
public struct ConnectionPolicyInputs: Sendable, Equatable {
    /// The default versions of the applicable policies, in policy name order (duplicates removed).
    public var documents: [(policyName: String, document: String)]
    /// The thing for `iot:Connection.Thing.*`, or nil (the variables then do not resolve, `IsAttached` is false).
    public var thing: Thing?
    /// False once the certificate left ACTIVE (or its CA did): the connection must end.
    public var certificateActive: Bool

    public static func == (a: Self, b: Self) -> Bool {
        a.documents.map(\.policyName) == b.documents.map(\.policyName)
            && a.documents.map(\.document) == b.documents.map(\.document) && a.thing == b.thing
            && a.certificateActive == b.certificateActive
    }
}

extension ClusterState {
    /// `arn:aws:iot:<region>:<account>:cert/<certificateId>`: the target policies are attached to.
    public static func certificateArn(tenant: TenantID, region: String, certificateId: String) -> String {
        "arn:aws:iot:\(region):\(tenant.accountID):cert/\(certificateId)"
    }

    /// Everything a connection authenticated by `certificateId` is authorized from.
    ///
    /// - `clientID`: the MQTT client id (nil over HTTPS, where no thing is resolved: AWS's thing variables are
    ///   MQTT/WSS only).
    public func connectionPolicyInputs(tenant: TenantID, region: String, certificateId: String,
                                       clientID: String?) -> ConnectionPolicyInputs {
        let arn = Self.certificateArn(tenant: tenant, region: region, certificateId: certificateId)
        let thing = clientID.flatMap { connectionThing(tenant: tenant, principal: arn, clientID: $0) }
        return ConnectionPolicyInputs(
            documents: policyDocumentsForConnection(tenant: tenant, region: region, principal: arn, thing: thing),
            thing: thing,
            certificateActive: certificateIsActive(tenant: tenant, certificateId: certificateId))
    }

    /// THE place that gathers the policy documents for a connection: those attached to its principal (the
    /// certificate ARN), then those inherited from the thing groups of the connection's thing — its groups and
    /// all their ancestors (AWS-IOT-SPEC §2: a group's policies apply to every thing in it and below it).
    func policyDocumentsForConnection(tenant: TenantID, region: String, principal: String,
                                      thing: Thing?) -> [(policyName: String, document: String)] {
        var targets = [principal]
        if let thing { targets += thingGroupArns(containing: thing.thingName, tenant: tenant, region: region) }
        return effectivePolicyDocuments(tenant: tenant, targets: targets)
    }

    /// The thing `iot:Connection.Thing.*` names (AWS-IOT-SPEC §2.4): with an exclusive attachment, the one thing
    /// the principal is attached to; otherwise the attached thing whose name equals the client id; else nil.
    public func connectionThing(tenant: TenantID, principal: String, clientID: String) -> Thing? {
        let attached = principalThings(tenant: tenant, principal: principal)
        if let exclusive = attached.first(where: { $0.type == .exclusive }) {
            return thing(tenant: tenant, name: exclusive.thingName)
        }
        guard attached.contains(where: { $0.thingName == clientID }) else { return nil }
        return thing(tenant: tenant, name: clientID)
    }

    /// Whether a certificate the TLS handshake accepted still authenticates: a registered certificate while it
    /// (and the CA it was registered with) is ACTIVE. One accepted through its registered CA alone has no status of
    /// its own and stays accepted while the connection lasts.
    public func certificateIsActive(tenant: TenantID, certificateId: String) -> Bool {
        guard let c = certificates[tenant]?[certificateId] else { return true }
        guard c.status == .active else { return false }
        if let caID = c.caCertificateId {
            return caCertificates[tenant]?[caID]?.status == .active
        }
        return true
    }
}
