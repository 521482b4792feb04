/// The command wire format (version 1):
///
///     formatVersion: u8 (= 1) | tag: u8 | fields of that command (see `BinaryWriter` for the encodings)
///
/// Tags are never reused. Decoding refuses other format versions (`unsupportedCommandVersion`), unknown tags,
/// truncated or invalid fields and trailing bytes (`malformedCommand`), so a node never applies a guess.
extension ClusterCommand {
    /// The format version this build writes and reads.
    public static let formatVersion: UInt8 = 1

    enum Tag: UInt8 {
        case createTenant = 1
        case createAccessKey = 2
        case deleteAccessKey = 3
        case setRetained = 4
        case clearRetained = 5
        case putSessionRecord = 6
        case removeSessionRecord = 7
        case createThing = 8
        case updateThing = 9
        case deleteThing = 10
        case batch = 11
        case setNodeAddress = 12
        case removeNodeAddress = 13
        case createDomainConfiguration = 14
        case updateDomainConfigurationStatus = 15
        case deleteDomainConfiguration = 16
        case registerCACertificate = 17
        case updateCACertificateStatus = 18
        case deleteCACertificate = 19
        case registerCertificate = 20
        case updateCertificateStatus = 21
        case deleteCertificate = 22
        case setTenantEndpointPrefix = 23
        case createPolicy = 24
        case createPolicyVersion = 25
        case setDefaultPolicyVersion = 26
        case deletePolicyVersion = 27
        case deletePolicy = 28
        case attachPolicy = 29
        case detachPolicy = 30
        case attachThingPrincipal = 31
        case detachThingPrincipal = 32
        case importServerCertificate = 60
        case deleteServerCertificate = 61
        case createDomainConfigurationFromCertificate = 62
        case updateDomainConfiguration = 63
        case deleteDisabledDomainConfiguration = 64
        case tagResource = 65
        case untagResource = 66
        case createWithTags = 67
        case bootstrapAccessKey = 75
        case shadow = 80
        // 85–89: persistent sessions across nodes (issue 7).
        case appendSessionQueue = 85
        case trimSessionQueue = 86
        case dropSessionQueue = 87
        case readBarrier = 88
        // 48–59: thing types and thing groups.
        case createThingType = 48
        case deprecateThingType = 49
        case deleteThingType = 50
        case createThingGroup = 51
        case updateThingGroup = 52
        case deleteThingGroup = 53
        case addThingToThingGroup = 54
        case removeThingFromThingGroup = 55
        case updateThingGroupsForThing = 56
        case createIssuingCA = 40
        case createRegistrationCode = 41
        /// `registerCACertificate` with its mode and auto-registration status (tag 17 is the format before them,
        /// still read: DEFAULT, DISABLE).
        case registerCACertificateWithMode = 42
        /// `registerCertificate` with its mode (tag 20 is the format before it, still read: DEFAULT).
        case registerCertificateWithMode = 43
        case updateCACertificate = 44
        case forceDeleteCertificate = 45
    }

    /// The bytes to propose.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.write(Self.formatVersion)
        switch self {
        case .createTenant(let tenant, let name):
            w.write(Tag.createTenant.rawValue)
            w.write(tenant)
            w.write(name)
        case .createAccessKey(let key):
            w.write(Tag.createAccessKey.rawValue)
            w.write(key)
        case .deleteAccessKey(let tenant, let id):
            w.write(Tag.deleteAccessKey.rawValue)
            w.write(tenant)
            w.write(id)
        case .bootstrapAccessKey(let key, let name):
            w.write(Tag.bootstrapAccessKey.rawValue)
            w.write(key)
            w.write(name)
        case .shadow(let c):
            w.write(Tag.shadow.rawValue)
            w.write(c.tenant)
            w.write(c.key)
            w.write(c.operation.rawValue)
            w.write(c.payload)
            w.write(c.nowMs)
            w.write(c.viaHTTP)
        case .setRetained(let m):
            w.write(Tag.setRetained.rawValue)
            w.write(m)
        case .clearRetained(let tenant, let topic):
            w.write(Tag.clearRetained.rawValue)
            w.write(tenant)
            w.write(topic)
        case .putSessionRecord(let s):
            w.write(Tag.putSessionRecord.rawValue)
            w.write(s)
        case .removeSessionRecord(let tenant, let clientID):
            w.write(Tag.removeSessionRecord.rawValue)
            w.write(tenant)
            w.write(clientID)
        case .appendSessionQueue(let tenant, let clientID, let messages, let limit):
            w.write(Tag.appendSessionQueue.rawValue)
            w.write(tenant)
            w.write(clientID)
            w.writeCount(messages.count)
            for m in messages { w.write(m) }
            w.write(limit)
        case .trimSessionQueue(let tenant, let clientID, let through):
            w.write(Tag.trimSessionQueue.rawValue)
            w.write(tenant)
            w.write(clientID)
            w.write(through)
        case .readBarrier:
            w.write(Tag.readBarrier.rawValue)
        case .dropSessionQueue(let tenant, let clientID):
            w.write(Tag.dropSessionQueue.rawValue)
            w.write(tenant)
            w.write(clientID)
        case .createThing(let c):
            w.write(Tag.createThing.rawValue)
            w.write(c.tenant)
            w.write(c.thingName)
            w.write(c.thingTypeName) { $0.write($1) }
            w.write(c.attributes)
            w.write(c.nowMs)
        case .updateThing(let u):
            w.write(Tag.updateThing.rawValue)
            w.write(u.tenant)
            w.write(u.thingName)
            w.write(u.thingTypeName) { $0.write($1) }
            w.write(u.removeThingType)
            w.write(u.attributes) { $0.write($1) }
            w.write(u.merge)
            w.write(u.expectedVersion) { $0.write($1) }
            w.write(u.nowMs)
        case .deleteThing(let tenant, let name, let expectedVersion):
            w.write(Tag.deleteThing.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(expectedVersion) { $0.write($1) }
        case .batch(let commands):
            // Each member as its own length-prefixed encoding (with its version byte), so a member decodes alone.
            w.write(Tag.batch.rawValue)
            w.writeCount(commands.count)
            for c in commands { w.write(c.encoded()) }
        case .setNodeAddress(let a):
            w.write(Tag.setNodeAddress.rawValue)
            w.write(a)
        case .removeNodeAddress(let id):
            w.write(Tag.removeNodeAddress.rawValue)
            w.write(id)
        case .createDomainConfiguration(let d):
            w.write(Tag.createDomainConfiguration.rawValue)
            w.write(d)
        case .updateDomainConfigurationStatus(let tenant, let name, let status, let nowMs):
            w.write(Tag.updateDomainConfigurationStatus.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(status.rawValue)
            w.write(nowMs)
        case .deleteDomainConfiguration(let tenant, let name):
            w.write(Tag.deleteDomainConfiguration.rawValue)
            w.write(tenant)
            w.write(name)
        case .registerCACertificate(let c):
            w.write(Tag.registerCACertificateWithMode.rawValue)
            w.write(c)
            w.write(c.mode.rawValue)
            w.write(c.autoRegistration.rawValue)
        case .updateCACertificateStatus(let tenant, let id, let status, let nowMs):
            w.write(Tag.updateCACertificateStatus.rawValue)
            w.write(tenant)
            w.write(id)
            w.write(status.rawValue)
            w.write(nowMs)
        case .deleteCACertificate(let tenant, let id):
            w.write(Tag.deleteCACertificate.rawValue)
            w.write(tenant)
            w.write(id)
        case .registerCertificate(let c):
            w.write(Tag.registerCertificateWithMode.rawValue)
            w.write(c)
            w.write(c.mode.rawValue)
        case .updateCertificateStatus(let tenant, let id, let status, let nowMs):
            w.write(Tag.updateCertificateStatus.rawValue)
            w.write(tenant)
            w.write(id)
            w.write(status.rawValue)
            w.write(nowMs)
        case .deleteCertificate(let tenant, let id):
            w.write(Tag.deleteCertificate.rawValue)
            w.write(tenant)
            w.write(id)
        case .setTenantEndpointPrefix(let tenant, let prefix):
            w.write(Tag.setTenantEndpointPrefix.rawValue)
            w.write(tenant)
            w.write(prefix) { $0.write($1) }
        case .createPolicy(let tenant, let name, let document, let nowMs):
            w.write(Tag.createPolicy.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(document)
            w.write(nowMs)
        case .createPolicyVersion(let tenant, let name, let document, let setAsDefault, let nowMs):
            w.write(Tag.createPolicyVersion.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(document)
            w.write(setAsDefault)
            w.write(nowMs)
        case .setDefaultPolicyVersion(let tenant, let name, let versionId, let nowMs):
            w.write(Tag.setDefaultPolicyVersion.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(versionId)
            w.write(nowMs)
        case .deletePolicyVersion(let tenant, let name, let versionId):
            w.write(Tag.deletePolicyVersion.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(versionId)
        case .deletePolicy(let tenant, let name):
            w.write(Tag.deletePolicy.rawValue)
            w.write(tenant)
            w.write(name)
        case .attachPolicy(let tenant, let name, let target):
            w.write(Tag.attachPolicy.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(target)
        case .detachPolicy(let tenant, let name, let target):
            w.write(Tag.detachPolicy.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(target)
        case .attachThingPrincipal(let tenant, let thing, let principal, let type):
            w.write(Tag.attachThingPrincipal.rawValue)
            w.write(tenant)
            w.write(thing)
            w.write(principal)
            w.write(type.rawValue)
        case .createIssuingCA(let ca):
            w.write(Tag.createIssuingCA.rawValue)
            w.write(ca.tenant)
            w.write(ca.certificateId)
            w.write(ca.certificatePEM)
            w.write(ca.privateKeyPEM)
            w.write(ca.createdAtMs)
        case .forceDeleteCertificate(let tenant, let id):
            w.write(Tag.forceDeleteCertificate.rawValue)
            w.write(tenant)
            w.write(id)
        case .createRegistrationCode(let tenant, let code):
            w.write(Tag.createRegistrationCode.rawValue)
            w.write(tenant)
            w.write(code)
        case .updateCACertificate(let tenant, let id, let status, let autoRegistration, let nowMs):
            w.write(Tag.updateCACertificate.rawValue)
            w.write(tenant)
            w.write(id)
            w.write(status) { $0.write($1.rawValue) }
            w.write(autoRegistration) { $0.write($1.rawValue) }
            w.write(nowMs)
        case .detachThingPrincipal(let tenant, let thing, let principal):
            w.write(Tag.detachThingPrincipal.rawValue)
            w.write(tenant)
            w.write(thing)
            w.write(principal)
        case .importServerCertificate(let c):
            w.write(Tag.importServerCertificate.rawValue)
            w.write(c)
        case .deleteServerCertificate(let tenant, let id):
            w.write(Tag.deleteServerCertificate.rawValue)
            w.write(tenant)
            w.write(id)
        case .createDomainConfigurationFromCertificate(let c):
            w.write(Tag.createDomainConfigurationFromCertificate.rawValue)
            w.write(c.tenant)
            w.write(c.domainConfigurationName)
            w.write(c.domainName)
            w.write(c.serverCertificateId)
            w.write(c.defaultAuthorizerName) { $0.write($1) }
            w.write(c.details)
            w.write(c.nowMs)
        case .updateDomainConfiguration(let u):
            w.write(Tag.updateDomainConfiguration.rawValue)
            w.write(u.tenant)
            w.write(u.domainConfigurationName)
            w.write(u.status) { $0.write($1.rawValue) }
            switch u.authorizer {
            case .keep: w.write(UInt8(0))
            case .remove: w.write(UInt8(1))
            case .set(let name, let allow):
                w.write(UInt8(2))
                w.write(name) { $0.write($1) }
                w.write(allow) { $0.write($1) }
            }
            w.write(u.securityPolicy) { $0.write($1) }
            w.write(u.authenticationType) { $0.write($1) }
            w.write(u.applicationProtocol) { $0.write($1) }
            w.write(u.nowMs)
        case .deleteDisabledDomainConfiguration(let tenant, let name):
            w.write(Tag.deleteDisabledDomainConfiguration.rawValue)
            w.write(tenant)
            w.write(name)
        case .tagResource(let tenant, let resource, let tags):
            w.write(Tag.tagResource.rawValue)
            w.write(tenant)
            w.write(resource)
            w.write(tags)
        case .untagResource(let tenant, let resource, let keys):
            w.write(Tag.untagResource.rawValue)
            w.write(tenant)
            w.write(resource)
            w.writeCount(keys.count)
            for k in keys { w.write(k) }
        case .createWithTags(let inner, let tenant, let resource, let tags):
            w.write(Tag.createWithTags.rawValue)
            w.write(inner.encoded())
            w.write(tenant)
            w.write(resource)
            w.write(tags)
        case .createThingType(let tenant, let name, let description, let searchable, let nowMs):
            w.write(Tag.createThingType.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(description) { $0.write($1) }
            w.writeCount(searchable.count)
            for a in searchable { w.write(a) }
            w.write(nowMs)
        case .deprecateThingType(let tenant, let name, let undo, let nowMs):
            w.write(Tag.deprecateThingType.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(undo)
            w.write(nowMs)
        case .deleteThingType(let tenant, let name, let nowMs):
            w.write(Tag.deleteThingType.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(nowMs)
        case .createThingGroup(let c):
            w.write(Tag.createThingGroup.rawValue)
            w.write(c.tenant)
            w.write(c.thingGroupName)
            w.write(c.parentGroupName) { $0.write($1) }
            w.write(c.description) { $0.write($1) }
            w.write(c.attributes)
            w.write(c.nowMs)
        case .updateThingGroup(let u):
            w.write(Tag.updateThingGroup.rawValue)
            w.write(u.tenant)
            w.write(u.thingGroupName)
            w.write(u.description) { $0.write($1) }
            w.write(u.attributes) { $0.write($1) }
            w.write(u.merge)
            w.write(u.expectedVersion) { $0.write($1) }
            w.write(u.nowMs)
        case .deleteThingGroup(let tenant, let name, let expectedVersion):
            w.write(Tag.deleteThingGroup.rawValue)
            w.write(tenant)
            w.write(name)
            w.write(expectedVersion) { $0.write($1) }
        case .addThingToThingGroup(let tenant, let group, let thing):
            w.write(Tag.addThingToThingGroup.rawValue)
            w.write(tenant)
            w.write(group)
            w.write(thing)
        case .removeThingFromThingGroup(let tenant, let group, let thing):
            w.write(Tag.removeThingFromThingGroup.rawValue)
            w.write(tenant)
            w.write(group)
            w.write(thing)
        case .updateThingGroupsForThing(let tenant, let thing, let add, let remove):
            w.write(Tag.updateThingGroupsForThing.rawValue)
            w.write(tenant)
            w.write(thing)
            w.writeCount(add.count)
            for g in add { w.write(g) }
            w.writeCount(remove.count)
            for g in remove { w.write(g) }
        }
        return w.bytes
    }

    /// Decodes one command, or says precisely why not.
    public static func decode(_ bytes: [UInt8]) -> Result<ClusterCommand, ClusterStateError> {
        guard let version = bytes.first else { return .failure(.malformedCommand) }
        guard version == formatVersion else { return .failure(.unsupportedCommandVersion(version)) }
        var r = BinaryReader(bytes, offset: 1)
        do {
            let command = try decodeV1(&r)
            guard r.isAtEnd else { return .failure(.malformedCommand) }
            return .success(command)
        } catch {
            return .failure(.malformedCommand)
        }
    }

    private static func decodeV1(_ r: inout BinaryReader, nested: Bool = false) throws(BinaryReadError)
        -> ClusterCommand
    {
        guard let tag = Tag(rawValue: try r.readUInt8()) else { throw BinaryReadError() }
        switch tag {
        case .createTenant:
            return .createTenant(try r.readTenant(), name: try r.readString())
        case .createAccessKey:
            return .createAccessKey(try r.readAccessKey())
        case .deleteAccessKey:
            return .deleteAccessKey(tenant: try r.readTenant(), accessKeyID: try r.readString())
        case .bootstrapAccessKey:
            return .bootstrapAccessKey(try r.readAccessKey(), tenantName: try r.readString())
        case .shadow:
            let tenant = try r.readTenant()
            let key = try r.readShadowKey()
            guard let operation = ShadowCommand.Operation(rawValue: try r.readUInt8()) else { throw BinaryReadError() }
            return .shadow(ShadowCommand(tenant: tenant, key: key, operation: operation, payload: try r.readBytes(),
                                         nowMs: try r.readInt64(), viaHTTP: try r.readBool()))
        case .setRetained:
            return .setRetained(try r.readRetainedMessage())
        case .clearRetained:
            return .clearRetained(tenant: try r.readTenant(), topic: try r.readString())
        case .putSessionRecord:
            return .putSessionRecord(try r.readSessionEntry())
        case .removeSessionRecord:
            return .removeSessionRecord(tenant: try r.readTenant(), clientID: try r.readString())
        case .appendSessionQueue:
            let tenant = try r.readTenant()
            let clientID = try r.readString()
            var messages: [QueuedMessage] = []
            for _ in 0..<(try r.readCount(minimumElementSize: 20)) { messages.append(try r.readQueuedMessage()) }
            return .appendSessionQueue(tenant: tenant, clientID: clientID, messages: messages, limit: try r.readUInt32())
        case .trimSessionQueue:
            return .trimSessionQueue(tenant: try r.readTenant(), clientID: try r.readString(), through: try r.readUInt64())
        case .dropSessionQueue:
            return .dropSessionQueue(tenant: try r.readTenant(), clientID: try r.readString())
        case .readBarrier:
            return .readBarrier
        case .createThing:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let type = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let attributes = try r.readStringMap()
            return .createThing(CreateThing(tenant: tenant, thingName: name, thingTypeName: type,
                                            attributes: attributes, nowMs: try r.readInt64()))
        case .updateThing:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let type = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let removeType = try r.readBool()
            let attributes = try r.readOptional { r throws(BinaryReadError) in try r.readStringMap() }
            let merge = try r.readBool()
            let expected = try r.readOptional { r throws(BinaryReadError) in try r.readInt64() }
            return .updateThing(UpdateThing(tenant: tenant, thingName: name, thingTypeName: type,
                                            removeThingType: removeType, attributes: attributes, merge: merge,
                                            expectedVersion: expected, nowMs: try r.readInt64()))
        case .deleteThing:
            return .deleteThing(tenant: try r.readTenant(), thingName: try r.readString(),
                                expectedVersion: try r.readOptional { r throws(BinaryReadError) in try r.readInt64() })
        case .batch:
            guard !nested else { throw BinaryReadError() }  // a batch of batches is not a command
            // Each member is at least its length prefix (4) plus version and tag bytes.
            let count = try r.readCount(minimumElementSize: 6)
            var commands: [ClusterCommand] = []
            commands.reserveCapacity(count)
            for _ in 0..<count {
                let bytes = try r.readBytes()
                guard bytes.first == formatVersion else { throw BinaryReadError() }
                var inner = BinaryReader(bytes, offset: 1)
                commands.append(try decodeV1(&inner, nested: true))
                guard inner.isAtEnd else { throw BinaryReadError() }
            }
            return .batch(commands)
        case .setNodeAddress:
            return .setNodeAddress(try r.readNodeAddress())
        case .removeNodeAddress:
            return .removeNodeAddress(nodeID: try r.readUInt64())
        case .createDomainConfiguration:
            return .createDomainConfiguration(try r.readDomainConfiguration())
        case .updateDomainConfigurationStatus:
            return .updateDomainConfigurationStatus(tenant: try r.readTenant(),
                                                    domainConfigurationName: try r.readString(),
                                                    status: try r.readDomainStatus(), nowMs: try r.readInt64())
        case .deleteDomainConfiguration:
            return .deleteDomainConfiguration(tenant: try r.readTenant(), domainConfigurationName: try r.readString())
        case .registerCACertificate:
            return .registerCACertificate(try r.readCACertificate())
        case .updateCACertificateStatus:
            return .updateCACertificateStatus(tenant: try r.readTenant(), caCertificateId: try r.readString(),
                                              status: try r.readCAStatus(), nowMs: try r.readInt64())
        case .deleteCACertificate:
            return .deleteCACertificate(tenant: try r.readTenant(), caCertificateId: try r.readString())
        case .registerCertificate:
            return .registerCertificate(try r.readCertificate())
        case .registerCACertificateWithMode:
            var c = try r.readCACertificate()
            c.mode = try r.readCertificateMode()
            c.autoRegistration = try r.readAutoRegistrationStatus()
            return .registerCACertificate(c)
        case .registerCertificateWithMode:
            var c = try r.readCertificate()
            c.mode = try r.readCertificateMode()
            return .registerCertificate(c)
        case .createIssuingCA:
            return .createIssuingCA(IssuingCA(tenant: try r.readTenant(), certificateId: try r.readString(),
                                              certificatePEM: try r.readString(), privateKeyPEM: try r.readString(),
                                              createdAtMs: try r.readInt64()))
        case .forceDeleteCertificate:
            return .forceDeleteCertificate(tenant: try r.readTenant(), certificateId: try r.readString())
        case .createRegistrationCode:
            return .createRegistrationCode(tenant: try r.readTenant(), code: try r.readString())
        case .updateCACertificate:
            let tenant = try r.readTenant()
            let id = try r.readString()
            let status = try r.readOptional { r throws(BinaryReadError) in try r.readCAStatus() }
            let auto = try r.readOptional { r throws(BinaryReadError) in try r.readAutoRegistrationStatus() }
            return .updateCACertificate(tenant: tenant, caCertificateId: id, status: status, autoRegistration: auto,
                                        nowMs: try r.readInt64())
        case .updateCertificateStatus:
            return .updateCertificateStatus(tenant: try r.readTenant(), certificateId: try r.readString(),
                                            status: try r.readCertificateStatus(), nowMs: try r.readInt64())
        case .deleteCertificate:
            return .deleteCertificate(tenant: try r.readTenant(), certificateId: try r.readString())
        case .setTenantEndpointPrefix:
            let tenant = try r.readTenant()
            let prefix = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            return .setTenantEndpointPrefix(tenant: tenant, prefix: prefix)
        case .createPolicy:
            return .createPolicy(tenant: try r.readTenant(), policyName: try r.readString(), document: try r.readString(),
                                 nowMs: try r.readInt64())
        case .createPolicyVersion:
            return .createPolicyVersion(tenant: try r.readTenant(), policyName: try r.readString(),
                                        document: try r.readString(), setAsDefault: try r.readBool(),
                                        nowMs: try r.readInt64())
        case .setDefaultPolicyVersion:
            return .setDefaultPolicyVersion(tenant: try r.readTenant(), policyName: try r.readString(),
                                            versionId: try r.readInt64(), nowMs: try r.readInt64())
        case .deletePolicyVersion:
            return .deletePolicyVersion(tenant: try r.readTenant(), policyName: try r.readString(),
                                        versionId: try r.readInt64())
        case .deletePolicy:
            return .deletePolicy(tenant: try r.readTenant(), policyName: try r.readString())
        case .attachPolicy:
            return .attachPolicy(tenant: try r.readTenant(), policyName: try r.readString(), target: try r.readString())
        case .detachPolicy:
            return .detachPolicy(tenant: try r.readTenant(), policyName: try r.readString(), target: try r.readString())
        case .attachThingPrincipal:
            return .attachThingPrincipal(tenant: try r.readTenant(), thingName: try r.readString(),
                                         principal: try r.readString(), type: try r.readThingPrincipalType())
        case .detachThingPrincipal:
            return .detachThingPrincipal(tenant: try r.readTenant(), thingName: try r.readString(),
                                         principal: try r.readString())
        case .importServerCertificate:
            return .importServerCertificate(try r.readServerCertificate())
        case .deleteServerCertificate:
            return .deleteServerCertificate(tenant: try r.readTenant(), certificateId: try r.readString())
        case .createDomainConfigurationFromCertificate:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let domainName = try r.readString()
            let certificateId = try r.readString()
            let authorizer = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let details = try r.readDomainDetails()
            return .createDomainConfigurationFromCertificate(CreateDomainConfiguration(
                tenant: tenant, domainConfigurationName: name, domainName: domainName,
                serverCertificateId: certificateId, defaultAuthorizerName: authorizer, details: details,
                nowMs: try r.readInt64()))
        case .updateDomainConfiguration:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let status = try r.readOptional { r throws(BinaryReadError) in try r.readDomainStatus() }
            let authorizer: AuthorizerChange
            switch try r.readUInt8() {
            case 0: authorizer = .keep
            case 1: authorizer = .remove
            case 2:
                authorizer = .set(
                    defaultAuthorizerName: try r.readOptional { r throws(BinaryReadError) in try r.readString() },
                    allowAuthorizerOverride: try r.readOptional { r throws(BinaryReadError) in try r.readBool() })
            default: throw BinaryReadError()
            }
            let policy = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let authentication = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let application = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            return .updateDomainConfiguration(UpdateDomainConfiguration(
                tenant: tenant, domainConfigurationName: name, status: status, authorizer: authorizer,
                securityPolicy: policy, authenticationType: authentication, applicationProtocol: application,
                nowMs: try r.readInt64()))
        case .deleteDisabledDomainConfiguration:
            return .deleteDisabledDomainConfiguration(tenant: try r.readTenant(),
                                                      domainConfigurationName: try r.readString())
        case .tagResource:
            return .tagResource(tenant: try r.readTenant(), resource: try r.readString(), tags: try r.readTags())
        case .untagResource:
            let tenant = try r.readTenant()
            let resource = try r.readString()
            var keys: [String] = []
            for _ in 0..<(try r.readCount(minimumElementSize: 4)) { keys.append(try r.readString()) }
            return .untagResource(tenant: tenant, resource: resource, tagKeys: keys)
        case .createWithTags:
            let bytes = try r.readBytes()
            guard bytes.first == formatVersion else { throw BinaryReadError() }
            var inner = BinaryReader(bytes, offset: 1)
            let command = try decodeV1(&inner, nested: true)  // nested: no batch inside
            guard inner.isAtEnd else { throw BinaryReadError() }
            if case .createWithTags = command { throw BinaryReadError() }
            return .createWithTags(command, tenant: try r.readTenant(), resource: try r.readString(),
                                   tags: try r.readTags())
        case .createThingType:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let description = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            var searchable: [String] = []
            for _ in 0..<(try r.readCount(minimumElementSize: 4)) { searchable.append(try r.readString()) }
            return .createThingType(tenant: tenant, thingTypeName: name, description: description,
                                    searchableAttributes: searchable, nowMs: try r.readInt64())
        case .deprecateThingType:
            return .deprecateThingType(tenant: try r.readTenant(), thingTypeName: try r.readString(),
                                       undo: try r.readBool(), nowMs: try r.readInt64())
        case .deleteThingType:
            return .deleteThingType(tenant: try r.readTenant(), thingTypeName: try r.readString(),
                                    nowMs: try r.readInt64())
        case .createThingGroup:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let parent = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let description = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let attributes = try r.readStringMap()
            return .createThingGroup(CreateThingGroup(tenant: tenant, thingGroupName: name, parentGroupName: parent,
                                                      description: description, attributes: attributes,
                                                      nowMs: try r.readInt64()))
        case .updateThingGroup:
            let tenant = try r.readTenant()
            let name = try r.readString()
            let description = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let attributes = try r.readOptional { r throws(BinaryReadError) in try r.readStringMap() }
            let merge = try r.readBool()
            let expected = try r.readOptional { r throws(BinaryReadError) in try r.readInt64() }
            return .updateThingGroup(UpdateThingGroup(tenant: tenant, thingGroupName: name, description: description,
                                                      attributes: attributes, merge: merge,
                                                      expectedVersion: expected, nowMs: try r.readInt64()))
        case .deleteThingGroup:
            return .deleteThingGroup(tenant: try r.readTenant(), thingGroupName: try r.readString(),
                                     expectedVersion: try r.readOptional { r throws(BinaryReadError) in
                                         try r.readInt64()
                                     })
        case .addThingToThingGroup:
            return .addThingToThingGroup(tenant: try r.readTenant(), thingGroupName: try r.readString(),
                                         thingName: try r.readString())
        case .removeThingFromThingGroup:
            return .removeThingFromThingGroup(tenant: try r.readTenant(), thingGroupName: try r.readString(),
                                              thingName: try r.readString())
        case .updateThingGroupsForThing:
            let tenant = try r.readTenant()
            let thing = try r.readString()
            var add: [String] = []
            for _ in 0..<(try r.readCount(minimumElementSize: 4)) { add.append(try r.readString()) }
            var remove: [String] = []
            for _ in 0..<(try r.readCount(minimumElementSize: 4)) { remove.append(try r.readString()) }
            return .updateThingGroupsForThing(tenant: tenant, thingName: thing, groupsToAdd: add,
                                              groupsToRemove: remove)
        }
    }
}
