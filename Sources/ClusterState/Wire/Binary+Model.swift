import IoTTypes
import MQTTCodec

// The encodings of the model values, shared by commands and snapshots (field order is the format: append only
// under a new format version).

extension BinaryWriter {
    mutating func write(_ t: TenantID) { write(t.accountID) }

    /// Thing name, then the shadow name (optional: absent for the classic shadow).
    mutating func write(_ k: ShadowKey) {
        write(k.thingName)
        write(k.shadowName) { $0.write($1) }
    }

    mutating func write(_ m: RetainedMessage) {
        write(m.tenant)
        write(m.topic)
        write(m.payload)
        write(m.qos.rawValue)
        write(m.properties.payloadFormatIndicator) { $0.write($1) }
        write(m.properties.contentType) { $0.write($1) }
        write(m.properties.responseTopic) { $0.write($1) }
        write(m.properties.correlationData) { $0.write($1) }
        writeCount(m.properties.userProperties.count)
        for p in m.properties.userProperties {
            write(p.name)
            write(p.value)
        }
        write(m.expiresAtMs) { $0.write($1) }
    }

    mutating func write(_ s: SessionEntry) {
        write(s.tenant)
        write(s.clientID)
        write(s.protocolVersion.rawValue)
        writeCount(s.subscriptions.count)
        for filter in s.subscriptions.keys.sorted(by: String.utf8Less) {
            let o = s.subscriptions[filter]!
            write(filter)
            write(o.qos.rawValue)
            write(o.noLocal)
            write(o.retainAsPublished)
            write(o.retainHandling.rawValue)
        }
        write(s.expiryInterval)
        write(s.disconnectedAtMs) { $0.write($1) }
    }

    mutating func write(_ a: NodeAddress) {
        write(a.nodeID)
        write(a.busHost)
        write(a.busPort)
    }

    mutating func write(_ k: AccessKey) {
        write(k.tenant)
        write(k.accessKeyID)
        write(k.secretKey)
        write(k.createdAtMs)
    }

    mutating func write(_ d: DomainConfiguration) {
        write(d.tenant)
        write(d.domainConfigurationName)
        write(d.domainName)
        write(d.serverCertificateChainPEM)
        write(d.privateKeyPEM)
        write(d.status.rawValue)
        write(d.defaultAuthorizerName) { $0.write($1) }
        write(d.createdAtMs)
        write(d.lastStatusChangeAtMs)
    }

    mutating func write(_ c: CACertificate) {
        write(c.tenant)
        write(c.caCertificateId)
        write(c.certificatePEM)
        write(c.status.rawValue)
        write(c.createdAtMs)
        write(c.lastModifiedAtMs)
    }

    mutating func write(_ c: Certificate) {
        write(c.tenant)
        write(c.certificateId)
        write(c.certificatePEM)
        write(c.caCertificateId) { $0.write($1) }
        write(c.status.rawValue)
        write(c.notBeforeMs) { $0.write($1) }
        write(c.notAfterMs) { $0.write($1) }
        write(c.createdAtMs)
        write(c.lastModifiedAtMs)
    }
}

extension BinaryWriter {
    mutating func write(_ c: ServerCertificate) {
        write(c.tenant)
        write(c.certificateId)
        write(c.certificateChainPEM)
        write(c.privateKeyPEM)
        writeCount(c.domainNames.count)
        for n in c.domainNames { write(n) }
        write(c.notBeforeMs)
        write(c.notAfterMs)
        write(c.importedAtMs)
    }

    mutating func write(_ d: DomainConfigurationDetails) {
        write(d.serverCertificateId) { $0.write($1) }
        write(d.serviceType)
        write(d.allowAuthorizerOverride) { $0.write($1) }
        write(d.securityPolicy) { $0.write($1) }
        write(d.authenticationType) { $0.write($1) }
        write(d.applicationProtocol) { $0.write($1) }
    }

    /// Tags in the order given (a command's) or sorted by key (state and snapshots sort before writing).
    mutating func write(_ tags: [ResourceTag]) {
        writeCount(tags.count)
        for t in tags {
            write(t.key)
            write(t.value)
        }
    }
}

extension BinaryReader {
    mutating func readServerCertificate() throws(BinaryReadError) -> ServerCertificate {
        let tenant = try readTenant()
        let id = try readString()
        let chain = try readString()
        let key = try readString()
        var names: [String] = []
        for _ in 0..<(try readCount(minimumElementSize: 4)) { names.append(try readString()) }
        return ServerCertificate(tenant: tenant, certificateId: id, certificateChainPEM: chain, privateKeyPEM: key,
                                 domainNames: names, notBeforeMs: try readInt64(), notAfterMs: try readInt64(),
                                 importedAtMs: try readInt64())
    }

    mutating func readDomainDetails() throws(BinaryReadError) -> DomainConfigurationDetails {
        DomainConfigurationDetails(
            serverCertificateId: try readOptional { r throws(BinaryReadError) in try r.readString() },
            serviceType: try readString(),
            allowAuthorizerOverride: try readOptional { r throws(BinaryReadError) in try r.readBool() },
            securityPolicy: try readOptional { r throws(BinaryReadError) in try r.readString() },
            authenticationType: try readOptional { r throws(BinaryReadError) in try r.readString() },
            applicationProtocol: try readOptional { r throws(BinaryReadError) in try r.readString() })
    }

    mutating func readTags() throws(BinaryReadError) -> [ResourceTag] {
        var tags: [ResourceTag] = []
        for _ in 0..<(try readCount(minimumElementSize: 8)) {
            tags.append(ResourceTag(key: try readString(), value: try readString()))
        }
        return tags
    }

    mutating func readTenant() throws(BinaryReadError) -> TenantID { TenantID(try readString()) }

    mutating func readShadowKey() throws(BinaryReadError) -> ShadowKey {
        ShadowKey(thingName: try readString(),
                  shadowName: try readOptional { r throws(BinaryReadError) in try r.readString() })
    }

    mutating func readQoS() throws(BinaryReadError) -> QoS {
        guard let q = QoS(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return q
    }

    mutating func readRetainedMessage() throws(BinaryReadError) -> RetainedMessage {
        let tenant = try readTenant()
        let topic = try readString()
        let payload = try readBytes()
        let qos = try readQoS()
        var p = RetainedProperties()
        p.payloadFormatIndicator = try readOptional { r throws(BinaryReadError) in try r.readUInt8() }
        p.contentType = try readOptional { r throws(BinaryReadError) in try r.readString() }
        p.responseTopic = try readOptional { r throws(BinaryReadError) in try r.readString() }
        p.correlationData = try readOptional { r throws(BinaryReadError) in try r.readBytes() }
        let n = try readCount(minimumElementSize: 8)
        for _ in 0..<n { p.userProperties.append(UserProperty(try readString(), try readString())) }
        let expiresAtMs = try readOptional { r throws(BinaryReadError) in try r.readInt64() }
        return RetainedMessage(tenant: tenant, topic: topic, payload: payload, qos: qos, properties: p,
                               expiresAtMs: expiresAtMs)
    }

    mutating func readSessionEntry() throws(BinaryReadError) -> SessionEntry {
        let tenant = try readTenant()
        let clientID = try readString()
        guard let version = ProtocolVersion(rawValue: try readUInt8()) else { throw BinaryReadError() }
        let n = try readCount(minimumElementSize: 8)
        var subscriptions: [String: SubscriptionOptions] = [:]
        var previous: String?
        for _ in 0..<n {
            let filter = try readString()
            if let previous, !String.utf8Less(previous, filter) { throw BinaryReadError() }  // canonical: sorted, no duplicates
            previous = filter
            let qos = try readQoS()
            let noLocal = try readBool()
            let rap = try readBool()
            guard let rh = RetainHandling(rawValue: try readUInt8()) else { throw BinaryReadError() }
            subscriptions[filter] = SubscriptionOptions(qos: qos, noLocal: noLocal, retainAsPublished: rap,
                                                        retainHandling: rh)
        }
        let expiry = try readUInt32()
        let disconnectedAtMs = try readOptional { r throws(BinaryReadError) in try r.readInt64() }
        return SessionEntry(tenant: tenant, clientID: clientID, protocolVersion: version,
                            subscriptions: subscriptions, expiryInterval: expiry, disconnectedAtMs: disconnectedAtMs)
    }

    mutating func readNodeAddress() throws(BinaryReadError) -> NodeAddress {
        NodeAddress(nodeID: try readUInt64(), busHost: try readString(), busPort: try readUInt16())
    }

    mutating func readAccessKey() throws(BinaryReadError) -> AccessKey {
        AccessKey(tenant: try readTenant(), accessKeyID: try readString(), secretKey: try readString(),
                  createdAtMs: try readInt64())
    }

    mutating func readDomainStatus() throws(BinaryReadError) -> DomainConfigurationStatus {
        guard let s = DomainConfigurationStatus(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return s
    }

    mutating func readCAStatus() throws(BinaryReadError) -> CACertificateStatus {
        guard let s = CACertificateStatus(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return s
    }

    mutating func readThingPrincipalType() throws(BinaryReadError) -> ThingPrincipalType {
        guard let t = ThingPrincipalType(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return t
    }

    mutating func readCertificateMode() throws(BinaryReadError) -> CertificateMode {
        guard let m = CertificateMode(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return m
    }

    mutating func readAutoRegistrationStatus() throws(BinaryReadError) -> AutoRegistrationStatus {
        guard let s = AutoRegistrationStatus(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return s
    }

    mutating func readCertificateStatus() throws(BinaryReadError) -> CertificateStatus {
        guard let s = CertificateStatus(rawValue: try readUInt8()) else { throw BinaryReadError() }
        return s
    }

    mutating func readDomainConfiguration() throws(BinaryReadError) -> DomainConfiguration {
        let tenant = try readTenant()
        let name = try readString()
        let domainName = try readString()
        let chain = try readString()
        let key = try readString()
        let status = try readDomainStatus()
        let authorizer = try readOptional { r throws(BinaryReadError) in try r.readString() }
        return DomainConfiguration(tenant: tenant, domainConfigurationName: name, domainName: domainName,
                                   serverCertificateChainPEM: chain, privateKeyPEM: key, status: status,
                                   defaultAuthorizerName: authorizer, createdAtMs: try readInt64(),
                                   lastStatusChangeAtMs: try readInt64())
    }

    mutating func readCACertificate() throws(BinaryReadError) -> CACertificate {
        CACertificate(tenant: try readTenant(), caCertificateId: try readString(), certificatePEM: try readString(),
                      status: try readCAStatus(), createdAtMs: try readInt64(), lastModifiedAtMs: try readInt64())
    }

    mutating func readCertificate() throws(BinaryReadError) -> Certificate {
        let tenant = try readTenant()
        let id = try readString()
        let pem = try readString()
        let ca = try readOptional { r throws(BinaryReadError) in try r.readString() }
        let status = try readCertificateStatus()
        let notBefore = try readOptional { r throws(BinaryReadError) in try r.readInt64() }
        let notAfter = try readOptional { r throws(BinaryReadError) in try r.readInt64() }
        return Certificate(tenant: tenant, certificateId: id, certificatePEM: pem, caCertificateId: ca, status: status,
                           notBeforeMs: notBefore, notAfterMs: notAfter, createdAtMs: try readInt64(),
                           lastModifiedAtMs: try readInt64())
    }
}
