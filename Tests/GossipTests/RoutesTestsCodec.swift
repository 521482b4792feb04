@testable import Gossip
import IoTTypes
import Testing

@Suite("SubscriptionTable: wire formats")
struct RoutesCodecTests {
    static let delta = RouteDelta(
        owner: 0x0102_0304_0506_0708, version: RouteVersion(epoch: 1_700_000_000_000, seq: 42), operation: .remove,
        row: RouteRow(tenant: routesTenantA, filter: "$share/g/a/+/b"))

    @Test("a delta round-trips, byte for byte as documented")
    func deltaRoundTrip() throws {
        let bytes = RouteCodec.encode(Self.delta)
        #expect(Array(bytes.prefix(9)) == [1, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(bytes[25] == 2)  // operation after kind, owner, epoch, seq
        #expect(bytes.count == 1 + 8 + 8 + 8 + 1 + 1 + 12 + 2 + 14)
        #expect(try RouteCodec.decodeDelta(bytes) == Self.delta)
        var add = Self.delta
        add.operation = .add
        add.row = RouteRow(tenant: TenantID("t"), filter: "#")
        #expect(try RouteCodec.decodeDelta(RouteCodec.encode(add)) == add)
    }

    @Test("a push/pull state round-trips, rows grouped by tenant, digest-only entries included")
    func stateRoundTrip() throws {
        let blocks = [
            RouteStateBlock(owner: 1, version: RouteVersion(epoch: 5, seq: 0), rows: []),
            RouteStateBlock(owner: 2, version: RouteVersion(epoch: 5, seq: 9), rows: [
                RouteRow(tenant: routesTenantA, filter: "$share/g/x"),
                RouteRow(tenant: routesTenantA, filter: "a/#"),
                RouteRow(tenant: routesTenantB, filter: "+/+"),
            ]),
            RouteStateBlock(owner: 7, version: RouteVersion(epoch: 6, seq: 1), rows: nil),
        ]
        let bytes = RouteCodec.encode(state: blocks)
        #expect(try RouteCodec.decodeState(bytes) == blocks)
        #expect(try RouteCodec.decodeState(RouteCodec.encode(state: [])) == [])
        // A table's own state decodes to its rows, sorted.
        var table = SubscriptionTable(node: 3, epoch: 8)
        for filter in ["z", "a", "$share/q/m"] { table.addLocal(tenant: routesTenantB, filter: filter) }
        table.addLocal(tenant: routesTenantA, filter: "k")
        let decoded = try RouteCodec.decodeState(table.pushPullState())
        #expect(decoded == [RouteStateBlock(owner: 3, version: RouteVersion(epoch: 8, seq: 4), rows: table.rows(of: 3))])
    }

    @Test("every truncation of a valid delta or state is rejected as truncated")
    func truncations() {
        let delta = RouteCodec.encode(Self.delta)
        for length in 0..<delta.count {
            #expect(throws: RouteCodecError.truncated) { try RouteCodec.decodeDelta(Array(delta.prefix(length))) }
        }
        var table = SubscriptionTable(node: 3, epoch: 8)
        table.addLocal(tenant: routesTenantA, filter: "a/b")
        table.addLocal(tenant: routesTenantB, filter: "c")
        let state = table.pushPullState()
        for length in 0..<state.count {
            #expect(throws: RouteCodecError.truncated) { try RouteCodec.decodeState(Array(state.prefix(length))) }
        }
    }

    @Test("malformed deltas are rejected with the exact reason")
    func malformedDeltas() throws {
        let good = RouteCodec.encode(Self.delta)
        func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var bytes = good
            change(&bytes)
            return bytes
        }
        let cases: [([UInt8], RouteCodecError)] = [
            (good + [0], .trailingBytes(1)),
            (mutated { $0[0] = 2 }, .unknownKind(2)),
            (mutated { $0[0] = 0xFF }, .unknownKind(0xFF)),
            (mutated { $0[25] = 3 }, .unknownOperation(3)),
            (mutated { for i in 9..<17 { $0[i] = 0 } }, .invalidVersion),  // epoch 0
            (mutated { for i in 17..<25 { $0[i] = 0 } }, .invalidVersion),  // seq 0
            (mutated { $0[26] = 0 }, .invalidTenant),  // empty tenant (then the rest is garbage, never reached)
            (mutated { $0[27] = 0 }, .invalidTenant),  // NUL in the tenant
            (mutated { $0[27] = 0xFF }, .invalidTenant),  // not UTF-8
        ]
        for (bytes, error) in cases {
            #expect(throws: error) { try RouteCodec.decodeDelta(bytes) }
        }
        func withFilter(_ filter: [UInt8]) -> [UInt8] {
            Array(good.prefix(39)) + [UInt8(filter.count >> 8), UInt8(filter.count & 0xFF)] + filter
        }
        #expect(try RouteCodec.decodeDelta(withFilter(Array("$share/g/a/+/b".utf8))) == Self.delta)
        for bad in ["", "a/#/b", "a+", "$share/g/", "$share//a", "$share/g+/a", "a\u{0}b"] {
            #expect(throws: RouteCodecError.invalidFilter, "\(bad)") { try RouteCodec.decodeDelta(withFilter(Array(bad.utf8))) }
        }
        #expect(throws: RouteCodecError.invalidFilter) { try RouteCodec.decodeDelta(withFilter([0x61, 0xC3])) }
    }

    @Test("malformed push/pull states are rejected with the exact reason")
    func malformedStates() {
        var w = RouteBytesWriter()
        func header(_ owners: UInt32) -> RouteBytesWriter {
            var w = RouteBytesWriter()
            w.u8(2)
            w.u32(owners)
            return w
        }
        func owner(_ w: inout RouteBytesWriter, id: UInt64, epoch: UInt64 = 1, seq: UInt64 = 1, flag: UInt8) {
            w.u64(id)
            w.u64(epoch)
            w.u64(seq)
            w.u8(flag)
        }
        // Owners out of order, or repeated.
        w = header(2)
        owner(&w, id: 5, flag: 0)
        owner(&w, id: 5, flag: 0)
        #expect(throws: RouteCodecError.notAscending) { try RouteCodec.decodeState(w.bytes) }
        w = header(2)
        owner(&w, id: 5, flag: 0)
        owner(&w, id: 4, flag: 0)
        #expect(throws: RouteCodecError.notAscending) { try RouteCodec.decodeState(w.bytes) }
        // Epoch 0; an unknown flag.
        w = header(1)
        owner(&w, id: 5, epoch: 0, seq: 0, flag: 0)
        #expect(throws: RouteCodecError.invalidVersion) { try RouteCodec.decodeState(w.bytes) }
        w = header(1)
        owner(&w, id: 5, flag: 2)
        #expect(throws: RouteCodecError.invalidFlag(2)) { try RouteCodec.decodeState(w.bytes) }
        // Tenants out of order; an empty group; filters out of order or repeated; a bad filter.
        func rows(_ groups: [(String, [String])]) -> [UInt8] {
            var w = header(1)
            owner(&w, id: 5, flag: 1)
            w.u32(UInt32(groups.count))
            for (tenant, filters) in groups {
                w.tenant(TenantID(tenant))
                w.u32(UInt32(filters.count))
                for filter in filters { w.filter(filter) }
            }
            return w.bytes
        }
        #expect(throws: Never.self) { try RouteCodec.decodeState(rows([("a", ["x", "y"]), ("b", ["x"])])) }
        #expect(throws: RouteCodecError.notAscending) { try RouteCodec.decodeState(rows([("b", ["x"]), ("a", ["x"])])) }
        #expect(throws: RouteCodecError.notAscending) { try RouteCodec.decodeState(rows([("a", ["x"]), ("a", ["y"])])) }
        #expect(throws: RouteCodecError.emptyGroup) { try RouteCodec.decodeState(rows([("a", [])])) }
        #expect(throws: RouteCodecError.notAscending) { try RouteCodec.decodeState(rows([("a", ["y", "x"])])) }
        #expect(throws: RouteCodecError.notAscending) { try RouteCodec.decodeState(rows([("a", ["x", "x"])])) }
        #expect(throws: RouteCodecError.invalidFilter) { try RouteCodec.decodeState(rows([("a", ["#/x"])])) }
        #expect(throws: RouteCodecError.invalidTenant) { try RouteCodec.decodeState(rows([("", ["x"])])) }
        #expect(throws: RouteCodecError.trailingBytes(1)) { try RouteCodec.decodeState(rows([("a", ["x"])]) + [9]) }
        #expect(throws: RouteCodecError.unknownKind(1)) { try RouteCodec.decodeState(RouteCodec.encode(Self.delta)) }
        // A huge count with no bytes behind it fails fast as truncated (no allocation up front).
        #expect(throws: RouteCodecError.truncated) { try RouteCodec.decodeState(header(UInt32.max).bytes) }
    }

    @Test("a table counts malformed inputs, keeps the last reason, and changes nothing")
    func tableRejectsMalformed() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "a")
        b.receiveAll(a.takeDeltaBytes())
        let before = b.digest
        b.receiveBroadcast([], from: 1)
        b.receiveBroadcast([1, 2, 3], from: 1)
        var state = a.pushPullState()
        state.append(0)
        b.mergePushPullState(state, from: 1)
        b.mergePushPullState([7], from: 1)
        #expect(b.counters.malformed == 4)
        #expect(b.lastDecodeError == .unknownKind(7))
        #expect(b.counters.pushPullsMerged == 0)
        #expect(b.digest == before)
    }

    @Test("random byte strings and random mutations of valid messages never crash the decoder or the table")
    func fuzz() {
        var rng = RoutesRNG(seed: 0x5EED_0007)
        var table = SubscriptionTable(node: 3, epoch: 8)
        table.addLocal(tenant: routesTenantA, filter: "a/+")
        table.addLocal(tenant: routesTenantB, filter: "$share/g/#")
        let seeds = [RouteCodec.encode(Self.delta), table.pushPullState()]
        var sink = SubscriptionTable(node: 9, epoch: 1)
        for round in 0..<3_000 {
            var bytes: [UInt8]
            if round % 3 == 0 {
                bytes = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                bytes = seeds[round % 2]
                for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            sink.receiveBroadcast(bytes, from: 1)
            sink.mergePushPullState(bytes, from: 1)
        }
        #expect(sink.counters.malformed > 3_000)
    }
}
