import BrokerTestKit
import ClusterState
import LZ4
import Testing

@Suite("LZ4 frame")
struct LZ4FrameTests {
    static let telemetry: [UInt8] = Array(
        String(repeating: #"{"deviceId":"lamp-1","temperature":21.5,"humidity":40}"#, count: 2_000).utf8)

    @Test("round trip: empty, small, repetitive, random, and a real snapshot")
    func roundTrip() throws {
        var rng = SplitMix64(seed: 42)
        let random = (0..<100_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        for input in [[], [7], Self.telemetry, random, h.state.snapshot()] {
            let frame = try LZ4Frame.compress(input)
            #expect(Array(frame.prefix(4)) == [0x04, 0x22, 0x4D, 0x18])  // LZ4 frame magic
            #expect(try LZ4Frame.decompress(frame) == input)
        }
        #expect(try LZ4Frame.compress(Self.telemetry).count < Self.telemetry.count / 5)
    }

    @Test("a truncated frame is refused")
    func truncated() throws {
        let frame = try LZ4Frame.compress(Self.telemetry)
        for cut in [0, 3, 7, frame.count / 2, frame.count - 1] {
            #expect(throws: LZ4FrameError.self) { try LZ4Frame.decompress(Array(frame.prefix(cut))) }
        }
        #expect(throws: LZ4FrameError.truncated) { try LZ4Frame.decompress(Array(frame.prefix(frame.count - 1))) }
    }

    @Test("corrupt frames and trailing bytes are refused")
    func corrupt() throws {
        var frame = try LZ4Frame.compress(Self.telemetry)
        #expect(throws: LZ4FrameError.self) { try LZ4Frame.decompress(Array("not lz4 at all".utf8)) }
        #expect(throws: LZ4FrameError.self) { try LZ4Frame.decompress(frame + [1, 2, 3]) }
        frame[frame.count / 2] ^= 0xFF  // the content checksum catches what the block format does not
        #expect(throws: LZ4FrameError.self) { try LZ4Frame.decompress(frame) }
    }

    @Test("random garbage never traps")
    func garbage() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            var bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if bytes.count >= 4 && rng.next() % 2 == 0 { bytes.replaceSubrange(0..<4, with: [0x04, 0x22, 0x4D, 0x18]) }
            _ = try? LZ4Frame.decompress(bytes, maxSize: 1 << 20)
        }
    }

    @Test("the decompressed-size cap refuses a bomb: 64 MiB of zeros in a small frame")
    func sizeCap() throws {
        let bomb = try LZ4Frame.compress([UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 300_000)
        #expect(throws: LZ4FrameError.tooLarge(limit: 1 << 20)) { try LZ4Frame.decompress(bomb, maxSize: 1 << 20) }
        let exact = try LZ4Frame.compress(Self.telemetry)
        #expect(try LZ4Frame.decompress(exact, maxSize: Self.telemetry.count) == Self.telemetry)
        #expect(throws: LZ4FrameError.tooLarge(limit: Self.telemetry.count - 1)) {
            try LZ4Frame.decompress(exact, maxSize: Self.telemetry.count - 1)
        }
    }
}
