import ArgumentParser
import Broker
import BrokerNIO
import ClusterBrokerStore
import ClusterBus
import ClusterNode
import ClusterRouting
import ClusterService
import ClusterState
import ControlPlaneHTTP
import Foundation
import Gossip
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import TLS

@main
struct FlotillaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flotilla",
        abstract: "Flotilla: a clustered, multi-tenant, self-hosted AWS IoT Core.",
        subcommands: [Serve.self, ClusterAdminCommand.self, RegistryAdminCommand.self, Bench.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node. With no options: one node on 127.0.0.1, MQTT on 1883, the AWS API, metrics and health on 8080.")

    @Option(name: .long, help: "YAML configuration file (see ops/configuration.md).")
    var config: String?
    @Option(name: .long, help: "Directory for this node's state (default ./flotilla-data).")
    var dataDir: String?
    @Option(name: .long, help: "Address the listeners bind to (default 127.0.0.1).")
    var bind: String?
    @Option(name: .long, help: "MQTT over TCP port (default 1883).")
    var mqttPort: Int?
    @Option(name: .long, help: "Control plane port: the AWS iot API (SigV4), /metrics and /health (default 8080).")
    var apiPort: Int?
    @Option(name: .long, help: ArgumentHelp("The old name of --api-port.", visibility: .hidden))
    var metricsPort: Int?
    @Flag(inversion: .prefixedNo, help: "Give the default tenant an access key and write <data-dir>/aws-credentials (default on).")
    var defaultCredentials: Bool?
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Option(name: .long, help: "This node's raft id, a positive integer unique in the cluster (default 1).")
    var nodeId: UInt64?
    @Option(name: .long, help: "Raft transport port (default 7000).")
    var raftPort: Int?
    @Option(name: .long, help: "Cluster bus port (default 7001).")
    var busPort: Int?
    @Option(name: .long, help: "Gossip port, UDP and TCP (default: the bus port + 1).")
    var gossipPort: Int?
    @Option(name: .long, help: "The other initial voters: id@host:raftPort:busPort[:gossipPort],... (default none).")
    var peers: String?
    @Flag(name: .long, help: "Form the initial cluster from this node and --peers (default when there are no peers, no --join and no raft state).")
    var bootstrap = false
    @Flag(name: .long, help: "Start with no cluster and wait to be added by the leader.")
    var join = false
    @Option(name: .long, help: "MQTT over mutual TLS port (production: 8883; default: no TLS listener).")
    var mqttsPort: Int?
    @Option(name: .long, help: "TLS port with ALPN: MQTT (x-amzn-mqtt-ca, mqtt), HTTPS publish and MQTT over WebSocket (x-amzn-http-ca, http/1.1, none); AWS uses 443 (default: none).")
    var tlsPort: Int?
    @Option(name: .long, help: "Default endpoint certificate chain, PEM (default <data-dir>/tls/server.pem).")
    var tlsCert: String?
    @Option(name: .long, help: "Default endpoint private key, PEM (default <data-dir>/tls/server.key).")
    var tlsKey: String?
    @Option(name: .long, help: "A TLS client naming no known domain: default (serve the default endpoint) or reject.")
    var tlsUnknownSni: String?
    @Option(name: .long, help: "IoT policies on certificate connections: enforce (default, AWS's default deny) or off.")
    var policies: String?
    @Option(name: .long, help: "Raft election timeout in milliseconds (default 800; tests use 300).")
    var electionTimeoutMs: Int?
    @Option(name: .long, help: "Raft heartbeat interval in milliseconds (default 100; must be below the election timeout).")
    var heartbeatTimeoutMs: Int?
    @Option(name: .long, help: "How long a connecting client's node waits for each other node to give up its id (ms, default 2000).")
    var takeoverTimeoutMs: Int?
    @Option(name: .long, help: "Region in the ARNs the control plane returns (default us-east-1).")
    var region: String?
    @Option(name: .long, help: "DNS suffix of the endpoints DescribeEndpoint answers (default amazonaws.com).")
    var endpointDomain: String?

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        var cfg = NodeConfiguration()
        if let path = config { cfg = try NodeConfiguration.load(path: path) }
        if let v = dataDir { cfg.dataDir = v }
        if let v = bind { cfg.bind = v }
        if let v = mqttPort { cfg.mqttPort = v }
        if let v = apiPort ?? metricsPort { cfg.apiPort = v }
        if let v = defaultCredentials { cfg.defaultCredentials = v }
        if let v = logLevel { cfg.logLevel = v }
        if let v = nodeId { cfg.nodeID = v }
        if let v = raftPort { cfg.raftPort = v }
        if let v = busPort { cfg.busPort = v }
        if let v = gossipPort { cfg.gossipPort = v }
        if let v = peers { cfg.peers = [v] }
        if bootstrap { cfg.bootstrap = true }
        if join { cfg.join = true }
        if let v = electionTimeoutMs { cfg.electionTimeoutMs = v }
        if let v = heartbeatTimeoutMs { cfg.heartbeatTimeoutMs = v }
        if let v = takeoverTimeoutMs { cfg.takeoverTimeoutMs = v }
        if let v = mqttsPort { cfg.mqttsPort = v }
        if let v = tlsPort { cfg.tlsPort = v }
        if let v = tlsCert { cfg.tlsCert = v }
        if let v = tlsKey { cfg.tlsKey = v }
        if let v = tlsUnknownSni { cfg.tlsUnknownSNI = v }
        guard cfg.tlsUnknownSNI == "default" || cfg.tlsUnknownSNI == "reject" else {
            throw ValidationError("--tls-unknown-sni must be 'default' or 'reject'")
        }
        if let v = policies { cfg.policies = v }
        guard cfg.policies == "enforce" || cfg.policies == "off" else {
            throw ValidationError("--policies must be 'enforce' or 'off'")
        }
        if let v = region { cfg.region = v }
        if let v = endpointDomain { cfg.endpointDomain = v }
        guard DomainRules.canonicalDomainName(cfg.endpointDomain) == cfg.endpointDomain else {
            throw ValidationError("endpoint domain '\(cfg.endpointDomain)' is not a lower-case host name like example.com")
        }
        guard cfg.isValidRegion else { throw ValidationError("region '\(cfg.region)' is not a region name like us-east-1") }
        guard cfg.electionTimeoutMs >= 50, cfg.heartbeatTimeoutMs >= 10, cfg.heartbeatTimeoutMs < cfg.electionTimeoutMs
        else {
            throw ValidationError("need election timeout ≥ 50 ms, heartbeat ≥ 10 ms, and heartbeat < election timeout")
        }
        guard cfg.takeoverTimeoutMs >= 10 else { throw ValidationError("--takeover-timeout-ms must be at least 10") }
        guard cfg.nodeID > 0 else { throw ValidationError("--node-id must be a positive integer") }
        let peerSpecs = try PeerSpec.parseList(cfg.peers)
        if peerSpecs.contains(where: { $0.id == cfg.nodeID }) {
            throw ValidationError("--peers lists this node's own id \(cfg.nodeID); list only the others")
        }
        guard Set(peerSpecs.map(\.id)).count == peerSpecs.count else {
            throw ValidationError("--peers lists an id twice")
        }
        if cfg.join && cfg.bootstrap == true { throw ValidationError("--bootstrap and --join exclude each other") }
        guard let level = Logger.Level(rawValue: cfg.logLevel) else {
            throw ValidationError("unknown log level '\(cfg.logLevel)'")
        }
        let limits = try cfg.brokerLimits()

        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var logger = Logger(label: "flotilla")
        logger[metadataKey: "cluster.node"] = "\(cfg.nodeID)"

        try FileManager.default.createDirectory(atPath: cfg.dataDir, withIntermediateDirectories: true)
        let raftDir = (cfg.dataDir as NSString).appendingPathComponent("raft")
        let hasRaftState = !((try? FileManager.default.contentsOfDirectory(atPath: raftDir)) ?? []).isEmpty
        try FileManager.default.createDirectory(atPath: raftDir, withIntermediateDirectories: true)

        // A single node is a one-voter cluster on the same code path.
        let me = PeerSpec(id: cfg.nodeID, host: cfg.bind, raftPort: cfg.raftPort, busPort: cfg.busPort,
                          gossipPort: cfg.gossipPort)
        // Sorted by id: every initial voter writes the same bootstrap configuration, byte for byte.
        let members = ([me] + peerSpecs).sorted { $0.id < $1.id }
        let servicePeers = members.map {
            ClusterServicePeer(
                nodeID: $0.id, raftAddress: "\($0.host):\($0.raftPort)",
                busAddress: PeerAddress(host: $0.host, port: $0.busPort))
        }
        var nodeConfig = ClusterNodeConfiguration(
            nodeID: cfg.nodeID, raftAddress: "\(cfg.bind):\(cfg.raftPort)", dataDirectory: raftDir)
        nodeConfig.electionTimeout = .milliseconds(cfg.electionTimeoutMs)
        nodeConfig.heartbeatTimeout = .milliseconds(cfg.heartbeatTimeoutMs)
        let clusterConfig = ClusterServiceConfiguration(node: nodeConfig, peers: servicePeers)
        let startMode: ClusterStartMode
        if cfg.join {
            startMode = .join
        } else if cfg.bootstrap == true || peerSpecs.isEmpty || hasRaftState {
            // Bootstrap is ignored when the data directory already holds raft state (a restart).
            startMode = .bootstrap(clusterConfig.raftPeers)
        } else {
            throw ValidationError("--peers without raft state needs --bootstrap (form the cluster) or --join")
        }

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let metrics = BrokerMetrics()

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let clusterService = ClusterService(configuration: clusterConfig, group: group, logger: logger)
        // Retained messages and session records are replicated state: the broker writes them through raft.
        let store = ClusterBrokerStore(cluster: clusterService, maxSessionQueue: limits.maxQueuedMessages, logger: logger)
        // IoT policies for certificate connections (8883, 8443); the plain 1883 listener stays unenforced.
        let authorizing = cfg.policies == "off"
            ? nil : PolicyAuthorization(cluster: clusterService, region: cfg.region, logger: logger)
        // Gossip (issue 7): SWIM membership carrying the subscription table. Every node runs it, a lone one too
        // (same code path; a node added later finds it), seeded with the other initial voters.
        let gossip = try GossipWiring(
            nodeID: cfg.nodeID, host: cfg.bind, port: me.gossipPort,
            seeds: peerSpecs.map { GossipAddress(host: $0.host, port: UInt16($0.gossipPort)) },
            dataDir: cfg.dataDir, group: group, logger: logger)
        // Cross-node routing: a publish goes to this node's subscribers and, over per-peer forwarding links on the
        // cluster bus, to every node whose gossiped rows match.
        let core = BrokerCore(limits: limits, metrics: metrics, store: store, authorizing: authorizing,
                              routes: gossip.routes, logger: logger)
        let forwarder = ClusterForwarder(core: core, cluster: clusterService, logger: logger)
        forwarder.install(on: clusterService)
        gossip.closeLinks(of: forwarder)
        // Client ids unique across the cluster, sessions that move between nodes, replicated queues (issue 7). A lone
        // node asks nobody and writes no queue.
        if !peerSpecs.isEmpty || cfg.join {
            var settings = SessionTakeover.Settings()
            settings.timeout = .milliseconds(cfg.takeoverTimeoutMs)
            settings.kickTimeout = .milliseconds(cfg.takeoverTimeoutMs / 2)
            let takeover = SessionTakeover(cluster: clusterService, store: store,
                                           peers: { gossip.takeoverPeers(known: clusterService.knownPeers()) },
                                           settings: settings, logger: logger)
            takeover.serve { tenant, clientID, cleanStart, kickTimeout in
                await core.handOff(tenant: tenant, clientID: clientID, cleanStart: cleanStart,
                                   timeout: TimeAmount(kickTimeout))
            }
            core.useSessionTakeover(takeover)
        }
        // Device shadows: `$aws/things/…/shadow/…` requests, and the messages of every applied shadow command.
        ShadowService(cluster: clusterService, core: core, logger: logger).install()
        let readyTimeout = Duration.milliseconds(10 * cfg.electionTimeoutMs)
        var secureListeners: [SecureListenerConfiguration] = []
        /// The development CA to register for the default tenant once the cluster is up (embedded default only).
        var developmentCA: String?
        if cfg.mqttsPort != nil || cfg.tlsPort != nil {
            let tlsDir = (cfg.dataDir as NSString).appendingPathComponent("tls")
            if cfg.tlsCert == nil && cfg.tlsKey == nil {
                // No certificate given: the development CA and server certificate, made on first start.
                let isIP = cfg.bind.contains(":") || cfg.bind.allSatisfy { $0.isNumber || $0 == "." }
                let paths = try DevelopmentCertificates.ensure(
                    directory: tlsDir, hostNames: ["localhost"] + (isIP ? [] : [cfg.bind]),
                    ipAddresses: ["127.0.0.1", "::1"] + (isIP && cfg.bind != "127.0.0.1" ? [cfg.bind] : []))
                developmentCA = paths.caCertificate
                logger.notice(
                    "development TLS certificates \(paths.created ? "created" : "in use") (not for production)",
                    metadata: [
                        "tls.ca": "\(paths.caCertificate)", "tls.server_certificate": "\(paths.serverCertificate)",
                        "tls.device_certificate": "ops/make-device-cert.sh \(cfg.dataDir) <thing-name>",
                    ])
            }
            let certPath = cfg.tlsCert ?? (tlsDir as NSString).appendingPathComponent("server.pem")
            let keyPath = cfg.tlsKey ?? (tlsDir as NSString).appendingPathComponent("server.key")
            guard let chain = try? String(contentsOfFile: certPath, encoding: .utf8),
                  let key = try? String(contentsOfFile: keyPath, encoding: .utf8)
            else {
                throw ValidationError("TLS listeners need the server certificate and key: \(certPath), \(keyPath)")
            }
            let identities = TLSIdentities(
                cluster: clusterService, defaultChainPEM: chain, defaultKeyPEM: key,
                rejectUnknownSNI: cfg.tlsUnknownSNI == "reject", logger: logger)
            if let port = cfg.mqttsPort {
                secureListeners.append(try identities.listener(.mqtts, host: cfg.bind, port: port))
            }
            if let port = cfg.tlsPort {
                secureListeners.append(try identities.listener(.multiplexed, host: cfg.bind, port: port))
            }
        }
        let registerCA = developmentCA
        let credentials = cfg.defaultCredentials
        let apiURL = "http://\(cfg.bind.contains(":") ? "[\(cfg.bind)]" : cfg.bind):\(cfg.apiPort)"
        let (dataDir, region) = (cfg.dataDir, cfg.region)
        let broker = BrokerService(
            core: core, listener: MQTTListenerConfiguration(host: cfg.bind, port: cfg.mqttPort), group: group,
            logger: logger,
            ready: { [logger] in
                // Serve MQTT once the replicated state (retained messages) is current; without a quorum, serve
                // anyway after a bound — live messages need no consensus.
                if !(await clusterService.waitUntilCurrent(timeout: readyTimeout)) {
                    logger.warning("MQTT listener starting before the cluster state is current (no leader yet)",
                                   metadata: ["wait": "\(readyTimeout)"])
                }
                if credentials {
                    await DefaultCredentials.ensure(cluster: clusterService, dataDir: dataDir, apiURL: apiURL,
                                                    region: region, logger: logger)
                }
                if let developmentCA = registerCA {
                    await DevelopmentCARegistration.register(pemPath: developmentCA, cluster: clusterService,
                                                            logger: logger)
                }
            },
            secureListeners: secureListeners)
        let cluster = ClusterLifecycleService(cluster: clusterService, mode: startMode, logger: logger)
        let apiService = ControlPlaneHTTPServer(
            host: cfg.bind, port: cfg.apiPort, group: group, logger: logger,
            router: ControlPlaneWiring.router(cluster: cluster, gossip: gossip, region: cfg.region,
                                             endpointDomain: cfg.endpointDomain)
        ) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        logger.notice(
            "flotilla starting",
            metadata: [
                "mqtt": "mqtt://\(cfg.bind):\(cfg.mqttPort)", "api": "\(apiURL)",
                "data_dir": "\(cfg.dataDir)", "raft": "\(cfg.bind):\(cfg.raftPort)", "bus": "\(cfg.bind):\(cfg.busPort)",
                "gossip": "\(cfg.bind):\(me.gossipPort)",
                "peers": "\(peerSpecs.map { "\($0.id)@\($0.host):\($0.raftPort):\($0.busPort):\($0.gossipPort)" }.joined(separator: ","))",
            ])
        // Registration order is start order; shutdown runs in reverse (broker drains before the API stops, and
        // the cluster service stops last).
        let services = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: cluster),
                    .init(service: GossipLifecycleService(wiring: gossip, logger: logger)),
                    .init(service: apiService),
                    .init(service: broker),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await services.run()
        try await group.shutdownGracefully()
    }
}
