import BrokerNIO
import ClusterBus
import ClusterService
import ClusterState
import ControlPlane
import Foundation
import IoTTypes
import Policy
import TLS

/// The control plane on this node: `ControlPlaneRouter` with the node's `ClusterService` as the backend, served by
/// the Hummingbird shell on `--api-port`.
enum ControlPlaneWiring {
    static func router(cluster: ClusterLifecycleService, gossip: GossipWiring?, region: String,
                       endpointDomain: String) -> ControlPlaneRouter {
        var router = ControlPlaneRouter(
            region: region, validatePolicyDocument: policyDocumentProblem, certificateCrypto: .openSSL,
            backend: ClusterBackend(lifecycle: cluster, gossip: gossip))
        router.endpointDomain = endpointDomain
        return router
    }
}

/// MalformedPolicyException's message for a document the policy engine cannot read, else nil.
@Sendable func policyDocumentProblem(_ document: String) -> String? {
    do {
        _ = try PolicyDocument(json: document)
        return nil
    } catch {
        return error.message
    }
}

extension CertificateCrypto {
    /// The TLS module's X.509 work (OpenSSL), for the certificate operations.
    static let openSSL = CertificateCrypto(
        facts: { pem in
            guard let f = try? CertificateIssuer.facts(pem: pem) else { return nil }
            return Facts(id: f.id, subjectCommonName: f.subjectCommonName, notBeforeMs: f.notBeforeMs,
                         notAfterMs: f.notAfterMs, isCA: f.isCA)
        },
        isSigned: { cert, ca in CertificateIssuer.isSigned(certificatePEM: cert, byCA: ca) },
        makeIssuingCA: { name in
            Result { () throws(CertificateIssuer.Failure) in try CertificateIssuer.makeIssuingCA(commonName: name) }
                .mapError(CertificateCrypto.Failure.init)
        },
        createKeysAndCertificate: { caPEM, caKey in
            Result { () throws(CertificateIssuer.Failure) in
                let k = try CertificateIssuer.createKeysAndCertificate(caCertificatePEM: caPEM, caPrivateKeyPEM: caKey)
                return IssuedKeyPair(certificatePEM: k.certificatePEM, publicKeyPEM: k.publicKeyPEM,
                                     privateKeyPEM: k.privateKeyPEM)
            }.mapError(CertificateCrypto.Failure.init)
        },
        certificateFromCSR: { csr, caPEM, caKey in
            Result { () throws(CertificateIssuer.Failure) in
                try CertificateIssuer.certificate(fromCSR: csr, caCertificatePEM: caPEM, caPrivateKeyPEM: caKey)
            }.mapError(CertificateCrypto.Failure.init)
        },
        newRegistrationCode: { CertificateIssuer.randomHex(bytes: 32) })
}

extension CertificateCrypto.Failure {
    init(_ f: CertificateIssuer.Failure) {
        switch f {
        case .invalid(let m): self = .invalid(m)
        case .openSSL(let what, let stack): self = .internalFailure("\(what): \(stack.joined(separator: "; "))")
        }
    }
}

/// `ControlPlaneBackend` over the node's cluster service: writes through raft (forwarded to the leader from a
/// follower, answered once applied here), reads on this node's applied state, the wall clock for `nowMs`.
struct ClusterBackend: ControlPlaneBackend {
    let lifecycle: ClusterLifecycleService
    var gossip: GossipWiring? = nil
    var cluster: ClusterService { lifecycle.cluster }

    func gossipMembersJSON() -> String? { gossip?.membersJSON() }

    func nowMs() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    func propose(_ command: ClusterCommand) async throws(AWSError) -> ClusterOutcome {
        do {
            return try await cluster.propose(command)
        } catch {
            throw AWSError(error)
        }
    }

    func read<T>(_ body: (ClusterState) -> T) -> T { cluster.read(body) }

    /// A no-op command through raft (forwarded to the leader from a follower, batched with other forwards): once
    /// it is applied here, so is every write acknowledged before this call, on any node.
    func readBarrier() async throws(AWSError) {
        do {
            _ = try await cluster.propose(.readBarrier)
        } catch {
            throw AWSError(error)
        }
    }

    func clusterStatusJSON() -> String? { lifecycle.statusJSON() }

    func certificateID(pem: String) -> String? { (try? certificateIDs(pem: pem))?.first }

    func inspectServerCertificate(chainPEM: String, privateKeyPEM: String) -> Result<ServerCertificateFacts, AWSError> {
        do {
            let i = try ServerCertificateInspection(chainPEM: chainPEM, privateKeyPEM: privateKeyPEM)
            return .success(ServerCertificateFacts(sha256Hex: i.sha256Hex, domainNames: i.dnsNames,
                                                   notBeforeMs: i.notBeforeMs, notAfterMs: i.notAfterMs))
        } catch {
            switch error {
            case .unreadable(let why): return .failure(.invalidRequest(why))
            case .keyMismatch:
                return .failure(.certificateValidation("The private key does not match the certificate."))
            }
        }
    }

    func changeMembership(_ change: MembershipRequest) async throws(AWSError) -> UInt64? {
        let mapped: MembershipChange
        switch change {
        case .add(let id, let raftAddress, let busHost, let busPort):
            mapped = .add(nodeID: id, raftAddress: raftAddress, busAddress: PeerAddress(host: busHost, port: busPort))
        case .remove(let id): mapped = .remove(nodeID: id)
        case .transferLeadership(let id): mapped = .transferLeadership(to: id)
        }
        do {
            return try await cluster.changeMembership(mapped)
        } catch {
            throw AWSError(error)
        }
    }
}

extension AWSError {
    /// The one mapping from the cluster service's errors to AWS error shapes (STYLE C6, no `default:`): no leader,
    /// no answer in time and shutting down are 503 (retry later); a refused membership change is 404/409/400.
    init(_ error: ClusterServiceError) {
        switch error {
        case .noLeader:
            self = .serviceUnavailable("no raft leader is reachable; try again")
        case .timeout:
            self = .serviceUnavailable("no answer from the cluster in time; the request may or may not have been applied")
        case .unavailable(let why):
            self = .serviceUnavailable(why)
        case .shuttingDown:
            self = .serviceUnavailable("this node is shutting down")
        case .internal(let why):
            self = .internalFailure(why)
        case .rejected(.notFound, let why):
            self = .resourceNotFound(why)
        case .rejected(.alreadyExists, let why):
            self = .resourceAlreadyExists(why)
        case .rejected(.invalid, let why):
            self = .invalidRequest(why)
        }
    }
}
