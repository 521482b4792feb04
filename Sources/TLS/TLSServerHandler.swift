import Logging
import Metrics
import NIOCore

/// Terminates TLS for one server connection with OpenSSL over memory BIOs.
///
/// Inbound ciphertext → `BIO_write(rbio)` → `SSL_do_handshake` / `SSL_read` → `fireChannelRead(plaintext)`.
/// Outbound plaintext → `SSL_write` → drain `wbio` → `context.write(ciphertext)`. Writes made before the handshake
/// completes are buffered and sent after it. `close` sends close_notify first. Every failure — not TLS at all
/// (plain MQTT on a TLS port), a malformed record, a refused SNI, certificate or ALPN — flushes OpenSSL's alert,
/// logs the reason, counts it (`iot_tls_refusals_total{reason}`) and closes; nothing is thrown down the pipeline.
///
/// When the handshake completes it fires a `TLSHandshakeCompleted` user event (SNI, context, ALPN, peer
/// certificate), from which the MQTT layer learns the tenant and the principal.
public final class TLSServerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum State {
        case idle
        case handshaking
        case active
        case closing
        case closed
    }

    private let configuration: TLSListenerConfiguration
    private var connection: TLSConnection?
    private var state = State.idle
    private var bufferedWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var flushAfterHandshake = false
    private var handshakeDeadline: Scheduled<Void>?

    public init(configuration: TLSListenerConfiguration) {
        self.configuration = configuration
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            connection = try TLSConnection(configuration: configuration)
            state = .handshaking
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            handshakeDeadline = context.eventLoop.scheduleTask(in: configuration.handshakeTimeout) {
                let (handler, context) = bound.value
                guard handler.state == .handshaking else { return }
                handler.refuse(context: context, reason: .handshakeTimeout, errors: [])
            }
        } catch {
            configuration.logger.error("tls: cannot create a connection", metadata: ["tls.error": "\(error)"])
            state = .closed
            context.close(promise: nil)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        handshakeDeadline = nil
        failBufferedWrites(ChannelError.ioOnClosedChannel)
        connection = nil
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection, state == .handshaking || state == .active || state == .closing else { return }
        connection.feed(unwrapInboundIn(data))
        if state == .handshaking { driveHandshake(context: context, connection: connection) }
        if state == .active || state == .closing { readApplicationData(context: context, connection: connection) }
        flushOutput(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        handshakeDeadline = nil
        state = .closed
        failBufferedWrites(ChannelError.eof)
        context.fireChannelInactive()
    }

    private func driveHandshake(context: ChannelHandlerContext, connection: TLSConnection) {
        let (step, errors) = connection.handshake()
        switch step {
        case .wantRead:
            return
        case .failed:
            refuse(context: context, reason: connection.refusal ?? Self.classify(errors), errors: errors)
        case .complete:
            state = .active
            handshakeDeadline?.cancel()
            handshakeDeadline = nil
            let event = TLSHandshakeCompleted(
                serverName: connection.serverName, contextName: connection.context.name, alpn: connection.alpn,
                protocolVersion: connection.protocolVersion, peerCertificate: connection.peerCertificate)
            configuration.logger.debug(
                "tls: handshake complete",
                metadata: [
                    "tls.sni": "\(event.serverName ?? "-")", "tls.alpn": "\(event.alpn ?? "-")",
                    "tls.certificate_id": "\(event.peerCertificate?.id ?? "-")",
                ])
            context.fireUserInboundEventTriggered(event)
            let writes = bufferedWrites
            bufferedWrites = []
            for (buffer, promise) in writes { encryptAndWrite(context: context, buffer, promise: promise) }
            if flushAfterHandshake {
                flushAfterHandshake = false
                flushOutput(context: context)
            }
        }
    }

    private func readApplicationData(context: ChannelHandlerContext, connection: TLSConnection) {
        // Each SSL_read consumes at least one record from the finite bytes fed so far; the bound is a backstop.
        for _ in 0..<65536 {
            switch connection.read(allocator: context.channel.allocator) {
            case .data(let plaintext):
                context.fireChannelRead(wrapInboundOut(plaintext))
            case .wantRead:
                return
            case .closeNotify:
                // The peer closed its side: answer with our close_notify and close.
                if state == .active { connection.shutdown() }
                state = .closing
                flushOutput(context: context)
                context.close(promise: nil)
                return
            case .failed(let errors):
                refuse(context: context, reason: Self.classify(errors), errors: errors)
                return
            }
            if state != .active && state != .closing { return }
        }
    }

    /// Logs, counts, reports, then sends whatever alert OpenSSL queued and closes.
    private func refuse(context: ChannelHandlerContext, reason: TLSRefusalReason, errors: [String]) {
        state = .closed
        configuration.logger.warning(
            "tls: connection refused",
            metadata: [
                "tls.reason": "\(reason.label)", "tls.detail": "\(reasonDetail(reason, errors))",
                "tls.sni": "\(connection?.serverName ?? "-")",
                "tls.certificate_id": "\(connection?.peerCertificate?.id ?? "-")",
            ])
        Counter(label: "iot_tls_refusals_total", dimensions: [("reason", reason.label)]).increment()
        configuration.onRefusal?(reason)
        flushOutput(context: context)
        failBufferedWrites(ChannelError.ioOnClosedChannel)
        context.close(promise: nil)
    }

    private func reasonDetail(_ reason: TLSRefusalReason, _ errors: [String]) -> String {
        if case .protocolError(let why) = reason { return why }
        return errors.joined(separator: "; ")
    }

    /// OpenSSL's error queue → a refusal reason, for failures no callback explained.
    static func classify(_ errors: [String]) -> TLSRefusalReason {
        if errors.contains(where: { $0.contains("peer did not return a certificate") }) { return .noClientCertificate }
        // OpenSSL's error strings end with its reason text, e.g. "…:SSL routines::wrong version number".
        let reason = errors.first.map { String($0.split(separator: ":").last ?? "") } ?? "handshake failed"
        return .protocolError(reason.isEmpty ? "handshake failed" : reason)
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch state {
        case .idle, .handshaking:
            bufferedWrites.append((buffer, promise))
        case .active:
            encryptAndWrite(context: context, buffer, promise: promise)
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        switch state {
        case .idle, .handshaking: flushAfterHandshake = true
        case .active, .closing: context.flush()
        case .closed: break
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if state == .active, let connection {
            state = .closing
            connection.shutdown()
            flushOutput(context: context)
        }
        state = .closed
        failBufferedWrites(ChannelError.ioOnClosedChannel)
        context.close(mode: mode, promise: promise)
    }

    private func encryptAndWrite(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let connection, connection.write(buffer) else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if let out = connection.drainOutput(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(out), promise: promise)
        } else {
            promise?.succeed(())
        }
    }

    /// Writes and flushes pending ciphertext (handshake records, tickets, alerts, close_notify).
    private func flushOutput(context: ChannelHandlerContext) {
        guard let connection, let out = connection.drainOutput(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    private func failBufferedWrites(_ error: Error) {
        let writes = bufferedWrites
        bufferedWrites = []
        for (_, promise) in writes { promise?.fail(error) }
    }
}

@available(*, unavailable)
extension TLSServerHandler: Sendable {}
