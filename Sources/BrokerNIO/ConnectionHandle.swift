import Broker
import NIOCore

/// A connection as the rest of the broker sees it: identity-hashable, Sendable, and the only way to reach a
/// loop-confined ``MQTTConnectionHandler`` from another thread (every call hops to the connection's loop).
public final class ConnectionHandle: Hashable, Sendable {
    public let eventLoop: any EventLoop
    let mailbox: LoopMailbox
    /// Weak: the handler owns its handle, not the other way round (no cycle, so both are freed on close).
    private let handler: NIOLoopBound<WeakHandler>

    final class WeakHandler {
        weak var value: MQTTConnectionHandler?
        init(_ v: MQTTConnectionHandler) { value = v }
    }

    init(handler: MQTTConnectionHandler, eventLoop: any EventLoop, mailbox: LoopMailbox) {
        self.eventLoop = eventLoop
        self.mailbox = mailbox
        self.handler = NIOLoopBound(WeakHandler(handler), eventLoop: eventLoop)
    }

    /// Runs `body` with the handler on its loop (inline when already there).
    func withHandler(_ body: @escaping @Sendable (MQTTConnectionHandler) -> Void) {
        if eventLoop.inEventLoop {
            if let h = handler.value.value { body(h) }
        } else {
            let h = handler
            eventLoop.execute { if let v = h.value.value { body(v) } }
        }
    }

    /// Runs `body` with the handler on its loop, or `gone` there if the connection no longer exists.
    func withHandler(_ body: @escaping @Sendable (MQTTConnectionHandler) -> Void, orElse gone: @escaping @Sendable () -> Void) {
        let h = handler
        eventLoop.execute {
            if let v = h.value.value { body(v) } else { gone() }
        }
    }

    /// Hands routed messages to the connection. Must be called on the connection's loop.
    func deliverOnLoop(_ outbound: OutboundMessage) {
        handler.value.value?.deliver(outbound)
    }

    /// Runs `body` with the handler, if it still exists. Must be called on the connection's loop.
    func withHandlerOnLoop(_ body: (MQTTConnectionHandler) -> Void) {
        if let h = handler.value.value { body(h) }
    }

    func flushOnLoop() { handler.value.value?.flushIfNeeded() }

    public static func == (a: ConnectionHandle, b: ConnectionHandle) -> Bool { a === b }
    public func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
}
