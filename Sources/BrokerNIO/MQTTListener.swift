import Broker
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The plain-TCP MQTT listener (port 1883 by default). TLS listeners (8883, 8443) come with the TLS issue and
/// reuse the same connection handler behind a TLS handler.
public struct MQTTListenerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// Runs the broker's listeners for the life of the service. On graceful shutdown it stops accepting, sends every
/// v5 client DISCONNECT 0x8B (3.1.1 clients are just closed), waits (bounded) for connections to drain, and
/// returns.
public final class BrokerService: Service, Sendable {
    public let core: BrokerCore
    let listener: MQTTListenerConfiguration
    let group: any EventLoopGroup
    let logger: Logger
    let drainTimeout: TimeAmount
    let ready: (@Sendable () async -> Void)?
    let secureListeners: [SecureListenerConfiguration]

    /// `ready`: awaited before the listener binds (the node's replicated state caught up, so the first client
    /// after a restart finds its retained messages); it must return in bounded time.
    public init(core: BrokerCore, listener: MQTTListenerConfiguration, group: any EventLoopGroup, logger: Logger,
                drainTimeout: TimeAmount = .seconds(5), ready: (@Sendable () async -> Void)? = nil,
                secureListeners: [SecureListenerConfiguration] = []) {
        self.core = core
        self.listener = listener
        self.group = group
        self.logger = logger
        self.drainTimeout = drainTimeout
        self.ready = ready
        self.secureListeners = secureListeners
    }

    /// Binds the MQTT listener; exposed for tests that want the channel (and its port) without the lifecycle.
    public func bind() async throws -> any Channel {
        let core = self.core
        let logger = self.logger
        return try await bootstrap()
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(MQTTConnectionHandler(core: core, logger: logger))
                }
            }
            .bind(host: listener.host, port: listener.port)
            .get()
    }

    /// Binds a listener whose connections pass a security layer first (see `SecureListenerConfiguration`).
    public func bind(_ secure: SecureListenerConfiguration) async throws -> any Channel {
        let core = self.core
        let logger = self.logger
        return try await bootstrap()
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try secure.addSecurityHandlers(channel)
                    try channel.pipeline.syncOperations.addHandler(
                        SecureSessionStarter(core: core, logger: logger, routeFromEvent: secure.routeFromEvent))
                }
            }
            .bind(host: secure.host, port: secure.port)
            .get()
    }

    private func bootstrap() -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Fairness: a flooding publisher gets a couple of reads per loop turn, like everyone else.
            .childChannelOption(.maxMessagesPerRead, value: 2)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 32_768))
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 * 1024, high: 512 * 1024))
    }

    public func run() async throws {
        await ready?()
        let channel = try await bind()
        logger.notice("MQTT listener ready", metadata: ["mqtt.listen": "\(listener.host):\(channel.localAddress?.port ?? listener.port)"])
        var secureChannels: [any Channel] = []
        for secure in secureListeners {
            let c = try await bind(secure)
            secureChannels.append(c)
            logger.notice("TLS listener ready", metadata: ["tls.listen": "\(secure.host):\(c.localAddress?.port ?? secure.port)"])
        }
        let sweeper = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [core] _ in
            core.sweep()
        }
        try? await gracefulShutdown()
        logger.notice("draining MQTT connections")
        sweeper.cancel()
        try? await channel.close()
        for c in secureChannels { try? await c.close() }
        await drain()
        logger.notice("MQTT listener stopped")
    }

    /// Disconnects every client with 0x8B and waits until they are gone or the drain timeout passes.
    public func drain() async {
        for handle in core.connectedHandles() {
            handle.withHandler { $0.serverShutdown() }
        }
        let deadline = NIODeadline.now() + drainTimeout
        while NIODeadline.now() < deadline && !core.connectedHandles().isEmpty {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}
