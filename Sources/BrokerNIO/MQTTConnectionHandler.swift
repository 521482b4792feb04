import Broker
import IoTTypes
import Logging
import MQTTCodec
import NIOCore

/// The shell of one MQTT connection: decodes bytes into packets, feeds them to its ``SessionStateMachine``
/// and carries out the returned actions. Everything here runs on the channel's event loop.
final class MQTTConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let core: BrokerCore
    private var machine: SessionStateMachine
    private var decoder: MQTTDecoder
    private var cumulation: ByteBuffer?
    private var context: ChannelHandlerContext?
    private(set) var handle: ConnectionHandle?
    /// Shared, never mutated per connection: a per-connection metadata copy costs memory on every idle
    /// connection. Connection metadata is attached at the (rare) log calls instead.
    private let logger: Logger
    /// Slot in this loop's ``KeepAliveSweeper`` (-1 when not registered) and the instant the machine wants
    /// its keep-alive check.
    var keepAliveSlot = -1
    private var keepAliveDeadline: NIODeadline?
    private var needsFlush = false
    /// Bytes written since the last flush. Past ``flushThreshold`` we flush at once instead of at the end of the
    /// loop tick: a tick that routes thousands of messages would otherwise fill the socket's write budget
    /// before the first byte leaves, and QoS 0 would be shed.
    private var unflushedBytes = 0
    private static let flushThreshold = 64 * 1024
    private var flushRegistered = false
    private var closing = false
    private var counted = false
    private let tenant: TenantID

    init(core: BrokerCore, tenant: TenantID = .default, principal: Principal = .anonymous,
         certificateNames: CertificateNames? = nil, logger: Logger) {
        self.core = core
        self.tenant = tenant
        self.machine = SessionStateMachine(tenant: tenant, principal: principal, limits: core.limits,
                                           authorizing: core.authorizing)
        self.machine.certificateNames = certificateNames
        // In a cluster a QoS 1/2 PUBACK/PUBREC waits until the other nodes it went to have the message.
        self.machine.acknowledgeAfterRouting = core.routes != nil
        self.decoder = MQTTDecoder(role: .server, maxPacketSize: Int(core.limits.maxPacketSize))
        self.logger = logger
    }

    /// The loop's clock: real time on a MultiThreadedEventLoopGroup, virtual time on an EmbeddedEventLoop.
    private var now: Timestamp {
        guard let loop = context?.eventLoop else { return BrokerCore.now() }
        return Timestamp(nanoseconds: Int64(loop.now.uptimeNanoseconds))
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.handle = ConnectionHandle(handler: self, eventLoop: context.eventLoop,
                                       mailbox: core.mailboxes.mailbox(for: context.eventLoop))
        machine.sourceIP = context.channel.remoteAddress?.ipAddress
        if context.channel.isActive { countConnection() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopKeepAlive(context: context)
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        countConnection()
        context.fireChannelActive()
    }

    /// Counted once, whether the channel became active with us in the pipeline or we were added to an active one
    /// (after a TLS handshake, which names the tenant).
    private func countConnection() {
        guard !counted else { return }
        counted = true
        core.metrics.connections.increment()
        core.metrics.connectionsAccepted.increment()
        if let context { perform(machine.onConnectionOpened(now: now), context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            core.metrics.connections.decrement()
        }
        stopKeepAlive(context: context)
        perform(machine.onConnectionClosed(now: self.now), context: context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        core.metrics.bytesReceived.increment(by: incoming.readableBytes)
        guard !closing else { return }
        if var pending = cumulation {
            // Complete the one partial packet with just the bytes it still needs, instead of appending the whole
            // read behind it (which copied every byte received twice under load).
            cumulation = nil
            guard Self.completeFrame(&pending, from: &incoming, maxPacketSize: Int(core.limits.maxPacketSize)) else {
                cumulation = pending  // still incomplete: everything we got is in `pending`
                return
            }
            decodeAll(&pending, context: context)
            if closing { return }
        }
        decodeAll(&incoming, context: context)
        if incoming.readableBytes > 0 && !closing {
            // Keep only the unread tail (a partial packet), not the whole receive buffer.
            var tail = context.channel.allocator.buffer(capacity: max(incoming.readableBytes, 64))
            tail.writeBuffer(&incoming)
            cumulation = tail
        }
    }

    /// Moves bytes from `incoming` to `pending` until `pending` holds one whole frame (fixed header + Remaining
    /// Length bytes), or the header shows the frame is over the size limit or malformed (the decoder then reports
    /// it). Returns false when `incoming` ran out first; all its bytes are then in `pending`.
    static func completeFrame(_ pending: inout ByteBuffer, from incoming: inout ByteBuffer, maxPacketSize: Int) -> Bool {
        while true {
            switch frameLength(pending) {
            case .complete(let total):
                if total > maxPacketSize { return true }  // let the decoder refuse it (0x95) without buffering
                let need = total - pending.readableBytes
                if need <= 0 { return true }
                if need > incoming.readableBytes {
                    pending.writeBuffer(&incoming)
                    return false
                }
                var part = incoming.readSlice(length: need)!
                pending.writeBuffer(&part)
                return true
            case .needMore:
                guard let byte: UInt8 = incoming.readInteger() else { return false }
                pending.writeInteger(byte)
            case .invalid:
                return true  // let the decoder report the malformed length
            }
        }
    }

    enum FrameLength: Equatable { case complete(Int), needMore, invalid }

    /// The total size of the frame at the front of `b`, from its fixed header.
    static func frameLength(_ b: ByteBuffer) -> FrameLength {
        let view = b.readableBytesView
        guard view.count >= 2 else { return .needMore }
        var value = 0
        var multiplier = 1
        var index = view.startIndex + 1
        for i in 0..<4 {
            guard index < view.endIndex else { return .needMore }
            let byte = view[index]
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 { return .complete(1 + (i + 1) + value) }
            multiplier *= 128
            index += 1
        }
        return .invalid
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: connectionMetadata(["error": "\(error)"]))
        context.close(promise: nil)
    }

    private func decodeAll(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) {
        while !closing {
            let packet: MQTTPacket?
            let before = buffer.readerIndex
            do {
                packet = try decoder.decode(&buffer)
            } catch {
                decodeFailed(error, buffer: buffer, context: context)
                return
            }
            guard let packet else { return }
            core.metrics.received(packet.type, bytes: buffer.readerIndex - before)
            let now = self.now
            if case .connect(let c) = packet, machine.phase == .awaitingConnect {
                perform(machine.onConnect(c, assignedID: Self.assignClientID(), now: now), context: context)
            } else {
                perform(machine.onPacket(packet, now: now), context: context)
            }
        }
    }

    /// Maps a codec error to the wire once: CONNACK before the session is up (if we can tell the client speaks
    /// v5, or for an unsupported version), DISCONNECT on a v5 session, a plain close otherwise.
    private func decodeFailed(_ error: MQTTCodecError, buffer: ByteBuffer, context: ChannelHandlerContext) {
        core.metrics.protocolErrors.increment()
        logger.info("rejecting malformed input",
                    metadata: connectionMetadata(["mqtt.error": "\(error)", "mqtt.reason": "\(error.reasonCode)"]))
        let reason = error.reasonCode
        switch machine.phase {
        case .awaitingConnect:
            if case .unsupportedProtocolVersion = error {
                // [MQTT-3.1.2-2] CONNACK return code 1 (in 3.1.1 form, which any client can read), then close.
                write(.connack(ConnAckPacket(reasonCode: .unsupportedProtocolVersion)), version: .v311, context: context)
            } else if Self.peekConnectVersion(buffer) == .v5 {
                write(.connack(ConnAckPacket(reasonCode: reason)), version: .v5, context: context)
            }
        case .opening, .connected:
            if machine.version == .v5 {
                write(.disconnect(DisconnectPacket(reasonCode: reason)), version: .v5, context: context)
            }
        case .closed:
            break
        }
        closeConnection(context: context)
    }

    // MARK: - Actions

    private func perform(_ actions: [SessionStateMachine.Action], context: ChannelHandlerContext) {
        var subscriptionsChanged = false
        defer { if subscriptionsChanged { recordConnectedSession() } }
        for action in actions {
            switch action {
            case .send(let packet):
                write(packet, version: machine.version, context: context)
            case .openSession(let clientID, let cleanStart):
                openSession(clientID: clientID, cleanStart: cleanStart, context: context)
            case .route(let message, let token):
                guard let token, let handle else {
                    core.route(message)
                    continue
                }
                let waiting = core.route(message) { ok in
                    handle.withHandler { $0.routed(token: token, success: ok) }
                }
                if !waiting { perform(machine.onRouted(token: token, success: true), context: context) }
            case .retain(let message, let token):
                guard let token, let handle else {
                    core.storeRetained(message, completion: nil)
                    continue
                }
                core.storeRetained(message) { ok in
                    handle.withHandler { $0.retainStored(token: token, success: ok) }
                }
            case .addSubscription(let filter, let options):
                core.subscribe(tenant: tenant, clientID: machine.clientID, filter: filter, options: options)
                subscriptionsChanged = true
            case .removeSubscription(let filter):
                core.unsubscribe(tenant: tenant, clientID: machine.clientID, filter: filter)
                subscriptionsChanged = true
            case .deliverRetained(let filter, let options):
                for m in core.retained(tenant: tenant, filter: filter) {
                    let o = OutboundMessage(message: m, qos: min(options.qos, m.qos), retain: true)
                    perform(machine.onDeliver(o, now: self.now), context: context)
                }
            case .armKeepAlive(let at):
                armKeepAlive(at: at, context: context)
            case .close(let reason):
                if reason.isFailure { core.metrics.protocolErrors.increment() }
                logger.debug("closing", metadata: connectionMetadata(["mqtt.reason": "\(reason)"]))
                closeConnection(context: context)
            case .endSession(let state, let expiry, let will, let willDelay):
                guard let handle else { continue }
                core.sessionClosed(tenant: tenant, clientID: state.clientID, handle: handle, session: state,
                                   expiry: expiry, will: will, willDelay: willDelay)
            case .denied(let action):
                core.metrics.denied(action.name)
                // Receive denials can come at message rate: debug. The others are rarer and worth seeing.
                logger.log(level: action.isReceive ? .debug : .info, "not authorized", metadata: connectionMetadata([
                    "iot.action": "\(action.name)", "iot.resource": "\(action.resourceName)",
                    "iot.principal": "\(machine.principal.identifier)",
                ]))
            case .dropped(let reason):
                switch reason {
                case .queueFull: core.metrics.messagesDroppedQueueFull.increment()
                case .expired: core.metrics.messagesDroppedExpired.increment()
                }
            }
        }
    }

    private func openSession(clientID: String, cleanStart: Bool, context: ChannelHandlerContext) {
        guard let handle else { return }
        if let takeover = core.sessionTakeover, takeover.asksPeers {
            // Other nodes first (issue 7): one of them may hold the client id. Packets arriving meanwhile wait in the
            // machine (phase `.opening`).
            let (tenant, core, limits, expiry) = (self.tenant, self.core, core.limits, machine.grantedSessionExpiry)
            let heldHere = core.hasSession(tenant: tenant, clientID: clientID)
            Task {
                let imported = await takeover.takeOver(tenant: tenant, clientID: clientID, cleanStart: cleanStart,
                                                       heldHere: heldHere, limits: limits)
                handle.withHandler({ $0.attachSession(clientID: clientID, cleanStart: cleanStart, imported: imported) },
                                   orElse: {
                    if let imported {
                        core.parkImported(imported, tenant: tenant, clientID: clientID, handle: handle, expiry: expiry)
                    }
                })
            }
            return
        }
        attachSession(clientID: clientID, cleanStart: cleanStart, imported: nil)
    }

    /// Opens the session in the node's state, with what another node handed over (if anything).
    private func attachSession(clientID: String, cleanStart: Bool, imported: SessionState?) {
        guard let handle else { return }
        guard let context, machine.phase == .opening else {
            // The connection ended while the other nodes were asked: keep what came back, parked.
            if let imported {
                core.parkImported(imported, tenant: tenant, clientID: clientID, handle: handle,
                                  expiry: machine.grantedSessionExpiry)
            }
            return
        }
        switch core.openSession(tenant: tenant, clientID: clientID, handle: handle, cleanStart: cleanStart,
                                imported: imported) {
        case .opened(let resumed):
            perform(machine.onSessionOpened(resumed, now: self.now), context: context)
            recordConnectedSession()
        case .takeOver(let previous):
            logger.info("session taken over by a new connection", metadata: connectionMetadata())
            previous.withHandler { $0.takeOver() }
        }
        if imported != nil || core.sessionTakeover != nil { flushIfNeeded() }  // called off a read: flush ourselves
    }

    /// A persistent session's replicated record while it is connected (issue 8): written when it opens and after each
    /// change of its subscriptions, so a node that dies with the client connected leaves the session resumable on
    /// another node (subscriptions; its queue holds only what was queued while parked). Cluster nodes only.
    private func recordConnectedSession() {
        core.recordConnected(tenant: tenant, clientID: machine.clientID, session: machine.session,
                             expiry: machine.grantedSessionExpiry)
    }

    /// Another connection with our client id won: DISCONNECT 0x8E (v5) and close.
    func takeOver() {
        guard let context else { return }
        perform(machine.onTakenOver(), context: context)
        flushIfNeeded()
    }

    /// The broker handed us the session of the connection we took over.
    func sessionHandedOver(_ state: SessionState?) {
        guard let context else { return }
        perform(machine.onSessionOpened(state, now: self.now), context: context)
        flushIfNeeded()
    }

    /// A retained message this client published is durable (or failed): release the acknowledgements it held.
    func retainStored(token: UInt64, success: Bool) {
        guard let context else { return }
        if !success {
            logger.warning("retained message not stored", metadata: connectionMetadata())
        }
        perform(machine.onRetainStored(token: token, success: success), context: context)
        flushIfNeeded()
    }

    /// A message this client published reached the other nodes it went to (or not, within the bound): release the
    /// acknowledgements it held.
    func routed(token: UInt64, success: Bool) {
        guard let context else { return }
        if !success {
            logger.warning("published message not acknowledged by every node", metadata: connectionMetadata())
        }
        perform(machine.onRouted(token: token, success: success), context: context)
        flushIfNeeded()
    }

    /// Authorization changed somewhere: a principal that no longer authenticates is disconnected.
    func authorizationChanged() {
        guard let context else { return }
        perform(machine.onAuthorizationChanged(), context: context)
        flushIfNeeded()
    }

    /// Graceful shutdown: DISCONNECT 0x8B (v5) and close.
    func serverShutdown() {
        guard let context else { return }
        perform(machine.onServerShutdown(), context: context)
        flushIfNeeded()
    }

    /// A routed message for this client (called on our loop).
    func deliver(_ outbound: OutboundMessage) {
        if machine.sessionEnded {
            // Routed before our close reached the broker: the session lives elsewhere now.
            if outbound.qos > .atMostOnce {
                core.requeue(outbound, tenant: tenant, clientID: machine.clientID)
            }
            return
        }
        guard let context else { return }
        if outbound.qos == .atMostOnce && !context.channel.isWritable {
            // QoS 0 is "at most once": shed it rather than buffer without bound behind a slow reader.
            core.metrics.messagesDroppedBackpressure.increment()
            return
        }
        perform(machine.onDeliver(outbound, now: self.now), context: context)
        if needsFlush && !flushRegistered, let handle {
            flushRegistered = true
            LoopLocal.current(for: context.eventLoop).flusher.register(handle)
        }
    }

    func flushIfNeeded() {
        flushRegistered = false
        guard needsFlush, let context else { return }
        needsFlush = false
        unflushedBytes = 0
        context.flush()
    }

    // MARK: - I/O helpers

    private func connectionMetadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var m = extra
        if !machine.clientID.isEmpty { m["mqtt.client_id"] = "\(machine.clientID)" }
        if let peer = context?.channel.remoteAddress { m["mqtt.peer"] = "\(peer)" }
        return m
    }

    private func write(_ packet: MQTTPacket, version: ProtocolVersion, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: Self.estimatedSize(packet))
        MQTTEncoder.encode(packet, version: version, into: &buffer)
        if case .publish = packet, buffer.readableBytes > Int(machine.clientMaximumPacketSize) {
            // [MQTT-3.1.2-24] never send more than the client's Maximum Packet Size: drop the message.
            core.metrics.messagesDroppedTooLarge.increment()
            return
        }
        core.metrics.sent(packet.type, bytes: buffer.readableBytes)
        core.metrics.bytesSent.increment(by: buffer.readableBytes)
        if case .publish = packet { core.metrics.messagesDelivered.increment() }
        unflushedBytes += buffer.readableBytes
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
        if unflushedBytes >= Self.flushThreshold {
            unflushedBytes = 0
            needsFlush = false
            context.flush()
        }
    }

    private func closeConnection(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        cumulation = nil
        needsFlush = false
        // Close once everything written so far (a final CONNACK or DISCONNECT) has been flushed.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    private func armKeepAlive(at deadline: Timestamp, context: ChannelHandlerContext) {
        keepAliveDeadline = NIODeadline.uptimeNanoseconds(UInt64(max(0, deadline.nanoseconds)))
        if keepAliveSlot < 0, let handle {
            keepAliveSlot = LoopLocal.current(for: context.eventLoop).keepAlive.add(handle)
        }
    }

    private func stopKeepAlive(context: ChannelHandlerContext) {
        keepAliveDeadline = nil
        if keepAliveSlot >= 0 {
            let slot = keepAliveSlot
            keepAliveSlot = -1
            LoopLocal.current(for: context.eventLoop).keepAlive.remove(slot: slot)
        }
    }

    /// Called by the loop's sweeper once a second.
    func checkKeepAlive(now: NIODeadline) {
        guard let deadline = keepAliveDeadline, now >= deadline, let context else { return }
        keepAliveDeadline = nil
        perform(machine.onKeepAliveCheck(now: self.now), context: context)
        flushIfNeeded()
    }

    private static func estimatedSize(_ packet: MQTTPacket) -> Int {
        if case .publish(let p) = packet { return p.payload.readableBytes + p.topic.utf8.count + 16 }
        return 32
    }

    static func assignClientID() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64
        let b = g.next() as UInt64
        return "flotilla-" + String(a, radix: 36) + String(b, radix: 36)
    }

    /// Best effort: the protocol level of a CONNECT at the front of `buffer`, to answer a broken v5 CONNECT
    /// with a v5 CONNACK ([MQTT-3.2.2-?] "the Server MAY send a CONNACK with a Reason Code of 0x80 or greater").
    static func peekConnectVersion(_ buffer: ByteBuffer) -> ProtocolVersion? {
        var b = buffer
        guard let first: UInt8 = b.readInteger(), first >> 4 == 1 else { return nil }
        for _ in 0..<4 {
            guard let byte: UInt8 = b.readInteger() else { return nil }
            if byte & 0x80 == 0 { break }
        }
        guard let nameLength: UInt16 = b.readInteger(), nameLength == 4,
              let name = b.readString(length: 4), name == "MQTT",
              let level: UInt8 = b.readInteger()
        else { return nil }
        return ProtocolVersion(rawValue: level)
    }
}

@available(*, unavailable) extension MQTTConnectionHandler: Sendable {}
