import Broker
import Foundation
import IoTTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// HTTPS on the device endpoint (8443 without ALPN, or with `http/1.1` / `x-amzn-http-ca`): `POST /topics/{topic}`
/// publishes (AWS-IOT-SPEC §1.10). `GET /mqtt` is taken by the WebSocket upgrader in front of this handler; one
/// that reaches here could not be upgraded and is answered with the reason. Requests are authenticated by the
/// principal the TLS handshake established; without one, every request is refused (401).
final class DeviceHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "flotilla.device-http"

    private let core: BrokerCore
    private let tenant: TenantID
    private let principal: Principal
    private let certificateNames: CertificateNames?
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var bodyTooLarge = false
    /// This connection's policy decisions (made at its first publish; nil when no policy applies).
    private var authorization: AuthorizationCache?
    private var authorizationMade = false

    init(core: BrokerCore, tenant: TenantID, principal: Principal, certificateNames: CertificateNames? = nil,
         logger: Logger) {
        self.certificateNames = certificateNames
        self.core = core
        self.tenant = tenant
        self.principal = principal
        self.logger = logger
    }

    /// The largest body read: the MQTT payload limit plus room for nothing else (the body *is* the payload).
    private var maxBody: Int { Int(core.limits.maxPacketSize) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = context.channel.allocator.buffer(capacity: 0)
            bodyTooLarge = false
        case .body(var chunk):
            guard !bodyTooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBody {
                bodyTooLarge = true
                body = nil
            } else {
                body?.writeBuffer(&chunk)
            }
        case .end:
            guard let head else { return }
            let payload = body ?? context.channel.allocator.buffer(capacity: 0)
            self.head = nil
            self.body = nil
            handle(head, payload: payload, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A declined WebSocket upgrade is reported as an error, then the request itself arrives here and is
        // answered with the reason; anything else ends the connection.
        if error is NIOWebSocketUpgradeError { return }
        logger.info("device HTTP connection closed on error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func handle(_ head: HTTPRequestHead, payload: ByteBuffer, context: ChannelHandlerContext) {
        let (path, query) = Self.split(head.uri)
        let keepAlive = head.isKeepAlive
        do throws(DataPlaneError) {
            if path == "/mqtt" {
                guard principal != .unauthenticated else { throw .unauthorized("No client certificate") }
                throw .invalidRequest("MQTT over WebSocket needs GET with Upgrade: websocket and subprotocol mqtt")
            }
            guard path.hasPrefix("/topics/"), path.count > "/topics/".count else {
                throw .notFound("No such resource: \(path)")
            }
            guard head.method == .POST else { throw .methodNotAllowed("Use POST to publish") }
            guard principal != .unauthenticated else { throw .unauthorized("No client certificate") }
            if bodyTooLarge { throw .tooLarge("The payload is over \(maxBody) bytes") }
            let message = try DevicePublishRequest.message(
                encodedTopic: String(path.dropFirst("/topics/".count)), query: query,
                header: { head.headers.first(name: $0) }, body: payload, tenant: tenant, now: BrokerCore.now(),
                limits: core.limits)
            try authorize(message, context: context)
            publish(message, keepAlive: keepAlive, context: context)
        } catch {
            logger.info("device HTTP request refused", metadata: [
                "http.method": "\(head.method)", "http.path": "\(path)", "http.status": "\(error.status)",
                "aws.error": "\(error.type)", "reason": "\(error.message)",
            ])
            respond(error: error, keepAlive: keepAlive, context: context)
        }
    }

    /// `iot:Publish` (and `iot:RetainPublish` for a retained message) on `topic/<topic>`, as for MQTT but with no
    /// client id (AWS: `iot:ClientId` is unavailable over HTTPS). Refused: 403 ForbiddenException, as iot-data.
    private func authorize(_ message: BrokerMessage, context: ChannelHandlerContext) throws(DataPlaneError) {
        if !authorizationMade {
            authorizationMade = true
            let identity = ConnectionIdentity(tenant: tenant, principal: principal, clientID: nil,
                                              certificateNames: certificateNames,
                                              sourceIP: context.channel.remoteAddress?.ipAddress)
            authorization = core.authorizing?.authorizer(for: identity).map {
                AuthorizationCache($0, limit: core.limits.maxAuthorizationCacheEntries)
            }
        }
        guard authorization != nil else { return }
        var actions: [AuthorizationAction] = [.publish(topic: message.topic)]
        if message.retain { actions.append(.retainPublish(topic: message.topic)) }
        for action in actions {
            switch authorization!.check(action) {
            case .allow: continue
            case .deny, .principalInactive:
                core.metrics.denied(action.name)
                logger.info("not authorized", metadata: [
                    "iot.action": "\(action.name)", "iot.resource": "\(action.resourceName)",
                    "iot.principal": "\(principal.identifier)", "http.protocol": "https",
                ])
                throw .forbidden("Not authorized to perform \(action.name) on this topic")
            }
        }
    }

    /// QoS 0 is answered once routed; a retained QoS 1 message once it is stored on a quorum (as MQTT's PUBACK).
    private func publish(_ message: BrokerMessage, keepAlive: Bool, context: ChannelHandlerContext) {
        guard message.retain else {
            core.route(message)
            return respond(status: .ok, body: Self.okBody(), keepAlive: keepAlive, context: context)
        }
        guard message.qos == .atLeastOnce else {
            core.storeRetained(message, completion: nil)
            core.route(message)
            return respond(status: .ok, body: Self.okBody(), keepAlive: keepAlive, context: context)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        core.storeRetained(message) { ok in
            eventLoop.execute {
                let (handler, context) = loopBound.value
                if ok {
                    handler.core.route(message)
                    handler.respond(status: .ok, body: Self.okBody(), keepAlive: keepAlive, context: context)
                } else {
                    handler.respond(error: .unavailable("The retained message could not be stored; retry"),
                                    keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    private static func okBody() -> String {
        #"{"message":"OK","traceId":"\#(UUID().uuidString.lowercased())"}"#
    }

    private func respond(error: DataPlaneError, keepAlive: Bool, context: ChannelHandlerContext) {
        let body = String(decoding: (try? JSONEncoder().encode(["message": error.message])) ?? Data("{}".utf8),
                          as: UTF8.self)
        respond(status: HTTPResponseStatus(statusCode: error.status), body: body, keepAlive: keepAlive,
                context: context, extraHeaders: [("x-amzn-ErrorType", error.type)])
    }

    private func respond(status: HTTPResponseStatus, body: String, keepAlive: Bool, context: ChannelHandlerContext,
                         extraHeaders: [(String, String)] = []) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "x-amzn-RequestId", value: UUID().uuidString.lowercased())
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    static func split(_ uri: String) -> (path: String, query: String) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<q]), String(uri[uri.index(after: q)...]))
    }
}

@available(*, unavailable) extension DeviceHTTPHandler: Sendable {}
