import IoTTypes

/// A write to the replicated state. Proposed to the Raft leader as bytes (`encoded()`), committed, then applied on
/// every node in log order by `ClusterState.apply`. Everything a command needs — including the time — is inside
/// it: `apply` reads no clock and no randomness, so every node computes the same state.
///
/// New commands get new tags at the end; a change to an existing command's fields needs a new format version
/// (`ClusterCommand.formatVersion`), and nodes refuse versions they do not know instead of guessing.
public enum ClusterCommand: Sendable, Hashable {
    /// Registers a tenant (an AWS account id, 12 digits).
    case createTenant(TenantID, name: String)
    /// Adds a SigV4 access key to an existing tenant; the key id is unique across tenants.
    case createAccessKey(AccessKey)
    /// Removes an access key.
    case deleteAccessKey(tenant: TenantID, accessKeyID: String)
    /// The embedded default's first credentials: creates the key's tenant if it does not exist and adds the key only
    /// when the tenant has none — first writer wins, so nodes starting together agree on one key
    /// (resourceAlreadyExists for the others).
    case bootstrapAccessKey(AccessKey, tenantName: String)
    /// A device shadow update or delete (issue 6); answered with `.shadow` whether the shadow rules accept it or not.
    case shadow(ShadowCommand)
    /// Stores the retained message of a topic ([MQTT-3.3.1-5]); an empty payload clears it ([MQTT-3.3.1-6]).
    case setRetained(RetainedMessage)
    /// Clears the retained message of a topic (no error when there is none).
    case clearRetained(tenant: TenantID, topic: String)
    /// Creates or replaces a persistent-session record.
    case putSessionRecord(SessionEntry)
    /// Removes a persistent-session record (no error when there is none).
    case removeSessionRecord(tenant: TenantID, clientID: String)
    /// Appends QoS 1/2 messages queued for a parked persistent session to its replicated queue (issue 7), so they
    /// survive the loss of the node holding the session. The queue keeps at most `limit` messages (the broker's
    /// `maxQueuedMessages`): past that, messages are dropped and counted (`SessionQueue.dropped`), as the local
    /// queue does. A session with no record yet may have a queue (the record and the queue are written by the
    /// same node, in order; the record normally comes first).
    case appendSessionQueue(tenant: TenantID, clientID: String, messages: [QueuedMessage], limit: UInt32)
    /// Removes the queued messages at positions up to and including `through` (taken by the node the client
    /// resumed on, or delivered); `UInt64.max` clears the queue. No error when there is no queue.
    case trimSessionQueue(tenant: TenantID, clientID: String, through: UInt64)
    /// Changes nothing: committed and applied like any command, so a node that has applied it has applied every
    /// write acknowledged before it was proposed — the barrier behind linearizable reads on any node.
    case readBarrier
    /// Forgets a session's replicated queue, drop counter included (no error when there is none).
    /// `removeSessionRecord` drops the queue as well.
    case dropSessionQueue(tenant: TenantID, clientID: String)
    /// CreateThing: idempotent for the same configuration (AWS-IOT-SPEC §3.1).
    case createThing(CreateThing)
    /// UpdateThing: attributes merge or replace, thing type set or removed, optional optimistic version check.
    case updateThing(UpdateThing)
    /// DeleteThing: deleting a thing that does not exist succeeds (AWS-IOT-SPEC §3.1).
    case deleteThing(tenant: TenantID, thingName: String, expectedVersion: Int64?)
    /// Several commands in one, applied in order, each on its own (not atomic: one failing leaves the others
    /// applied, as if each had its own entry). For writers that must keep their order — the broker's retained
    /// messages and session records go through one queue per node — and want one round trip for many writes.
    /// A batch may not contain a batch.
    indirect case batch([ClusterCommand])
    /// Records (or replaces) where a node's cluster bus listens, so every node can forward to a node added after
    /// it started (its static `--peers` table does not name it).
    case setNodeAddress(NodeAddress)
    /// Forgets a node's directory row (no error when there is none): the node has left the cluster.
    case removeNodeAddress(nodeID: UInt64)
    /// CreateDomainConfiguration (AWS-IOT-SPEC §10): the name is unique within the tenant, the domain name across
    /// all tenants (SNI is read before the tenant is known); either clash is `resourceAlreadyExists`. The domain
    /// name is stored in ASCII lower case. Carries the server's private key: never log this command.
    case createDomainConfiguration(DomainConfiguration)
    /// UpdateDomainConfiguration's `domainConfigurationStatus` (ENABLED / DISABLED). The certificate cannot change
    /// (as AWS: delete and recreate).
    case updateDomainConfigurationStatus(tenant: TenantID, domainConfigurationName: String,
                                         status: DomainConfigurationStatus, nowMs: Int64)
    /// DeleteDomainConfiguration; a missing one is `resourceNotFound` (as AWS).
    case deleteDomainConfiguration(tenant: TenantID, domainConfigurationName: String)
    /// RegisterCACertificate: the id (SHA-256 of the DER) is computed by the proposer, which also checked the proof
    /// of the CA key (DEFAULT mode); unique within the tenant.
    case registerCACertificate(CACertificate)
    /// UpdateCACertificate's `newStatus`.
    case updateCACertificateStatus(tenant: TenantID, caCertificateId: String, status: CACertificateStatus,
                                   nowMs: Int64)
    /// DeleteCACertificate: only an INACTIVE CA (else `certificateState`, as AWS).
    case deleteCACertificate(tenant: TenantID, caCertificateId: String)
    /// RegisterCertificate: unique within the tenant; a named CA must be registered in the same tenant.
    case registerCertificate(Certificate)
    /// UpdateCertificate's `newStatus` (idempotent; see `ClusterState+Certificates.swift` for the transitions).
    case updateCertificateStatus(tenant: TenantID, certificateId: String, status: CertificateStatus, nowMs: Int64)
    /// DeleteCertificate: only a certificate that is not ACTIVE (else `certificateState`, as AWS).
    case deleteCertificate(tenant: TenantID, certificateId: String)
    /// Sets (or, with nil, clears back to the derived one) a registered tenant's default endpoint prefix
    /// (`TenantEndpoint`). A prefix another tenant answers to is `resourceAlreadyExists`.
    case setTenantEndpointPrefix(tenant: TenantID, prefix: String?)
    /// CreatePolicy: version "1", the default. The document was validated by the proposer; apply checks its size.
    case createPolicy(tenant: TenantID, policyName: String, document: String, nowMs: Int64)
    /// CreatePolicyVersion: at most five versions (`versionsLimitExceeded`).
    case createPolicyVersion(tenant: TenantID, policyName: String, document: String, setAsDefault: Bool,
                             nowMs: Int64)
    /// SetDefaultPolicyVersion.
    case setDefaultPolicyVersion(tenant: TenantID, policyName: String, versionId: Int64, nowMs: Int64)
    /// DeletePolicyVersion: never the default (`deleteConflict`).
    case deletePolicyVersion(tenant: TenantID, policyName: String, versionId: Int64)
    /// DeletePolicy: only with no other version than the default and no target (`deleteConflict`).
    case deletePolicy(tenant: TenantID, policyName: String)
    /// AttachPolicy: idempotent; at most ten policies per target (`limitExceeded`).
    case attachPolicy(tenant: TenantID, policyName: String, target: String)
    /// DetachPolicy: detaching what is not attached succeeds (nothing changes).
    case detachPolicy(tenant: TenantID, policyName: String, target: String)
    /// AttachThingPrincipal: the thing must exist; an exclusive attachment allows no other thing for the principal.
    case attachThingPrincipal(tenant: TenantID, thingName: String, principal: String, type: ThingPrincipalType)
    /// DetachThingPrincipal: the thing must exist; detaching what is not attached succeeds.
    case detachThingPrincipal(tenant: TenantID, thingName: String, principal: String)
    /// Imports a server certificate (Flotilla's ACM stand-in). Importing the identical certificate again succeeds;
    /// another chain or key under the same id is `resourceAlreadyExists`. Carries a private key: never log it.
    case importServerCertificate(ServerCertificate)
    /// Deletes an imported server certificate; one a domain configuration serves is `deleteConflict`.
    case deleteServerCertificate(tenant: TenantID, certificateId: String)
    /// AWS CreateDomainConfiguration: a `DomainConfiguration` served from an imported server certificate (missing:
    /// `invalidRequest`; not covering the domain name or expired: `certificateValidation`), plus its AWS members.
    case createDomainConfigurationFromCertificate(CreateDomainConfiguration)
    /// AWS UpdateDomainConfiguration: status, authorizer (set or remove) and the recorded TLS members.
    case updateDomainConfiguration(UpdateDomainConfiguration)
    /// AWS DeleteDomainConfiguration: only a DISABLED one (else `invalidRequest`); a missing one is
    /// `resourceNotFound`.
    case deleteDisabledDomainConfiguration(tenant: TenantID, domainConfigurationName: String)
    /// TagResource: adds or replaces tags on an existing resource of the tenant (`resource` is the ARN's resource
    /// part, e.g. `thing/t1`; see `ClusterState.taggableResourceExists`). Over 50 tags is `limitExceeded`.
    case tagResource(tenant: TenantID, resource: String, tags: [ResourceTag])
    /// UntagResource: removes these keys (absent keys are ignored).
    case untagResource(tenant: TenantID, resource: String, tagKeys: [String])
    /// A create command with the `tags` member of its request (CreatePolicy, CreateDomainConfiguration, …): the
    /// tags are checked first, then the create applies, then the tags (all or nothing). Not a batch or itself.
    indirect case createWithTags(ClusterCommand, tenant: TenantID, resource: String, tags: [ResourceTag])
    /// CreateThingType: idempotent for the same properties, else `resourceAlreadyExists` (AWS-IOT-SPEC §3.2).
    case createThingType(tenant: TenantID, thingTypeName: String, description: String?,
                         searchableAttributes: [String], nowMs: Int64)
    /// DeprecateThingType (`undo`: undoDeprecate). Deprecating a deprecated type keeps its first date.
    case deprecateThingType(tenant: TenantID, thingTypeName: String, undo: Bool, nowMs: Int64)
    /// DeleteThingType: only five minutes after deprecation, and with no thing of that type (`invalidRequest`).
    case deleteThingType(tenant: TenantID, thingTypeName: String, nowMs: Int64)
    /// CreateThingGroup: idempotent for the same parent and properties; the parent must exist, the hierarchy stays
    /// within 7 levels and 100 children per group.
    case createThingGroup(CreateThingGroup)
    /// UpdateThingGroup: description and attributes (merge or replace), optional optimistic version check.
    case updateThingGroup(UpdateThingGroup)
    /// DeleteThingGroup: a missing group succeeds (as AWS); a group with child groups is `invalidRequest`. Its
    /// memberships and the policy attachments to its ARN go with it.
    case deleteThingGroup(tenant: TenantID, thingGroupName: String, expectedVersion: Int64?)
    /// AddThingToThingGroup: idempotent; at most ten groups per thing, never two in one hierarchy.
    case addThingToThingGroup(tenant: TenantID, thingGroupName: String, thingName: String)
    /// RemoveThingFromThingGroup: both must exist; removing a non-member succeeds.
    case removeThingFromThingGroup(tenant: TenantID, thingGroupName: String, thingName: String)
    /// UpdateThingGroupsForThing: removes, then adds, all or nothing — the thing and every named group must exist,
    /// and the resulting memberships keep the ten-group and one-per-hierarchy rules.
    case updateThingGroupsForThing(tenant: TenantID, thingName: String, groupsToAdd: [String],
                                   groupsToRemove: [String])

    /// The fields of `createThingGroup` (AWS `CreateThingGroupRequest`, tags aside).
    public struct CreateThingGroup: Sendable, Hashable {
        public var tenant: TenantID
        public var thingGroupName: String
        public var parentGroupName: String?
        public var description: String?
        public var attributes: [String: String]
        public var nowMs: Int64
        public init(tenant: TenantID, thingGroupName: String, parentGroupName: String? = nil,
                    description: String? = nil, attributes: [String: String] = [:], nowMs: Int64) {
            self.tenant = tenant
            self.thingGroupName = thingGroupName
            self.parentGroupName = parentGroupName
            self.description = description
            self.attributes = attributes
            self.nowMs = nowMs
        }
    }

    /// The fields of `updateThingGroup` (AWS `UpdateThingGroupRequest`).
    public struct UpdateThingGroup: Sendable, Hashable {
        public var tenant: TenantID
        public var thingGroupName: String
        /// nil: unchanged; "": cleared.
        public var description: String?
        /// nil: attributes untouched.
        public var attributes: [String: String]?
        /// true: merge (an empty value deletes that attribute); false: replace the whole map.
        public var merge: Bool
        public var expectedVersion: Int64?
        public var nowMs: Int64
        public init(tenant: TenantID, thingGroupName: String, description: String? = nil,
                    attributes: [String: String]? = nil, merge: Bool = false, expectedVersion: Int64? = nil,
                    nowMs: Int64) {
            self.tenant = tenant
            self.thingGroupName = thingGroupName
            self.description = description
            self.attributes = attributes
            self.merge = merge
            self.expectedVersion = expectedVersion
            self.nowMs = nowMs
        }
    }
    /// Installs the tenant's issuing CA (CreateKeysAndCertificate, CreateCertificateFromCsr). First writer wins: when
    /// the tenant has one already this succeeds and changes nothing, and the proposer uses the one in the state.
    /// Carries a private key: never log this command.
    case createIssuingCA(IssuingCA)
    /// GetRegistrationCode's code for the tenant (64 hex, random, made by the proposer). First writer wins, like
    /// `createIssuingCA`: the code is stable once set.
    case createRegistrationCode(tenant: TenantID, code: String)
    /// DeleteCertificate with `forceDelete`: as `deleteCertificate`, but attached policies are detached with it
    /// (AWS: force deletes an inactive certificate that no thing is attached to).
    case forceDeleteCertificate(tenant: TenantID, certificateId: String)
    /// UpdateCACertificate: a new status and/or auto-registration status (nil: unchanged).
    case updateCACertificate(tenant: TenantID, caCertificateId: String, status: CACertificateStatus?,
                             autoRegistration: AutoRegistrationStatus?, nowMs: Int64)

    /// The fields of `createThing`.
    public struct CreateThing: Sendable, Hashable {
        public var tenant: TenantID
        public var thingName: String
        public var thingTypeName: String?
        public var attributes: [String: String]
        /// Epoch milliseconds, stamped by the proposer.
        public var nowMs: Int64
        public init(tenant: TenantID, thingName: String, thingTypeName: String? = nil,
                    attributes: [String: String] = [:], nowMs: Int64) {
            self.tenant = tenant
            self.thingName = thingName
            self.thingTypeName = thingTypeName
            self.attributes = attributes
            self.nowMs = nowMs
        }
    }

    /// The fields of `updateThing` (AWS `UpdateThingRequest`).
    public struct UpdateThing: Sendable, Hashable {
        public var tenant: TenantID
        public var thingName: String
        public var thingTypeName: String?
        public var removeThingType: Bool
        /// nil: attributes untouched.
        public var attributes: [String: String]?
        /// true: merge (an empty value deletes that attribute); false: replace the whole map.
        public var merge: Bool
        public var expectedVersion: Int64?
        public var nowMs: Int64
        public init(tenant: TenantID, thingName: String, thingTypeName: String? = nil, removeThingType: Bool = false,
                    attributes: [String: String]? = nil, merge: Bool = false, expectedVersion: Int64? = nil,
                    nowMs: Int64) {
            self.tenant = tenant
            self.thingName = thingName
            self.thingTypeName = thingTypeName
            self.removeThingType = removeThingType
            self.attributes = attributes
            self.merge = merge
            self.expectedVersion = expectedVersion
            self.nowMs = nowMs
        }
    }
}

extension ClusterCommand {
    /// The fields of `createDomainConfigurationFromCertificate` (AWS `CreateDomainConfigurationRequest`).
    public struct CreateDomainConfiguration: Sendable, Hashable {
        public var tenant: TenantID
        public var domainConfigurationName: String
        public var domainName: String
        public var serverCertificateId: String
        public var defaultAuthorizerName: String?
        public var details: DomainConfigurationDetails
        public var nowMs: Int64
        public init(tenant: TenantID, domainConfigurationName: String, domainName: String, serverCertificateId: String,
                    defaultAuthorizerName: String? = nil, details: DomainConfigurationDetails = .init(),
                    nowMs: Int64) {
            self.tenant = tenant
            self.domainConfigurationName = domainConfigurationName
            self.domainName = domainName
            self.serverCertificateId = serverCertificateId
            self.defaultAuthorizerName = defaultAuthorizerName
            self.details = details
            self.nowMs = nowMs
        }
    }

    /// The fields of `updateDomainConfiguration` (AWS `UpdateDomainConfigurationRequest`); nil leaves a member as
    /// it is.
    public struct UpdateDomainConfiguration: Sendable, Hashable {
        public var tenant: TenantID
        public var domainConfigurationName: String
        public var status: DomainConfigurationStatus?
        public var authorizer: AuthorizerChange
        public var securityPolicy: String?
        public var authenticationType: String?
        public var applicationProtocol: String?
        public var nowMs: Int64
        public init(tenant: TenantID, domainConfigurationName: String, status: DomainConfigurationStatus? = nil,
                    authorizer: AuthorizerChange = .keep, securityPolicy: String? = nil,
                    authenticationType: String? = nil, applicationProtocol: String? = nil, nowMs: Int64) {
            self.tenant = tenant
            self.domainConfigurationName = domainConfigurationName
            self.status = status
            self.authorizer = authorizer
            self.securityPolicy = securityPolicy
            self.authenticationType = authenticationType
            self.applicationProtocol = applicationProtocol
            self.nowMs = nowMs
        }
    }

    /// `authorizerConfig` / `removeAuthorizerConfig` of an update.
    public enum AuthorizerChange: Sendable, Hashable {
        case keep
        case remove
        /// A nil name keeps the current one (only `allowAuthorizerOverride` changes).
        case set(defaultAuthorizerName: String?, allowAuthorizerOverride: Bool?)
    }
}

extension ClusterCommand {
    /// Domain configurations and CA certificates: what a TLS server identity is built from
    /// (`ClusterState.tlsSourceGeneration`).
    var changesTLSSource: Bool {
        switch self {
        case .createDomainConfiguration, .updateDomainConfigurationStatus, .deleteDomainConfiguration,
             .registerCACertificate, .updateCACertificateStatus, .deleteCACertificate, .updateCACertificate,
             .createDomainConfigurationFromCertificate, .updateDomainConfiguration, .deleteDisabledDomainConfiguration:
            true
        case .createWithTags(let inner, _, _, _): inner.changesTLSSource
        default: false
        }
    }

    /// Policies, attachments, certificate and CA status, the things behind `iot:Connection.Thing.*` (type,
    /// attributes), and thing-group membership and hierarchy (policies attached to a group apply to the things in it
    /// and below it): what an authorization decision is built from (`ClusterState.authorizationGeneration`).
    /// Deleting a thing drops its group memberships.
    var changesAuthorization: Bool {
        switch self {
        case .createPolicy, .createPolicyVersion, .setDefaultPolicyVersion, .deletePolicyVersion, .deletePolicy,
             .attachPolicy, .detachPolicy, .attachThingPrincipal, .detachThingPrincipal,
             .registerCertificate, .updateCertificateStatus, .deleteCertificate, .forceDeleteCertificate, .updateCACertificate,
             .createThingGroup, .deleteThingGroup, .addThingToThingGroup, .removeThingFromThingGroup,
             .updateThingGroupsForThing,
             .updateCACertificateStatus, .deleteCACertificate, .updateThing, .deleteThing:
            true
        case .createWithTags(let inner, _, _, _): inner.changesAuthorization
        default: false
        }
    }
}

/// What a successful command returns to its proposer.
public enum ClusterResult: Sendable, Hashable {
    /// Nothing to report.
    case done
    /// The thing as it now is (create, update).
    case thing(thingId: String, version: Int64)
    /// A batch: how many of its commands were rejected (their errors are not reported one by one).
    case batch(failed: UInt32)
    /// The policy version a create made (CreatePolicy: 1).
    case policyVersion(versionId: Int64)
    /// The thing type as it now is (CreateThingType).
    case thingType(thingTypeId: String)
    /// The thing group as it now is (CreateThingGroup, UpdateThingGroup).
    case thingGroup(thingGroupId: String, version: Int64)
    /// A shadow request's answer and the messages every node publishes for it.
    case shadow(ShadowEmission)
}

/// Why a command was not applied. The state is unchanged, except that the entry counts as applied.
public enum ClusterStateError: Error, Sendable, Hashable {
    /// AWS ResourceNotFoundException (404).
    case resourceNotFound
    /// AWS ResourceAlreadyExistsException (409).
    case resourceAlreadyExists
    /// AWS VersionConflictException (409).
    case versionConflict
    /// AWS InvalidRequestException (400), with the message for the client.
    case invalidRequest(String)
    /// The command was written in a format version this node does not understand (a newer node proposed it).
    case unsupportedCommandVersion(UInt8)
    /// The bytes are not a command.
    case malformedCommand
    /// AWS CertificateStateException (406): the certificate's status forbids the change (deleting an ACTIVE
    /// certificate or CA, leaving REVOKED or PENDING_TRANSFER), with the message for the client.
    case certificateState(String)
    /// AWS DeleteConflictException (409): something still refers to it (versions, targets, attachments).
    case deleteConflict(String)
    /// AWS VersionsLimitExceededException (409): the policy has five versions already.
    case versionsLimitExceeded(String)
    /// AWS LimitExceededException (410): e.g. ten policies on one target already.
    case limitExceeded(String)
    /// AWS CertificateValidationException (400): a certificate does not chain to what it must (a registered,
    /// ACTIVE CA of the tenant), or a server certificate does not cover the domain name or has expired.
    case certificateValidation(String)
}

/// The result of applying one command.
public typealias ClusterOutcome = Result<ClusterResult, ClusterStateError>
