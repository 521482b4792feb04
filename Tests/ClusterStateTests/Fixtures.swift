import ClusterState
import IoTTypes
import MQTTCodec
import BrokerTestKit

let acme = TenantID("111111111111")
let globex = TenantID("222222222222")

/// Certificate ids have the shape of SHA-256 hex; these are not real digests (apply checks the shape only).
let certA = String(repeating: "a", count: 64)
let certB = String(repeating: "b", count: 64)
let caC = String(repeating: "c", count: 64)
let chainPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
let keyPEM = "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n"

func domain(_ tenant: TenantID, _ name: String, _ domainName: String,
            status: DomainConfigurationStatus = .enabled, authorizer: String? = nil,
            at ms: Int64 = 10) -> DomainConfiguration {
    DomainConfiguration(tenant: tenant, domainConfigurationName: name, domainName: domainName,
                        serverCertificateChainPEM: chainPEM, privateKeyPEM: keyPEM, status: status,
                        defaultAuthorizerName: authorizer, createdAtMs: ms)
}

/// One command of every kind, with every optional field both set and unset somewhere.
let everyCommand: [ClusterCommand] = [
    .createTenant(acme, name: "Acme"),
    .createAccessKey(AccessKey(tenant: acme, accessKeyID: "AKIA1", secretKey: "s3cr3t", createdAtMs: 1_700_000_000_000)),
    .deleteAccessKey(tenant: acme, accessKeyID: "AKIA1"),
    .bootstrapAccessKey(AccessKey(tenant: .default, accessKeyID: "AKIA0", secretKey: "s", createdAtMs: 5), tenantName: "default"),
    .setRetained(RetainedMessage(tenant: acme, topic: "a/b", payload: [1, 2, 3], qos: .atLeastOnce)),
    .setRetained(RetainedMessage(
        tenant: globex, topic: "sensors/é/temp", payload: Array("21.5".utf8), qos: .exactlyOnce,
        properties: RetainedProperties(payloadFormatIndicator: 1, contentType: "text/plain", responseTopic: "r/t",
                                       correlationData: [0, 255], userProperties: [UserProperty("k", "v"),
                                                                                   UserProperty("k", "w")]),
        expiresAtMs: 1_700_000_060_000)),
    .clearRetained(tenant: acme, topic: "a/b"),
    .putSessionRecord(SessionEntry(tenant: acme, clientID: "c1", protocolVersion: .v5,
                                   subscriptions: ["a/+": SubscriptionOptions(qos: .atLeastOnce, noLocal: true),
                                                   "b/#": SubscriptionOptions(retainAsPublished: true,
                                                                              retainHandling: .doNotSend)],
                                   expiryInterval: 3600, disconnectedAtMs: 1_700_000_000_500)),
    .putSessionRecord(SessionEntry(tenant: acme, clientID: "c2", protocolVersion: .v311, subscriptions: [:],
                                   expiryInterval: 0, disconnectedAtMs: nil)),
    .removeSessionRecord(tenant: acme, clientID: "c1"),
    .createThingType(tenant: acme, thingTypeName: "Lamp", description: "A lamp", searchableAttributes: ["room"],
                     nowMs: 4),
    .createThingType(tenant: acme, thingTypeName: "Lamp2", description: nil, searchableAttributes: [], nowMs: 4),
    .createThing(.init(tenant: acme, thingName: "lamp-1", thingTypeName: "Lamp",
                       attributes: ["color": "red", "room": "kitchen"], nowMs: 5)),
    .createThing(.init(tenant: acme, thingName: "bare", nowMs: 6)),
    .updateThing(.init(tenant: acme, thingName: "lamp-1", thingTypeName: nil, removeThingType: true,
                       attributes: ["color": ""], merge: true, expectedVersion: 1, nowMs: 7)),
    .updateThing(.init(tenant: acme, thingName: "lamp-1", thingTypeName: "Lamp2", nowMs: 8)),
    .deleteThing(tenant: acme, thingName: "lamp-1", expectedVersion: 3),
    .deleteThing(tenant: acme, thingName: "bare", expectedVersion: nil),
    .batch([]),
    .batch([.clearRetained(tenant: acme, topic: "a/b"),
            .setRetained(RetainedMessage(tenant: acme, topic: "a/b", payload: [9], qos: .atMostOnce)),
            .removeSessionRecord(tenant: acme, clientID: "c1")]),
    .setNodeAddress(NodeAddress(nodeID: 4, busHost: "127.0.0.1", busPort: 7031)),
    .removeNodeAddress(nodeID: 4),
    .setNodeAddress(NodeAddress(nodeID: .max, busHost: "node-9.example", busPort: .max)),
    // Version-3 commands (domains, certificates, endpoint prefixes); they leave rows in every new section.
    .setTenantEndpointPrefix(tenant: acme, prefix: "acme-prod"),
    .setTenantEndpointPrefix(tenant: acme, prefix: nil),
    .setTenantEndpointPrefix(tenant: acme, prefix: "acme"),
    .createDomainConfiguration(domain(acme, "main", "iot.acme.example", authorizer: "auth-1")),
    .createDomainConfiguration(domain(acme, "wild.card_1", "*.Devices.Acme.Example", status: .disabled)),
    .createDomainConfiguration(domain(globex, "gone", "iot.globex.example")),
    .updateDomainConfigurationStatus(tenant: acme, domainConfigurationName: "wild.card_1", status: .enabled,
                                     nowMs: 11),
    .deleteDomainConfiguration(tenant: globex, domainConfigurationName: "gone"),
    .registerCACertificate(CACertificate(tenant: acme, caCertificateId: caC, certificatePEM: chainPEM, status: .active,
                                         createdAtMs: 12)),
    .updateCACertificateStatus(tenant: acme, caCertificateId: caC, status: .inactive, nowMs: 13),
    .updateCACertificateStatus(tenant: acme, caCertificateId: caC, status: .active, nowMs: 14),
    .registerCertificate(Certificate(tenant: acme, certificateId: certA, certificatePEM: chainPEM,
                                     caCertificateId: caC, status: .active, notBeforeMs: 0,
                                     notAfterMs: 2_524_607_999_000, createdAtMs: 15)),
    .registerCertificate(Certificate(tenant: acme, certificateId: certB, certificatePEM: chainPEM, status: .inactive,
                                     createdAtMs: 16)),
    .updateCertificateStatus(tenant: acme, certificateId: certB, status: .revoked, nowMs: 17),
    .registerCertificate(Certificate(tenant: globex, certificateId: certB, certificatePEM: chainPEM,
                                     status: .inactive, createdAtMs: 18)),
    .deleteCertificate(tenant: globex, certificateId: certB),
    .registerCACertificate(CACertificate(tenant: globex, caCertificateId: caC, certificatePEM: chainPEM,
                                         status: .inactive, createdAtMs: 19)),
    .deleteCACertificate(tenant: globex, caCertificateId: caC),
    // Version-4 commands (policies and attachments); they leave rows in every new section.
    .createPolicy(tenant: acme, policyName: "devices", document: policyDoc, nowMs: 20),
    .createPolicyVersion(tenant: acme, policyName: "devices", document: policyDoc2, setAsDefault: true, nowMs: 21),
    .createPolicyVersion(tenant: acme, policyName: "devices", document: policyDoc, setAsDefault: false, nowMs: 22),
    .setDefaultPolicyVersion(tenant: acme, policyName: "devices", versionId: 3, nowMs: 23),
    .deletePolicyVersion(tenant: acme, policyName: "devices", versionId: 1),
    .createPolicy(tenant: acme, policyName: "gone", document: policyDoc, nowMs: 24),
    .deletePolicy(tenant: acme, policyName: "gone"),
    .attachPolicy(tenant: acme, policyName: "devices", target: certArnA),
    .attachPolicy(tenant: acme, policyName: "devices", target: "arn:aws:iot:us-east-1:111111111111:thinggroup/g"),
    .detachPolicy(tenant: acme, policyName: "devices", target: "arn:aws:iot:us-east-1:111111111111:thinggroup/g"),
    .createThing(.init(tenant: acme, thingName: "sensor-1", nowMs: 25)),
    .attachThingPrincipal(tenant: acme, thingName: "sensor-1", principal: certArnA, type: .exclusive),
    .createThing(.init(tenant: acme, thingName: "sensor-2", nowMs: 26)),
    .attachThingPrincipal(tenant: acme, thingName: "sensor-2", principal: "us-east-1:cognito-id", type: .nonExclusive),
    .detachThingPrincipal(tenant: acme, thingName: "sensor-2", principal: "us-east-1:cognito-id"),
    // Version-5 commands (server certificates, AWS domain configurations, tags); rows in every new section.
    .importServerCertificate(serverCert(acme, serverCertId1, names: ["*.brand.example", "brand.example"])),
    .importServerCertificate(serverCert(globex, serverCertId2, names: ["x.globex.example"])),
    .deleteServerCertificate(tenant: globex, certificateId: serverCertId2),
    .createWithTags(.createDomainConfigurationFromCertificate(.init(
        tenant: acme, domainConfigurationName: "brand", domainName: "mqtt.brand.example",
        serverCertificateId: serverCertId1, defaultAuthorizerName: "au",
        details: DomainConfigurationDetails(serverCertificateId: serverCertId1, allowAuthorizerOverride: true,
                                            securityPolicy: "IoTSecurityPolicy_TLS13_1_2_2022_10",
                                            authenticationType: "AWS_X509", applicationProtocol: "SECURE_MQTT"),
        nowMs: 30)), tenant: acme, resource: "domainconfiguration/brand", tags: [ResourceTag(key: "env", value: "prod")]),
    .createDomainConfigurationFromCertificate(.init(
        tenant: acme, domainConfigurationName: "brand-2", domainName: "brand.example",
        serverCertificateId: serverCertId1, nowMs: 31)),
    .updateDomainConfiguration(.init(tenant: acme, domainConfigurationName: "brand-2", status: .disabled,
                                     authorizer: .set(defaultAuthorizerName: "au2", allowAuthorizerOverride: false),
                                     securityPolicy: "p", authenticationType: "DEFAULT", applicationProtocol: "DEFAULT",
                                     nowMs: 32)),
    .updateDomainConfiguration(.init(tenant: acme, domainConfigurationName: "brand-2", authorizer: .remove, nowMs: 33)),
    .updateDomainConfiguration(.init(tenant: acme, domainConfigurationName: "brand-2", nowMs: 34)),
    .deleteDisabledDomainConfiguration(tenant: acme, domainConfigurationName: "brand-2"),
    .tagResource(tenant: acme, resource: "thing/sensor-1", tags: [ResourceTag(key: "a", value: ""),
                                                                  ResourceTag(key: "b c", value: "v")]),
    .tagResource(tenant: acme, resource: "policy/devices", tags: [ResourceTag(key: "owner", value: "ops")]),
    .untagResource(tenant: acme, resource: "thing/sensor-1", tagKeys: ["a", "missing"]),
    .createWithTags(.createPolicy(tenant: acme, policyName: "tagged", document: policyDoc, nowMs: 35), tenant: acme,
                    resource: "policy/tagged", tags: [ResourceTag(key: "k", value: "v")]),
    // Version-5 commands (thing types, thing groups, memberships); they leave rows in every new section.
    .createThingType(tenant: acme, thingTypeName: "Old", description: nil, searchableAttributes: ["a", "b"],
                     nowMs: 30),
    .deprecateThingType(tenant: acme, thingTypeName: "Old", undo: false, nowMs: 31),
    .deprecateThingType(tenant: acme, thingTypeName: "Lamp2", undo: true, nowMs: 32),
    .deleteThingType(tenant: acme, thingTypeName: "Old", nowMs: 31 + 300_000),
    .createThingType(tenant: globex, thingTypeName: "Kept", description: "still here", searchableAttributes: [],
                     nowMs: 33),
    .deprecateThingType(tenant: globex, thingTypeName: "Kept", undo: false, nowMs: 34),
    .createThingGroup(.init(tenant: acme, thingGroupName: "site", description: "All of it",
                            attributes: ["city": "Oslo"], nowMs: 35)),
    .createThingGroup(.init(tenant: acme, thingGroupName: "floor-1", parentGroupName: "site", nowMs: 36)),
    .createThingGroup(.init(tenant: acme, thingGroupName: "gone", nowMs: 37)),
    .updateThingGroup(.init(tenant: acme, thingGroupName: "site", description: "", attributes: ["zip": "0150"],
                            merge: true, expectedVersion: 1, nowMs: 38)),
    .updateThingGroup(.init(tenant: acme, thingGroupName: "floor-1", nowMs: 39)),
    .addThingToThingGroup(tenant: acme, thingGroupName: "floor-1", thingName: "sensor-1"),
    .addThingToThingGroup(tenant: acme, thingGroupName: "gone", thingName: "sensor-2"),
    .addThingToThingGroup(tenant: acme, thingGroupName: "gone", thingName: "sensor-1"),
    .removeThingFromThingGroup(tenant: acme, thingGroupName: "gone", thingName: "sensor-1"),
    .updateThingGroupsForThing(tenant: acme, thingName: "sensor-2", groupsToAdd: ["site"], groupsToRemove: []),
    .updateThingGroupsForThing(tenant: acme, thingName: "sensor-2", groupsToAdd: [], groupsToRemove: ["site"]),
    .deleteThingGroup(tenant: acme, thingGroupName: "gone", expectedVersion: 1),
    .deleteThingGroup(tenant: acme, thingGroupName: "never-was", expectedVersion: nil),
    // Version-5 commands (certificate modes, issuing CAs, registration codes); they leave rows in every new section.
    .createIssuingCA(IssuingCA(tenant: acme, certificateId: certB, certificatePEM: chainPEM, privateKeyPEM: keyPEM,
                               createdAtMs: 27)),
    .createRegistrationCode(tenant: acme, code: String(repeating: "0123456789abcdef", count: 4)),
    .registerCACertificate(CACertificate(tenant: globex, caCertificateId: caC, certificatePEM: chainPEM,
                                         status: .active, mode: .sniOnly, autoRegistration: .enable,
                                         createdAtMs: 28)),
    .updateCACertificate(tenant: globex, caCertificateId: caC, status: .inactive, autoRegistration: nil, nowMs: 29),
    .updateCACertificate(tenant: globex, caCertificateId: caC, status: nil, autoRegistration: .disable, nowMs: 30),
    .registerCertificate(Certificate(tenant: globex, certificateId: certA, certificatePEM: chainPEM,
                                     status: .inactive, mode: .sniOnly, createdAtMs: 31)),
    .registerCertificate(Certificate(tenant: globex, certificateId: certB, certificatePEM: chainPEM,
                                     status: .inactive, createdAtMs: 32)),
    .forceDeleteCertificate(tenant: globex, certificateId: certB),
    // Version-6 commands (device shadows): a classic and a named shadow, a rejected update, a delete (tombstone).
    .shadow(ShadowCommand(tenant: acme, key: ShadowKey(thingName: "sensor-1", shadowName: nil), operation: .update,
                          payload: Array(#"{"state":{"desired":{"on":true}},"clientToken":"t1"}"#.utf8), nowMs: 40_000)),
    .shadow(ShadowCommand(tenant: acme, key: ShadowKey(thingName: "sensor-1", shadowName: "cfg"), operation: .update,
                          payload: Array(#"{"state":{"reported":{"fw":"1.2"}}}"#.utf8), nowMs: 41_000, viaHTTP: true)),
    .shadow(ShadowCommand(tenant: acme, key: ShadowKey(thingName: "sensor-1", shadowName: nil), operation: .update,
                          payload: Array(#"{"state":{"desired":{"on":false}},"version":99}"#.utf8), nowMs: 42_000)),
    .shadow(ShadowCommand(tenant: globex, key: ShadowKey(thingName: "gone", shadowName: nil), operation: .update,
                          payload: Array(#"{"state":{"reported":{"x":1}}}"#.utf8), nowMs: 43_000)),
    .shadow(ShadowCommand(tenant: globex, key: ShadowKey(thingName: "gone", shadowName: nil), operation: .delete,
                          payload: [], nowMs: 44_000)),
    // Version-7 commands (replicated session queues, issue 7): a queue over its bound, trimmed; one dropped.
    .appendSessionQueue(tenant: acme, clientID: "parked-1", messages: [queued(acme, "q/1", 1), queued(acme, "q/2", 2),
                                                                       queued(acme, "q/3", 3)], limit: 2),
    .trimSessionQueue(tenant: acme, clientID: "parked-1", through: 1),
    .appendSessionQueue(tenant: acme, clientID: "parked-1", messages: [queued(acme, "q/4", 4, retain: true)], limit: 2),
    .appendSessionQueue(tenant: globex, clientID: "gone-1", messages: [queued(globex, "g", 5)], limit: 10),
    .dropSessionQueue(tenant: globex, clientID: "gone-1"),
    .appendSessionQueue(tenant: globex, clientID: "kept-1", messages: [queued(globex, "g/k", 6)], limit: 10),
    // The no-op behind linearizable reads (issue 8): applied like any command, changes nothing.
    .readBarrier,
]

/// A QoS 1 queued message with a one-byte payload, user property and wall-clock expiry.
func queued(_ tenant: TenantID, _ topic: String, _ byte: UInt8, retain: Bool = false) -> QueuedMessage {
    QueuedMessage(message: RetainedMessage(tenant: tenant, topic: topic, payload: [byte], qos: .atLeastOnce,
                                           properties: RetainedProperties(userProperties: [UserProperty("k", "v")]),
                                           expiresAtMs: 90_000),
                  retain: retain)
}

let serverCertId1 = "0123abcd-0000-1111-2222-333344445555"
let serverCertId2 = "abcdef01-2345-6789-abcd-ef0123456789"

func serverCert(_ tenant: TenantID, _ id: String, names: [String], notAfterMs: Int64 = 4_000_000_000_000,
                key: String = keyPEM) -> ServerCertificate {
    ServerCertificate(tenant: tenant, certificateId: id, certificateChainPEM: chainPEM, privateKeyPEM: key,
                      domainNames: names, notBeforeMs: 0, notAfterMs: notAfterMs, importedAtMs: 1)
}

let policyDoc = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#
let policyDoc2 = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#
let certArnA = "arn:aws:iot:us-east-1:111111111111:cert/" + String(repeating: "a", count: 64)

/// Random commands over small vocabularies, so creates collide, updates hit and miss, and versions conflict.
struct CommandGenerator {
    var rng: SplitMix64
    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }

    mutating func attributes() -> [String: String] {
        var a: [String: String] = [:]
        for _ in 0..<Int(rng.next() % 4) { a[pick(["x", "y", "z", "w"])] = pick(["1", "2", "", "v"]) }
        return a
    }

    mutating func next(nowMs: Int64) -> ClusterCommand {
        let tenant = pick([acme, globex, TenantID("333333333333"), TenantID("bad")])
        let thing = pick(["t1", "t2", "t3", "bad name"])
        switch rng.next() % 15 {
        case 0: return .createTenant(tenant, name: pick(["A", "B"]))
        case 1: return .createAccessKey(AccessKey(tenant: tenant, accessKeyID: pick(["K1", "K2", "K3"]),
                                                  secretKey: "s", createdAtMs: nowMs))
        case 2: return .deleteAccessKey(tenant: tenant, accessKeyID: pick(["K1", "K2", "K3"]))
        case 3:
            return .setRetained(RetainedMessage(
                tenant: tenant, topic: pick(["a", "a/b", "a/c", "$SYS/x", "a/+"]),
                payload: chance(20) ? [] : [UInt8(truncatingIfNeeded: rng.next())], qos: pick(QoS.allCases),
                properties: RetainedProperties(contentType: chance(50) ? "t" : nil,
                                               userProperties: chance(30) ? [UserProperty("u", "1")] : []),
                expiresAtMs: chance(30) ? nowMs + 1000 : nil))
        case 4: return .clearRetained(tenant: tenant, topic: pick(["a", "a/b"]))
        case 5:
            return .putSessionRecord(SessionEntry(
                tenant: tenant, clientID: pick(["c1", "c2", ""]), protocolVersion: pick([.v311, .v5]),
                subscriptions: chance(50) ? ["a/#": SubscriptionOptions(qos: .atLeastOnce)] : [:],
                expiryInterval: UInt32(rng.next() % 100), disconnectedAtMs: chance(50) ? nowMs : nil))
        case 6:
            let client = pick(["c1", "c2", ""])
            switch rng.next() % 4 {
            case 0:
                let n = Int(rng.next() % 3)
                var messages: [QueuedMessage] = []
                for i in 0..<n { messages.append(queued(chance(90) ? tenant : acme, "q/\(i)", UInt8(i), retain: chance(30))) }
                return .appendSessionQueue(tenant: tenant, clientID: client, messages: messages,
                                           limit: UInt32(rng.next() % 4))
            case 1: return .trimSessionQueue(tenant: tenant, clientID: client, through: rng.next() % 5)
            case 2: return .dropSessionQueue(tenant: tenant, clientID: client)
            default: return .removeSessionRecord(tenant: tenant, clientID: client)
            }
        case 7:
            return .createThing(.init(tenant: tenant, thingName: thing, thingTypeName: chance(30) ? "T" : nil,
                                      attributes: attributes(), nowMs: nowMs))
        case 8:
            return .updateThing(.init(tenant: tenant, thingName: thing, thingTypeName: chance(20) ? "T" : nil,
                                      removeThingType: chance(20), attributes: chance(70) ? attributes() : nil,
                                      merge: chance(50), expectedVersion: chance(50) ? Int64(rng.next() % 4) : nil,
                                      nowMs: nowMs))
        case 9:
            if chance(30) { return .removeNodeAddress(nodeID: rng.next() % 4) }
            return .setNodeAddress(NodeAddress(nodeID: rng.next() % 4, busHost: pick(["127.0.0.1", "h2", ""]),
                                               busPort: pick([0, 7001, 7011])))
        case 11:
            let name = pick(["d1", "d2", "bad name"])
            switch rng.next() % 3 {
            case 0:
                return .createDomainConfiguration(domain(
                    tenant, name, pick(["a.example.com", "*.example.com", "A.Example.com", "com"]),
                    status: pick(DomainConfigurationStatus.allCases), authorizer: chance(30) ? "au" : nil, at: nowMs))
            case 1:
                return .updateDomainConfigurationStatus(tenant: tenant, domainConfigurationName: name,
                                                        status: pick(DomainConfigurationStatus.allCases), nowMs: nowMs)
            default:
                return .deleteDomainConfiguration(tenant: tenant, domainConfigurationName: name)
            }
        case 12:
            let id = pick([certA, certB, "not-hex"])
            switch rng.next() % 7 {
            case 0:
                return .registerCACertificate(CACertificate(tenant: tenant, caCertificateId: pick([caC, certA]),
                                                            certificatePEM: "p",
                                                            status: pick(CACertificateStatus.allCases),
                                                            mode: pick(CertificateMode.allCases),
                                                            autoRegistration: pick(AutoRegistrationStatus.allCases),
                                                            createdAtMs: nowMs))
            case 1:
                return .updateCACertificateStatus(tenant: tenant, caCertificateId: caC,
                                                  status: pick(CACertificateStatus.allCases), nowMs: nowMs)
            case 2: return .deleteCACertificate(tenant: tenant, caCertificateId: caC)
            case 3:
                return .registerCertificate(Certificate(tenant: tenant, certificateId: id, certificatePEM: "p",
                                                        caCertificateId: chance(50) ? caC : nil,
                                                        status: pick(CertificateStatus.allCases),
                                                        mode: pick(CertificateMode.allCases),
                                                        notAfterMs: chance(30) ? nowMs : nil, createdAtMs: nowMs))
            case 4:
                return .updateCertificateStatus(tenant: tenant, certificateId: id,
                                                status: pick(CertificateStatus.allCases), nowMs: nowMs)
            case 5:
                switch rng.next() % 5 {
                case 0: return .deleteCertificate(tenant: tenant, certificateId: id)
                case 1: return .forceDeleteCertificate(tenant: tenant, certificateId: id)
                case 2:
                    return .createIssuingCA(IssuingCA(tenant: tenant, certificateId: id, certificatePEM: "p",
                                                      privateKeyPEM: pick(["k", ""]), createdAtMs: nowMs))
                case 3: return .createRegistrationCode(tenant: tenant, code: pick([certA, certB, "short"]))
                default:
                    return .updateCACertificate(
                        tenant: tenant, caCertificateId: caC,
                        status: chance(50) ? pick(CACertificateStatus.allCases) : nil,
                        autoRegistration: chance(50) ? pick(AutoRegistrationStatus.allCases) : nil, nowMs: nowMs)
                }
            default:
                return .setTenantEndpointPrefix(tenant: tenant, prefix: chance(20) ? nil : pick(["p1", "p2", "-x"]))
            }
        case 14:
            let resource = pick(["thing/t1", "policy/p1", "domainconfiguration/d1", "cert/x", "bogus", ""])
            let tags = [ResourceTag(key: pick(["k", "aws:x", "j"]), value: pick(["", "v"]))]
            let certId = pick([serverCertId1, serverCertId2, "bad"])
            switch rng.next() % 7 {
            case 0:
                return .importServerCertificate(serverCert(tenant, certId, names: pick([["a.example.com"],
                                                                                       ["*.example.com"], []]),
                                                           key: pick([keyPEM, "other"])))
            case 1: return .deleteServerCertificate(tenant: tenant, certificateId: certId)
            case 2:
                let create = ClusterCommand.createDomainConfigurationFromCertificate(.init(
                    tenant: tenant, domainConfigurationName: pick(["d1", "d2"]),
                    domainName: pick(["a.example.com", "b.example.com", "*.example.com"]), serverCertificateId: certId,
                    details: DomainConfigurationDetails(serverCertificateId: certId), nowMs: nowMs))
                return chance(50) ? create : .createWithTags(create, tenant: tenant, resource: resource, tags: tags)
            case 3:
                return .updateDomainConfiguration(.init(
                    tenant: tenant, domainConfigurationName: pick(["d1", "d2"]),
                    status: chance(50) ? pick(DomainConfigurationStatus.allCases) : nil,
                    authorizer: pick([.keep, .remove, .set(defaultAuthorizerName: "a", allowAuthorizerOverride: nil)]),
                    nowMs: nowMs))
            case 4: return .deleteDisabledDomainConfiguration(tenant: tenant, domainConfigurationName: pick(["d1", "d2"]))
            case 5: return .tagResource(tenant: tenant, resource: resource, tags: tags)
            default: return .untagResource(tenant: tenant, resource: resource, tagKeys: [pick(["k", "j", ""])])
            }
        case 13:
            let policy = pick(["p1", "p2", "bad name"])
            let target = pick([certArnA, "arn:aws:iot:us-east-1:111111111111:thinggroup/g", ""])
            switch rng.next() % 9 {
            case 0: return .createPolicy(tenant: tenant, policyName: policy, document: pick([policyDoc, ""]), nowMs: nowMs)
            case 1:
                return .createPolicyVersion(tenant: tenant, policyName: policy, document: policyDoc2,
                                            setAsDefault: chance(50), nowMs: nowMs)
            case 2:
                return .setDefaultPolicyVersion(tenant: tenant, policyName: policy, versionId: Int64(rng.next() % 4),
                                                nowMs: nowMs)
            case 3: return .deletePolicyVersion(tenant: tenant, policyName: policy, versionId: Int64(rng.next() % 4))
            case 4: return .deletePolicy(tenant: tenant, policyName: policy)
            case 5: return .attachPolicy(tenant: tenant, policyName: policy, target: target)
            case 6: return .detachPolicy(tenant: tenant, policyName: policy, target: target)
            case 7:
                return .attachThingPrincipal(tenant: tenant, thingName: thing, principal: target,
                                             type: pick(ThingPrincipalType.allCases))
            default: return .detachThingPrincipal(tenant: tenant, thingName: thing, principal: target)
            }
        case 14:
            let group = pick(["g1", "g2", "g3", "bad name"])
            let type = pick(["T", "U", "bad type"])
            switch rng.next() % 10 {
            case 0:
                return .createThingType(tenant: tenant, thingTypeName: type, description: chance(50) ? "d" : nil,
                                        searchableAttributes: chance(50) ? ["x"] : [], nowMs: nowMs)
            case 1: return .deprecateThingType(tenant: tenant, thingTypeName: type, undo: chance(30), nowMs: nowMs)
            case 2:
                return .deleteThingType(tenant: tenant, thingTypeName: type,
                                        nowMs: nowMs + (chance(50) ? 300_000 : 0))
            case 3, 4:
                return .createThingGroup(.init(tenant: tenant, thingGroupName: group,
                                               parentGroupName: chance(50) ? pick(["g1", "g2"]) : nil,
                                               description: chance(30) ? "d" : nil, attributes: attributes(),
                                               nowMs: nowMs))
            case 5:
                return .updateThingGroup(.init(tenant: tenant, thingGroupName: group,
                                               description: chance(30) ? pick(["", "e"]) : nil,
                                               attributes: chance(70) ? attributes() : nil, merge: chance(50),
                                               expectedVersion: chance(50) ? Int64(rng.next() % 4) : nil,
                                               nowMs: nowMs))
            case 6:
                return .deleteThingGroup(tenant: tenant, thingGroupName: group,
                                         expectedVersion: chance(30) ? Int64(rng.next() % 3) : nil)
            case 7: return .addThingToThingGroup(tenant: tenant, thingGroupName: group, thingName: thing)
            case 8:
                return .updateThingGroupsForThing(tenant: tenant, thingName: thing,
                                                  groupsToAdd: chance(70) ? [group] : [],
                                                  groupsToRemove: chance(50) ? [pick(["g1", "g2", "g3"])] : [])
            default: return .removeThingFromThingGroup(tenant: tenant, thingGroupName: group, thingName: thing)
            }
        default:
            return .deleteThing(tenant: tenant, thingName: thing,
                                expectedVersion: chance(50) ? Int64(rng.next() % 4) : nil)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh random seed, or `CLUSTER_SEED` from the environment to replay a failure.
func testSeed() -> UInt64 {
    if let raw = getenv("CLUSTER_SEED"), let seed = UInt64(String(cString: raw)) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

extension ClusterCommand {
    /// Commands whose rows live in the version-3 snapshot sections.
    var isVersion3Command: Bool {
        switch self {
        case .createDomainConfiguration, .updateDomainConfigurationStatus, .deleteDomainConfiguration,
             .registerCACertificate, .updateCACertificateStatus, .deleteCACertificate, .registerCertificate,
             .updateCertificateStatus, .deleteCertificate, .setTenantEndpointPrefix:
            true
        default: false
        }
    }

    var isVersion4Command: Bool {
        switch self {
        case .createPolicy, .createPolicyVersion, .setDefaultPolicyVersion, .deletePolicyVersion, .deletePolicy,
             .attachPolicy, .detachPolicy, .attachThingPrincipal, .detachThingPrincipal:
            true
        case .createThing(let c): c.thingName.hasPrefix("sensor-")
        default: false
        }
    }

    /// Commands whose rows live in the version-5 snapshot sections.
    var isVersion5Command: Bool {
        switch self {
        case .importServerCertificate, .deleteServerCertificate, .createDomainConfigurationFromCertificate,
             .updateDomainConfiguration, .deleteDisabledDomainConfiguration, .tagResource, .untagResource,
             .createWithTags,
             .createThingType, .deprecateThingType, .deleteThingType, .createThingGroup, .updateThingGroup,
             .deleteThingGroup, .addThingToThingGroup, .removeThingFromThingGroup, .updateThingGroupsForThing,
             .createIssuingCA, .createRegistrationCode, .updateCACertificate, .forceDeleteCertificate,
             .shadow,  // version 6, after these: a state without them has empty sections from version 5 on
             .appendSessionQueue, .trimSessionQueue, .dropSessionQueue:  // version 7, after the shadows
            true
        case .registerCACertificate(let c): c.createdAtMs >= 27
        case .registerCertificate(let c): c.createdAtMs >= 27
        default: false
        }
    }

    var isNodeDirectoryCommand: Bool {
        switch self {
        case .setNodeAddress, .removeNodeAddress: true
        default: false
        }
    }
}

/// The size of the version-5 snapshot sections of a state of `acme` and `globex` rows with no issuing CA and no
/// registration code: four counts, plus one mode row per CA (tenant, id, mode, auto) and per certificate.
func version5Tail(_ s: ClusterState) -> Int {
    let cas = s.caCertificates(tenant: acme).count + s.caCertificates(tenant: globex).count
    let certs = s.certificates(tenant: acme).count + s.certificates(tenant: globex).count
    // The empty sections of the other version-5 writers (server certificates, details, tags: 12; registry
    // sequence and thing types, groups, memberships: 20), then these four counts and one mode row per CA and
    // certificate.
    // The version-6 shadows count and the version-7 session-queues count (both empty) come last.
    return 32 + 16 + cas * (16 + 68 + 2) + certs * (16 + 68 + 1) + 4 + 4
}
