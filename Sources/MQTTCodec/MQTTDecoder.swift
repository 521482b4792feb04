import NIOCore

/// Incremental MQTT packet parser (STUB: to be implemented). Contract:
/// - `decode` returns one packet from the front of `buffer` and moves the reader index past it, or returns nil
///   and leaves the reader index where it was when more bytes are needed.
/// - The maximum packet size is checked as soon as the Remaining Length is known, before the body is buffered.
public struct MQTTDecoder: Sendable {
    public enum Role: Sendable { case server, client }
    public let role: Role
    public var maxPacketSize: Int
    /// Server role: nil until a CONNECT has been decoded, then that CONNECT's version.
    public var version: ProtocolVersion?

    public init(role: Role, maxPacketSize: Int = 268_435_460, version: ProtocolVersion? = nil) {
        self.role = role
        self.maxPacketSize = maxPacketSize
        self.version = version
    }

    public mutating func decode(_ buffer: inout ByteBuffer) throws(MQTTCodecError) -> MQTTPacket? {
        fatalError("not implemented")
    }
}
