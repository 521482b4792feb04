import IoTTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// What a secure connection turned out to be once its security layer established it: the tenant (from the SNI →
/// domain configuration), the principal (from the client certificate), and the application protocol (from ALPN).
public struct SecureRoute: Sendable, Equatable {
    public enum Application: Sendable, Equatable {
        /// MQTT straight over TLS (8883; 8443 with ALPN `x-amzn-mqtt-ca` or `mqtt`).
        case mqtt
        /// HTTP/1.1: HTTPS publish and MQTT over WebSocket at `/mqtt` (8443 with `http/1.1` or `x-amzn-http-ca`).
        case http
        /// No ALPN was negotiated (8443): the first byte decides. An MQTT CONNECT (0x10) cannot begin an HTTP
        /// request line, so clients that cannot set ALPN (most MQTT libraries, the AWS SDKs off port 443) get MQTT,
        /// and everything else is HTTP.
        case detect
    }

    public var tenant: TenantID
    public var principal: Principal
    public var application: Application
    /// The client certificate's names (for `iot:Certificate.*` policy variables), when there is one.
    public var certificateNames: CertificateNames?

    public init(tenant: TenantID, principal: Principal, application: Application,
                certificateNames: CertificateNames? = nil) {
        self.tenant = tenant
        self.principal = principal
        self.application = application
        self.certificateNames = certificateNames
    }
}

/// A listener behind a security layer (TLS on 8883 and 8443): the layer's handlers go first in every child
/// pipeline, and the application handlers are added only once the layer says who the connection belongs to and
/// what it speaks. BrokerNIO stays free of TLS: the layer is given as closures.
public struct SecureListenerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Adds the security handlers to a new connection's pipeline.
    public var addSecurityHandlers: @Sendable (any Channel) throws -> Void
    /// The route named by a user inbound event the security layer fires once the connection is established
    /// (e.g. the TLS handshake-completed event); nil for any other event.
    public var routeFromEvent: @Sendable (Any) -> SecureRoute?

    public init(host: String, port: Int, addSecurityHandlers: @escaping @Sendable (any Channel) throws -> Void,
                routeFromEvent: @escaping @Sendable (Any) -> SecureRoute?) {
        self.host = host
        self.port = port
        self.addSecurityHandlers = addSecurityHandlers
        self.routeFromEvent = routeFromEvent
    }
}

/// Waits for the security layer's "established" event, then puts the application handlers for that route in its
/// place: the MQTT handler, or the HTTP pipeline with the WebSocket upgrade to MQTT at `/mqtt`.
final class SecureSessionStarter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let core: BrokerCore
    let logger: Logger
    let routeFromEvent: @Sendable (Any) -> SecureRoute?
    /// Set while waiting for the first bytes of a connection whose protocol ALPN did not name.
    private var detecting: SecureRoute?
    private var detectDeadline: Scheduled<Void>?

    init(core: BrokerCore, logger: Logger, routeFromEvent: @escaping @Sendable (Any) -> SecureRoute?) {
        self.core = core
        self.logger = logger
        self.routeFromEvent = routeFromEvent
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let route = routeFromEvent(event) else { return context.fireUserInboundEventTriggered(event) }
        guard route.application == .detect else { return start(route, context: context, firstRead: nil) }
        detecting = route  // stay until the first bytes arrive, for as long as a CONNECT may take
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        detectDeadline = context.eventLoop.scheduleTask(in: .seconds(Int64(core.limits.connectTimeout))) {
            let (starter, context) = bound.value
            guard starter.detecting != nil else { return }
            starter.logger.info("secure listener: no request or CONNECT in time; closing")
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        detectDeadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard var route = detecting, let first = unwrapInboundIn(data).readableBytesView.first else {
            // Plaintext before the layer established the connection cannot happen with TLS; refuse it anyway.
            return context.close(promise: nil)
        }
        route.application = first == 0x10 ? .mqtt : .http
        detecting = nil
        detectDeadline?.cancel()
        start(route, context: context, firstRead: data)
    }

    /// Puts the route's application handlers behind this one, hands them `firstRead` (the bytes that decided a
    /// `.detect` route), and leaves the pipeline.
    private func start(_ route: SecureRoute, context: ChannelHandlerContext, firstRead: NIOAny?) {
        do {
            let pipeline = context.pipeline.syncOperations
            switch route.application {
            case .mqtt:
                try pipeline.addHandler(
                    MQTTConnectionHandler(core: core, tenant: route.tenant, principal: route.principal,
                                          certificateNames: route.certificateNames, logger: logger),
                    position: .after(self))
            case .http, .detect:
                try Self.addHTTPHandlers(pipeline, core: core, route: route, logger: logger)
            }
            if let firstRead { context.fireChannelRead(firstRead) }
            pipeline.removeHandler(context: context, promise: nil)
        } catch {
            logger.warning("secure listener: could not start the session", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// HTTP/1.1 server codec, the WebSocket upgrader for `GET /mqtt` (subprotocol `mqtt`, authenticated connections
    /// only), and the device HTTP handler for everything else (HTTPS publish).
    static func addHTTPHandlers(_ pipeline: ChannelPipeline.SynchronousOperations, core: BrokerCore,
                                route: SecureRoute, logger: Logger) throws {
        let webSocket = NIOWebSocketServerUpgrader(
            // One MQTT packet may span frames, but a frame over the packet limit is refused outright.
            maxFrameSize: Int(core.limits.maxPacketSize) + 16,
            automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
                let offered = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
                guard path == "/mqtt", offered.contains("mqtt"), route.principal != .unauthenticated else {
                    return channel.eventLoop.makeSucceededFuture(nil)  // DeviceHTTPHandler explains the refusal
                }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders([("Sec-WebSocket-Protocol", "mqtt")]))
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(WebSocketMQTTBridge())
                    try ops.addHandler(MQTTConnectionHandler(
                        core: core, tenant: route.tenant, principal: route.principal,
                        certificateNames: route.certificateNames, logger: logger))
                }
            })
        try pipeline.configureHTTPServerPipeline(
            position: .last,
            withServerUpgrade: (upgraders: [webSocket], completionHandler: { context in
                // The upgraded connection speaks WebSocket frames: the HTTP handler must not see them.
                context.pipeline.syncOperations.removeHandler(name: DeviceHTTPHandler.name, promise: nil)
            }))
        try pipeline.addHandler(
            DeviceHTTPHandler(core: core, tenant: route.tenant, principal: route.principal,
                              certificateNames: route.certificateNames, logger: logger),
            name: DeviceHTTPHandler.name)
    }
}

@available(*, unavailable) extension SecureSessionStarter: Sendable {}
