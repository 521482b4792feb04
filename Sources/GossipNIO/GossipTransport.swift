#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The gossip's two wires on one port number (ARCHITECTURE §2, 7002): UDP datagrams for probes and piggybacked
/// updates, and TCP for push/pull anti-entropy — one length-prefixed request answered by one length-prefixed reply
/// (`length u32 | bytes`), then the initiator closes. Domain-free: the bytes are the gossip machine's.
///
/// Datagrams are received through NIO but sent with `sendto(2)` on a duplicate of the same socket: NIO closes a
/// datagram channel on any send error other than EMSGSIZE/EHOSTUNREACH, and a peer behind a blackhole route
/// (EINVAL), a local firewall (EPERM) or a broadcast address (EACCES) would silently make the node deaf and mute for
/// the rest of its life — the chaos suite found exactly that: every partition turned into endless false deaths. A
/// send error here loses that one datagram, which the protocol expects of UDP anyway. Should the receiving channel
/// close for any other reason while the transport runs, it is bound again on the same port.
public final class GossipTransport: Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Largest push/pull frame accepted in either direction (a full subscription table must fit).
        public var maxPushPullBytes: Int = 32 * 1024 * 1024
        public var pushPullTimeout: TimeAmount = .seconds(5)
        public var connectTimeout: TimeAmount = .seconds(1)
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// A datagram arrived (called on the UDP channel's event loop; must return quickly).
    public typealias DatagramHandler = @Sendable (_ bytes: [UInt8], _ from: SocketAddress) -> Void
    /// A push/pull request arrived: the reply bytes, or nil to close without one.
    public typealias PushPullHandler = @Sendable (_ request: [UInt8], _ from: SocketAddress) -> [UInt8]?

    private struct State {
        var udp: (any Channel)?
        /// `dup` of the UDP channel's socket, owned here, for sending; -1 when none.
        var sendFD: CInt = -1
        var udpPort: Int = 0
        var tcp: (any Channel)?
        var addresses: [String: SocketAddress] = [:]
        var closed = false
    }

    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onDatagram: DatagramHandler
    private let onPushPull: PushPullHandler
    private let state = NIOLockedValueBox(State())

    public init(configuration: Configuration, group: any EventLoopGroup, logger: Logger,
                onDatagram: @escaping DatagramHandler, onPushPull: @escaping PushPullHandler) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.onDatagram = onDatagram
        self.onPushPull = onPushPull
    }

    /// Binds UDP and TCP on the configured host and port. Returns the UDP address (its port, when 0 was asked,
    /// is also the TCP one: TCP binds the port UDP got).
    @discardableResult
    public func start() async throws -> SocketAddress {
        let (udp, sendFD) = try await bindUDP(port: configuration.port)
        let port = udp.localAddress?.port ?? configuration.port
        let maxBytes = configuration.maxPushPullBytes
        let onPushPull = self.onPushPull
        let logger = self.logger
        let tcp: any Channel
        do {
            tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(PushPullFrameDecoder(maxBytes: maxBytes)))
                        try channel.pipeline.syncOperations.addHandler(
                            PushPullServerHandler(handler: onPushPull, logger: logger))
                    }
                }
                .bind(host: configuration.host, port: port).get()
        } catch {
            try? await udp.close()
            close(sendFD)
            throw error
        }
        state.withLockedValue {
            $0.udp = udp
            $0.sendFD = sendFD
            $0.udpPort = port
            $0.tcp = tcp
        }
        watch(udp)
        return udp.localAddress!
    }

    /// A UDP socket bound to `host:port` (SO_REUSEADDR), handed to NIO for reading, and a `dup` of it for sending.
    private func bindUDP(port: Int) async throws -> (any Channel, CInt) {
        guard let address = resolve(host: configuration.host, port: port) else {
            throw GossipTransportError.unresolvable(configuration.host)
        }
        let family: CInt = address.protocol == .inet6 ? AF_INET6 : AF_INET
        #if canImport(Glibc)
        let fd = socket(family, CInt(SOCK_DGRAM.rawValue), 0)
        #else
        let fd = socket(family, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        var one: CInt = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        let bound = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw IOError(errnoCode: code, reason: "bind \(address)")
        }
        // Non-blocking before NIO gets it (`withBoundSocket` does not set it, and a blocking read would stall the
        // event loop) — and for our sends: a dup shares the open file description, so its flags too.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let sendFD = dup(fd)
        guard sendFD >= 0 else {
            let code = errno
            close(fd)
            throw IOError(errnoCode: code, reason: "dup")
        }
        let onDatagram = self.onDatagram
        do {
            let udp = try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(DatagramInbound(handler: onDatagram))
                    }
                }
                .withBoundSocket(fd).get()
            return (udp, sendFD)
        } catch {
            close(sendFD)
            close(fd)
            throw error
        }
    }

    /// Binds the UDP side again if its channel closes while the transport is running (a read error NIO does not
    /// tolerate); retried once a second until it works or the transport stops.
    private func watch(_ udp: any Channel) {
        udp.closeFuture.whenComplete { [weak self] _ in
            guard let self else { return }
            let (port, oldFD, stopped) = self.state.withLockedValue { s -> (Int, CInt, Bool) in
                guard !s.closed, s.udp === udp else { return (0, -1, true) }
                defer { s.udp = nil; s.sendFD = -1 }
                return (s.udpPort, s.sendFD, false)
            }
            guard !stopped else { return }
            if oldFD >= 0 { close(oldFD) }
            self.logger.error("gossip: the UDP socket closed unexpectedly; binding it again", metadata: [
                "gossip.port": "\(port)",
            ])
            Task { await self.rebind(port: port) }
        }
    }

    private func rebind(port: Int) async {
        for _ in 0..<3600 {
            if state.withLockedValue({ $0.closed }) { return }
            if let (udp, sendFD) = try? await bindUDP(port: port) {
                let keep = state.withLockedValue { s -> Bool in
                    guard !s.closed else { return false }
                    s.udp = udp
                    s.sendFD = sendFD
                    return true
                }
                guard keep else {
                    try? await udp.close()
                    close(sendFD)
                    return
                }
                watch(udp)
                return
            }
            try? await Task.sleep(nanoseconds: 1_000_000_000)
        }
    }

    /// Sends one datagram (fire and forget: UDP may lose it, and the protocol expects that). Returns false when it
    /// was not handed to the kernel (no socket, unresolvable, or a send error such as EINVAL behind a blackhole
    /// route, EPERM from a firewall, EAGAIN on a full buffer); the transport stays usable either way.
    @discardableResult
    public func send(_ bytes: [UInt8], to host: String, port: Int) -> Bool {
        guard let address = resolve(host: host, port: port) else { return false }
        // Under the lock, so the descriptor cannot be closed (and its number reused) mid-send; a non-blocking
        // sendto is a short system call.
        return state.withLockedValue { s -> Bool in
            guard !s.closed, s.sendFD >= 0 else { return false }
            let fd = s.sendFD
            let sent = bytes.withUnsafeBytes { buffer in
                address.withSockAddr { sa, length in
                    sendto(fd, buffer.baseAddress, buffer.count, CInt(MSG_NOSIGNAL), sa, socklen_t(length))
                }
            }
            return sent == bytes.count
        }
    }

    /// One push/pull exchange: connects, sends `request`, returns the reply. Throws on connect failure, timeout,
    /// a reply larger than the limit, or a close without a reply.
    public func pushPull(_ request: [UInt8], to host: String, port: Int) async throws -> [UInt8] {
        guard let address = resolve(host: host, port: port) else { throw GossipTransportError.unresolvable(host) }
        let maxBytes = configuration.maxPushPullBytes
        let promise = group.next().makePromise(of: [UInt8].self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(configuration.connectTimeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(PushPullFrameDecoder(maxBytes: maxBytes)))
                        try channel.pipeline.syncOperations.addHandler(PushPullClientHandler(reply: promise))
                    }
                }
                .connect(to: address).get()
        } catch {
            promise.fail(GossipTransportError.unreachable)
            throw GossipTransportError.unreachable
        }
        let timeout = channel.eventLoop.scheduleTask(in: configuration.pushPullTimeout) {
            promise.fail(GossipTransportError.timeout)
        }
        var frame = channel.allocator.buffer(capacity: request.count + 4)
        frame.writeInteger(UInt32(request.count))
        frame.writeBytes(request)
        channel.writeAndFlush(frame, promise: nil)
        defer {
            timeout.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    public func stop() async {
        let (udp, tcp, sendFD) = state.withLockedValue { s -> ((any Channel)?, (any Channel)?, CInt) in
            s.closed = true
            defer { s.udp = nil; s.tcp = nil; s.sendFD = -1 }
            return (s.udp, s.tcp, s.sendFD)
        }
        if sendFD >= 0 { close(sendFD) }
        try? await udp?.close()
        try? await tcp?.close()
    }

    /// Numeric addresses parse at once; names resolve once (blocking, at first use) and are cached.
    private func resolve(host: String, port: Int) -> SocketAddress? {
        let key = "\(host):\(port)"
        if let known = state.withLockedValue({ $0.addresses[key] }) { return known }
        let address = (try? SocketAddress(ipAddress: host, port: port))
            ?? (try? SocketAddress.makeAddressResolvingHost(host, port: port))
        guard let address else {
            logger.warning("gossip: cannot resolve \(host)")
            return nil
        }
        state.withLockedValue { $0.addresses[key] = address }
        return address
    }
}

public enum GossipTransportError: Error, Sendable, Equatable {
    case unresolvable(String)
    case unreachable
    case timeout
    case frameTooLarge
    case closedWithoutReply
}

private final class DatagramInbound: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let handler: GossipTransport.DatagramHandler
    init(handler: @escaping GossipTransport.DatagramHandler) { self.handler = handler }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var envelope = unwrapInboundIn(data)
        let bytes = envelope.data.readBytes(length: envelope.data.readableBytes) ?? []
        handler(bytes, envelope.remoteAddress)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port-unreachable and the like surface here on some systems: a lost datagram, nothing more.
    }
}

/// `length u32 | bytes`, refusing lengths above the limit before buffering them.
struct PushPullFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]
    let maxBytes: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= maxBytes else { throw GossipTransportError.frameTooLarge }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(NIOAny(buffer.readBytes(length: Int(length))!))
        return .continue
    }
}

private final class PushPullServerHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = [UInt8]
    typealias OutboundOut = ByteBuffer
    let handler: GossipTransport.PushPullHandler
    let logger: Logger
    init(handler: @escaping GossipTransport.PushPullHandler, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        guard let remote = context.remoteAddress, let reply = handler(request, remote) else {
            context.close(promise: nil)
            return
        }
        var frame = context.channel.allocator.buffer(capacity: reply.count + 4)
        frame.writeInteger(UInt32(reply.count))
        frame.writeBytes(reply)
        context.writeAndFlush(NIOAny(frame), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("gossip push/pull connection closed: \(error)")
        context.close(promise: nil)
    }
}

private final class PushPullClientHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = [UInt8]
    let reply: EventLoopPromise<[UInt8]>
    init(reply: EventLoopPromise<[UInt8]>) { self.reply = reply }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reply.succeed(unwrapInboundIn(data))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        reply.fail(GossipTransportError.closedWithoutReply)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        reply.fail(error as? GossipTransportError ?? GossipTransportError.closedWithoutReply)
        context.close(promise: nil)
    }
}
