import BrokerTestKit
import MQTTCodec
import NIOCore
import Testing

/// The case of an ``MQTTCodecError`` without its payload, for assertions.
enum ErrorKind: Equatable, CustomStringConvertible {
    case malformed, protocolError, packetTooLarge, unsupportedProtocolVersion

    init(_ error: MQTTCodecError) {
        switch error {
        case .malformed: self = .malformed
        case .protocolError: self = .protocolError
        case .packetTooLarge: self = .packetTooLarge
        case .unsupportedProtocolVersion: self = .unsupportedProtocolVersion
        }
    }

    var description: String {
        switch self {
        case .malformed: return "malformed"
        case .protocolError: return "protocolError"
        case .packetTooLarge: return "packetTooLarge"
        case .unsupportedProtocolVersion: return "unsupportedProtocolVersion"
        }
    }
}

extension MQTTCodecError {
    var message: String {
        switch self {
        case .malformed(let m), .protocolError(let m): return m
        case .packetTooLarge(let size, let limit): return "size \(size) limit \(limit)"
        case .unsupportedProtocolVersion(let v): return "level \(v)"
        }
    }
}

/// Which role decodes a packet type in tests: the side that receives it.
func receiverRole(of packet: MQTTPacket) -> MQTTDecoder.Role {
    switch packet {
    case .connack, .suback, .unsuback, .pingresp: return .client
    default: return .server
    }
}

/// Decodes every packet in `bytes`; fails if bytes are left over.
func decodeAll(_ bytes: [UInt8], decoder: inout MQTTDecoder) throws(MQTTCodecError) -> [MQTTPacket] {
    var buffer = bytes.byteBuffer
    var out: [MQTTPacket] = []
    while let packet = try decoder.decode(&buffer) { out.append(packet) }
    #expect(buffer.readableBytes == 0, "bytes left after decoding")
    return out
}

/// Feeds `bytes` in chunks of `chunk` bytes into one accumulating buffer, like a socket would.
func decodeDripped(_ bytes: [UInt8], chunk: Int, decoder: inout MQTTDecoder) throws(MQTTCodecError) -> [MQTTPacket] {
    var buffer = ByteBuffer()
    var out: [MQTTPacket] = []
    var i = 0
    while i < bytes.count {
        let end = min(i + chunk, bytes.count)
        buffer.writeBytes(bytes[i..<end])
        i = end
        while true {
            let before = buffer.readerIndex
            guard let packet = try decoder.decode(&buffer) else {
                #expect(buffer.readerIndex == before, "nil must leave the reader index untouched")
                break
            }
            out.append(packet)
        }
    }
    #expect(buffer.readableBytes == 0)
    return out
}

/// Encodes then decodes `packet` with the receiver's decoder, and expects the same packet with nothing left over.
func expectRoundTrip(_ packet: MQTTPacket, _ version: ProtocolVersion,
                     sourceLocation: SourceLocation = #_sourceLocation) {
    var buffer = ByteBuffer()
    MQTTEncoder.encode(packet, version: version, into: &buffer)
    var decoder = MQTTDecoder(role: receiverRole(of: packet), version: version)
    do {
        let decoded = try decoder.decode(&buffer)
        #expect(decoded == packet, sourceLocation: sourceLocation)
        #expect(buffer.readableBytes == 0, sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(packet.type) \(version) round trip threw \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects decoding `bytes` to throw an error of `kind` whose message cites `cite` (when given).
/// Packets before the failing one must decode.
func expectFailure(
    _ bytes: [UInt8], _ kind: ErrorKind, cites cite: String? = nil, role: MQTTDecoder.Role = .server,
    version: ProtocolVersion? = .v5, maxPacketSize: Int = 268_435_460,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    var decoder = MQTTDecoder(role: role, maxPacketSize: maxPacketSize, version: version)
    var buffer = bytes.byteBuffer
    do {
        while try decoder.decode(&buffer) != nil {}
        Issue.record("expected \(kind), but decoding succeeded or wanted more bytes", sourceLocation: sourceLocation)
    } catch {
        #expect(ErrorKind(error) == kind, "got \(error)", sourceLocation: sourceLocation)
        if let cite {
            #expect(error.message.contains(cite), "message \"\(error.message)\" should cite \(cite)",
                    sourceLocation: sourceLocation)
        }
    }
}

/// Decodes exactly one packet from `bytes`, expecting success.
func decodeOne(_ bytes: [UInt8], role: MQTTDecoder.Role = .server, version: ProtocolVersion? = .v5,
               sourceLocation: SourceLocation = #_sourceLocation) -> MQTTPacket? {
    var decoder = MQTTDecoder(role: role, version: version)
    do {
        let packets = try decodeAll(bytes, decoder: &decoder)
        #expect(packets.count == 1, sourceLocation: sourceLocation)
        return packets.first
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Raw property bytes helper: `prop(0x11, Wire().u32(10))`.
func prop(_ id: UInt8, _ value: Wire) -> [UInt8] { [id] + value.bytes }

/// Shorthand for a buffer holding `s` as UTF-8.
func buf(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }
