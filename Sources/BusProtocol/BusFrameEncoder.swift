import NIOCore

/// Cluster-bus frame serializer (layout in ``BusWire``). The size is computed first, capacity reserved once, and
/// the frame written straight into the output.
///
/// The caller passes valid frames: a node id or error message over 65,535 UTF-8 bytes, or a frame over 4 GiB, traps.
/// Frame size against a peer's limit is the caller's to check, with ``encodedSize(_:)``, before encoding.
public enum BusFrameEncoder {
    /// Appends the encoding of `frame` to `buffer`.
    public static func encode(_ frame: BusFrame, into buffer: inout ByteBuffer) {
        let size = encodedSize(frame)
        precondition(size - BusWire.lengthFieldSize <= Int(UInt32.max), "bus frame too large: \(size) bytes")
        buffer.reserveCapacity(minimumWritableBytes: size)
        buffer.writeInteger(UInt32(size - BusWire.lengthFieldSize))
        buffer.writeInteger(BusWire.magic)
        buffer.writeInteger(BusWire.version)
        buffer.writeInteger(frame.type.rawValue)
        switch frame {
        case .hello(let h):
            buffer.writeInteger(UInt8(0))
            writeString(h.nodeID, into: &buffer)
            buffer.writeInteger(h.protocolVersion)
        case .request(let r):
            buffer.writeInteger(r.flags.rawValue)
            buffer.writeInteger(r.correlationID)
            buffer.writeInteger(r.kind)
            buffer.writeImmutableBuffer(r.payload)
        case .response(let r):
            buffer.writeInteger(r.flags.rawValue)
            buffer.writeInteger(r.correlationID)
            switch r.status {
            case .ok:
                buffer.writeInteger(UInt8(0))
            case .error(let code, let message):
                buffer.writeInteger(UInt8(1))
                buffer.writeInteger(code)
                writeString(message, into: &buffer)
            }
            buffer.writeImmutableBuffer(r.payload)
        case .ping(let v), .pong(let v):
            buffer.writeInteger(UInt8(0))
            buffer.writeInteger(v)
        }
    }

    /// The frame's size on the wire, length prefix included (what ``BusFrameDecoder/maxFrameSize`` limits).
    public static func encodedSize(_ frame: BusFrame) -> Int {
        let body: Int
        switch frame {
        case .hello(let h): body = 2 + h.nodeID.utf8.count + 2
        case .request(let r): body = 8 + 2 + r.payload.readableBytes
        case .response(let r):
            switch r.status {
            case .ok: body = 8 + 1 + r.payload.readableBytes
            case .error(_, let message): body = 8 + 1 + 2 + 2 + message.utf8.count + r.payload.readableBytes
            }
        case .ping, .pong: body = 8
        }
        return BusWire.lengthFieldSize + BusWire.headerSize + body
    }

    private static func writeString(_ s: String, into buffer: inout ByteBuffer) {
        let count = s.utf8.count
        precondition(count <= Int(UInt16.max), "bus string field too long: \(count) bytes")
        buffer.writeInteger(UInt16(count))
        buffer.writeString(s)
    }
}

/// ``BusFrameEncoder`` as a NIO `MessageToByteEncoder`.
public struct BusFrameNIOEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = BusFrame
    public init() {}
    public func encode(data: BusFrame, out: inout ByteBuffer) throws {
        BusFrameEncoder.encode(data, into: &out)
    }
}
