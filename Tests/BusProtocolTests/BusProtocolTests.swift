import BrokerTestKit
import BusProtocol
import NIOCore
import NIOTestUtils
import Testing

/// One of every frame shape (and the edge cases of each).
let samples: [BusFrame] = [
    .hello(BusHello(nodeID: "n1", protocolVersion: 1)),
    .hello(BusHello(nodeID: "", protocolVersion: .max)),
    .hello(BusHello(nodeID: "nœud-ü-🚀", protocolVersion: 7)),
    .request(BusRequest(correlationID: 1, kind: 3, payload: ByteBuffer(string: "propose"))),
    .request(BusRequest(correlationID: .max, kind: .max, flags: .compressed, payload: ByteBuffer())),
    .request(BusRequest(correlationID: 42, kind: 0, payload: ByteBuffer(bytes: (0..<3_000).map { UInt8($0 & 0xFF) }))),
    .response(BusResponse(correlationID: 1, status: .ok, payload: ByteBuffer(string: "applied"))),
    .response(BusResponse(correlationID: 2, status: .ok)),
    .response(BusResponse(correlationID: 3, status: .error(code: 7, message: "not leader"),
                          payload: ByteBuffer(string: "leader=n2"))),
    .response(BusResponse(correlationID: 4, status: .error(code: 0xFF01, message: ""), flags: .compressed)),
    .ping(0),
    .pong(.max),
]

func encode(_ frames: [BusFrame]) -> ByteBuffer {
    var b = ByteBuffer()
    for f in frames { BusFrameEncoder.encode(f, into: &b) }
    return b
}

/// Feeds `bytes` in chunks of `chunk` bytes, decoding after each; returns the frames.
func decodeDripped(_ bytes: [UInt8], chunk: Int, decoder: BusFrameDecoder = BusFrameDecoder())
    throws(BusProtocolError) -> [BusFrame]
{
    var buffer = ByteBuffer()
    var out: [BusFrame] = []
    var i = 0
    while i < bytes.count {
        buffer.writeBytes(bytes[i..<min(i + chunk, bytes.count)])
        i += chunk
        while let f = try decoder.decode(&buffer) { out.append(f) }
    }
    return out
}

func rejection(_ bytes: [UInt8], maxFrameSize: Int = 1_024) -> BusProtocolError? {
    var buffer = ByteBuffer(bytes: bytes)
    do {
        while try BusFrameDecoder(maxFrameSize: maxFrameSize).decode(&buffer) != nil {}
        return nil
    } catch {
        return error
    }
}

@Suite("BusProtocol: frame round trips")
struct RoundTripTests {
    @Test("every sample frame round-trips, and its size is what encodedSize says", arguments: samples)
    func roundTrip(frame: BusFrame) throws {
        var b = encode([frame])
        #expect(b.readableBytes == BusFrameEncoder.encodedSize(frame))
        #expect(try BusFrameDecoder().decode(&b) == frame)
        #expect(b.readableBytes == 0)
    }

    @Test("header layout: length, magic, version, type, flags")
    func layout() {
        let b = encode([.ping(0x0102_0304_0506_0708)])
        #expect(Array(b.readableBytesView) == [0, 0, 0, 13, 0xF1, 0xB5, 1, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test("drip-fed one byte at a time, in chunks, and coalesced: the same frames")
    func dripFeed() throws {
        let bytes = Array(encode(samples).readableBytesView)
        for chunk in [1, 2, 3, 7, 64, 1_000, bytes.count] {
            #expect(try decodeDripped(bytes, chunk: chunk) == samples, "chunk \(chunk)")
        }
    }

    @Test("a partial frame returns nil and keeps the reader index")
    func partial() throws {
        let bytes = Array(encode([samples[5]]).readableBytesView)
        for n in [0, 1, 3, 4, 5, 8, 9, 20, bytes.count - 1] {
            var b = ByteBuffer(bytes: bytes[..<n])
            #expect(try BusFrameDecoder().decode(&b) == nil)
            #expect(b.readerIndex == 0 && b.readableBytes == n)
        }
    }

    @Test("ByteToMessageDecoderVerifier: drip-fed, shuffled and coalesced")
    func nioVerifier() throws {
        let pairs = samples.map { (encode([$0]), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { BusFrameDecoder() }
    }

    @Test("NIOSingleStepByteToMessageProcessor with the NIO encoder")
    func processor() throws {
        var bytes = ByteBuffer()
        for f in samples { try BusFrameNIOEncoder().encode(data: f, out: &bytes) }
        let processor = NIOSingleStepByteToMessageProcessor(BusFrameDecoder())
        var out: [BusFrame] = []
        while bytes.readableBytes > 0 {
            try processor.process(buffer: bytes.readSlice(length: min(11, bytes.readableBytes))!) { out.append($0) }
        }
        try processor.finishProcessing(seenEOF: true) { out.append($0) }
        #expect(out == samples)
    }
}

@Suite("BusProtocol: rejections")
struct RejectionTests {
    @Test("oversize frames are rejected from the length prefix alone, before the body arrives")
    func oversize() {
        // 4 + 1_021 = 1_025 > 1_024: only the length field is present.
        #expect(rejection([0, 0, 0x03, 0xFD]) == .frameTooLarge(size: 1_025, limit: 1_024))
        #expect(rejection([0xFF, 0xFF, 0xFF, 0xFF]) == .frameTooLarge(size: 4 + Int(UInt32.max), limit: 1_024))
        // Exactly at the limit is fine.
        let big = BusFrame.request(BusRequest(correlationID: 1, kind: 1, payload: ByteBuffer(repeating: 9, count: 1_024 - 19)))
        #expect(BusFrameEncoder.encodedSize(big) == 1_024)
        #expect(rejection(Array(encode([big]).readableBytesView)) == nil)
    }

    @Test("bad magic, unknown version, unknown type, invalid flags, short length")
    func header() {
        #expect(rejection([0, 0, 0, 13, 0xF1, 0xB6]) == .badMagic(0xF1B6))
        #expect(rejection([0, 0, 0, 13, 0xF1, 0xB5, 2]) == .unsupportedVersion(2))
        #expect(rejection([0, 0, 0, 13, 0xF1, 0xB5, 1, 0]) == .unknownFrameType(0))
        #expect(rejection([0, 0, 0, 13, 0xF1, 0xB5, 1, 6]) == .unknownFrameType(6))
        #expect(rejection([0, 0, 0, 13, 0xF1, 0xB5, 1, 2, 0x02]) == .invalidFlags(0x02, frameType: 2))
        #expect(rejection([0, 0, 0, 13, 0xF1, 0xB5, 1, 4, 0x01]) == .invalidFlags(0x01, frameType: 4))  // ping
        if case .malformed = rejection([0, 0, 0, 4]) {} else { Issue.record("short length accepted") }
    }

    @Test("malformed bodies: truncated fields, leftovers, bad status, invalid UTF-8")
    func bodies() {
        func frame(type: UInt8, _ body: [UInt8]) -> [UInt8] {
            let n = UInt32(5 + body.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), 0xF1, 0xB5, 1, type, 0] + body
        }
        let cases: [[UInt8]] = [
            frame(type: 4, [1, 2, 3]),                        // ping truncated
            frame(type: 5, [0, 0, 0, 0, 0, 0, 0, 0, 9]),      // pong with a byte left over
            frame(type: 1, [0, 5, 0x61]),                     // hello id truncated
            frame(type: 1, [0, 1, 0xFF, 0, 1]),               // hello id not UTF-8
            frame(type: 1, [0, 1, 0x61, 0]),                  // hello version truncated
            frame(type: 2, [0, 0, 0, 0, 0, 0, 0, 1, 0]),      // request kind truncated
            frame(type: 3, [0, 0, 0, 0, 0, 0, 0, 1, 2]),      // response status 2
            frame(type: 3, [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]),   // error code truncated
            frame(type: 3, [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 3, 0x61]),  // error message truncated
        ]
        for bytes in cases {
            if case .malformed = rejection(bytes) {} else { Issue.record("\(bytes) → \(String(describing: rejection(bytes)))") }
            // The same verdict however the bytes arrive.
            for chunk in 1...3 {
                var got: BusProtocolError?
                do { _ = try decodeDripped(bytes, chunk: chunk) } catch { got = error }
                #expect(got == rejection(bytes, maxFrameSize: BusWire.defaultMaxFrameSize), "chunk \(chunk)")
            }
        }
    }

    @Test("seeded random garbage: never crashes, verdict independent of the split, valid prefixes decoded")
    func garbage() {
        let seed = testSeed()
        print("BusProtocol garbage: BUS_SEED=\(seed)")
        var rng = SplitMix64(seed: seed)
        for _ in 0..<2_000 {
            var bytes: [UInt8] = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the time, start from a valid frame and corrupt it, so the body decoders get exercised too.
            if Bool.random(using: &rng) {
                bytes = Array(encode([samples.randomElement(using: &rng)!]).readableBytesView)
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            func outcome(_ chunk: Int) -> String {
                do { return "\(try decodeDripped(bytes, chunk: chunk, decoder: BusFrameDecoder(maxFrameSize: 4_096)))" }
                catch { return "error \(error)" }
            }
            let whole = outcome(max(bytes.count, 1))
            #expect(outcome(1) == whole, "BUS_SEED=\(seed): \(bytes)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh random seed, or `BUS_SEED` from the environment to replay a failure.
func testSeed() -> UInt64 {
    if let raw = getenv("BUS_SEED"), let seed = UInt64(String(cString: raw)) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

