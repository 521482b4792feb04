import IoTTypes
import Logging
import NIOCore

/// An MQTT listener behind a security layer (TLS on 8883): the layer's handlers go first in every child pipeline,
/// and the MQTT handler is added only once the layer says who the connection belongs to — the tenant comes from
/// the handshake (SNI → domain configuration), not from the listener. BrokerNIO stays free of TLS: the layer is
/// given as closures.
public struct SecureListenerConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Adds the security handlers to a new connection's pipeline.
    public var addSecurityHandlers: @Sendable (any Channel) throws -> Void
    /// The tenant named by a user inbound event the security layer fires once the connection is established
    /// (e.g. the TLS handshake-completed event); nil for any other event.
    public var tenantFromEvent: @Sendable (Any) -> TenantID?

    public init(host: String, port: Int, addSecurityHandlers: @escaping @Sendable (any Channel) throws -> Void,
                tenantFromEvent: @escaping @Sendable (Any) -> TenantID?) {
        self.host = host
        self.port = port
        self.addSecurityHandlers = addSecurityHandlers
        self.tenantFromEvent = tenantFromEvent
    }
}

/// Waits for the security layer's "established" event, then puts the MQTT handler for that tenant in its place.
final class SecureSessionStarter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let core: BrokerCore
    let logger: Logger
    let tenantFromEvent: @Sendable (Any) -> TenantID?

    init(core: BrokerCore, logger: Logger, tenantFromEvent: @escaping @Sendable (Any) -> TenantID?) {
        self.core = core
        self.logger = logger
        self.tenantFromEvent = tenantFromEvent
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tenant = tenantFromEvent(event) else { return context.fireUserInboundEventTriggered(event) }
        do {
            let mqtt = MQTTConnectionHandler(core: core, tenant: tenant, logger: logger)
            try context.pipeline.syncOperations.addHandler(mqtt, position: .after(self))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            logger.warning("secure listener: could not start the MQTT session", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Plaintext before the layer established the connection cannot happen with TLS; refuse it anyway.
        context.close(promise: nil)
    }
}

@available(*, unavailable) extension SecureSessionStarter: Sendable {}
