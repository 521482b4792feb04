import BrokerTestKit
import MQTTCodec
import NIOCore
import NIOTestUtils
import Testing

@Suite("Incremental decoding: any split of the stream gives the same packets")
struct DripFeedTests {
    /// The samples a `role` decoder receives, each with its encoding.
    static func stream(_ version: ProtocolVersion, role: MQTTDecoder.Role) -> [(MQTTPacket, [UInt8])] {
        Samples.all(version).filter { receiverRole(of: $0) == role }.map { packet in
            var b = ByteBuffer()
            MQTTEncoder.encode(packet, version: version, into: &b)
            return (packet, Array(b.readableBytesView))
        }
    }

    @Test("server stream (CONNECT first) fed in chunks of 1, 2, 3, 7, 64 bytes and all at once",
          arguments: [ProtocolVersion.v311, .v5])
    func serverChunks(version: ProtocolVersion) throws {
        let items = Self.stream(version, role: .server)
        #expect(items.first?.0.type == .connect)
        let bytes = items.flatMap(\.1)
        for chunk in [1, 2, 3, 7, 64, bytes.count] {
            var decoder = MQTTDecoder(role: .server)
            #expect(try decodeDripped(bytes, chunk: chunk, decoder: &decoder) == items.map(\.0), "chunk \(chunk)")
            #expect(decoder.version == version)
        }
    }

    @Test("client stream fed in chunks", arguments: [ProtocolVersion.v311, .v5])
    func clientChunks(version: ProtocolVersion) throws {
        let items = Self.stream(version, role: .client)
        let bytes = items.flatMap(\.1)
        for chunk in [1, 5, bytes.count] {
            var decoder = MQTTDecoder(role: .client, version: version)
            #expect(try decodeDripped(bytes, chunk: chunk, decoder: &decoder) == items.map(\.0), "chunk \(chunk)")
        }
    }

    @Test("every two-way split of a coalesced stream", arguments: [ProtocolVersion.v311, .v5])
    func everySplit(version: ProtocolVersion) throws {
        // Small packets only, so that the quadratic number of splits stays cheap.
        let items = Self.stream(version, role: .server).filter { $0.1.count < 400 }
        let bytes = items.flatMap(\.1)
        for split in 0...bytes.count {
            var decoder = MQTTDecoder(role: .server)
            var buffer = ByteBuffer(bytes: bytes[..<split])
            var out: [MQTTPacket] = []
            while let p = try decoder.decode(&buffer) { out.append(p) }
            buffer.writeBytes(bytes[split...])
            while let p = try decoder.decode(&buffer) { out.append(p) }
            #expect(out == items.map(\.0), "split at \(split)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test("ByteToMessageDecoderVerifier: drip-fed, shuffled and coalesced",
          arguments: [ProtocolVersion.v311, .v5], [MQTTDecoder.Role.server, .client])
    func nioVerifier(version: ProtocolVersion, role: MQTTDecoder.Role) throws {
        let pairs = Self.stream(version, role: role).filter { $0.1.count < 2_000 }.map { packet, bytes in
            (ByteBuffer(bytes: bytes), [packet])
        }
        // The verifier shuffles inputs, so the server decoder starts with a known version instead of a CONNECT.
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            MQTTPacketDecoder(role: role, version: version)
        }
    }

    @Test("NIOSingleStepByteToMessageProcessor with MQTTPacketDecoder and MQTTPacketEncoder")
    func singleStepProcessor() throws {
        let items = Self.stream(.v5, role: .server)
        let encoder = MQTTPacketEncoder(version: .v5)
        var bytes = ByteBuffer()
        for (packet, _) in items { try encoder.encode(data: packet, out: &bytes) }
        #expect(Array(bytes.readableBytesView) == items.flatMap(\.1))

        let processor = NIOSingleStepByteToMessageProcessor(MQTTPacketDecoder(role: .server))
        var out: [MQTTPacket] = []
        while bytes.readableBytes > 0 {
            let chunk = bytes.readSlice(length: min(13, bytes.readableBytes))!
            try processor.process(buffer: chunk) { out.append($0) }
        }
        try processor.finishProcessing(seenEOF: true) { out.append($0) }
        #expect(out == items.map(\.0))
    }

    @Test("a partial header or body returns nil and keeps the reader index")
    func partialReturnsNil() throws {
        let bytes = PacketBytes.publish(version: .v311, topic: "t", payload: Array(repeating: 1, count: 200))
        var decoder = MQTTDecoder(role: .server, version: .v311)
        for n in [0, 1, 2, 3, bytes.count - 1] {
            var buffer = ByteBuffer(bytes: bytes[..<n])
            #expect(try decoder.decode(&buffer) == nil)
            #expect(buffer.readerIndex == 0 && buffer.readableBytes == n)
        }
    }
}
