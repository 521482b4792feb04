import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// A tiny HTTP/1.1 server for `GET /metrics` (Prometheus text) and `GET /health`. The control plane (issue 5)
/// will serve these on its own port and this server will go.
/// `jsonRoutes`: further `GET` paths answered with JSON (e.g. `/cluster/status`); a route returning nil answers 503.
public final class MetricsHTTPService: Service, Sendable {
    public typealias JSONRoute = @Sendable () -> String?
    let host: String
    let port: Int
    let group: any EventLoopGroup
    let logger: Logger
    let render: @Sendable () -> String
    let jsonRoutes: [String: JSONRoute]

    public init(host: String, port: Int, group: any EventLoopGroup, logger: Logger,
                jsonRoutes: [String: JSONRoute] = [:], render: @escaping @Sendable () -> String) {
        self.host = host
        self.port = port
        self.group = group
        self.logger = logger
        self.render = render
        self.jsonRoutes = jsonRoutes
    }

    public func run() async throws {
        let render = self.render
        let jsonRoutes = self.jsonRoutes
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(render: render, jsonRoutes: jsonRoutes))
                }
            }
            .bind(host: host, port: port).get()
        logger.notice("metrics listener ready", metadata: ["http.listen": "\(host):\(port)"])
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let render: @Sendable () -> String
    let jsonRoutes: [String: MetricsHTTPService.JSONRoute]
    private var head: HTTPRequestHead?

    init(render: @escaping @Sendable () -> String, jsonRoutes: [String: MetricsHTTPService.JSONRoute] = [:]) {
        self.render = render
        self.jsonRoutes = jsonRoutes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            let path = h.uri.split(separator: "?").first.map(String.init) ?? h.uri
            let (status, body, type): (HTTPResponseStatus, String, String)
            switch (h.method, path) {
            case (.GET, "/metrics"): (status, body, type) = (.ok, render(), "text/plain; version=0.0.4")
            case (.GET, "/health"): (status, body, type) = (.ok, "{\"status\":\"ok\"}\n", "application/json")
            case (.GET, _) where jsonRoutes[path] != nil:
                if let json = jsonRoutes[path]?() {
                    (status, body, type) = (.ok, json, "application/json")
                } else {
                    (status, body, type) = (.serviceUnavailable, "{\"error\":\"not ready\"}\n", "application/json")
                }
            default: (status, body, type) = (.notFound, "not found\n", "text/plain")
            }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: type)
            headers.add(name: "content-length", value: "\(body.utf8.count)")
            if !h.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let keepAlive = h.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
            head = nil
        }
    }
}

@available(*, unavailable) extension MetricsHTTPHandler: Sendable {}
