import NIOCore

/// Frame flags, carried on every frame. Only ``compressed`` is defined, and only on requests and responses; a set
/// reserved bit, or `compressed` on another frame type, is rejected by the decoder.
public struct BusFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The payload is LZ4-compressed. Carried, not interpreted: compression is the caller's business (for now).
    public static let compressed = BusFlags(rawValue: 0x01)
    /// Every bit the decoder accepts.
    public static let known: BusFlags = [.compressed]
}

/// The first frame on every connection, in both directions: who is speaking and which bus protocol (the meaning of
/// request kinds and payloads, not the frame layout, which is ``BusWire/version``) it speaks.
public struct BusHello: Hashable, Sendable {
    public var nodeID: String
    public var protocolVersion: UInt16
    public init(nodeID: String, protocolVersion: UInt16) {
        self.nodeID = nodeID
        self.protocolVersion = protocolVersion
    }
}

/// A request: `kind` says what the payload is; the answer carries the same `correlationID`.
public struct BusRequest: Hashable, Sendable {
    public var correlationID: UInt64
    public var kind: UInt16
    public var flags: BusFlags
    public var payload: ByteBuffer
    public init(correlationID: UInt64, kind: UInt16, flags: BusFlags = [], payload: ByteBuffer) {
        self.correlationID = correlationID
        self.kind = kind
        self.flags = flags
        self.payload = payload
    }
}

/// How a request went. Error codes at and above ``BusStatus/reservedCodes`` belong to the bus itself
/// (``BusStatus/Reserved``); handlers use codes below.
public enum BusStatus: Hashable, Sendable {
    case ok
    case error(code: UInt16, message: String)

    /// Codes the bus uses for its own answers.
    public static let reservedCodes: ClosedRange<UInt16> = 0xFF00...0xFFFF

    /// The bus's own error codes.
    public enum Reserved: UInt16, Sendable, CaseIterable {
        /// The receiving connection has too many requests in flight.
        case overloaded = 0xFF01
        /// The handler's answer does not fit in a frame.
        case responseTooLarge = 0xFF02
        /// The receiving node is shutting down.
        case shuttingDown = 0xFF03
    }
}

/// The answer to one ``BusRequest``.
public struct BusResponse: Hashable, Sendable {
    public var correlationID: UInt64
    public var status: BusStatus
    public var flags: BusFlags
    public var payload: ByteBuffer
    public init(correlationID: UInt64, status: BusStatus, flags: BusFlags = [], payload: ByteBuffer = ByteBuffer()) {
        self.correlationID = correlationID
        self.status = status
        self.flags = flags
        self.payload = payload
    }
}

/// One cluster-bus frame.
public enum BusFrame: Hashable, Sendable {
    case hello(BusHello)
    case request(BusRequest)
    case response(BusResponse)
    /// Liveness probe; answered with a ``pong`` carrying the same value.
    case ping(UInt64)
    case pong(UInt64)

    public var type: BusFrameType {
        switch self {
        case .hello: return .hello
        case .request: return .request
        case .response: return .response
        case .ping: return .ping
        case .pong: return .pong
        }
    }
}

/// Frame type byte.
public enum BusFrameType: UInt8, Hashable, Sendable, CaseIterable {
    case hello = 1
    case request = 2
    case response = 3
    case ping = 4
    case pong = 5

    /// Whether the ``BusFlags/compressed`` flag may be set on this type.
    var carriesPayload: Bool { self == .request || self == .response }
}

/// The frame layout:
///
/// ```
/// length  u32   bytes that follow (header + body), big-endian
/// magic   u16   0xF1B5
/// version u8    frame-format version (1)
/// type    u8    BusFrameType
/// flags   u8    BusFlags (bit 0 = payload LZ4-compressed; others reserved, must be 0)
/// body
///   hello:    nodeID (u16 length + UTF-8) | protocolVersion u16
///   request:  correlationID u64 | kind u16 | payload (rest of frame)
///   response: correlationID u64 | status u8 (0 ok, 1 error) [| code u16 | message (u16 length + UTF-8)]
///             | payload (rest of frame)
///   ping/pong: value u64
/// ```
/// Integers are big-endian. A frame's size (``BusFrameDecoder/maxFrameSize``) counts the length field too.
public enum BusWire {
    public static let magic: UInt16 = 0xF1B5
    public static let version: UInt8 = 1
    /// Length prefix.
    public static let lengthFieldSize = 4
    /// magic + version + type + flags.
    public static let headerSize = 5
    /// The default and the largest supported frame size (16 MiB).
    public static let defaultMaxFrameSize = 16 * 1024 * 1024
}
