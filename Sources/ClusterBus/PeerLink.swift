import BusProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The outbound side towards one peer: one persistent connection, set up on the first request, set up again after
/// a loss (the next request reconnects at once; after a failed connect, not before a bounded, doubling backoff).
///
/// All state sits behind one lock; whoever removes a request from `pending` resumes its continuation, so every
/// request is resumed exactly once, by its answer, its timeout, its cancellation, the loss of the connection, a
/// failed connect, or shutdown. Frames are handed to the channel in batches: the first request to find the outbox
/// empty schedules one write-and-flush task on the channel's loop.
final class PeerLink: Sendable {
    typealias Outcome = Result<ByteBuffer, BusError>

    struct Settings: Sendable {
        var hello: BusHello
        var supportedProtocolVersions: ClosedRange<UInt16>
        var maxFrameSize: Int
        var maxPending: Int
        var connectTimeout: TimeAmount
        var initialBackoff: TimeAmount
        var maxBackoff: TimeAmount
    }

    private struct Pending: Sendable {
        var continuation: CheckedContinuation<Outcome, Never>
        var timeout: Scheduled<Void>
    }

    private enum Phase: Sendable {
        case idle
        case connecting
        case connected(any Channel)
        case shutDown
    }

    private struct State: Sendable {
        var phase: Phase = .idle
        var pending: [UInt64: Pending] = [:]
        /// Requests waiting for the connection.
        var unsent: [BusFrame] = []
        /// Frames for the connected channel, written by the next drain.
        var outbox: [BusFrame] = []
        var drainScheduled = false
        var nextID: UInt64 = 1
        /// Consecutive failed connects; the backoff doubles with each.
        var failures = 0
        /// No connect before this instant (backoff after a failed connect).
        var retryAt: NIODeadline?
    }

    private enum Next {
        case nothing
        case resume(BusError)
        case drain(any Channel)
        case connect
        case connectAt(NIODeadline)
    }

    let address: PeerAddress
    let eventLoop: any EventLoop
    private let settings: Settings
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(address: PeerAddress, eventLoop: any EventLoop, settings: Settings, logger: Logger) {
        self.address = address
        self.eventLoop = eventLoop
        self.settings = settings
        var logger = logger
        logger[metadataKey: "bus.peer"] = "\(address)"
        self.logger = logger
    }

    /// Number of requests waiting for an answer (tests, metrics).
    var pendingCount: Int { state.withLockedValue { $0.pending.count } }

    // MARK: - Requests

    func request(kind: UInt16, payload: ByteBuffer, timeout: TimeAmount) async -> Outcome {
        let size = BusFrameEncoder.encodedSize(.request(BusRequest(correlationID: 0, kind: kind, payload: payload)))
        guard size <= settings.maxFrameSize else {
            return .failure(.payloadTooLarge(size: size, limit: settings.maxFrameSize))
        }
        let id = state.withLockedValue { s in
            defer { s.nextID &+= 1 }
            return s.nextID
        }
        let frame = BusFrame.request(BusRequest(correlationID: id, kind: kind, payload: payload))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                self.register(id: id, frame: frame, timeout: timeout, continuation: continuation)
            }
        } onCancel: {
            self.finish(id: id, with: .failure(.cancelled))
        }
    }

    private func register(id: UInt64, frame: BusFrame, timeout: TimeAmount,
                          continuation: CheckedContinuation<Outcome, Never>) {
        let next = state.withLockedValue { s -> Next in
            if case .shutDown = s.phase { return .resume(.shuttingDown) }
            // Checked under the lock: a cancellation handler that ran before this found nothing to cancel.
            if Task.isCancelled { return .resume(.cancelled) }
            guard s.pending.count < settings.maxPending else { return .resume(.overloaded) }
            // Scheduling never runs the task inline, so the timeout cannot take the lock we hold.
            let timer = eventLoop.scheduleTask(in: timeout) { self.finish(id: id, with: .failure(.timeout)) }
            s.pending[id] = Pending(continuation: continuation, timeout: timer)
            switch s.phase {
            case .connected(let channel):
                s.outbox.append(frame)
                if s.drainScheduled { return .nothing }
                s.drainScheduled = true
                return .drain(channel)
            case .connecting:
                s.unsent.append(frame)
                return .nothing
            case .idle:
                s.unsent.append(frame)
                s.phase = .connecting
                if let retryAt = s.retryAt, retryAt > .now() { return .connectAt(retryAt) }
                return .connect
            case .shutDown:
                preconditionFailure("checked above: \(s.phase)")
            }
        }
        switch next {
        case .nothing: break
        case .resume(let error): continuation.resume(returning: .failure(error))
        case .drain(let channel): channel.eventLoop.execute { self.drain(channel) }
        case .connect: eventLoop.execute { self.connect() }
        case .connectAt(let deadline): eventLoop.scheduleTask(deadline: deadline) { self.connect() }
        }
    }

    /// Resumes request `id` with `outcome` unless something else did already.
    func finish(id: UInt64, with outcome: Outcome) {
        guard let p = state.withLockedValue({ $0.pending.removeValue(forKey: id) }) else { return }
        p.timeout.cancel()
        p.continuation.resume(returning: outcome)
    }

    /// An answer arrived.
    func received(_ response: BusResponse) {
        switch response.status {
        case .ok: finish(id: response.correlationID, with: .success(response.payload))
        case .error(let code, let message):
            finish(id: response.correlationID, with: .failure(.fromResponse(code: code, message: message)))
        }
    }

    // MARK: - Connection

    private func connect() {
        guard state.withLockedValue({ s in if case .connecting = s.phase { return true } else { return false } }) else {
            return
        }
        let settings = self.settings
        ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(BusFrameDecoder(maxFrameSize: settings.maxFrameSize)),
                        MessageToByteHandler(BusFrameNIOEncoder()),
                        BusClientHandler(link: self, logger: self.logger))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.connected(channel)
                case .failure(let error): self.connectFailed(error)
                }
            }
    }

    private func connected(_ channel: any Channel) {
        let accepted = state.withLockedValue { s -> Bool in
            guard case .connecting = s.phase else { return false }  // shut down meanwhile
            s.phase = .connected(channel)
            s.failures = 0
            s.retryAt = nil
            s.outbox = [.hello(settings.hello)] + s.unsent
            s.unsent = []
            s.drainScheduled = true
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        logger.debug("bus connection up")
        channel.closeFuture.whenComplete { _ in self.closed(channel) }
        channel.eventLoop.execute { self.drain(channel) }
    }

    private func connectFailed(_ error: any Error) {
        let failed = state.withLockedValue { s -> [Pending] in
            guard case .connecting = s.phase else { return [] }
            s.phase = .idle
            s.failures += 1
            let backoff = min(settings.initialBackoff.nanoseconds << min(s.failures - 1, 20), settings.maxBackoff.nanoseconds)
            s.retryAt = .now() + .nanoseconds(backoff)
            s.unsent = []
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        logger.debug("bus connect failed", metadata: ["error": "\(error)", "bus.failed_requests": "\(failed.count)"])
        for p in failed {
            p.timeout.cancel()
            p.continuation.resume(returning: .failure(.unreachable))
        }
    }

    private func closed(_ channel: any Channel) {
        let failed = state.withLockedValue { s -> [Pending] in
            guard case .connected(let current) = s.phase, current === channel else { return [] }
            s.phase = .idle
            s.outbox = []
            s.drainScheduled = false
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        if !failed.isEmpty { logger.info("bus connection lost", metadata: ["bus.failed_requests": "\(failed.count)"]) }
        for p in failed {
            p.timeout.cancel()
            p.continuation.resume(returning: .failure(.connectionLost))
        }
    }

    /// Writes everything in the outbox and flushes once. Runs on `channel`'s loop.
    private func drain(_ channel: any Channel) {
        let frames = state.withLockedValue { s -> [BusFrame] in
            guard case .connected(let current) = s.phase, current === channel else { return [] }
            s.drainScheduled = false
            defer { s.outbox = [] }
            return s.outbox
        }
        guard !frames.isEmpty else { return }
        for frame in frames { channel.write(frame, promise: nil) }
        channel.flush()
    }

    // MARK: - Shutdown

    /// Resumes every pending request with `.shuttingDown`, refuses new ones and closes the connection.
    func shutdown() async {
        let (failed, channel) = state.withLockedValue { s -> ([Pending], (any Channel)?) in
            var channel: (any Channel)?
            if case .connected(let c) = s.phase { channel = c }
            s.phase = .shutDown
            s.unsent = []
            s.outbox = []
            defer { s.pending = [:] }
            return (Array(s.pending.values), channel)
        }
        for p in failed {
            p.timeout.cancel()
            p.continuation.resume(returning: .failure(.shuttingDown))
        }
        try? await channel?.close()
    }
}

/// The client end of one bus connection: hands answers to its ``PeerLink``, answers pings, checks the peer's hello.
/// Any frame a server does not send, or a decoding error, closes the connection (its requests fail as lost).
final class BusClientHandler: ChannelInboundHandler {
    typealias InboundIn = BusFrame
    typealias OutboundOut = BusFrame

    private let link: PeerLink
    private let logger: Logger

    init(link: PeerLink, logger: Logger) {
        self.link = link
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .response(let response):
            link.received(response)
        case .hello(let hello):
            guard link.accepts(protocolVersion: hello.protocolVersion) else {
                logger.warning("bus peer speaks an unsupported protocol version",
                               metadata: ["bus.peer_node": "\(hello.nodeID)", "bus.version": "\(hello.protocolVersion)"])
                context.close(promise: nil)
                return
            }
        case .ping(let value):
            context.writeAndFlush(wrapOutboundOut(.pong(value)), promise: nil)
        case .pong:
            break
        case .request:
            logger.warning("bus peer sent a request on an outbound connection; closing")
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason = (error as? BusProtocolError)?.closeReason ?? "\(error)"
        logger.warning("bus connection error; closing", metadata: ["bus.reason": "\(reason)"])
        context.close(promise: nil)
    }
}

@available(*, unavailable) extension BusClientHandler: Sendable {}

extension PeerLink {
    func accepts(protocolVersion: UInt16) -> Bool { settings.supportedProtocolVersions.contains(protocolVersion) }
}
