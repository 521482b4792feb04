import Testing

@testable import Gossip

@Suite struct CodecTests {
    static let items: [WireItem] = [
        .alive(node: 7, incarnation: 3, address: GossipAddress(host: "192.168.1.20", port: 7946)),
        .suspect(node: 8, incarnation: 1, from: 2),
        .dead(node: .max, incarnation: .max, from: 0),
        .left(node: 9, incarnation: 4),
        .app(origin: 5, epoch: 77, seq: 12, key: [1, 2, 3], bytes: Array(repeating: 0xAB, count: 300)),
        .app(origin: 5, epoch: 77, seq: 13, key: nil, bytes: []),
        .alive(node: 1, incarnation: 0, address: GossipAddress(host: "nœud-é", port: 1)),
    ]
    static let messages: [WireMessage] = [
        .ping(seq: 1, sender: 2, target: 3),
        .pingReq(seq: .max, sender: 2, target: 3, targetAddress: GossipAddress(host: "::1", port: 65535)),
        .ack(seq: 9, sender: 4),
        .nack(seq: 10, sender: 5),
        .gossip(sender: 6),
    ]

    @Test func datagramsRoundTrip() {
        for message in Self.messages {
            for n in 0...Self.items.count {
                let d = WireDatagram(message: message, items: Array(Self.items.prefix(n)))
                #expect(GossipWire.decodeDatagram(GossipWire.encode(d)) == .success(d))
            }
        }
    }

    @Test func pushPullRoundTrips() {
        let p = WirePushPull(
            isReply: true, sender: 3, senderAddress: GossipAddress(host: "h", port: 2), join: true,
            members: [
                WireMemberDigest(node: 1, incarnation: 2, state: .suspect, address: GossipAddress(host: "a", port: 1)),
                WireMemberDigest(node: 4, incarnation: 0, state: .left, address: GossipAddress(host: "b", port: 9)),
            ],
            appState: [1, 2, 3, 4])
        #expect(GossipWire.decodePushPull(GossipWire.encode(p)) == .success(p))
        var q = p
        q.isReply = false
        q.members = []
        q.appState = []
        #expect(GossipWire.decodePushPull(GossipWire.encode(q)) == .success(q))
    }

    @Test func strictErrors() {
        #expect(GossipWire.decodeDatagram([]) == .failure(.truncated))
        #expect(GossipWire.decodeDatagram([2, 1]) == .failure(.unsupportedVersion(2)))
        #expect(GossipWire.decodeDatagram([1, 99]) == .failure(.unknownMessageType(99)))
        #expect(GossipWire.decodeDatagram(GossipWire.encode(.gossip(sender: 1)) + [42]) == .failure(.unknownItemTag(42)))
        // An address with an empty host, then one that is not UTF-8.
        #expect(GossipWire.decodeDatagram([1, 5, 0, 0, 0, 0, 0, 0, 0, 1, 1] + [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == .failure(.invalidHost))
        var bad = GossipWire.encode(.gossip(sender: 1))
        bad += [1] + [UInt8](repeating: 0, count: 16) + [2, 0xC3, 0x28, 0, 1]
        #expect(GossipWire.decodeDatagram(bad) == .failure(.invalidHost))
        // A push/pull whose member count promises more than there is.
        var pp = GossipWire.encode(WirePushPull(isReply: false, sender: 1, senderAddress: addr(1), join: false, members: [], appState: []))
        let countAt = pp.count - 8
        pp[countAt] = 0xFF
        #expect(GossipWire.decodePushPull(pp) == .failure(.lengthOutOfRange))
        let ok = GossipWire.encode(WirePushPull(isReply: false, sender: 1, senderAddress: addr(1), join: false, members: [], appState: []))
        #expect(GossipWire.decodePushPull(ok + [0]) == .failure(.trailingBytes))
    }

    /// Every proper prefix of a datagram either decodes (when it ends between items) or is `truncated`; every
    /// proper prefix of a push/pull payload is an error.
    @Test func truncationsAreErrorsNotCrashes() {
        let d = GossipWire.encode(WireDatagram(message: Self.messages[1], items: Self.items))
        var boundaries: Set<Int> = [GossipWire.encode(Self.messages[1]).count]
        var at = boundaries.first!
        for item in Self.items {
            at += GossipWire.encode(item).count
            boundaries.insert(at)
        }
        for n in 0..<d.count {
            switch GossipWire.decodeDatagram(Array(d.prefix(n))) {
            case .success(let decoded): #expect(boundaries.contains(n), "prefix \(n) decoded to \(decoded)")
            case .failure(let e): #expect(e == .truncated || e == .invalidHost, "prefix \(n): \(e)")
            }
        }
        let p = GossipWire.encode(
            WirePushPull(
                isReply: true, sender: 3, senderAddress: addr(3), join: false,
                members: [WireMemberDigest(node: 1, incarnation: 2, state: .alive, address: addr(1))], appState: [9, 9]))
        for n in 0..<p.count {
            if case .success = GossipWire.decodePushPull(Array(p.prefix(n))) { Issue.record("prefix \(n) decoded") }
        }
    }

    /// Random bytes, and valid datagrams with random bytes flipped: decoding returns (an error or a message),
    /// and a member fed them counts the failures and keeps going.
    @Test func fuzzedInputNeverCrashes() {
        var rng = GossipRNG(seed: 2024)
        var m = GossipMembership(id: 1, address: addr(1), seeds: [], rngSeed: 1, app: NoApp())
        var failures: UInt64 = 0
        let valid = GossipWire.encode(WireDatagram(message: Self.messages[0], items: Self.items))
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if i % 4 == 0, !bytes.isEmpty { bytes[0] = 1 }
            } else {
                bytes = valid
                for _ in 0..<3 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            if case .failure = GossipWire.decodeDatagram(bytes) { failures += 1 }
            _ = GossipWire.decodePushPull(bytes)
            _ = m.receive(datagram: bytes, from: addr(9), now: UInt64(i))
        }
        #expect(failures > 0)
        #expect(m.counters.malformed == failures)
        #expect(m.counters.datagramsReceived == 20_000)
        let (reply, _) = m.handlePushPull(request: [1, 16, 0], from: addr(9), now: 1)
        #expect(reply == nil)
        #expect(m.counters.lastDecodeError == .truncated)
    }
}
