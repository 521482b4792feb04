import ArgumentParser
import Broker
import BrokerNIO
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

@main
struct FlotillaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flotilla",
        abstract: "Flotilla: a clustered, multi-tenant, self-hosted AWS IoT Core.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node. With no options: one node on 127.0.0.1, MQTT on 1883, metrics on 8080.")

    @Option(name: .long, help: "YAML configuration file (see ops/configuration.md).")
    var config: String?
    @Option(name: .long, help: "Directory for this node's state (default ./flotilla-data).")
    var dataDir: String?
    @Option(name: .long, help: "Address the listeners bind to (default 127.0.0.1).")
    var bind: String?
    @Option(name: .long, help: "MQTT over TCP port (default 1883).")
    var mqttPort: Int?
    @Option(name: .long, help: "Port for GET /metrics and /health (default 8080).")
    var metricsPort: Int?
    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?
    @Option(name: .long, help: "This node's id (default node-1).")
    var nodeId: String?

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        var cfg = NodeConfiguration()
        if let path = config { cfg = try NodeConfiguration.load(path: path) }
        if let v = dataDir { cfg.dataDir = v }
        if let v = bind { cfg.bind = v }
        if let v = mqttPort { cfg.mqttPort = v }
        if let v = metricsPort { cfg.metricsPort = v }
        if let v = logLevel { cfg.logLevel = v }
        if let v = nodeId { cfg.nodeID = v }
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

        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let metrics = BrokerMetrics()

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let core = BrokerCore(limits: limits, metrics: metrics, logger: logger)
        let broker = BrokerService(
            core: core, listener: MQTTListenerConfiguration(host: cfg.bind, port: cfg.mqttPort), group: group,
            logger: logger)
        let metricsService = MetricsHTTPService(host: cfg.bind, port: cfg.metricsPort, group: group, logger: logger) {
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return String(decoding: buffer, as: UTF8.self)
        }
        logger.notice(
            "flotilla starting",
            metadata: [
                "mqtt": "mqtt://\(cfg.bind):\(cfg.mqttPort)", "metrics": "http://\(cfg.bind):\(cfg.metricsPort)/metrics",
                "data_dir": "\(cfg.dataDir)",
            ])
        // Registration order is start order; shutdown runs in reverse (broker drains before metrics stop).
        let services = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: metricsService),
                    .init(service: broker),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await services.run()
        try await group.shutdownGracefully()
    }
}
