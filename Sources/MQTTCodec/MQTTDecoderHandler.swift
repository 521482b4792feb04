import NIOCore

/// ``MQTTDecoder`` as a NIO decoder: wrap it in `ByteToMessageHandler` for a pipeline, or drive it with
/// `NIOSingleStepByteToMessageProcessor` in tests, fuzzers and async code. Errors are thrown as ``MQTTCodecError``.
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = MQTTPacket

    /// The wrapped parser; its ``MQTTDecoder/version`` is set by the first CONNECT in the server role.
    public var decoder: MQTTDecoder

    public init(decoder: MQTTDecoder) { self.decoder = decoder }

    /// Convenience for ``MQTTDecoder/init(role:maxPacketSize:version:)``.
    public init(role: MQTTDecoder.Role, maxPacketSize: Int = 268_435_460, version: ProtocolVersion? = nil) {
        self.decoder = MQTTDecoder(role: role, maxPacketSize: maxPacketSize, version: version)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        try decoder.decode(&buffer)
    }

    /// Decodes what is complete; a truncated packet at EOF is left in the buffer (NIO reports it as left-over data).
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        try decoder.decode(&buffer)
    }
}

/// ``MQTTEncoder`` as a NIO `MessageToByteEncoder` for one protocol version (used by tests and the benchmark client;
/// the broker picks the version per connection once CONNECT has been read).
public struct MQTTPacketEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = MQTTPacket

    /// The protocol version packets are encoded for.
    public var version: ProtocolVersion

    public init(version: ProtocolVersion) { self.version = version }

    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        MQTTEncoder.encode(data, version: version, into: &out)
    }
}
