import NIOCore

/// Incremental cluster-bus frame parser: a pure value type with no I/O.
///
/// `decode` returns one frame from the front of `buffer` and moves the reader index past it, or returns nil and
/// leaves the reader index where it was when more bytes are needed. The header is re-read on each call, so the
/// decoder holds no per-frame state and any split of a stream yields the same frames and the same errors.
///
/// Everything the header can tell is checked as soon as its bytes are there, in wire order, before the body is
/// buffered: the length against ``maxFrameSize``, the magic, the version, the type and the flags. Request and
/// response payloads are `getSlice` slices of the input (no copy); copy them before keeping them for long.
public struct BusFrameDecoder: Sendable {
    /// Largest accepted frame, length prefix included.
    public var maxFrameSize: Int

    public init(maxFrameSize: Int = BusWire.defaultMaxFrameSize) {
        precondition(maxFrameSize >= BusWire.lengthFieldSize + BusWire.headerSize, "maxFrameSize too small")
        self.maxFrameSize = maxFrameSize
    }

    /// Decodes the next frame, or returns nil (reader index untouched) when it is not complete. After a thrown error
    /// the connection must be closed; the buffer is left as it was.
    public func decode(_ buffer: inout ByteBuffer) throws(BusProtocolError) -> BusFrame? {
        let start = buffer.readerIndex
        guard let length = buffer.getInteger(at: start, as: UInt32.self) else { return nil }
        let size = BusWire.lengthFieldSize + Int(length)
        guard size <= maxFrameSize else { throw .frameTooLarge(size: size, limit: maxFrameSize) }
        guard Int(length) >= BusWire.headerSize else {
            throw .malformed("length \(length) is shorter than the \(BusWire.headerSize)-byte header")
        }
        let h = start + BusWire.lengthFieldSize
        guard let magic = buffer.getInteger(at: h, as: UInt16.self) else { return nil }
        guard magic == BusWire.magic else { throw .badMagic(magic) }
        guard let version = buffer.getInteger(at: h + 2, as: UInt8.self) else { return nil }
        guard version == BusWire.version else { throw .unsupportedVersion(version) }
        guard let typeByte = buffer.getInteger(at: h + 3, as: UInt8.self) else { return nil }
        guard let type = BusFrameType(rawValue: typeByte) else { throw .unknownFrameType(typeByte) }
        guard let flagByte = buffer.getInteger(at: h + 4, as: UInt8.self) else { return nil }
        let flags = BusFlags(rawValue: flagByte)
        guard BusFlags.known.isSuperset(of: flags), type.carriesPayload || flags.isEmpty else {
            throw .invalidFlags(flagByte, frameType: typeByte)
        }
        guard buffer.readableBytes >= size else { return nil }

        var body = buffer.getSlice(at: h + BusWire.headerSize, length: Int(length) - BusWire.headerSize)!
        let frame = try Self.decodeBody(type: type, flags: flags, body: &body)
        buffer.moveReaderIndex(forwardBy: size)
        return frame
    }

    private static func decodeBody(type: BusFrameType, flags: BusFlags, body: inout ByteBuffer)
        throws(BusProtocolError) -> BusFrame
    {
        let frame: BusFrame
        switch type {
        case .hello:
            let nodeID = try readString(&body, field: "hello node id")
            let version = try read(UInt16.self, &body, field: "hello protocol version")
            frame = .hello(BusHello(nodeID: nodeID, protocolVersion: version))
        case .request:
            let id = try read(UInt64.self, &body, field: "request correlation id")
            let kind = try read(UInt16.self, &body, field: "request kind")
            frame = .request(BusRequest(correlationID: id, kind: kind, flags: flags, payload: rest(&body)))
        case .response:
            let id = try read(UInt64.self, &body, field: "response correlation id")
            let statusByte = try read(UInt8.self, &body, field: "response status")
            let status: BusStatus
            switch statusByte {
            case 0:
                status = .ok
            case 1:
                let code = try read(UInt16.self, &body, field: "response error code")
                status = .error(code: code, message: try readString(&body, field: "response error message"))
            default:
                throw .malformed("response status \(statusByte) is neither 0 (ok) nor 1 (error)")
            }
            frame = .response(BusResponse(correlationID: id, status: status, flags: flags, payload: rest(&body)))
        case .ping:
            frame = .ping(try read(UInt64.self, &body, field: "ping value"))
        case .pong:
            frame = .pong(try read(UInt64.self, &body, field: "pong value"))
        }
        guard body.readableBytes == 0 else {
            throw .malformed("\(body.readableBytes) unexpected byte(s) after the last field of \(type)")
        }
        return frame
    }

    @inline(__always)
    private static func read<I: FixedWidthInteger>(_: I.Type, _ body: inout ByteBuffer, field: String)
        throws(BusProtocolError) -> I
    {
        guard let v = body.readInteger(as: I.self) else { throw .malformed("\(field) truncated") }
        return v
    }

    private static func readString(_ body: inout ByteBuffer, field: String) throws(BusProtocolError) -> String {
        let length = Int(try read(UInt16.self, &body, field: "\(field) length"))
        guard let view = body.readSlice(length: length)?.readableBytesView else {
            throw .malformed("\(field) truncated: \(length) bytes announced, \(body.readableBytes) left")
        }
        guard let s = String(validating: view, as: UTF8.self) else { throw .malformed("\(field) is not UTF-8") }
        return s
    }

    private static func rest(_ body: inout ByteBuffer) -> ByteBuffer {
        body.readSlice(length: body.readableBytes)!
    }
}

/// ``BusFrameDecoder`` as a NIO decoder: wrap it in `ByteToMessageHandler` for a pipeline, or drive it with
/// `NIOSingleStepByteToMessageProcessor` in tests and fuzzers. Errors are thrown as ``BusProtocolError``.
extension BusFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = BusFrame

    public mutating func decode(buffer: inout ByteBuffer) throws -> BusFrame? {
        try decode(&buffer)
    }

    /// A truncated frame at EOF is left in the buffer (NIO reports it as left-over data).
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> BusFrame? {
        try decode(&buffer)
    }
}
