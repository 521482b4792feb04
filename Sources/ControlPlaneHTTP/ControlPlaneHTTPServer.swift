import ControlPlane
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// The control plane's HTTP shell (`--api-port`, 8080): Hummingbird serving `GET /metrics` (Prometheus text),
/// `GET /health`, and every other request through the `ControlPlaneRouter` — which verifies SigV4 and decides
/// everything else. This shell only translates: the request line, headers and body in (bodies over
/// `maxBodyBytes` are not read and reach the router as `nil`, answered 413), the `APIResponse` out.
public struct ControlPlaneHTTPServer: Service {
    public static let defaultMaxBodyBytes = 1 << 20
    /// An idle keep-alive connection is closed after this long.
    public static let idleTimeout: TimeAmount = .seconds(60)

    let application: Application<CallbackResponder<PeerRequestContext>>

    /// - Parameters:
    ///   - router: the control plane (AWS operations and the operator routes).
    ///   - renderMetrics: the Prometheus exposition text, rendered per scrape.
    public init(host: String, port: Int, group: any EventLoopGroup, logger: Logger, router: ControlPlaneRouter,
                maxBodyBytes: Int = defaultMaxBodyBytes, renderMetrics: @escaping @Sendable () -> String)
    {
        let responder = CallbackResponder<PeerRequestContext> { request, context in
            switch (request.method, request.uri.path) {
            case (.get, "/metrics"):
                return Self.response(status: 200, type: "text/plain; version=0.0.4", body: Array(renderMetrics().utf8))
            case (.get, "/health"):
                return Self.response(status: 200, type: "application/json", body: Array("{\"status\":\"ok\"}\n".utf8))
            default:
                let answer = await router.handle(await Self.apiRequest(request, context: context,
                                                                       maxBodyBytes: maxBodyBytes))
                var fields = HTTPFields()
                for (name, value) in answer.headers.sorted(by: { $0.key < $1.key }) {
                    guard let field = HTTPField.Name(name), field != .contentLength else { continue }
                    fields.append(HTTPField(name: field, value: value))
                }
                return Response(status: .init(code: answer.status), headers: fields,
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
            }
        }
        application = Application(
            responder: responder,
            server: .http1(configuration: .init(idleTimeout: Self.idleTimeout)),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "flotilla"),
            eventLoopGroupProvider: .shared(group),
            logger: logger)
    }

    public func run() async throws {
        try await application.run()  // not runService(): that installs its own SIGTERM handler
    }

    /// The router's view of a request: the target exactly as sent (SigV4 signs it), headers by lower-case name with
    /// repeats joined by `,`, the body (nil when over the limit), the peer's address.
    static func apiRequest(_ request: Request, context: PeerRequestContext, maxBodyBytes: Int) async -> APIRequest {
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { "\($0),\(field.value)" } ?? field.value
        }
        // HTTP types carry `Host` as the `:authority` pseudo-header, not as a field; SigV4 signs it as `host`.
        if headers["host"] == nil, let authority = request.head.authority { headers["host"] = authority }
        var body: [UInt8]?
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > maxBodyBytes {
            body = nil
        } else if let buffer = try? await request.body.collect(upTo: maxBodyBytes) {
            body = Array(buffer.readableBytesView)
        }
        return APIRequest(method: request.method.rawValue, target: request.head.path ?? "/", body: body,
                          peerAddress: context.peerAddress, headers: headers)
    }

    static func response(status: Int, type: String, body: [UInt8]) -> Response {
        Response(status: .init(code: status), headers: [.contentType: type],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Hummingbird's request context plus the peer's IP address (the operator routes answer loopback peers only).
public struct PeerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let peerAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The router reads bodies itself, up to its own limit.
    public var maxUploadSize: Int { ControlPlaneHTTPServer.defaultMaxBodyBytes }
}
