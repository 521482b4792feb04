import NIOCore
import NIOWebSocket

/// MQTT over WebSocket (`/mqtt`, subprotocol `mqtt`): binary frames in both directions carry the MQTT byte stream,
/// and a packet may span frames, so inbound frames become plain bytes for `MQTTConnectionHandler`, which frames
/// packets itself. Pings are answered; a close frame is echoed and the connection closed; a text frame is a
/// protocol violation for MQTT (close 1003). When the MQTT side closes, a close frame (1000) goes out first.
final class WebSocketMQTTBridge: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            let bytes = frame.unmaskedData
            if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case .pong:
            break
        case .connectionClose:
            sendClose(context: context, code: .normalClosure)
            context.close(promise: nil)
        case .text:
            sendClose(context: context, code: .unacceptableData)
            context.close(promise: nil)
        default:
            sendClose(context: context, code: .protocolError)
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        // The MQTT handler flushes with an empty write before closing: pass it on without an empty frame.
        if bytes.readableBytes == 0 {
            promise?.succeed(())
            return
        }
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .binary, data: bytes)), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all { sendClose(context: context, code: .normalClosure) }
        context.close(mode: mode, promise: promise)
    }

    private func sendClose(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        guard !closeSent, context.channel.isActive else { return }
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)),
                              promise: nil)
    }
}

@available(*, unavailable) extension WebSocketMQTTBridge: Sendable {}
