import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// A request handed to the API hook of the HTTP listener: what a control plane needs, nothing of NIO.
public struct HTTPAPIRequest: Sendable {
    /// `GET`, `POST`, … as sent.
    public var method: String
    /// The request target as sent (path and query, still percent-encoded).
    public var uri: String
    /// The body, or nil when it was over the listener's `maxBodyBytes` (read and discarded; answer 413).
    public var body: [UInt8]?
    /// The peer's IP address as text (`127.0.0.1`, `::1`), nil when the socket has none.
    public var peerAddress: String?
    /// Header names in lower case → the value sent (a repeated header's values joined with `,`).
    public var headers: [String: String] = [:]
}

/// The API hook's answer.
public struct HTTPAPIResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A tiny HTTP/1.1 server for `GET /metrics` (Prometheus text) and `GET /health`, plus an optional API hook that
/// answers every other request (today the control plane's things and cluster admin routes). The control plane
/// moves to its own Hummingbird server with issue 5, and this server goes back to metrics and health.
///
/// Bodies are read up to `maxBodyBytes` (default 1 MiB); a larger body is read and discarded, and the hook gets
/// `body == nil` (the control plane answers 413) — memory per request stays bounded either way.
public final class MetricsHTTPService: Service, Sendable {
    public typealias APIHandler = @Sendable (HTTPAPIRequest) async -> HTTPAPIResponse
    let host: String
    let port: Int
    let group: any EventLoopGroup
    let logger: Logger
    let render: @Sendable () -> String
    let api: APIHandler?
    let maxBodyBytes: Int

    public init(host: String, port: Int, group: any EventLoopGroup, logger: Logger, maxBodyBytes: Int = 1 << 20,
                api: APIHandler? = nil, render: @escaping @Sendable () -> String) {
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
        self.render = render
        self.api = api
        self.maxBodyBytes = maxBodyBytes
    }

    public func run() async throws {
        let render = self.render
        let api = self.api
        let maxBodyBytes = self.maxBodyBytes
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHTTPHandler(render: render, api: api, maxBodyBytes: maxBodyBytes))
                }
            }
            .bind(host: host, port: port).get()
        logger.notice("metrics listener ready", metadata: ["http.listen": "\(host):\(port)"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// One connection. NIO's pipelining handler (from `configureHTTPServerPipeline`) holds back the next request
/// until this one's `.end` is written, so at most one request per connection is in the API hook at a time.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let render: @Sendable () -> String
    let api: MetricsHTTPService.APIHandler?
    let maxBodyBytes: Int
    private var head: HTTPRequestHead?
    /// The body so far; nil once it went over `maxBodyBytes` (the rest is discarded).
    private var body: ByteBuffer?
    /// False once the handler left the pipeline: an API answer arriving after that is dropped.
    private var attached = true

    init(render: @escaping @Sendable () -> String, api: MetricsHTTPService.APIHandler?, maxBodyBytes: Int) {
        self.render = render
        self.api = api
        self.maxBodyBytes = maxBodyBytes
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        attached = false
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            let declared = h.headers.first(name: "content-length").flatMap { Int($0) } ?? 0
            body = declared > maxBodyBytes ? nil : context.channel.allocator.buffer(capacity: declared)
        case .body(var chunk):
            if body != nil {
                if body!.readableBytes + chunk.readableBytes > maxBodyBytes {
                    body = nil
                } else {
                    body!.writeBuffer(&chunk)
                }
            }
        case .end:
            guard let h = head else { return }
            head = nil
            let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
            switch (h.method, path) {
            case (.GET, "/metrics"):
                respond(context, h, status: .ok, type: "text/plain; version=0.0.4", body: Array(render().utf8))
            case (.GET, "/health"):
                respond(context, h, status: .ok, type: "application/json", body: Array("{\"status\":\"ok\"}\n".utf8))
            default:
                guard let api else {
                    respond(context, h, status: .notFound, type: "text/plain", body: Array("not found\n".utf8))
                    return
                }
                var headers: [String: String] = [:]
                for (name, value) in h.headers {  // repeated headers joined with "," (RFC 9110 §5.3, SigV4)
                    let key = name.lowercased()
                    headers[key] = headers[key].map { "\($0),\(value)" } ?? value
                }
                let request = HTTPAPIRequest(
                    method: h.method.rawValue, uri: h.uri, body: body.map { Array($0.readableBytesView) },
                    peerAddress: context.channel.remoteAddress?.ipAddress, headers: headers)
                body = nil
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                Task {
                    let answer = await api(request)
                    bound.eventLoop.execute {
                        let (handler, context) = bound.value
                        guard handler.attached else { return }
                        var headers = HTTPHeaders()
                        for (name, value) in answer.headers where name.lowercased() != "content-length" {
                            headers.add(name: name, value: value)
                        }
                        handler.write(context, h, status: HTTPResponseStatus(statusCode: answer.status),
                                      headers: headers, body: answer.body)
                    }
                }
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, status: HTTPResponseStatus,
                         type: String, body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: type)
        write(context, h, status: status, headers: headers, body: body)
    }

    private func write(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, status: HTTPResponseStatus,
                       headers: HTTPHeaders, body: [UInt8]) {
        var headers = headers
        headers.replaceOrAdd(name: "content-length", value: "\(body.count)")
        let keepAlive = h.isKeepAlive
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))),
                      promise: nil)
        if !body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))),
                          promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}

@available(*, unavailable) extension MetricsHTTPHandler: Sendable {}
