import IoTTypes
import Shadow
import TopicTrie

/// Why snapshot bytes could not be restored.
public enum ClusterSnapshotError: Error, Sendable, Hashable {
    /// The bytes do not start with the snapshot magic `FLCS`.
    case badMagic
    /// A snapshot format this build does not know (written by a newer node).
    case unsupportedVersion(UInt8)
    /// Truncated, invalid or trailing bytes.
    case malformed
}

/// Snapshot format (version 7), uncompressed; the shell compresses it with LZ4 (frame format) before handing it to
/// libraft, so this target stays free of C:
///
///     "FLCS" | formatVersion u8 (= 7) | lastAppliedIndex u64 | thingSequence u64
///     | tenants:     count u32, then (accountID, name)                          by accountID
///     | accessKeys:  count u32, then AccessKey                                  by (tenant, accessKeyID)
///     | retained:    count u32, then RetainedMessage                            by (tenant, topic)
///     | sessions:    count u32, then SessionEntry                               by (tenant, clientID)
///     | things:      count u32, then (tenant, name, id, type?, attributes, version, createdAtMs, lastModifiedAtMs)
///                                                                               by (tenant, thingName)
///     | nodes:       count u32, then NodeAddress (nodeID u64, busHost, busPort u16)  by nodeID   (version 2 on)
///     | prefixes:    count u32, then (tenant, endpointPrefix)                   by tenant    (version 3 on)
///     | domains:     count u32, then DomainConfiguration                        by (tenant, name)     (3 on)
///     | caCerts:     count u32, then CACertificate                              by (tenant, id)       (3 on)
///     | certs:       count u32, then Certificate                                by (tenant, id)       (3 on)
///     | policies:    count u32, then (tenant, name, defaultVersionId, nextVersionId, createdAtMs,
///                    lastModifiedAtMs, versions: count u32 then (versionId, document, createdAtMs))
///                                                                               by (tenant, name)     (4 on)
///     | policyTargets: count u32, then (tenant, target, policyName)            by (tenant, target, policy) (4 on)
///     | thingPrincipals: count u32, then (tenant, thing, principal, type u8)   by (tenant, thing, principal) (4 on)
///     | serverCerts: count u32, then ServerCertificate                         by (tenant, id)       (5 on)
///     | domainDetails: count u32, then (tenant, name, DomainConfigurationDetails) by (tenant, name)   (5 on)
///     | tags:        count u32, then (tenant, resource, key, value)            by (tenant, resource, key) (5 on)
///     | registrySequence u64                                                                          (5 on)
///     | thingTypes:  count u32, then (tenant, name, id, description?, searchableAttributes: count u32 then
///                    strings, deprecatedAtMs?, createdAtMs)                     by (tenant, name)     (5 on)
///     | thingGroups: count u32, then (tenant, name, id, parent?, description?, attributes, version, createdAtMs,
///                    lastModifiedAtMs)                                          by (tenant, name)     (5 on)
///     | groupMembers: count u32, then (tenant, group, thing)                    by (tenant, group, thing) (5 on)
///     | caCertModes: count u32, then (tenant, id, mode u8, autoRegistration u8), one per CA in `caCerts` order (5 on)
///     | certModes:   count u32, then (tenant, id, mode u8), one per certificate in `certs` order          (5 on)
///     | issuingCAs:  count u32, then (tenant, certificateId, certificatePEM, privateKeyPEM, createdAtMs)
///                                                                               by tenant             (5 on)
///     | registrationCodes: count u32, then (tenant, code)                       by tenant             (5 on)
///     | shadows:     count u32, then (tenant, thingName, shadowName?, ShadowDocument storage bytes)
///                                                                               by (tenant, ShadowKey) (6 on)
///     | sessionQueues: count u32, then (tenant, clientID, nextPosition u64, dropped u64,
///                    entries: count u32 then (position u64, RetainedMessage, retain bool))
///                                                                               by (tenant, clientID) (7 on)
///
/// Each version appends sections to the previous one: version 1 has no `nodes` (written before the node
/// directory existed), version 2 none of the version-3 sections (before domains, certificates and endpoint
/// prefixes), version 3 none of the version-4 ones (policies and attachments), version 4 none of the version-5
/// ones (server certificates, domain configuration details, tags, thing types, thing groups and memberships,
/// certificate modes — read as DEFAULT / DISABLE —, issuing CAs and registration codes), version 5 no device
/// shadows, version 6 no replicated session queues. Older versions are still read, their missing sections as empty, so a node upgraded in place restores its old snapshots. The `domains`,
/// `serverCerts` and `issuingCAs` sections hold private keys: snapshots are secrets at rest.
/// Keys sort by UTF-8 bytes, so two equal states give byte-identical snapshots (the determinism tests compare them).
/// Derived indexes (access key owners, topic trees, group children, a thing's groups) are rebuilt on restore, not
/// stored; a group whose parent is missing, a hierarchy deeper than 7 levels, or a membership of a missing thing or
/// group is refused (`malformed`).
extension ClusterState {
    static let snapshotMagic: [UInt8] = Array("FLCS".utf8)
    /// The snapshot format version this build writes and reads.
    public static let snapshotFormatVersion: UInt8 = 7
    /// Older formats `restore` still reads.
    static let readableSnapshotVersions: ClosedRange<UInt8> = 1...7

    /// The whole state, in the canonical encoding.
    public func snapshot() -> [UInt8] {
        var w = BinaryWriter()
        for b in Self.snapshotMagic { w.write(b) }
        w.write(Self.snapshotFormatVersion)
        w.write(lastAppliedIndex)
        w.write(thingSequence)

        let tenantIDs = tenants.keys.sorted(by: Self.tenantLess)
        w.writeCount(tenantIDs.count)
        for id in tenantIDs {
            w.write(id)
            w.write(tenants[id]!.name)
        }

        let keys = Self.sortedRows(accessKeys) { $0.accessKeyID }
        w.writeCount(keys.count)
        for k in keys { w.write(k) }

        var messages: [RetainedMessage] = []
        for tenant in retained.keys.sorted(by: Self.tenantLess) {
            var rows: [RetainedMessage] = []
            retained[tenant]!.forEach { _, m in rows.append(m) }
            messages += rows.sorted { String.utf8Less($0.topic, $1.topic) }
        }
        w.writeCount(messages.count)
        for m in messages { w.write(m) }

        let entries = Self.sortedRows(sessions) { $0.clientID }
        w.writeCount(entries.count)
        for s in entries { w.write(s) }

        let allThings = Self.sortedRows(things) { $0.thingName }
        w.writeCount(allThings.count)
        for t in allThings {
            w.write(t.tenant)
            w.write(t.thingName)
            w.write(t.thingId)
            w.write(t.thingTypeName) { $0.write($1) }
            w.write(t.attributes)
            w.write(t.version)
            w.write(t.createdAtMs)
            w.write(t.lastModifiedAtMs)
        }

        let directory = nodeDirectory()
        w.writeCount(directory.count)
        for a in directory { w.write(a) }

        let prefixTenants = endpointPrefixes.keys.sorted(by: Self.tenantLess)
        w.writeCount(prefixTenants.count)
        for t in prefixTenants {
            w.write(t)
            w.write(endpointPrefixes[t]!)
        }

        let domains = Self.sortedRows(domainConfigurations) { $0.domainConfigurationName }
        w.writeCount(domains.count)
        for d in domains { w.write(d) }

        let cas = Self.sortedRows(caCertificates) { $0.caCertificateId }
        w.writeCount(cas.count)
        for c in cas { w.write(c) }

        let certs = Self.sortedRows(certificates) { $0.certificateId }
        w.writeCount(certs.count)
        for c in certs { w.write(c) }

        let allPolicies = Self.sortedRows(policies) { $0.policyName }
        w.writeCount(allPolicies.count)
        for p in allPolicies {
            w.write(p.tenant)
            w.write(p.policyName)
            w.write(p.defaultVersionId)
            w.write(p.nextVersionId)
            w.write(p.createdAtMs)
            w.write(p.lastModifiedAtMs)
            w.writeCount(p.versions.count)
            for v in p.versions {
                w.write(v.versionId)
                w.write(v.document)
                w.write(v.createdAtMs)
            }
        }

        var attachments: [(TenantID, String, String)] = []
        for tenant in policyTargets.keys.sorted(by: Self.tenantLess) {
            for target in policyTargets[tenant]!.keys.sorted(by: String.utf8Less) {
                for name in policyTargets[tenant]![target]!.sorted(by: String.utf8Less) {
                    attachments.append((tenant, target, name))
                }
            }
        }
        w.writeCount(attachments.count)
        for (tenant, target, name) in attachments {
            w.write(tenant)
            w.write(target)
            w.write(name)
        }

        var principals: [(TenantID, String, String, ThingPrincipalType)] = []
        for tenant in thingPrincipals.keys.sorted(by: Self.tenantLess) {
            for thing in thingPrincipals[tenant]!.keys.sorted(by: String.utf8Less) {
                for (principal, type) in thingPrincipals[tenant]![thing]!.sorted(by: { String.utf8Less($0.key, $1.key) }) {
                    principals.append((tenant, thing, principal, type))
                }
            }
        }
        w.writeCount(principals.count)
        for (tenant, thing, principal, type) in principals {
            w.write(tenant)
            w.write(thing)
            w.write(principal)
            w.write(type.rawValue)
        }

        let serverCerts = Self.sortedRows(serverCertificates) { $0.certificateId }
        w.writeCount(serverCerts.count)
        for c in serverCerts { w.write(c) }

        var details: [(TenantID, String, DomainConfigurationDetails)] = []
        for tenant in domainDetails.keys.sorted(by: Self.tenantLess) {
            for (name, d) in domainDetails[tenant]!.sorted(by: { String.utf8Less($0.key, $1.key) }) {
                details.append((tenant, name, d))
            }
        }
        w.writeCount(details.count)
        for (tenant, name, d) in details {
            w.write(tenant)
            w.write(name)
            w.write(d)
        }

        var tagRows: [(TenantID, String, String, String)] = []
        for tenant in tags.keys.sorted(by: Self.tenantLess) {
            for resource in tags[tenant]!.keys.sorted(by: String.utf8Less) {
                for (key, value) in tags[tenant]![resource]!.sorted(by: { String.utf8Less($0.key, $1.key) }) {
                    tagRows.append((tenant, resource, key, value))
                }
            }
        }
        w.writeCount(tagRows.count)
        for (tenant, resource, key, value) in tagRows {
            w.write(tenant)
            w.write(resource)
            w.write(key)
            w.write(value)
        }

        w.write(registrySequence)
        let types = Self.sortedRows(thingTypes) { $0.thingTypeName }
        w.writeCount(types.count)
        for t in types {
            w.write(t.tenant)
            w.write(t.thingTypeName)
            w.write(t.thingTypeId)
            w.write(t.description) { $0.write($1) }
            w.writeCount(t.searchableAttributes.count)
            for a in t.searchableAttributes { w.write(a) }
            w.write(t.deprecatedAtMs) { $0.write($1) }
            w.write(t.createdAtMs)
        }
        let groups = Self.sortedRows(thingGroups) { $0.thingGroupName }
        w.writeCount(groups.count)
        for g in groups {
            w.write(g.tenant)
            w.write(g.thingGroupName)
            w.write(g.thingGroupId)
            w.write(g.parentGroupName) { $0.write($1) }
            w.write(g.description) { $0.write($1) }
            w.write(g.attributes)
            w.write(g.version)
            w.write(g.createdAtMs)
            w.write(g.lastModifiedAtMs)
        }
        var memberships: [(TenantID, String, String)] = []
        for tenant in groupMembers.keys.sorted(by: Self.tenantLess) {
            for group in groupMembers[tenant]!.keys.sorted(by: String.utf8Less) {
                for thing in groupMembers[tenant]![group]!.sorted(by: String.utf8Less) {
                    memberships.append((tenant, group, thing))
                }
            }
        }
        w.writeCount(memberships.count)
        for (tenant, group, thing) in memberships {
            w.write(tenant)
            w.write(group)
            w.write(thing)
        }

        w.writeCount(cas.count)
        for c in cas {
            w.write(c.tenant)
            w.write(c.caCertificateId)
            w.write(c.mode.rawValue)
            w.write(c.autoRegistration.rawValue)
        }
        w.writeCount(certs.count)
        for c in certs {
            w.write(c.tenant)
            w.write(c.certificateId)
            w.write(c.mode.rawValue)
        }
        let issuers = issuingCAs.keys.sorted(by: Self.tenantLess)
        w.writeCount(issuers.count)
        for t in issuers {
            let ca = issuingCAs[t]!
            w.write(t)
            w.write(ca.certificateId)
            w.write(ca.certificatePEM)
            w.write(ca.privateKeyPEM)
            w.write(ca.createdAtMs)
        }
        let codes = registrationCodes.keys.sorted(by: Self.tenantLess)
        w.writeCount(codes.count)
        for t in codes {
            w.write(t)
            w.write(registrationCodes[t]!)
        }

        var shadowRows: [(TenantID, ShadowKey, ShadowDocument)] = []
        for tenant in shadows.keys.sorted(by: Self.tenantLess) {
            for (key, document) in shadows[tenant]!.sorted(by: { $0.key < $1.key }) {
                shadowRows.append((tenant, key, document))
            }
        }
        w.writeCount(shadowRows.count)
        for (tenant, key, document) in shadowRows {
            w.write(tenant)
            w.write(key)
            w.write(document.storageBytes())
        }

        let queueTenants = sessionQueues.keys.sorted(by: Self.tenantLess)
        var queueRows: [(TenantID, String, SessionQueue)] = []
        for tenant in queueTenants {
            for clientID in sessionQueues[tenant]!.keys.sorted(by: String.utf8Less) {
                queueRows.append((tenant, clientID, sessionQueues[tenant]![clientID]!))
            }
        }
        w.writeCount(queueRows.count)
        for (tenant, clientID, queue) in queueRows {
            w.write(tenant)
            w.write(clientID)
            w.write(queue.nextPosition)
            w.write(queue.dropped)
            w.writeCount(queue.entries.count)
            for e in queue.entries {
                w.write(e.position)
                w.write(e.message)
            }
        }
        return w.bytes
    }

    /// Rebuilds a state from `snapshot()` bytes. Restore is exact: the result snapshots to the same bytes and
    /// answers every later command as the original would.
    public static func restore(_ bytes: [UInt8]) throws(ClusterSnapshotError) -> ClusterState {
        guard bytes.count >= snapshotMagic.count + 1, Array(bytes.prefix(snapshotMagic.count)) == snapshotMagic
        else { throw .badMagic }
        let version = bytes[snapshotMagic.count]
        guard readableSnapshotVersions.contains(version) else { throw .unsupportedVersion(version) }
        var r = BinaryReader(bytes, offset: snapshotMagic.count + 1)
        do {
            var state = try read(&r, version: version)
            guard r.isAtEnd else { throw BinaryReadError() }
            try state.rebuildDerived()
            // Canonical or nothing: rows out of order, duplicated, or in a tenant other than their key's would
            // restore to a state that re-encodes differently — a replica that no longer matches its peers byte
            // for byte. (Older versions re-encode in the current format, so only the current one is compared.)
            if version == snapshotFormatVersion, state.snapshot() != bytes { throw BinaryReadError() }
            return state
        } catch {
            throw .malformed
        }
    }

    private static func read(_ r: inout BinaryReader, version: UInt8) throws(BinaryReadError) -> ClusterState {
        var s = ClusterState()
        s.lastAppliedIndex = try r.readUInt64()
        s.thingSequence = try r.readUInt64()
        for _ in 0..<(try r.readCount(minimumElementSize: 8)) {
            let id = try r.readTenant()
            s.tenants[id] = Tenant(id: id, name: try r.readString())
        }
        for _ in 0..<(try r.readCount(minimumElementSize: 20)) {
            let k = try r.readAccessKey()
            s.accessKeys[k.tenant, default: [:]][k.accessKeyID] = k
        }
        for _ in 0..<(try r.readCount(minimumElementSize: 20)) {
            let m = try r.readRetainedMessage()
            s.retained[m.tenant, default: TopicTree()][m.topic] = m
        }
        for _ in 0..<(try r.readCount(minimumElementSize: 20)) {
            let e = try r.readSessionEntry()
            s.sessions[e.tenant, default: [:]][e.clientID] = e
        }
        for _ in 0..<(try r.readCount(minimumElementSize: 40)) {
            let tenant = try r.readTenant()
            let name = try r.readString()
            let id = try r.readString()
            let type = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
            let attributes = try r.readStringMap()
            let thing = Thing(tenant: tenant, thingName: name, thingId: id, thingTypeName: type,
                              attributes: attributes, version: try r.readInt64(), createdAtMs: try r.readInt64(),
                              lastModifiedAtMs: try r.readInt64())
            s.things[tenant, default: [:]][name] = thing
        }
        if version >= 2 {
            var previous: UInt64?
            for _ in 0..<(try r.readCount(minimumElementSize: 15)) {
                let a = try r.readNodeAddress()
                if let previous, previous >= a.nodeID { throw BinaryReadError() }  // canonical: sorted, unique
                previous = a.nodeID
                s.nodeAddresses[a.nodeID] = a
            }
        }
        if version >= 3 {
            for _ in 0..<(try r.readCount(minimumElementSize: 8)) {
                let t = try r.readTenant()
                s.endpointPrefixes[t] = try r.readString()
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 40)) {
                let d = try r.readDomainConfiguration()
                s.domainConfigurations[d.tenant, default: [:]][d.domainConfigurationName] = d
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 30)) {
                let c = try r.readCACertificate()
                s.caCertificates[c.tenant, default: [:]][c.caCertificateId] = c
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 30)) {
                let c = try r.readCertificate()
                s.certificates[c.tenant, default: [:]][c.certificateId] = c
            }
        }
        if version >= 4 {
            for _ in 0..<(try r.readCount(minimumElementSize: 44)) {
                let tenant = try r.readTenant()
                let name = try r.readString()
                let defaultVersionId = try r.readInt64()
                let nextVersionId = try r.readInt64()
                let createdAtMs = try r.readInt64()
                let lastModifiedAtMs = try r.readInt64()
                var versions: [PolicyVersion] = []
                for _ in 0..<(try r.readCount(minimumElementSize: 20)) {
                    versions.append(PolicyVersion(versionId: try r.readInt64(), document: try r.readString(),
                                                  createdAtMs: try r.readInt64()))
                }
                s.policies[tenant, default: [:]][name] = IoTPolicy(
                    tenant: tenant, policyName: name, versions: versions, defaultVersionId: defaultVersionId,
                    nextVersionId: nextVersionId, createdAtMs: createdAtMs, lastModifiedAtMs: lastModifiedAtMs)
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 12)) {
                let tenant = try r.readTenant()
                let target = try r.readString()
                s.policyTargets[tenant, default: [:]][target, default: []].insert(try r.readString())
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 13)) {
                let tenant = try r.readTenant()
                let thing = try r.readString()
                let principal = try r.readString()
                s.thingPrincipals[tenant, default: [:]][thing, default: [:]][principal] = try r.readThingPrincipalType()
            }
        }
        if version >= 5 {
            for _ in 0..<(try r.readCount(minimumElementSize: 40)) {
                let c = try r.readServerCertificate()
                s.serverCertificates[c.tenant, default: [:]][c.certificateId] = c
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 14)) {
                let tenant = try r.readTenant()
                let name = try r.readString()
                s.domainDetails[tenant, default: [:]][name] = try r.readDomainDetails()
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 16)) {
                let tenant = try r.readTenant()
                let resource = try r.readString()
                let key = try r.readString()
                s.tags[tenant, default: [:]][resource, default: [:]][key] = try r.readString()
            }
            s.registrySequence = try r.readUInt64()
            for _ in 0..<(try r.readCount(minimumElementSize: 26)) {
                let tenant = try r.readTenant()
                let name = try r.readString()
                let id = try r.readString()
                let description = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
                var searchable: [String] = []
                for _ in 0..<(try r.readCount(minimumElementSize: 4)) { searchable.append(try r.readString()) }
                let deprecatedAtMs = try r.readOptional { r throws(BinaryReadError) in try r.readInt64() }
                s.thingTypes[tenant, default: [:]][name] = ThingType(
                    tenant: tenant, thingTypeName: name, thingTypeId: id, description: description,
                    searchableAttributes: searchable, deprecatedAtMs: deprecatedAtMs, createdAtMs: try r.readInt64())
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 42)) {
                let tenant = try r.readTenant()
                let name = try r.readString()
                let id = try r.readString()
                let parent = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
                let description = try r.readOptional { r throws(BinaryReadError) in try r.readString() }
                let attributes = try r.readStringMap()
                s.thingGroups[tenant, default: [:]][name] = ThingGroup(
                    tenant: tenant, thingGroupName: name, thingGroupId: id, parentGroupName: parent,
                    description: description, attributes: attributes, version: try r.readInt64(),
                    createdAtMs: try r.readInt64(), lastModifiedAtMs: try r.readInt64())
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 12)) {
                let tenant = try r.readTenant()
                let group = try r.readString()
                s.groupMembers[tenant, default: [:]][group, default: []].insert(try r.readString())
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 10)) {
                let tenant = try r.readTenant()
                let id = try r.readString()
                let mode = try r.readCertificateMode()
                let auto = try r.readAutoRegistrationStatus()
                guard var c = s.caCertificates[tenant]?[id] else { throw BinaryReadError() }
                c.mode = mode
                c.autoRegistration = auto
                s.caCertificates[tenant]?[id] = c
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 9)) {
                let tenant = try r.readTenant()
                let id = try r.readString()
                let mode = try r.readCertificateMode()
                guard var c = s.certificates[tenant]?[id] else { throw BinaryReadError() }
                c.mode = mode
                s.certificates[tenant]?[id] = c
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 24)) {
                let tenant = try r.readTenant()
                s.issuingCAs[tenant] = IssuingCA(tenant: tenant, certificateId: try r.readString(),
                                                 certificatePEM: try r.readString(),
                                                 privateKeyPEM: try r.readString(), createdAtMs: try r.readInt64())
            }
            for _ in 0..<(try r.readCount(minimumElementSize: 8)) {
                let tenant = try r.readTenant()
                s.registrationCodes[tenant] = try r.readString()
            }
        }
        if version >= 6 {
            for _ in 0..<(try r.readCount(minimumElementSize: 12)) {
                let tenant = try r.readTenant()
                let key = try r.readShadowKey()
                let bytes = try r.readBytes()
                guard let document = try? ShadowDocument(storageBytes: bytes),
                      s.shadows[tenant, default: [:]].updateValue(document, forKey: key) == nil
                else { throw BinaryReadError() }
            }
        }
        if version >= 7 {
            for _ in 0..<(try r.readCount(minimumElementSize: 24)) {
                let tenant = try r.readTenant()
                let clientID = try r.readString()
                var queue = SessionQueue()
                queue.nextPosition = try r.readUInt64()
                queue.dropped = try r.readUInt64()
                for _ in 0..<(try r.readCount(minimumElementSize: 28)) {
                    let position = try r.readUInt64()
                    let message = try r.readQueuedMessage()
                    // Positions grow and stay below the next one; messages belong to the queue's tenant.
                    guard position > queue.lastPosition, position < queue.nextPosition, message.message.tenant == tenant
                    else { throw BinaryReadError() }
                    queue.entries.append(SessionQueue.Entry(position: position, message: message))
                }
                guard !clientID.isEmpty,
                      s.sessionQueues[tenant, default: [:]].updateValue(queue, forKey: clientID) == nil
                else { throw BinaryReadError() }
            }
        }
        return s
    }

    mutating func rebuildDerived() throws(BinaryReadError) {
        accessKeyOwners = [:]
        for (tenant, keys) in accessKeys {
            for id in keys.keys {
                // An access key id is unique across tenants (`createAccessKey` refuses a second owner).
                guard accessKeyOwners.updateValue(tenant, forKey: id) == nil else { throw BinaryReadError() }
            }
        }
        domainOwners = [:]
        for (tenant, configurations) in domainConfigurations {
            for (name, d) in configurations {
                // A domain name is unique across tenants (`createDomainConfiguration` refuses a second owner).
                let owner = DomainOwner(tenant: tenant, domainConfigurationName: name)
                guard domainOwners.updateValue(owner, forKey: d.domainName) == nil else { throw BinaryReadError() }
            }
        }
        rebuildPrincipalThings()
        try rebuildGroupIndexes()
    }

    private static func tenantLess(_ a: TenantID, _ b: TenantID) -> Bool { String.utf8Less(a.accountID, b.accountID) }

    /// The rows of a tenant-first map, by tenant then by `key`.
    private static func sortedRows<Row>(_ map: [TenantID: [String: Row]], key: (Row) -> String) -> [Row] {
        var out: [Row] = []
        for tenant in map.keys.sorted(by: tenantLess) {
            out += map[tenant]!.values.sorted { String.utf8Less(key($0), key($1)) }
        }
        return out
    }
}
