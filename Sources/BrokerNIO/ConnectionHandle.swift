import Broker
import NIOCore

/// A connection as the rest of the broker sees it: identity-hashable, Sendable, and the only way to reach a
/// loop-confined ``MQTTConnectionHandler`` from another thread (every call hops to the connection's loop).
public final class ConnectionHandle: Hashable, Sendable {
    public let eventLoop: any EventLoop
    private let handler: NIOLoopBound<MQTTConnectionHandler>

    init(handler: MQTTConnectionHandler, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.handler = NIOLoopBound(handler, eventLoop: eventLoop)
    }

    /// Runs `body` with the handler on its loop (inline when already there).
    func withHandler(_ body: @escaping @Sendable (MQTTConnectionHandler) -> Void) {
        if eventLoop.inEventLoop {
            body(handler.value)
        } else {
            let h = handler
            eventLoop.execute { body(h.value) }
        }
    }

    /// Hands routed messages to the connection. Must be called on the connection's loop.
    func deliverOnLoop(_ outbound: OutboundMessage) {
        handler.value.deliver(outbound)
    }

    func flushOnLoop() { handler.value.flushIfNeeded() }

    public static func == (a: ConnectionHandle, b: ConnectionHandle) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
}
