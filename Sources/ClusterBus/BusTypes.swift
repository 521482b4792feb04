import BusProtocol
import NIOCore

/// The node at the other end of an inbound connection, as it named itself in its hello.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public let nodeID: String
    public init(_ nodeID: String) { self.nodeID = nodeID }
    public var description: String { nodeID }
}

/// Where a peer's bus listens.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { "\(host):\(port)" }
}

/// A request handler's answer. Error codes from `0xFF00` up are the bus's own (``BusStatus/reservedCodes``).
public enum BusReply: Sendable {
    case ok(ByteBuffer)
    case error(code: UInt16, message: String)
}

/// Serves the requests peers send: `(caller, kind, payload) → reply`. Runs in its own task, many at once per
/// connection; it cannot kill the connection, only answer with an error. A request whose connection closes is
/// cancelled (the answer could not be delivered anyway).
public typealias BusRequestHandler = @Sendable (PeerID, _ kind: UInt16, _ payload: ByteBuffer) async -> BusReply

/// Why ``ClusterBus/request(to:kind:payload:timeout:)`` failed. Whether the peer may have handled the
/// request matters to callers that retry: it may have for `timeout`, `connectionLost` and `cancelled`; it did not
/// for `unreachable`, `overloaded`, `payloadTooLarge` and a local `shuttingDown`.
public enum BusError: Error, Hashable, Sendable {
    /// No answer within the timeout.
    case timeout
    /// The connection closed after the request was handed to it and before the answer came.
    case connectionLost
    /// The connection to the peer could not be set up; the request was not sent.
    case unreachable
    /// Too many requests pending to this peer (locally), or in flight on the peer's side of the connection.
    case overloaded
    /// This bus is shutting down (or the peer answered that it is).
    case shuttingDown
    /// The calling task was cancelled.
    case cancelled
    /// The request does not fit in a frame.
    case payloadTooLarge(size: Int, limit: Int)
    /// The handler's answer did not fit in a frame.
    case responseTooLarge(String)
    /// The handler answered with an error.
    case remote(code: UInt16, message: String)
}
