import BusProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The cluster bus (ARCHITECTURE §2, port 7001): request/response between nodes over TCP, domain-free. What a
/// request means is up to the caller's `kind` numbers and the handler.
///
/// - Server: ``start()`` listens; each inbound connection starts with the peer's hello, then any number of
///   requests run the handler concurrently and are answered with their correlation id.
/// - Client: ``request(to:kind:payload:timeout:)`` uses one persistent connection per peer address, set up
///   lazily and again after a loss. Every request ends exactly once: answer, error, timeout, loss, shutdown.
/// - Bounded: at most `maxPendingPerPeer` requests waiting per peer (more fail as ``BusError/overloaded``), at most
///   `maxInFlightPerConnection` handlers running per inbound connection, frames up to `maxFrameSize`.
public final class ClusterBus: Sendable {
    public struct Configuration: Sendable {
        /// This node's id, sent in every hello.
        public var nodeID: String
        /// Listen address (``start()``); port 0 picks a free port.
        public var host: String
        public var port: Int
        /// The bus protocol this node speaks, and the ones it accepts from peers.
        public var protocolVersion: UInt16 = 1
        public var supportedProtocolVersions: ClosedRange<UInt16> = 1...1
        /// Largest frame, length prefix included, in both directions.
        public var maxFrameSize: Int = 4 * 1024 * 1024
        public var maxPendingPerPeer: Int = 4_096
        public var maxInFlightPerConnection: Int = 4_096
        public var connectTimeout: TimeAmount = .seconds(1)
        /// Backoff before reconnecting after a failed connect: doubles from `initialBackoff` up to `maxBackoff`.
        public var initialBackoff: TimeAmount = .milliseconds(20)
        public var maxBackoff: TimeAmount = .seconds(1)
        /// An inbound connection that has not said hello by then is closed.
        public var helloTimeout: TimeAmount = .seconds(5)

        public init(nodeID: String, host: String = "127.0.0.1", port: Int = 7001) {
            self.nodeID = nodeID
            self.host = host
            self.port = port
        }
    }

    private struct State: Sendable {
        var links: [PeerAddress: PeerLink] = [:]
        var listener: (any Channel)?
        var inbound: [ObjectIdentifier: any Channel] = [:]
        var shuttingDown = false
    }

    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let handler: BusRequestHandler
    private let state = NIOLockedValueBox(State())

    /// - Parameter handler: serves inbound requests (unused by a bus that never calls ``start()``).
    public init(configuration: Configuration, group: any EventLoopGroup, logger: Logger,
                handler: @escaping BusRequestHandler) {
        precondition(configuration.maxFrameSize <= BusWire.defaultMaxFrameSize,
                     "maxFrameSize above \(BusWire.defaultMaxFrameSize)")
        self.configuration = configuration
        self.group = group
        var logger = logger
        logger[metadataKey: "bus.node"] = "\(configuration.nodeID)"
        self.logger = logger
        self.handler = handler
    }

    private var hello: BusHello { BusHello(nodeID: configuration.nodeID, protocolVersion: configuration.protocolVersion) }

    // MARK: - Server

    /// Binds the listener and returns its address (with the real port when the configuration asked for 0).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let settings = BusServerHandler.Settings(
            hello: hello, supportedProtocolVersions: configuration.supportedProtocolVersions,
            maxFrameSize: configuration.maxFrameSize, maxInFlight: configuration.maxInFlightPerConnection,
            helloTimeout: configuration.helloTimeout)
        let handler = self.handler
        let logger = self.logger
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                self.adopt(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(BusFrameDecoder(maxFrameSize: settings.maxFrameSize)),
                        MessageToByteHandler(BusFrameNIOEncoder()),
                        BusServerHandler(settings: settings, handler: handler, logger: logger))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
            .get()
        let refused = state.withLockedValue { s -> Bool in
            if s.shuttingDown { return true }
            s.listener = channel
            return false
        }
        if refused {
            try? await channel.close()
            throw BusError.shuttingDown
        }
        logger.notice("cluster bus listening", metadata: ["bus.listen": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
        return channel.localAddress!
    }

    /// Tracks an inbound connection so that shutdown can close it.
    private func adopt(_ channel: any Channel) {
        let key = ObjectIdentifier(channel)
        let refused = state.withLockedValue { s -> Bool in
            if s.shuttingDown { return true }
            s.inbound[key] = channel
            return false
        }
        if refused {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { _ in
            _ = self.state.withLockedValue { $0.inbound.removeValue(forKey: key) }
        }
    }

    // MARK: - Client

    /// Sends a request to the bus listening at `peer` and waits for its answer, at most `timeout`.
    ///
    /// Frames carry a "compressed" flag, but it is not exposed here: LZ4 of large payloads is to be done inside the
    /// bus, transparently, so handlers always see plain payloads.
    public func request(to peer: PeerAddress, kind: UInt16, payload: ByteBuffer,
                        timeout: Duration) async throws(BusError) -> ByteBuffer {
        guard let link = link(to: peer) else { throw .shuttingDown }
        return try await link.request(kind: kind, payload: payload, timeout: TimeAmount(timeout)).get()
    }

    /// Requests waiting for an answer from `peer` (tests, metrics).
    public func pendingRequests(to peer: PeerAddress) -> Int {
        state.withLockedValue { $0.links[peer] }?.pendingCount ?? 0
    }

    private func link(to peer: PeerAddress) -> PeerLink? {
        state.withLockedValue { s -> PeerLink? in
            if s.shuttingDown { return nil }
            if let link = s.links[peer] { return link }
            let settings = PeerLink.Settings(
                hello: hello, supportedProtocolVersions: configuration.supportedProtocolVersions,
                maxFrameSize: configuration.maxFrameSize, maxPending: configuration.maxPendingPerPeer,
                connectTimeout: configuration.connectTimeout, initialBackoff: configuration.initialBackoff,
                maxBackoff: configuration.maxBackoff)
            let link = PeerLink(address: peer, eventLoop: group.next(), settings: settings, logger: logger)
            s.links[peer] = link
            return link
        }
    }

    // MARK: - Shutdown

    /// Stops listening, resumes every pending request with ``BusError/shuttingDown``, closes every connection and
    /// cancels the handlers still running. Idempotent.
    public func shutdown() async {
        let (listener, links, inbound) = state.withLockedValue { s in
            s.shuttingDown = true
            defer {
                s.listener = nil
                s.links = [:]
                s.inbound = [:]
            }
            return (s.listener, Array(s.links.values), Array(s.inbound.values))
        }
        try? await listener?.close()
        for link in links { await link.shutdown() }
        for channel in inbound { try? await channel.close() }
        logger.notice("cluster bus stopped")
    }
}

