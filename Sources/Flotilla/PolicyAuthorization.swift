import Broker
import ClusterService
import ClusterState
import Foundation
import IoTTypes
import Logging
import Policy
import Synchronization

/// The broker's ``Authorizing`` port over the replicated registry and the policy engine (AWS-IOT-SPEC §2.4).
///
/// Policies apply to certificate principals (8883, and 8443 with a client certificate). The plain development
/// listener's `.anonymous` connections are not subject to them (see ops/configuration.md). Each connection's
/// authorizer reads its inputs — documents, thing, certificate status — once per epoch (the state's
/// `authorizationGeneration` and restore count) and evaluates on demand; the broker caches the answers per
/// connection and drops them when the epoch moves, so a policy change applies at the next operation on every node.
final class PolicyAuthorization: Authorizing {
    let cluster: ClusterService
    let region: String
    let logger: Logger
    /// Parsed documents by their text, shared by all connections (a handful of policies serve many devices).
    private let parsed = Mutex<[String: PolicyDocument]>([:])
    private static let maxParsed = 1024

    init(cluster: ClusterService, region: String, logger: Logger) {
        self.cluster = cluster
        self.region = region
        self.logger = logger
    }

    func epoch() -> AuthorizationEpoch {
        AuthorizationEpoch(restores: cluster.node.snapshotsRestored,
                           generation: cluster.read { $0.authorizationGeneration })
    }

    func authorizer(for identity: ConnectionIdentity) -> (any ConnectionAuthorizer)? {
        switch identity.principal {
        case .certificate(let id):
            return CertificateAuthorizer(source: self, identity: identity, certificateId: id)
        case .anonymous, .unauthenticated:
            return nil  // anonymous: the dev listener, unenforced; unauthenticated: refused before this
        }
    }

    /// The documents, parsed (the stored text was validated by CreatePolicy; one that no longer parses — a newer
    /// node's grammar — is left out and logged, which can only deny more).
    func documents(_ texts: [(policyName: String, document: String)]) -> [PolicyDocument] {
        texts.compactMap { entry in
            if let d = parsed.withLock({ $0[entry.document] }) { return d }
            do {
                let d = try PolicyDocument(json: entry.document, maxCharacters: nil)
                parsed.withLock {
                    if $0.count >= Self.maxParsed { $0.removeAll() }
                    $0[entry.document] = d
                }
                return d
            } catch {
                logger.warning("policy document not evaluated", metadata: [
                    "iot.policy": "\(entry.policyName)", "error": "\(error)",
                ])
                return nil
            }
        }
    }
}

/// One certificate connection's authorizer.
final class CertificateAuthorizer: ConnectionAuthorizer {
    struct Prepared {
        var epoch: AuthorizationEpoch
        var documents: [PolicyDocument]
        var context: AuthorizationContext
        var active: Bool
    }

    let source: PolicyAuthorization
    let identity: ConnectionIdentity
    let certificateId: String
    private let prepared = Mutex<Prepared?>(nil)

    init(source: PolicyAuthorization, identity: ConnectionIdentity, certificateId: String) {
        self.source = source
        self.identity = identity
        self.certificateId = certificateId
    }

    func epoch() -> AuthorizationEpoch { source.epoch() }

    func principalIsActive() -> Bool { current().active }

    func isAllowed(_ action: AuthorizationAction) -> Bool {
        let p = current()
        guard p.active else { return false }
        var context = p.context
        context.currentTime = Timestamp(nanoseconds: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
        let request: AuthorizationRequest =
            switch action {
            case .connect: .connect(clientID: identity.clientID ?? "", context: context)
            case .publish(let topic): .publish(topic: topic, context: context)
            case .retainPublish(let topic): .retainPublish(topic: topic, context: context)
            case .subscribe(let filter): .subscribe(filter: filter, context: context)
            case .receive(let topic): .receive(topic: topic, context: context)
            }
        return PolicyEngine.evaluate(request: request, policies: p.documents).isAllowed
    }

    /// The inputs for the current epoch, re-read from the state when it moved.
    private func current() -> Prepared {
        let now = source.epoch()
        if let p = prepared.withLock({ $0 }), p.epoch == now { return p }
        let tenant = identity.tenant
        let inputs = source.cluster.read {
            $0.connectionPolicyInputs(tenant: tenant, region: source.region, certificateId: certificateId,
                                      clientID: identity.clientID)
        }
        var attributes: [String] = []
        if identity.persistentConnect { attributes.append("PersistentConnect") }
        if identity.lastWill { attributes.append("LastWill") }
        let context = AuthorizationContext(
            account: tenant, region: source.region, principal: identity.principal, clientID: identity.clientID,
            thing: inputs.thing.map {
                ConnectionThing(name: $0.thingName, typeName: $0.thingTypeName, attributes: $0.attributes)
            },
            certificate: identity.certificateNames.map { CertificateFields(subject: $0.subject, issuer: $0.issuer) },
            sourceIP: identity.sourceIP, secureTransport: true,
            connectAttributes: identity.clientID == nil ? nil : attributes)
        let p = Prepared(epoch: now, documents: source.documents(inputs.documents), context: context,
                         active: inputs.certificateActive)
        prepared.withLock { $0 = p }
        return p
    }
}
