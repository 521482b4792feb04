import BrokerNIO
import ClusterService
import ClusterState
import Foundation
import IoTTypes
import Logging
import NIOCore
import Synchronization
import TLS
import TLSConfig

/// The node's TLS server identities: the default endpoint's (the node's own certificate, for the default tenant)
/// plus one per enabled domain configuration in the replicated state, chosen by SNI (exact, then wildcard, then the
/// fallback). Built lazily and rebuilt when the replicated configurations or a tenant's CA certificates change
/// (`ClusterState.tlsSourceGeneration`), so a domain added on any node serves its certificate on every node without
/// a restart.
final class TLSIdentities: Sendable {
    /// Context names: "default", or "<account id>/<domain configuration name>".
    static let defaultName = "default"

    let cluster: ClusterService
    let defaultChainPEM: String
    let defaultKeyPEM: String
    let rejectUnknownSNI: Bool
    let logger: Logger

    struct Built: Sendable {
        /// The state's (restore count, TLS source generation) when checked: while it holds, nothing is re-read.
        var key: Key
        /// What the contexts were built from: the enabled configurations and the CA PEMs of their tenants.
        var source: Source
        var selector: SNISelector<TLSServerContext>
        var defaultContext: TLSServerContext
    }

    struct Key: Equatable, Sendable {
        var restores: Int
        var generation: UInt64
    }

    struct Source: Equatable, Sendable {
        var domains: [String: DomainConfiguration]
        var trustedCAs: [TenantID: [String]]
    }

    let built: Mutex<Built?> = Mutex(nil)

    init(cluster: ClusterService, defaultChainPEM: String, defaultKeyPEM: String, rejectUnknownSNI: Bool,
         logger: Logger) {
        self.cluster = cluster
        self.defaultChainPEM = defaultChainPEM
        self.defaultKeyPEM = defaultKeyPEM
        self.rejectUnknownSNI = rejectUnknownSNI
        self.logger = logger
    }

    /// The tenant a context serves.
    static func tenant(ofContext name: String) -> TenantID? {
        if name == defaultName { return .default }
        guard let slash = name.firstIndex(of: "/") else { return nil }
        return TenantID(String(name[..<slash]))
    }

    func source() -> Source {
        cluster.read { state in
            let domains = state.enabledDomainConfigurations()
            var tenants = Set(domains.values.map(\.tenant))
            tenants.insert(.default)
            var trusted: [TenantID: [String]] = [:]
            for t in tenants {
                trusted[t] = state.caCertificates(tenant: t).filter { $0.status == .active }.map(\.certificatePEM)
            }
            return Source(domains: domains, trustedCAs: trusted)
        }
    }

    /// The current selector and default context. Per handshake this is one read of a counter; the source is
    /// re-read only when a domain or CA command was applied (or a snapshot restored) since, and the contexts are
    /// rebuilt only if it really changed.
    func current() throws -> Built {
        let key = Key(restores: cluster.node.snapshotsRestored, generation: cluster.read { $0.tlsSourceGeneration })
        let cached = built.withLock { $0 }
        if let b = cached, b.key == key { return b }
        let now = source()
        if var b = cached, b.source == now {
            b.key = key
            built.withLock { $0 = b }
            return b
        }
        let defaultContext = try TLSServerContext(
            name: Self.defaultName, certificateChainPEM: defaultChainPEM, privateKeyPEM: defaultKeyPEM,
            trustedClientCAsPEM: now.trustedCAs[.default] ?? [])
        var selector = SNISelector<TLSServerContext>(fallback: rejectUnknownSNI ? .reject : .default(defaultContext))
        for (domainName, d) in now.domains.sorted(by: { $0.key < $1.key }) {
            do {
                let context = try TLSServerContext(
                    name: "\(d.tenant.accountID)/\(d.domainConfigurationName)",
                    certificateChainPEM: d.serverCertificateChainPEM, privateKeyPEM: d.privateKeyPEM,
                    trustedClientCAsPEM: now.trustedCAs[d.tenant] ?? [])
                selector.add(domainName, context)
            } catch {
                // One bad configuration must not take the others down; it is refused like an unknown name.
                logger.error("tls: domain configuration not served", metadata: [
                    "tls.domain": "\(domainName)", "tls.configuration": "\(d.domainConfigurationName)",
                    "error": "\(error)",
                ])
            }
        }
        let b = Built(key: key, source: now, selector: selector, defaultContext: defaultContext)
        built.withLock { $0 = b }
        logger.info("tls: identities built", metadata: ["tls.domains": "\(now.domains.count)"])
        return b
    }

    /// The registry's decision for a client certificate on a context's tenant.
    func decide(_ check: CertificateCheck) -> TLS.CertificateDecision {
        guard let tenant = Self.tenant(ofContext: check.contextName) else { return .refuse(.unknown) }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let decision = cluster.read {
            $0.certificateDecision(tenant: tenant, certificateId: check.certificate.id,
                                   issuerCACertificateId: check.certificate.issuerChainIDs.first, nowMs: nowMs)
        }
        switch decision {
        case .accept: return .allow
        case .refuse(.certificateNotActive(.revoked)): return .refuse(.revoked)
        case .refuse(.certificateNotActive(.pendingTransfer)): return .refuse(.pendingTransfer)
        case .refuse(.certificateNotActive): return .refuse(.inactive)
        case .refuse(.caNotActive): return .refuse(.inactive)
        case .refuse(.unknownCertificate), .refuse(.caUnknown): return .refuse(.unknown)
        case .refuse(.expired): return .refuse(.expired)
        case .refuse(.notYetValid): return .refuse(.notYetValid)
        }
    }

    /// The two TLS listeners a node can run.
    enum ListenerKind {
        /// 8883: MQTT, mutual TLS always, no ALPN.
        case mqtts
        /// 8443 (AWS's 443): ALPN picks the protocol and whether a client certificate is required.
        case multiplexed
    }

    /// A TLS listener: the SNI selects the domain configuration (hence the tenant and server certificate), the
    /// client certificate is decided by the registry, and the handshake's outcome routes the connection.
    func listener(_ kind: ListenerKind, host: String, port: Int) throws -> SecureListenerConfiguration {
        let first = try current()
        let configuration = TLSListenerConfiguration(
            initialContext: first.defaultContext,
            selectContext: { [self] sni in
                do {
                    return try current().selector.select(sni).entry
                } catch {
                    logger.error("tls: cannot build the server identity", metadata: ["error": "\(error)"])
                    return nil
                }
            },
            alpnPreference: kind == .mqtts ? [] : TLSListenerConfiguration.awsALPNPreference,
            clientCertificate: kind == .mqtts ? .required : .awsALPN,
            decideCertificate: { [self] check in decide(check) }, logger: logger)
        return SecureListenerConfiguration(
            host: host, port: port,
            addSecurityHandlers: { channel in
                try channel.pipeline.syncOperations.addHandler(TLSServerHandler(configuration: configuration))
            },
            routeFromEvent: { event in
                guard let done = event as? TLSHandshakeCompleted else { return nil }
                return Self.route(done, kind: kind)
            })
    }

    /// Handshake outcome → route. The certificate (if any) passed the registry's decision during the handshake.
    /// ALPN `mqtt` is AWS's custom-authorizer MQTT: no authorizer exists yet, so without a certificate it is
    /// unauthenticated and its CONNECT is refused (not authorized).
    static func route(_ done: TLSHandshakeCompleted, kind: ListenerKind) -> SecureRoute? {
        guard let tenant = tenant(ofContext: done.contextName) else { return nil }
        let principal: Principal = done.peerCertificate.map { .certificate(id: $0.id) } ?? .unauthenticated
        let application: SecureRoute.Application =
            switch (kind, done.alpn) {
            case (.mqtts, _), (_, "x-amzn-mqtt-ca"), (_, "mqtt"): .mqtt
            case (.multiplexed, nil): .detect  // MQTT if the first byte is a CONNECT, else HTTP
            default: .http  // x-amzn-http-ca, http/1.1
            }
        return SecureRoute(tenant: tenant, principal: principal, application: application,
                           certificateNames: done.peerCertificate.map {
                               CertificateNames(subject: $0.subjectFields, issuer: $0.issuerFields)
                           })
    }
}

/// The embedded default trusts its own development CA for the default tenant, so a device certificate made with
/// `ops/make-device-cert.sh` connects at once. Registered once (ACTIVE); an operator may set it INACTIVE, and a
/// later start leaves that alone.
enum DevelopmentCARegistration {
    static func register(pemPath: String, cluster: ClusterService, logger: Logger) async {
        do {
            let pem = try String(contentsOfFile: pemPath, encoding: .utf8)
            guard let id = try certificateIDs(pem: pem).first else { return }
            if cluster.read({ $0.caCertificate(tenant: .default, id: id) }) != nil { return }
            let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
            let outcome = try await cluster.propose(.registerCACertificate(CACertificate(
                tenant: .default, caCertificateId: id, certificatePEM: pem, status: .active, createdAtMs: nowMs)))
            switch outcome {
            case .success, .failure(.resourceAlreadyExists):
                logger.notice("development CA registered for the default tenant", metadata: ["tls.ca_id": "\(id)"])
            case .failure(let error):
                logger.warning("development CA not registered", metadata: ["error": "\(error)"])
            }
        } catch {
            logger.warning("development CA not registered", metadata: ["error": "\(error)"])
        }
    }
}
