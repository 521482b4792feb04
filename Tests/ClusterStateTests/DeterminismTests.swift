import BrokerTestKit
import ClusterState
import Testing

/// Replicas stay equal: the same log gives the same bytes, and a snapshot is as good as the log it replaces.
@Suite("ClusterState determinism and snapshots")
struct DeterminismTests {
    /// A log of `count` random commands, some batched into one entry (several commands share an index).
    static func log(seed: UInt64, count: Int) -> [(index: UInt64, bytes: [UInt8])] {
        var gen = CommandGenerator(seed: seed)
        var out: [(UInt64, [UInt8])] = []
        var index: UInt64 = 1
        for i in 0..<count {
            out.append((index, gen.next(nowMs: 1_700_000_000_000 + Int64(i)).encoded()))
            if gen.chance(70) { index += 1 }
        }
        return out
    }

    @Test("two instances fed the same log end byte-identical, with the same outcomes", arguments: 0..<5)
    func sameLogSameState(_ round: Int) {
        let seed = testSeed()
        let log = Self.log(seed: seed, count: 800)
        var a = ClusterState()
        var b = ClusterState()
        var outcomesA: [ClusterOutcome] = []
        var outcomesB: [ClusterOutcome] = []
        for (index, bytes) in log { outcomesA.append(a.decodeAndApply(bytes, index: index)) }
        for (index, bytes) in log { outcomesB.append(b.decodeAndApply(bytes, index: index)) }
        #expect(outcomesA == outcomesB, "CLUSTER_SEED=\(seed)")
        #expect(a.snapshot() == b.snapshot(), "CLUSTER_SEED=\(seed)")
        #expect(a.lastAppliedIndex == log.last!.index)
        // The generator must actually exercise both paths.
        #expect(outcomesA.contains { if case .success = $0 { true } else { false } }, "CLUSTER_SEED=\(seed)")
        #expect(outcomesA.contains { if case .failure = $0 { true } else { false } }, "CLUSTER_SEED=\(seed)")
    }

    @Test("snapshot → restore → the same snapshot and the same outcomes for the rest of the log", arguments: 0..<5)
    func snapshotRestoreIsExact(_ round: Int) throws {
        let seed = testSeed()
        let log = Self.log(seed: seed, count: 1_000)
        let cut = 1 + Int(seed % 900)
        var original = ClusterState()
        for (index, bytes) in log[..<cut] { _ = original.decodeAndApply(bytes, index: index) }
        let snap = original.snapshot()
        var restored = try ClusterState.restore(snap)
        #expect(restored.snapshot() == snap, "CLUSTER_SEED=\(seed)")
        #expect(restored.lastAppliedIndex == original.lastAppliedIndex)
        for (index, bytes) in log[cut...] {
            let x = original.decodeAndApply(bytes, index: index)
            let y = restored.decodeAndApply(bytes, index: index)
            #expect(x == y, "CLUSTER_SEED=\(seed) index \(index)")
        }
        #expect(restored.snapshot() == original.snapshot(), "CLUSTER_SEED=\(seed)")
    }

    @Test("a restored state answers reads like the original")
    func restoredReads() throws {
        var h = Harness()
        for c in everyCommand.prefix(10) { _ = h.apply(c) }
        let r = try ClusterState.restore(h.state.snapshot())
        #expect(r.thing(tenant: acme, name: "lamp-1") == h.state.thing(tenant: acme, name: "lamp-1"))
        #expect(r.retained(tenant: globex, topic: "sensors/é/temp")
            == h.state.retained(tenant: globex, topic: "sensors/é/temp"))
        #expect(r.sessionRecord(tenant: acme, clientID: "c2") == h.state.sessionRecord(tenant: acme, clientID: "c2"))
        #expect(r.tenant(acme) == h.state.tenant(acme))
        #expect(r.retainedMatching(tenant: globex, filter: "#", nowMs: 0).count == 1)
    }

    @Test("an empty state snapshots and restores")
    func emptySnapshot() throws {
        let snap = ClusterState().snapshot()
        #expect(Array(snap.prefix(5)) == Array("FLCS".utf8) + [ClusterState.snapshotFormatVersion])
        #expect(try ClusterState.restore(snap).snapshot() == snap)
    }

    @Test("bad magic, a future snapshot version, truncation and trailing bytes are refused")
    func badSnapshots() throws {
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        let snap = h.state.snapshot()
        #expect(throws: ClusterSnapshotError.badMagic) { try ClusterState.restore(Array("XXXX".utf8) + [1]) }
        #expect(throws: ClusterSnapshotError.badMagic) { try ClusterState.restore([]) }
        var future = snap
        future[4] = ClusterState.snapshotFormatVersion + 1
        #expect(throws: ClusterSnapshotError.unsupportedVersion(ClusterState.snapshotFormatVersion + 1)) {
            try ClusterState.restore(future)
        }
        var ancient = snap
        ancient[4] = 0
        #expect(throws: ClusterSnapshotError.unsupportedVersion(0)) { try ClusterState.restore(ancient) }
        for cut in 5..<snap.count {
            #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(Array(snap.prefix(cut))) }
        }
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(snap + [0]) }
    }

    @Test("a version-1 snapshot (before the node directory) restores as an empty directory")
    func versionOneSnapshot() throws {
        var h = Harness()
        for c in everyCommand
        where !c.isNodeDirectoryCommand && !c.isVersion3Command && !c.isVersion4Command && !c.isVersion5Command {
            _ = h.apply(c)
        }
        let v3 = h.state.snapshot()
        // Version 1 is the current version without the trailing node section, the four version-3 sections, the
        // three version-4 ones (here: eight zero counts) and the version-5 tail (`v5Tail` zero bytes).
        #expect(Array(v3.suffix(32 + Self.v5Tail)) == [UInt8](repeating: 0, count: 32 + Self.v5Tail))
        var v1 = Array(v3.dropLast(32 + Self.v5Tail))
        v1[4] = 1
        let restored = try ClusterState.restore(v1)
        #expect(restored.snapshot() == v3)
        #expect(restored.nodeDirectory().isEmpty)
        #expect(restored.thing(tenant: acme, name: "bare") == h.state.thing(tenant: acme, name: "bare"))
        // A version-1 snapshot with a node section is not version 1.
        v1 = Array(v3.dropLast(28 + Self.v5Tail))
        v1[4] = 1
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(v1) }
    }

    @Test("a version-2 snapshot (before domains, certificates, prefixes) restores with those sections empty")
    func versionTwoSnapshot() throws {
        var h = Harness()
        for c in everyCommand where !c.isVersion3Command && !c.isVersion4Command && !c.isVersion5Command {
            _ = h.apply(c)
        }
        #expect(!h.state.nodeDirectory().isEmpty)
        let v3 = h.state.snapshot()
        #expect(Array(v3.suffix(28 + Self.v5Tail)) == [UInt8](repeating: 0, count: 28 + Self.v5Tail))
        var v2 = Array(v3.dropLast(28 + Self.v5Tail))
        v2[4] = 2
        let restored = try ClusterState.restore(v2)
        #expect(restored.snapshot() == v3)
        #expect(restored.nodeDirectory() == h.state.nodeDirectory())
        #expect(restored.domainConfigurations(tenant: acme).isEmpty)
        #expect(restored.certificates(tenant: acme).isEmpty)
        #expect(restored.endpointPrefix(tenant: acme) == TenantEndpoint.derivedPrefix(for: acme))
        // A version-2 snapshot followed by version-3 sections is not version 2 (trailing bytes).
        var padded = Array(v3.dropLast(12 + Self.v5Tail))
        padded[4] = 2
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(padded) }
    }

    @Test("domains, certificates and prefixes are in the snapshot and restore exactly, with the domain index")
    func version3Sections() throws {
        var h = Harness()
        for c in everyCommand where !c.isVersion4Command && !c.isVersion5Command { _ = h.apply(c) }
        let snap = h.state.snapshot()
        #expect(Array(snap.dropLast(12 + version5Tail(h.state)).suffix(16)) != [UInt8](repeating: 0, count: 16))
        let r = try ClusterState.restore(snap)
        #expect(r.snapshot() == snap)
        #expect(r.domainConfigurations(tenant: acme) == h.state.domainConfigurations(tenant: acme))
        #expect(r.enabledDomainConfigurations() == h.state.enabledDomainConfigurations())
        #expect(r.enabledDomainConfigurations().keys.sorted() == ["*.devices.acme.example", "iot.acme.example"])
        #expect(r.certificates(tenant: acme) == h.state.certificates(tenant: acme))
        #expect(r.caCertificates(tenant: acme) == h.state.caCertificates(tenant: acme))
        #expect(r.endpointPrefix(tenant: acme) == "acme")
        // The derived domain index is rebuilt: the same domain name is still taken, by anyone.
        var again = r
        #expect(again.apply(.createDomainConfiguration(domain(globex, "x", "IOT.acme.example")), index: 999)
            == .failure(.resourceAlreadyExists))
    }

    @Test("restore refuses one domain name configured in two tenants")
    func duplicateDomainNameRefused() throws {
        var a = ClusterState()
        _ = a.apply(.createDomainConfiguration(domain(acme, "n", "iot.x.example")), index: 1)
        var b = ClusterState()
        _ = b.apply(.createDomainConfiguration(domain(globex, "n", "iot.x.example")), index: 1)
        // Splice globex's row after acme's: canonical order, but the domain name has two owners.
        let sa = a.snapshot(), sb = b.snapshot()
        let rowA = domainRow(sa), rowB = domainRow(sb)
        let countAt = sa.count - Self.countsAfterDomains - 4 - rowA.count
        #expect(Array(sa[countAt..<(countAt + 4)]) == [0, 0, 0, 1])
        let spliced = Array(sa[..<countAt]) + [0, 0, 0, 2] + rowA + rowB + [UInt8](repeating: 0, count: Self.countsAfterDomains)
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(spliced) }
        // The same splice with distinct names restores (the test's splice itself is sound).
        var c = ClusterState()
        _ = c.apply(.createDomainConfiguration(domain(globex, "n", "iot.y.example")), index: 1)
        let ok = Array(sa[..<countAt]) + [0, 0, 0, 2] + rowA + domainRow(c.snapshot())
            + [UInt8](repeating: 0, count: Self.countsAfterDomains)
        #expect(try ClusterState.restore(ok).domainConfiguration(domainName: "iot.y.example")?.tenant == globex)
    }

    /// The one domain row of the snapshot of a state holding nothing else: after the header ("FLCS", version,
    /// two u64) come seven empty counts (tenants … prefixes) and the domain count, and after the row five empty
    /// counts (CAs, certificates, policies, policy targets, thing principals) and the empty version-5 tail.
    static let countsAfterDomains = 5 * 4 + v5Tail

    /// The sections after version 4 of a state with none of their rows and no CA or device certificates: three
    /// empty counts (server certificates, domain details, tags), registrySequence (u64), three empty counts (thing
    /// types, groups, memberships), four (CA modes, certificate modes, issuing CAs, registration codes), and the
    /// version-6 shadows count and the version-7 session-queues count. With certificates, use `version5Tail(state)`.
    static let v5Tail = 3 * 4 + 8 + 3 * 4 + 4 * 4 + 4 + 4

    func domainRow(_ snap: [UInt8]) -> [UInt8] {
        let start = 4 + 1 + 8 + 8 + 7 * 4 + 4
        #expect(Array(snap[(start - 4)..<start]) == [0, 0, 0, 1])
        return Array(snap[start..<(snap.count - Self.countsAfterDomains)])
    }

    @Test("the node directory is in the snapshot, in id order, and restores exactly")
    func nodeDirectorySnapshot() throws {
        var h = Harness()
        _ = h.apply(.setNodeAddress(NodeAddress(nodeID: 7, busHost: "b", busPort: 2)))
        _ = h.apply(.setNodeAddress(NodeAddress(nodeID: 3, busHost: "a", busPort: 1)))
        let snap = h.state.snapshot()
        let restored = try ClusterState.restore(snap)
        #expect(restored.snapshot() == snap)
        #expect(restored.nodeDirectory().map(\.nodeID) == [3, 7])
        #expect(restored.nodeAddress(7) == NodeAddress(nodeID: 7, busHost: "b", busPort: 2))
        // Rows out of order (or twice) are not the canonical encoding: swap the two rows' ids.
        var swapped = snap
        let rowSize = 8 + 4 + 1 + 2
        let first = snap.count - 2 * rowSize
        swapped[first + 7] = 7
        swapped[first + rowSize + 7] = 3
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(swapped) }
    }

    @Test("mutated snapshots never trap")
    func mutatedSnapshots() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        var h = Harness()
        for c in everyCommand { _ = h.apply(c) }
        let snap = h.state.snapshot()
        for _ in 0..<2_000 {
            var bytes = snap
            bytes[5 + Int(rng.next() % UInt64(bytes.count - 5))] = UInt8(truncatingIfNeeded: rng.next())
            if let restored = try? ClusterState.restore(bytes) {
                _ = restored.snapshot()  // whatever it decoded to is a usable state
            }
        }
    }

    @Test("restore refuses a snapshot whose rows are not canonical (a duplicated row), and one key in two tenants")
    func nonCanonicalSnapshotRefused() throws {
        var state = ClusterState()
        _ = state.apply(.createTenant(acme, name: "Acme"), index: 1)
        let bytes = state.snapshot()
        #expect(try ClusterState.restore(bytes).snapshot() == bytes)
        // Header: "FLCS" (4) | version (1) | lastAppliedIndex (8) | thingSequence (8), then the tenant count.
        let countAt = 21
        let row = 4 + 12 + 4 + 4  // accountID and name, each u32 length + bytes
        var doubled = Array(bytes[..<countAt]) + [0, 0, 0, 2]
        doubled += bytes[(countAt + 4)..<(countAt + 4 + row)]
        doubled += bytes[(countAt + 4)...]
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(doubled) }

        var two = ClusterState()
        _ = two.apply(.createTenant(acme, name: "A"), index: 1)
        _ = two.apply(.createTenant(globex, name: "G"), index: 2)
        _ = two.apply(.createAccessKey(AccessKey(tenant: acme, accessKeyID: "AKIAX", secretKey: "s", createdAtMs: 1)),
                      index: 3)
        let good = two.snapshot()
        // The same key row, re-labelled as globex's: a key id in two tenants once inserted next to acme's.
        let acmeRow = Array("111111111111".utf8), globexRow = Array("222222222222".utf8)
        guard let at = find(acmeRow + [0, 0, 0, 5] + Array("AKIAX".utf8), in: good) else {
            Issue.record("access key row not found in the snapshot")
            return
        }
        let rowStart = at - 4  // the tenant's length prefix
        let keyRow = Array(good[rowStart..<(rowStart + 4 + 12 + 4 + 5 + 4 + 1 + 8)])  // tenant, id, "s", createdAtMs
        var moved = keyRow
        moved.replaceSubrange(4..<16, with: globexRow)
        var twice = Array(good[..<(rowStart - 4)]) + [0, 0, 0, 2] + keyRow + moved
        twice += good[(rowStart + keyRow.count)...]
        #expect(Array(good[(rowStart - 4)..<rowStart]) == [0, 0, 0, 1])  // the count we replaced
        #expect(throws: ClusterSnapshotError.malformed) { try ClusterState.restore(twice) }
    }

    func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for i in 0...(haystack.count - needle.count) where Array(haystack[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}
