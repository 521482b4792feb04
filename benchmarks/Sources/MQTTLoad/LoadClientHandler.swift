import Histogram
import LoadClientCodec
import NIOCore

/// What a client does once it is connected.
enum ClientRole: Sendable {
    /// CONNECT, then nothing but keepalive pings (the `idle` scenario).
    case idle
    /// CONNECT, SUBSCRIBE to `filter`, then record the latency of every PUBLISH received.
    case subscriber(filter: String)
    /// CONNECT, then PUBLISH to `topic` once started, until the measurement window ends.
    case publisher(topic: String)
    /// CONNECT, SUBSCRIBE to `$aws/things/<thing>/shadow/update/accepted`, then once started one shadow update at
    /// a time: the next goes when the previous one's accepted arrives (latency = update → accepted).
    case shadowDevice(thing: String)
}

/// Per-client settings; every client of a run gets the same ones apart from its id and role.
struct ClientSettings: Sendable {
    var clientID: String
    var role: ClientRole
    var qos: UInt8
    var keepAliveSeconds: UInt16
    var payloadSize: Int
    /// Unacknowledged QoS 1 PUBLISH packets a publisher may have outstanding (like Receive Maximum).
    var maxInflight: Int
    /// Messages per second per publisher; 0 means as fast as the socket and the in-flight window allow.
    var ratePerSecond: Int
    /// Time allowed for CONNECT → CONNACK (→ SUBSCRIBE → SUBACK).
    var handshakeTimeout: TimeAmount
}

/// Monotonic instants (`NIODeadline.uptimeNanoseconds`) shared by all clients of a run.
struct MeasureWindow: Sendable {
    /// Publishers start here; [publishStart, measureStart) is the warm-up, which is not counted.
    var publishStart: UInt64
    var measureStart: UInt64
    /// Publishers stop here.
    var measureEnd: UInt64

    func contains(_ instant: UInt64) -> Bool { instant >= self.measureStart && instant < self.measureEnd }
}

/// Counters of one client. "In window" counts only events inside the measurement window.
struct ClientStats: Sendable {
    var publishedInWindow: UInt64 = 0
    var receivedInWindow: UInt64 = 0
    var publishedTotal: UInt64 = 0
    var receivedTotal: UInt64 = 0
    var acked: UInt64 = 0
    var errors = 0
    var firstError: String?
    /// End-to-end latency in microseconds of messages received in the window (subscribers only).
    var latencyMicros: Histogram<UInt64>?
}

/// Commands sent from the orchestrating task into a client's pipeline as user inbound events.
enum ClientCommand: Sendable {
    case start(MeasureWindow)
    case collect(EventLoopPromise<ClientStats>)
    case disconnect
}

/// Latency values above this (µs) are clamped, so a stalled broker cannot overflow the histogram.
let latencyCeilingMicros: UInt64 = 60_000_000

/// One MQTT 3.1.1 benchmark client. Every method runs on the channel's event loop.
final class LoadClientHandler: ChannelInboundHandler {
    typealias InboundIn = ServerPacket
    typealias OutboundOut = ByteBuffer

    private enum State {
        case connecting, awaitingConnack, awaitingSuback, ready, closing, closed
    }

    private let settings: ClientSettings
    private var ready: EventLoopPromise<Void>?
    private var state = State.connecting
    private var stats = ClientStats()
    private var window: MeasureWindow?
    private var publishing = false
    private var template: PublishTemplate?
    private var nextPacketID: UInt16 = 1
    private var inflight = 0
    private var inPump = false
    private var pumpAgain = false
    private var rateTimer: Scheduled<Void>?
    private var pingTimer: Scheduled<Void>?
    private var handshakeTimer: Scheduled<Void>?
    private var needsFlush = false

    init(settings: ClientSettings, ready: EventLoopPromise<Void>) {
        self.settings = settings
        self.ready = ready
        switch settings.role {
        case .subscriber, .shadowDevice:
            self.stats.latencyMicros = Histogram(
                lowestDiscernibleValue: 1,
                highestTrackableValue: latencyCeilingMicros,
                numberOfSignificantValueDigits: .three
            )
        case .publisher, .idle:
            break
        }
    }

    /// Shadow device loop: when the update in flight was sent, and the next sequence number.
    private var shadowSentAt: UInt64?
    private var shadowSeq: UInt64 = 0

    // MARK: Lifecycle

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 32 + self.settings.clientID.utf8.count)
        ClientEncoder.writeConnect(
            clientID: self.settings.clientID,
            keepAliveSeconds: self.settings.keepAliveSeconds,
            into: &buffer
        )
        self.state = .awaitingConnack
        context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
        self.handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: self.settings.handshakeTimeout) {
            self.fail(
                context: context,
                "handshake timed out after \(self.settings.handshakeTimeout.nanoseconds / 1_000_000) ms"
            )
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.state != .closing && self.state != .closed {
            self.recordError("connection closed by the broker")
        }
        self.state = .closed
        self.publishing = false
        self.cancelTimers()
        self.ready?.fail(LoadError.client("connection closed before the handshake completed"))
        self.ready = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelTimers()
        self.ready?.fail(LoadError.client("connection never became active"))
        self.ready = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        self.fail(context: context, "\(error)")
    }

    // MARK: Packets from the broker

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .publish(let qos, _, _, let packetID, _, let payload):
            self.onPublish(context: context, qos: qos, packetID: packetID, payload: payload)
        case .puback:
            self.inflight -= 1
            self.stats.acked += 1
        case .connack(_, let returnCode):
            self.onConnack(context: context, returnCode: returnCode)
        case .suback(_, let codes):
            guard self.state == .awaitingSuback, codes.count == 1, codes[0] != 0x80 else {
                return self.fail(context: context, "subscription refused: SUBACK \(codes)")
            }
            self.becomeReady(context: context)
        case .pingresp, .other:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.needsFlush {
            self.needsFlush = false
            context.flush()
        }
        if self.publishing { self.pump(context: context) }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && self.publishing { self.pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func onConnack(context: ChannelHandlerContext, returnCode: UInt8) {
        guard self.state == .awaitingConnack else { return self.fail(context: context, "unexpected CONNACK") }
        guard returnCode == 0 else { return self.fail(context: context, "CONNACK return code \(returnCode)") }
        self.schedulePing(context: context)
        switch self.settings.role {
        case .shadowDevice(let thing):
            let filter = "$aws/things/\(thing)/shadow/update/accepted"
            var buffer = context.channel.allocator.buffer(capacity: 16 + filter.utf8.count)
            ClientEncoder.writeSubscribe(packetID: 1, filter: filter, qos: self.settings.qos, into: &buffer)
            self.state = .awaitingSuback
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
        case .subscriber(let filter):
            var buffer = context.channel.allocator.buffer(capacity: 16 + filter.utf8.count)
            ClientEncoder.writeSubscribe(packetID: 1, filter: filter, qos: self.settings.qos, into: &buffer)
            self.state = .awaitingSuback
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
        case .publisher(let topic):
            self.template = PublishTemplate(
                topic: topic,
                qos: self.settings.qos,
                payloadLength: self.settings.payloadSize,
                allocator: context.channel.allocator
            )
            self.becomeReady(context: context)
        case .idle:
            self.becomeReady(context: context)
        }
    }

    private func onPublish(context: ChannelHandlerContext, qos: UInt8, packetID: UInt16?, payload: ByteBuffer) {
        let now = NIODeadline.now().uptimeNanoseconds
        self.stats.receivedTotal += 1
        if case .shadowDevice = self.settings.role {
            if let sent = self.shadowSentAt, let window = self.window, window.contains(sent) {
                self.stats.receivedInWindow += 1
                _ = self.stats.latencyMicros?.record(min((now - sent) / 1_000, latencyCeilingMicros))
            }
            self.shadowSentAt = nil
            self.acknowledge(context: context, qos: qos, packetID: packetID)
            self.sendShadowUpdate(context: context)
            return
        }
        if let window = self.window, window.contains(now) {
            self.stats.receivedInWindow += 1
            if let stamp = payload.getInteger(at: payload.readerIndex, as: UInt64.self), stamp <= now {
                _ = self.stats.latencyMicros?.record(min((now - stamp) / 1_000, latencyCeilingMicros))
            }
        }
        self.acknowledge(context: context, qos: qos, packetID: packetID)
    }

    private func acknowledge(context: ChannelHandlerContext, qos: UInt8, packetID: UInt16?) {
        if qos == 1, let packetID {
            var buffer = context.channel.allocator.buffer(capacity: 4)
            ClientEncoder.writePuback(packetID: packetID, into: &buffer)
            context.write(self.wrapOutboundOut(buffer), promise: nil)
            self.needsFlush = true
        }
    }

    /// The shadow device's next update, while the window is open.
    private func sendShadowUpdate(context: ChannelHandlerContext) {
        guard case .shadowDevice(let thing) = self.settings.role, self.state == .ready, let window = self.window
        else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        guard now < window.measureEnd else { return }
        self.shadowSeq += 1
        let body = "{\"state\":{\"reported\":{\"seq\":\(self.shadowSeq)}}}"
        var buffer = context.channel.allocator.buffer(capacity: 64 + body.utf8.count)
        let packetID = self.settings.qos > 0 ? self.takePacketID() : 0
        ClientEncoder.writePublish(
            topic: "$aws/things/\(thing)/shadow/update", qos: self.settings.qos, packetID: packetID,
            payload: ByteBuffer(string: body), into: &buffer)
        self.shadowSentAt = now
        self.stats.publishedTotal += 1
        if window.contains(now) { self.stats.publishedInWindow += 1 }
        context.write(self.wrapOutboundOut(buffer), promise: nil)
        self.needsFlush = true
    }

    private func becomeReady(context: ChannelHandlerContext) {
        self.state = .ready
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
        self.ready?.succeed()
        self.ready = nil
    }

    // MARK: Commands from the orchestrator

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let command = event as? ClientCommand else { return context.fireUserInboundEventTriggered(event) }
        switch command {
        case .start(let window):
            self.window = window
            if case .publisher = self.settings.role, self.state == .ready {
                self.publishing = true
                self.pump(context: context)
            }
            if case .shadowDevice = self.settings.role, self.state == .ready {
                self.sendShadowUpdate(context: context)
                context.flush()
            }
        case .collect(let promise):
            promise.succeed(self.stats)
        case .disconnect:
            guard self.state != .closing && self.state != .closed else { return }
            self.state = .closing
            self.publishing = false
            self.cancelTimers()
            var buffer = context.channel.allocator.buffer(capacity: 2)
            ClientEncoder.writeDisconnect(into: &buffer)
            context.writeAndFlush(self.wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    // MARK: Publishing

    /// Writes PUBLISH packets while the channel is writable, the QoS 1 in-flight window has room, the rate allows
    /// it and the window is open, flushing every `flushEvery` packets.
    ///
    /// Pacing comes from I/O events only: the loop ends when the channel turns unwritable (the socket buffer and the
    /// outbound high-water mark are full) and resumes on `channelWritabilityChanged`, or on PUBACKs at QoS 1. It never
    /// re-enqueues itself as an immediate task, because NIO runs every task enqueued during a tick before it polls
    /// sockets again, so a self-rescheduling writer would starve the subscribers on its event loop.
    private func pump(context: ChannelHandlerContext) {
        guard !self.inPump else {
            self.pumpAgain = true  // a flush inside the loop fired writability; the loop below goes on
            return
        }
        self.inPump = true
        defer { self.inPump = false }
        var sent = 0
        repeat {
            self.pumpAgain = false
            sent += self.writeBatch(context: context, limit: Self.pumpLimit - sent)
        } while self.pumpAgain && sent < Self.pumpLimit
        if sent >= Self.pumpLimit && self.publishing && self.rateTimer == nil {
            // Still writable after a whole budget (a socket that never fills): come back after I/O was polled.
            self.rateTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .microseconds(100)) {
                self.rateTimer = nil
                self.pump(context: context)
            }
        }
    }

    private static let pumpLimit = 4_096
    private static let flushEvery = 32

    /// Writes up to `limit` packets and returns how many it wrote.
    private func writeBatch(context: ChannelHandlerContext, limit: Int) -> Int {
        guard self.publishing, self.state == .ready, let window = self.window, let template = self.template else {
            return 0
        }
        var sent = 0
        var unflushed = 0
        var now = NIODeadline.now().uptimeNanoseconds
        while sent < limit {
            if now >= window.measureEnd {
                self.publishing = false
                break
            }
            guard context.channel.isWritable else { break }
            if self.settings.qos > 0 && self.inflight >= self.settings.maxInflight { break }
            if self.settings.ratePerSecond > 0 {
                let due = (now - window.publishStart) * UInt64(self.settings.ratePerSecond) / 1_000_000_000
                if self.stats.publishedTotal >= due {
                    self.armRateTimer(context: context, window: window)
                    break
                }
            }
            let packetID = self.settings.qos > 0 ? self.takePacketID() : 0
            let packet = template.make(packetID: packetID, stamp: now, allocator: context.channel.allocator)
            context.write(self.wrapOutboundOut(packet), promise: nil)
            if self.settings.qos > 0 { self.inflight += 1 }
            self.stats.publishedTotal += 1
            if window.contains(now) { self.stats.publishedInWindow += 1 }
            sent += 1
            unflushed += 1
            if unflushed == Self.flushEvery {
                unflushed = 0
                context.flush()
            }
            now = NIODeadline.now().uptimeNanoseconds
        }
        if unflushed > 0 { context.flush() }
        return sent
    }

    private func armRateTimer(context: ChannelHandlerContext, window: MeasureWindow) {
        guard self.rateTimer == nil else { return }
        let next =
            window.publishStart + (self.stats.publishedTotal + 1) * 1_000_000_000
            / UInt64(self.settings.ratePerSecond)
        self.rateTimer = context.eventLoop.assumeIsolated().scheduleTask(
            deadline: NIODeadline.uptimeNanoseconds(next)
        ) {
            self.rateTimer = nil
            self.pump(context: context)
        }
    }

    private func takePacketID() -> UInt16 {
        let id = self.nextPacketID
        self.nextPacketID = id == UInt16.max ? 1 : id + 1  // 0 is not a valid packet identifier [MQTT-2.3.1-1]
        return id
    }

    // MARK: Keepalive and errors

    /// Sends PINGREQ every three quarters of the keepalive interval [MQTT-3.1.2-23].
    private func schedulePing(context: ChannelHandlerContext) {
        guard self.settings.keepAliveSeconds > 0 else { return }
        let interval = TimeAmount.milliseconds(Int64(self.settings.keepAliveSeconds) * 750)
        self.pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.state == .ready else { return }
            var buffer = context.channel.allocator.buffer(capacity: 2)
            ClientEncoder.writePingreq(into: &buffer)
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            self.schedulePing(context: context)
        }
    }

    private func cancelTimers() {
        self.pingTimer?.cancel()
        self.rateTimer?.cancel()
        self.handshakeTimer?.cancel()
        self.pingTimer = nil
        self.rateTimer = nil
        self.handshakeTimer = nil
    }

    private func recordError(_ message: String) {
        self.stats.errors += 1
        if self.stats.firstError == nil { self.stats.firstError = "\(self.settings.clientID): \(message)" }
    }

    private func fail(context: ChannelHandlerContext, _ message: String) {
        guard self.state != .closing && self.state != .closed else { return }
        self.recordError(message)
        self.ready?.fail(LoadError.client(message))
        self.ready = nil
        self.state = .closing
        self.publishing = false
        self.cancelTimers()
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension LoadClientHandler: Sendable {}
