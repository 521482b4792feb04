import MQTTCodec
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Property test: for random valid packets, decode(encode(p)) == p, however the bytes are split.
/// The seed comes from `MQTT_CODEC_SEED` when set (to replay a failure), otherwise it is random and printed in
/// every failure message.
@Suite("Randomized round trip")
struct RandomizedRoundTripTests {
    static let iterations = 2_000

    static func seed() -> UInt64 {
        if let text = Environment.get("MQTT_CODEC_SEED"), let seed = UInt64(text) { return seed }
        return UInt64.random(in: 0...UInt64.max)
    }

    @Test("random packets round-trip, one at a time and split at random points",
          arguments: [ProtocolVersion.v311, .v5])
    func randomPackets(version: ProtocolVersion) {
        let seed = Self.seed()
        var gen = PacketGenerator(seed: seed, version: version)
        let replay = "replay with MQTT_CODEC_SEED=\(seed) (\(version))"
        for i in 0..<Self.iterations {
            let packet = gen.packet()
            var encoded = ByteBuffer()
            MQTTEncoder.encode(packet, version: version, into: &encoded)
            let bytes = Array(encoded.readableBytesView)
            let split = gen.int(0...bytes.count)
            var decoder = MQTTDecoder(role: receiverRole(of: packet), version: version)
            do {
                var buffer = ByteBuffer(bytes: bytes[..<split])
                var decoded = split == bytes.count ? try decoder.decode(&buffer) : nil
                if split < bytes.count {
                    #expect(try decoder.decode(&buffer) == nil, "\(replay), iteration \(i)")
                    buffer.writeBytes(bytes[split...])
                    decoded = try decoder.decode(&buffer)
                }
                guard decoded == packet && buffer.readableBytes == 0 else {
                    Issue.record("\(replay), iteration \(i): \(packet) decoded as \(String(describing: decoded))")
                    return
                }
            } catch {
                Issue.record("\(replay), iteration \(i): \(packet) threw \(error)")
                return
            }
        }
    }

    @Test("a coalesced stream of random packets decodes in order", arguments: [ProtocolVersion.v311, .v5])
    func randomStream(version: ProtocolVersion) throws {
        let seed = Self.seed()
        var gen = PacketGenerator(seed: seed, version: version)
        for role in [MQTTDecoder.Role.server, .client] {
            var packets: [MQTTPacket] = []
            while packets.count < 300 {
                let p = gen.packet()
                if receiverRole(of: p) == role { packets.append(p) }
            }
            let connect = MQTTPacket.connect(gen.connect())
            if role == .server { packets.insert(connect, at: 0) }
            var buffer = ByteBuffer()
            for p in packets { MQTTEncoder.encode(p, version: version, into: &buffer) }
            var decoder = MQTTDecoder(role: role, version: role == .server ? nil : version)
            var decoded: [MQTTPacket] = []
            while let p = try decoder.decode(&buffer) { decoded.append(p) }
            #expect(decoded == packets, "replay with MQTT_CODEC_SEED=\(seed) (\(version), \(role))")
        }
    }
}

/// Reads environment variables without Foundation.
enum Environment {
    static func get(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }
}
