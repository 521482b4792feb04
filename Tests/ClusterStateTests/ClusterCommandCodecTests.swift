import BrokerTestKit
import ClusterState
import Testing

@Suite("ClusterCommand codec")
struct ClusterCommandCodecTests {
    @Test("every command decodes to itself", arguments: everyCommand)
    func roundTrip(_ command: ClusterCommand) {
        let bytes = command.encoded()
        #expect(bytes.first == ClusterCommand.formatVersion)
        #expect(ClusterCommand.decode(bytes) == .success(command))
    }

    @Test("random commands round-trip")
    func randomRoundTrip() {
        let seed = testSeed()
        var gen = CommandGenerator(seed: seed)
        for i in 0..<2_000 {
            let c = gen.next(nowMs: Int64(i))
            #expect(ClusterCommand.decode(c.encoded()) == .success(c), "CLUSTER_SEED=\(seed) step \(i)")
        }
    }

    @Test("a future format version is refused as such, not guessed at")
    func futureVersion() {
        var bytes = ClusterCommand.createTenant(acme, name: "Acme").encoded()
        bytes[0] = ClusterCommand.formatVersion + 1
        #expect(ClusterCommand.decode(bytes) == .failure(.unsupportedCommandVersion(2)))
        var state = ClusterState()
        #expect(state.decodeAndApply(bytes, index: 7) == .failure(.unsupportedCommandVersion(2)))
        #expect(state.tenant(acme) == nil)
        #expect(state.lastAppliedIndex == 7)
    }

    @Test("empty, unknown tag, truncated and trailing bytes are malformed")
    func malformed() {
        #expect(ClusterCommand.decode([]) == .failure(.malformedCommand))
        #expect(ClusterCommand.decode([1]) == .failure(.malformedCommand))
        #expect(ClusterCommand.decode([1, 0]) == .failure(.malformedCommand))
        #expect(ClusterCommand.decode([1, 200]) == .failure(.malformedCommand))
        for command in everyCommand {
            let bytes = command.encoded()
            for cut in 1..<bytes.count {
                #expect(ClusterCommand.decode(Array(bytes.prefix(cut))) == .failure(.malformedCommand))
            }
            #expect(ClusterCommand.decode(bytes + [0]) == .failure(.malformedCommand))
        }
    }

    @Test("invalid UTF-8, a bad bool and an out-of-range QoS are malformed")
    func invalidFields() {
        // createTenant with a 1-byte account id 0xFF.
        #expect(ClusterCommand.decode([1, 1, 0, 0, 0, 1, 0xFF, 0, 0, 0, 0]) == .failure(.malformedCommand))
        var bytes = ClusterCommand.deleteThing(tenant: acme, thingName: "t", expectedVersion: nil).encoded()
        bytes[bytes.count - 1] = 2  // presence byte must be 0 or 1
        #expect(ClusterCommand.decode(bytes) == .failure(.malformedCommand))
        let retained = ClusterCommand.setRetained(.init(tenant: acme, topic: "t", payload: [9], qos: .atMostOnce))
        bytes = retained.encoded()
        let qosAt = 2 + 4 + 12 + 4 + 1 + 4 + 1
        #expect(bytes[qosAt] == 0)
        bytes[qosAt] = 3
        #expect(ClusterCommand.decode(bytes) == .failure(.malformedCommand))
    }

    @Test("a huge length prefix is refused without allocating")
    func hugeLength() {
        #expect(ClusterCommand.decode([1, 1, 0xFF, 0xFF, 0xFF, 0xFF]) == .failure(.malformedCommand))
    }

    @Test("random garbage and mutated commands never trap")
    func garbage() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        var state = ClusterState()
        for i in 0..<5_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if !bytes.isEmpty && rng.next() % 2 == 0 { bytes[0] = 1 }  // reach past the version check
            } else {
                bytes = everyCommand[Int(rng.next() % UInt64(everyCommand.count))].encoded()
                for _ in 0..<1 + Int(rng.next() % 3) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            let outcome = state.decodeAndApply(bytes, index: UInt64(i + 1))
            // Whatever the bytes were, the answer agrees with decoding them.
            if case .failure(let e) = ClusterCommand.decode(bytes) {
                #expect(outcome == .failure(e), "CLUSTER_SEED=\(seed) step \(i)")
            }
        }
        #expect(state.lastAppliedIndex == 5_000)
    }

    @Test("a batch inside a batch is malformed on the wire")
    func nestedBatchOnTheWire() {
        let inner = ClusterCommand.batch([.clearRetained(tenant: acme, topic: "x")]).encoded()
        var w: [UInt8] = [ClusterCommand.formatVersion, 11, 0, 0, 0, 1]
        w += [UInt8(0), 0, 0, UInt8(inner.count)] + inner
        #expect(ClusterCommand.decode(w) == .failure(.malformedCommand))
        // The same frame with a plain member decodes.
        let plain = ClusterCommand.clearRetained(tenant: acme, topic: "x").encoded()
        let ok: [UInt8] = [ClusterCommand.formatVersion, 11, 0, 0, 0, 1, 0, 0, 0, UInt8(plain.count)] + plain
        #expect(ClusterCommand.decode(ok) == .success(.batch([.clearRetained(tenant: acme, topic: "x")])))
    }
}
