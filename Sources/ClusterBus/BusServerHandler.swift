import BusProtocol
import Logging
import NIOCore

/// The server end of one inbound bus connection. Loop-confined.
///
/// The first frame must be the peer's hello (within `helloTimeout`); we answer with ours. Each request then runs
/// the handler in its own task, many at once; answers are written as they come, in any order, and flushed once per
/// loop turn. A connection with `maxInFlight` requests running gets `overloaded` answers instead. Closing the
/// connection cancels the handler tasks still running.
final class BusServerHandler: ChannelInboundHandler {
    typealias InboundIn = BusFrame
    typealias OutboundOut = BusFrame

    struct Settings: Sendable {
        var hello: BusHello
        var supportedProtocolVersions: ClosedRange<UInt16>
        var maxFrameSize: Int
        var maxInFlight: Int
        var helloTimeout: TimeAmount
    }

    private enum State {
        case awaitingHello
        case ready(PeerID)
        case closed
    }

    private let settings: Settings
    private let handler: BusRequestHandler
    private var logger: Logger
    private var state = State.awaitingHello
    private var inFlight: [UInt64: Task<Void, Never>] = [:]
    private var flushScheduled = false
    private var helloTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    private var loopSelf: NIOLoopBound<BusServerHandler>?

    init(settings: Settings, handler: @escaping BusRequestHandler, logger: Logger) {
        self.settings = settings
        self.handler = handler
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.loopSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
        self.context = nil
        self.loopSelf = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        let loopSelf = self.loopSelf!
        helloTimer = context.eventLoop.scheduleTask(in: settings.helloTimeout) {
            guard case .awaitingHello = loopSelf.value.state else { return }
            loopSelf.value.violation("no hello within \(loopSelf.value.settings.helloTimeout)")
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch (state, frame) {
        case (.closed, _):
            break
        case (.awaitingHello, .hello(let hello)):
            helloTimer?.cancel()
            helloTimer = nil
            guard settings.supportedProtocolVersions.contains(hello.protocolVersion) else {
                violation("unsupported protocol version \(hello.protocolVersion) from \(hello.nodeID)")
                return
            }
            logger[metadataKey: "bus.peer_node"] = "\(hello.nodeID)"
            state = .ready(PeerID(hello.nodeID))
            context.writeAndFlush(wrapOutboundOut(.hello(settings.hello)), promise: nil)
        case (.awaitingHello, _):
            violation("expected hello, got \(frame.type)")
        case (.ready(let peer), .request(let request)):
            start(request, from: peer, context: context)
        case (.ready, .ping(let value)):
            context.write(wrapOutboundOut(.pong(value)), promise: nil)
            scheduleFlush(context: context)
        case (.ready, .pong):
            break
        case (.ready, .hello), (.ready, .response):
            violation("unexpected \(frame.type) on an inbound connection")
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason = (error as? BusProtocolError)?.closeReason ?? "\(error)"
        logger.warning("bus connection error; closing", metadata: ["bus.reason": "\(reason)"])
        stop()
        context.close(promise: nil)
    }

    // MARK: - Requests

    private func start(_ request: BusRequest, from peer: PeerID, context: ChannelHandlerContext) {
        let id = request.correlationID
        guard inFlight[id] == nil else {
            violation("correlation id \(id) reused while in flight")
            return
        }
        guard inFlight.count < settings.maxInFlight else {
            respond(BusResponse(correlationID: id, status: BusStatus.Reserved.overloaded.status(
                "\(inFlight.count) requests in flight on this connection")), context: context)
            return
        }
        let handler = self.handler
        let loopSelf = self.loopSelf!
        let loop = context.eventLoop
        inFlight[id] = Task {
            let reply = await handler(peer, request.kind, request.payload)
            loop.execute { loopSelf.value.finished(id, reply) }
        }
    }

    /// A handler task answered; runs on the loop, after `start` stored the task.
    private func finished(_ id: UInt64, _ reply: BusReply) {
        guard inFlight.removeValue(forKey: id) != nil, let context, case .ready = state else { return }
        var response: BusResponse
        switch reply {
        case .ok(let payload): response = BusResponse(correlationID: id, status: .ok, payload: payload)
        case .error(let code, let message): response = BusResponse(correlationID: id, status: .error(code: code, message: message))
        }
        let size = BusFrameEncoder.encodedSize(.response(response))
        if size > settings.maxFrameSize {
            response = BusResponse(correlationID: id, status: BusStatus.Reserved.responseTooLarge.status(
                "answer of \(size) bytes exceeds the \(settings.maxFrameSize)-byte frame limit"))
        }
        respond(response, context: context)
    }

    private func respond(_ response: BusResponse, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.response(response)), promise: nil)
        scheduleFlush(context: context)
    }

    /// One flush per loop turn, however many answers were written in it.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled, let loopSelf else { return }
        flushScheduled = true
        context.eventLoop.execute {
            let me = loopSelf.value
            me.flushScheduled = false
            me.context?.flush()
        }
    }

    // MARK: - Ending

    private func violation(_ message: String) {
        logger.warning("bus protocol violation; closing", metadata: ["bus.reason": "\(message)"])
        stop()
        context?.close(promise: nil)
    }

    private func stop() {
        state = .closed
        helloTimer?.cancel()
        helloTimer = nil
        for task in inFlight.values { task.cancel() }
        inFlight = [:]
    }
}

@available(*, unavailable) extension BusServerHandler: Sendable {}
