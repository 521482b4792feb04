import IoTTypes
import Shadow
import TopicTrie

/// The replicated state machine: every node applies the same committed commands in the same order and so holds
/// the same `ClusterState` (ARCHITECTURE §3).
///
/// Rules that keep the nodes equal:
/// - `apply` is a pure function of (state, command): no clock (time comes inside the command), no randomness
///   (thing ids come from a counter in the state), no I/O, and no dependence on hash or dictionary order.
/// - A command that fails leaves the state unchanged (all checks run before the first write); the entry still
///   counts as applied, and the failure is the proposer's answer.
/// - Bad bytes never trap: `decodeAndApply` turns them into `.malformedCommand` or `.unsupportedCommandVersion`.
/// - Every store is keyed tenant first (ARCHITECTURE §4), so no read can cross tenants.
/// - `snapshot()` writes keys in UTF-8 byte order, so equal states give equal bytes.
public struct ClusterState: Sendable {
    /// The index of the last log entry applied (several commands may share an entry when batched).
    public internal(set) var lastAppliedIndex: UInt64 = 0
    /// Counts the commands applied to domain configurations and CA certificates — what a TLS server identity is
    /// built from — so a node's TLS shell rebuilds only when it moved. Local, not replicated and not in the
    /// snapshot (a restored state starts again at 0: pair it with the node's restore count).
    public private(set) var tlsSourceGeneration: UInt64 = 0

    var tenants: [TenantID: Tenant] = [:]
    var accessKeys: [TenantID: [String: AccessKey]] = [:]
    /// Derived from `accessKeys` (not in the snapshot): access key id → owning tenant, for SigV4.
    var accessKeyOwners: [String: TenantID] = [:]
    var retained: [TenantID: TopicTree<RetainedMessage>] = [:]
    var sessions: [TenantID: [String: SessionEntry]] = [:]
    /// Replicated queues of parked persistent sessions (issue 7): tenant → client id → queue.
    var sessionQueues: [TenantID: [String: SessionQueue]] = [:]
    var things: [TenantID: [String: Thing]] = [:]
    /// Things created so far, across tenants: the source of thing ids.
    var thingSequence: UInt64 = 0
    /// The node directory (cluster infrastructure, not per tenant): node id → where its cluster bus listens.
    var nodeAddresses: [UInt64: NodeAddress] = [:]
    /// Domain configurations: tenant → configuration name → configuration.
    var domainConfigurations: [TenantID: [String: DomainConfiguration]] = [:]
    /// Derived from `domainConfigurations` (not in the snapshot): domain name → its owner. Domain names are unique
    /// across tenants, since SNI picks the configuration before the tenant is known.
    var domainOwners: [String: DomainOwner] = [:]
    /// Registered CA certificates: tenant → caCertificateId → CA.
    var caCertificates: [TenantID: [String: CACertificate]] = [:]
    /// Registered device certificates: tenant → certificateId → certificate.
    var certificates: [TenantID: [String: Certificate]] = [:]
    /// Each tenant's issuing CA (CreateKeysAndCertificate, CreateCertificateFromCsr): tenant → CA. Holds private keys.
    var issuingCAs: [TenantID: IssuingCA] = [:]
    /// Each tenant's registration code (GetRegistrationCode): tenant → 64 hex.
    var registrationCodes: [TenantID: String] = [:]
    /// Endpoint prefixes set explicitly (`setTenantEndpointPrefix`); other tenants use their derived one.
    var endpointPrefixes: [TenantID: String] = [:]
    /// IoT policies: tenant → name → policy (with its versions).
    var policies: [TenantID: [String: IoTPolicy]] = [:]
    /// Policy attachments: tenant → target (certificate ARN, thing group ARN, Cognito id) → policy names.
    var policyTargets: [TenantID: [String: Set<String>]] = [:]
    /// Principals attached to things: tenant → thing name → principal → attachment type.
    var thingPrincipals: [TenantID: [String: [String: ThingPrincipalType]]] = [:]
    /// Derived from `thingPrincipals` (not in the snapshot): tenant → principal → thing names.
    var principalThings: [TenantID: [String: Set<String>]] = [:]
    /// Imported server certificates (Flotilla's ACM stand-in): tenant → certificate id → certificate.
    var serverCertificates: [TenantID: [String: ServerCertificate]] = [:]
    /// The AWS members of domain configurations made by CreateDomainConfiguration: tenant → name → details.
    var domainDetails: [TenantID: [String: DomainConfigurationDetails]] = [:]
    /// Resource tags: tenant → resource (the ARN's resource part, `thing/t1`) → key → value.
    var tags: [TenantID: [String: [String: String]]] = [:]
    /// Thing types: tenant → name → type.
    var thingTypes: [TenantID: [String: ThingType]] = [:]
    /// Static thing groups: tenant → name → group.
    var thingGroups: [TenantID: [String: ThingGroup]] = [:]
    /// Group memberships: tenant → group name → thing names.
    var groupMembers: [TenantID: [String: Set<String>]] = [:]
    /// Derived from `groupMembers` (not in the snapshot): tenant → thing name → group names.
    var thingGroupsOfThing: [TenantID: [String: Set<String>]] = [:]
    /// Derived from `thingGroups` (not in the snapshot): tenant → group name → its direct children.
    var groupChildren: [TenantID: [String: Set<String>]] = [:]
    /// Thing types and groups created so far, across tenants: the source of their ids.
    var registrySequence: UInt64 = 0
    /// Device shadows: tenant → (thing, shadow name) → document.
    var shadows: [TenantID: [ShadowKey: ShadowDocument]] = [:]
    /// Counts the commands that can change an authorization decision (policies, attachments, certificate status,
    /// thing-group membership and hierarchy), so authorization caches know when to re-read. Local like
    /// `tlsSourceGeneration`.
    public internal(set) var authorizationGeneration: UInt64 = 0

    public init() {}

    // MARK: - Apply

    /// Decodes and applies one command from a committed entry.
    public mutating func decodeAndApply(_ bytes: [UInt8], index: UInt64) -> ClusterOutcome {
        switch ClusterCommand.decode(bytes) {
        case .success(let command):
            return apply(command, index: index)
        case .failure(let error):
            lastAppliedIndex = index
            return .failure(error)
        }
    }

    /// Applies one command committed at log `index`.
    public mutating func apply(_ command: ClusterCommand, index: UInt64) -> ClusterOutcome {
        lastAppliedIndex = index
        if command.changesTLSSource { tlsSourceGeneration &+= 1 }
        if command.changesAuthorization { authorizationGeneration &+= 1 }
        let outcome = applyOne(command, index: index)
        // Deleting a resource deletes its tags (a later resource of the same name starts untagged).
        if case .success = outcome, let deleted = command.deletedTaggableResource {
            removeAllTags(tenant: deleted.tenant, resource: deleted.resource)
        }
        return outcome
    }

    private mutating func applyOne(_ command: ClusterCommand, index: UInt64) -> ClusterOutcome {
        switch command {
        case .createTenant(let id, let name):
            return onCreateTenant(id, name: name)
        case .createAccessKey(let key):
            return onCreateAccessKey(key)
        case .deleteAccessKey(let tenant, let id):
            return onDeleteAccessKey(tenant: tenant, accessKeyID: id)
        case .shadow(let c):
            return onShadow(c)
        case .bootstrapAccessKey(let key, let name):
            guard accessKeys[key.tenant]?.isEmpty ?? true else { return .failure(.resourceAlreadyExists) }
            if tenants[key.tenant] == nil, case .failure(let why) = onCreateTenant(key.tenant, name: name) {
                return .failure(why)
            }
            return onCreateAccessKey(key)
        case .setRetained(let message):
            return onSetRetained(message)
        case .clearRetained(let tenant, let topic):
            clearRetained(tenant: tenant, topic: topic)
            return .success(.done)
        case .putSessionRecord(let entry):
            guard !entry.clientID.isEmpty else { return .failure(.invalidRequest("clientID must not be empty")) }
            sessions[entry.tenant, default: [:]][entry.clientID] = entry
            return .success(.done)
        case .removeSessionRecord(let tenant, let clientID):
            sessions[tenant]?[clientID] = nil
            if sessions[tenant]?.isEmpty == true { sessions[tenant] = nil }
            dropSessionQueue(tenant: tenant, clientID: clientID)
            return .success(.done)
        case .appendSessionQueue(let tenant, let clientID, let messages, let limit):
            return onAppendSessionQueue(tenant: tenant, clientID: clientID, messages: messages, limit: limit)
        case .trimSessionQueue(let tenant, let clientID, let through):
            trimSessionQueue(tenant: tenant, clientID: clientID, through: through)
            return .success(.done)
        case .dropSessionQueue(let tenant, let clientID):
            dropSessionQueue(tenant: tenant, clientID: clientID)
            return .success(.done)
        case .readBarrier:
            return .success(.done)
        case .createThing(let c):
            return onCreateThing(c)
        case .updateThing(let u):
            return onUpdateThing(u)
        case .deleteThing(let tenant, let name, let expectedVersion):
            return onDeleteThing(tenant: tenant, thingName: name, expectedVersion: expectedVersion)
        case .batch(let commands):
            var failed: UInt32 = 0
            for c in commands {
                if case .batch = c {  // decode refuses these; a caller building one in memory gets the same answer
                    failed += 1
                    continue
                }
                if case .failure = apply(c, index: index) { failed += 1 }
            }
            return .success(.batch(failed: failed))
        case .setNodeAddress(let address):
            if let problem = address.problem { return .failure(.invalidRequest(problem)) }
            nodeAddresses[address.nodeID] = address
            return .success(.done)
        case .removeNodeAddress(let nodeID):
            nodeAddresses[nodeID] = nil
            return .success(.done)
        case .createDomainConfiguration(let d):
            return onCreateDomainConfiguration(d)
        case .updateDomainConfigurationStatus(let tenant, let name, let status, let nowMs):
            return onUpdateDomainConfigurationStatus(tenant: tenant, name: name, status: status, nowMs: nowMs)
        case .deleteDomainConfiguration(let tenant, let name):
            return onDeleteDomainConfiguration(tenant: tenant, name: name)
        case .registerCACertificate(let c):
            return onRegisterCACertificate(c)
        case .updateCACertificateStatus(let tenant, let id, let status, let nowMs):
            return onUpdateCACertificateStatus(tenant: tenant, id: id, status: status, nowMs: nowMs)
        case .deleteCACertificate(let tenant, let id):
            return onDeleteCACertificate(tenant: tenant, id: id)
        case .registerCertificate(let c):
            return onRegisterCertificate(c)
        case .updateCertificateStatus(let tenant, let id, let status, let nowMs):
            return onUpdateCertificateStatus(tenant: tenant, id: id, status: status, nowMs: nowMs)
        case .deleteCertificate(let tenant, let id):
            return onDeleteCertificate(tenant: tenant, id: id)
        case .setTenantEndpointPrefix(let tenant, let prefix):
            return onSetTenantEndpointPrefix(tenant: tenant, prefix: prefix)
        case .createPolicy(let tenant, let name, let document, let nowMs):
            return onCreatePolicy(tenant: tenant, name: name, document: document, nowMs: nowMs)
        case .createPolicyVersion(let tenant, let name, let document, let setAsDefault, let nowMs):
            return onCreatePolicyVersion(tenant: tenant, name: name, document: document, setAsDefault: setAsDefault,
                                         nowMs: nowMs)
        case .setDefaultPolicyVersion(let tenant, let name, let versionId, let nowMs):
            return onSetDefaultPolicyVersion(tenant: tenant, name: name, versionId: versionId, nowMs: nowMs)
        case .deletePolicyVersion(let tenant, let name, let versionId):
            return onDeletePolicyVersion(tenant: tenant, name: name, versionId: versionId)
        case .deletePolicy(let tenant, let name):
            return onDeletePolicy(tenant: tenant, name: name)
        case .attachPolicy(let tenant, let name, let target):
            return onAttachPolicy(tenant: tenant, name: name, target: target)
        case .detachPolicy(let tenant, let name, let target):
            return onDetachPolicy(tenant: tenant, name: name, target: target)
        case .attachThingPrincipal(let tenant, let thing, let principal, let type):
            return onAttachThingPrincipal(tenant: tenant, thing: thing, principal: principal, type: type)
        case .detachThingPrincipal(let tenant, let thing, let principal):
            return onDetachThingPrincipal(tenant: tenant, thing: thing, principal: principal)
        case .importServerCertificate(let c):
            return onImportServerCertificate(c)
        case .deleteServerCertificate(let tenant, let id):
            return onDeleteServerCertificate(tenant: tenant, id: id)
        case .createDomainConfigurationFromCertificate(let c):
            return onCreateDomainConfiguration(c)
        case .updateDomainConfiguration(let u):
            return onUpdateDomainConfiguration(u)
        case .deleteDisabledDomainConfiguration(let tenant, let name):
            guard let d = domainConfigurations[tenant]?[name] else {
                return DomainRules.isValidName(name)
                    ? .failure(.resourceNotFound) : .failure(.invalidRequest(Self.badDomainConfigurationName))
            }
            guard d.status == .disabled else {
                return .failure(.invalidRequest(
                    "Domain configuration \(name) is ENABLED: disable it (UpdateDomainConfiguration) before deleting it"))
            }
            return onDeleteDomainConfiguration(tenant: tenant, name: name)
        case .tagResource(let tenant, let resource, let tags):
            return onTagResource(tenant: tenant, resource: resource, tags: tags)
        case .untagResource(let tenant, let resource, let keys):
            return onUntagResource(tenant: tenant, resource: resource, keys: keys)
        case .createWithTags(let inner, let tenant, let resource, let tags):
            return onCreateWithTags(inner, tenant: tenant, resource: resource, tags: tags, index: index)
        case .createThingType(let tenant, let name, let description, let searchable, let nowMs):
            return onCreateThingType(tenant: tenant, name: name, description: description,
                                     searchableAttributes: searchable, nowMs: nowMs)
        case .deprecateThingType(let tenant, let name, let undo, let nowMs):
            return onDeprecateThingType(tenant: tenant, name: name, undo: undo, nowMs: nowMs)
        case .deleteThingType(let tenant, let name, let nowMs):
            return onDeleteThingType(tenant: tenant, name: name, nowMs: nowMs)
        case .createThingGroup(let c):
            return onCreateThingGroup(c)
        case .updateThingGroup(let u):
            return onUpdateThingGroup(u)
        case .deleteThingGroup(let tenant, let name, let expectedVersion):
            return onDeleteThingGroup(tenant: tenant, name: name, expectedVersion: expectedVersion)
        case .addThingToThingGroup(let tenant, let group, let thing):
            return onAddThingToThingGroup(tenant: tenant, group: group, thing: thing)
        case .removeThingFromThingGroup(let tenant, let group, let thing):
            return onRemoveThingFromThingGroup(tenant: tenant, group: group, thing: thing)
        case .updateThingGroupsForThing(let tenant, let thing, let add, let remove):
            return onUpdateThingGroupsForThing(tenant: tenant, thing: thing, add: add, remove: remove)
        case .createIssuingCA(let ca):
            return onCreateIssuingCA(ca)
        case .forceDeleteCertificate(let tenant, let id):
            return onDeleteCertificate(tenant: tenant, id: id, force: true)
        case .createRegistrationCode(let tenant, let code):
            return onCreateRegistrationCode(tenant: tenant, code: code)
        case .updateCACertificate(let tenant, let id, let status, let autoRegistration, let nowMs):
            return onUpdateCACertificate(tenant: tenant, id: id, status: status, autoRegistration: autoRegistration,
                                         nowMs: nowMs)
        }
    }

    private mutating func onCreateTenant(_ id: TenantID, name: String) -> ClusterOutcome {
        guard TenantID.isAccountID(id.accountID) else {
            return .failure(.invalidRequest("account id must be 12 digits"))
        }
        guard tenants[id] == nil else { return .failure(.resourceAlreadyExists) }
        tenants[id] = Tenant(id: id, name: name)
        return .success(.done)
    }

    private mutating func onCreateAccessKey(_ key: AccessKey) -> ClusterOutcome {
        guard tenants[key.tenant] != nil else { return .failure(.resourceNotFound) }
        guard !key.accessKeyID.isEmpty, !key.secretKey.isEmpty else {
            return .failure(.invalidRequest("access key id and secret must not be empty"))
        }
        // Unique across tenants: the key id alone tells a request's tenant.
        guard accessKeyOwners[key.accessKeyID] == nil else { return .failure(.resourceAlreadyExists) }
        accessKeys[key.tenant, default: [:]][key.accessKeyID] = key
        accessKeyOwners[key.accessKeyID] = key.tenant
        return .success(.done)
    }

    private mutating func onDeleteAccessKey(tenant: TenantID, accessKeyID: String) -> ClusterOutcome {
        guard accessKeys[tenant]?[accessKeyID] != nil else { return .failure(.resourceNotFound) }
        accessKeys[tenant]?[accessKeyID] = nil
        if accessKeys[tenant]?.isEmpty == true { accessKeys[tenant] = nil }
        accessKeyOwners[accessKeyID] = nil
        return .success(.done)
    }

    private mutating func onSetRetained(_ message: RetainedMessage) -> ClusterOutcome {
        do {
            try Topic.validateName(message.topic, limits: .unlimited)
        } catch {
            return .failure(.invalidRequest("invalid topic name: \(error)"))
        }
        if message.payload.isEmpty {  // [MQTT-3.3.1-6] an empty retained message clears the topic
            clearRetained(tenant: message.tenant, topic: message.topic)
            return .success(.done)
        }
        retained[message.tenant, default: TopicTree()][message.topic] = message
        return .success(.done)
    }

    private mutating func clearRetained(tenant: TenantID, topic: String) {
        retained[tenant]?[topic] = nil
        if retained[tenant]?.isEmpty == true { retained[tenant] = nil }
    }

    // MARK: - Reads (local applied state; the shell adds a barrier when a read must be linearizable)

    public func tenant(_ id: TenantID) -> Tenant? { tenants[id] }

    /// Every tenant, by account id.
    public func allTenants() -> [Tenant] { tenants.values.sorted { $0.id < $1.id } }

    /// A tenant's access keys, oldest first (then by id).
    public func accessKeys(tenant: TenantID) -> [AccessKey] {
        (accessKeys[tenant] ?? [:]).values.sorted {
            ($0.createdAtMs, $0.accessKeyID) < ($1.createdAtMs, $1.accessKeyID)
        }
    }

    /// The key and its tenant, for SigV4.
    public func accessKey(id: String) -> AccessKey? {
        guard let owner = accessKeyOwners[id] else { return nil }
        return accessKeys[owner]?[id]
    }

    public func retained(tenant: TenantID, topic: String) -> RetainedMessage? { retained[tenant]?[topic] }

    /// Every unexpired retained message of `tenant` whose topic `filter` matches, in topic byte order.
    public func retainedMatching(tenant: TenantID, filter: String, nowMs: Int64) -> [RetainedMessage] {
        var out: [RetainedMessage] = []
        retained[tenant]?.forEachMatch(filter: filter) { _, m in
            if !m.isExpired(nowMs: nowMs) { out.append(m) }
        }
        return out.sorted { String.utf8Less($0.topic, $1.topic) }
    }

    public func retainedCount(tenant: TenantID) -> Int { retained[tenant]?.count ?? 0 }

    public func sessionRecord(tenant: TenantID, clientID: String) -> SessionEntry? { sessions[tenant]?[clientID] }

    public func thing(tenant: TenantID, name: String) -> Thing? { things[tenant]?[name] }

    /// The tenant's things in name order.
    public func things(tenant: TenantID) -> [Thing] {
        (things[tenant] ?? [:]).values.sorted { String.utf8Less($0.thingName, $1.thingName) }
    }

    /// The node directory's row for `nodeID`: where that node's cluster bus listens.
    public func nodeAddress(_ nodeID: UInt64) -> NodeAddress? { nodeAddresses[nodeID] }

    /// The whole node directory, by node id.
    public func nodeDirectory() -> [NodeAddress] { nodeAddresses.values.sorted { $0.nodeID < $1.nodeID } }
}
