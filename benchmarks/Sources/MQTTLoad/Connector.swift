import LoadClientCodec
import NIOCore
import NIOPosix
import NIOSSL

/// Errors of the load generator itself (as opposed to counters of a run).
enum LoadError: Error, CustomStringConvertible {
    case client(String)
    case invalidOption(String)

    var description: String {
        switch self {
        case .client(let message): return message
        case .invalidOption(let message): return message
        }
    }
}

/// TLS of every client of a run (`--tls`): one context (trust anchors, client certificate) shared by all clients,
/// so every client makes the same handshake with the same certificate.
struct TLSClient: Sendable {
    let context: NIOSSLContext
    /// SNI and the name the server certificate is checked against; nil: no SNI, checked against the IP address.
    let serverName: String?

    /// Mutual TLS 1.2/1.3 with full verification of the server certificate against `caFile`.
    init(caFile: String, certificateFile: String, keyFile: String, serverName: String?) throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .file(caFile)
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
        configuration.certificateVerification = .fullVerification
        self.context = try NIOSSLContext(configuration: configuration)
        self.serverName = serverName
    }
}

/// Opens benchmark clients: TCP connect (then the TLS handshake with `--tls`), then the MQTT handshake, then the
/// channel is handed back.
struct Connector: Sendable {
    let group: EventLoopGroup
    let host: String
    let port: Int
    /// SO_SNDBUF of every client socket, and the outbound high-water mark (low = half); 0 keeps the defaults.
    /// A fixed, small send buffer keeps saturating publishers from parking megabytes in kernel buffers, which would
    /// turn end-to-end latency into a measure of buffer size.
    let sendBufferBytes: Int
    /// SO_RCVBUF of every client socket; 0 keeps the kernel's autotuning (up to net.ipv4.tcp_rmem's maximum, which
    /// can be tens of MiB, where a lagging subscriber would hide a broker's queue in its own kernel buffer).
    let receiveBufferBytes: Int
    /// nil: plain TCP.
    let tls: TLSClient?

    /// Connects one client; the future succeeds once CONNACK (and SUBACK for subscribers) arrived.
    func connect(_ settings: ClientSettings) -> EventLoopFuture<Channel> {
        let loop = self.group.next()
        let ready = loop.makePromise(of: Void.self)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(settings.handshakeTimeout)
        if self.sendBufferBytes > 0 {
            bootstrap =
                bootstrap
                .channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(self.sendBufferBytes))
                .channelOption(
                    .writeBufferWaterMark,
                    value: .init(low: self.sendBufferBytes / 2, high: self.sendBufferBytes)
                )
        }
        if self.receiveBufferBytes > 0 {
            bootstrap = bootstrap.channelOption(
                .socketOption(.so_rcvbuf),
                value: SocketOptionValue(self.receiveBufferBytes)
            )
        }
        bootstrap =
            bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = self.tls {
                        // NIOSSLClientHandler holds CONNECT (written on channelActive) until the handshake is done.
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ClientPacketDecoder()),
                        LoadClientHandler(settings: settings, ready: ready)
                    )
                }
            }
        return bootstrap.connect(host: self.host, port: self.port)
            .flatMapError { error in
                ready.fail(error)  // no-op if the handler already completed it
                return loop.makeFailedFuture(error)
            }
            .flatMap { channel in ready.futureResult.map { channel } }
    }

    /// Connects every client with at most `concurrency` handshakes in flight, in order of `settings`.
    /// Returns the connected channels and one message per client that failed.
    func connectAll(_ settings: [ClientSettings], concurrency: Int) async -> (channels: [Channel], errors: [String]) {
        var channels: [Channel] = []
        var errors: [String] = []
        channels.reserveCapacity(settings.count)
        await withTaskGroup(of: Result<Channel, Error>.self) { group in
            var next = 0
            func startNext() {
                guard next < settings.count else { return }
                let future = self.connect(settings[next])
                next += 1
                group.addTask { await Result { try await future.get() } }
            }
            for _ in 0..<min(concurrency, settings.count) { startNext() }
            while let result = await group.next() {
                switch result {
                case .success(let channel): channels.append(channel)
                case .failure(let error): errors.append("\(error)")
                }
                startNext()
            }
        }
        return (channels, errors)
    }
}

extension Result where Failure == Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Sends `command` to every channel's handler.
func broadcast(_ command: ClientCommand, to channels: [Channel]) {
    for channel in channels { channel.pipeline.fireUserInboundEventTriggered(command) }
}

/// Collects every client's counters; a client that does not answer within `timeout` contributes an error.
func collectStats(from channels: [Channel], timeout: TimeAmount) async -> [ClientStats] {
    var futures: [EventLoopFuture<ClientStats>] = []
    for channel in channels {
        let promise = channel.eventLoop.makePromise(of: ClientStats.self)
        let timer = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(LoadError.client("stats collection timed out"))
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        channel.pipeline.fireUserInboundEventTriggered(ClientCommand.collect(promise))
        futures.append(promise.futureResult)
    }
    var all: [ClientStats] = []
    for future in futures {
        do {
            all.append(try await future.get())
        } catch {
            var failed = ClientStats()
            failed.errors = 1
            failed.firstError = "\(error)"
            all.append(failed)
        }
    }
    return all
}

/// Sends DISCONNECT on every channel and waits for them to close, forcing a close after `grace`.
func disconnectAll(_ channels: [Channel], grace: TimeAmount) async {
    broadcast(.disconnect, to: channels)
    for channel in channels {
        channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
    }
    for channel in channels { try? await channel.closeFuture.get() }
}
