import NetTestKit
import ClusterState
import Foundation
import IoTTypes
import LZ4
import Logging
import Synchronization
import Testing

@testable import ClusterNode

@Suite("ClusterNode, one voter", .serialized)
struct SingleNodeTests {
    @Test("tenant, 1,000 things and 200 retained commands: every outcome right, reads see them")
    func writesAndReads() async throws {
        let dir = makeTempDir("single")
        defer { removeDir(dir) }
        let port = freeLoopbackPort()
        let node = ClusterNode(configuration: testConfiguration(id: 1, port: port, dir: dir))
        try await withShutdown([node]) {
            try await node.start(.bootstrap([ClusterPeer(id: 1, address: "127.0.0.1:\(port)")]))
            _ = try await waitForLeader([node])

            #expect(try await node.propose(.createTenant(acme, name: "Acme")) == .success(.done))
            #expect(try await node.propose(.createTenant(acme, name: "Acme")) == .failure(.resourceAlreadyExists))
            #expect(try await node.propose(.createTenant(TenantID("12"), name: "Bad"))
                    == .failure(.invalidRequest("account id must be 12 digits")))

            let clock = ContinuousClock()
            // 500 one after another (one entry each), then 500 at once (packed into few entries).
            var ids: [String: String] = [:]
            let sequentialStart = clock.now
            for i in 0..<500 {
                let outcome = try await node.propose(createThing("seq-\(i)", attributes: ["i": "\(i)"]))
                guard case .success(.thing(let id, let version)) = outcome else {
                    Issue.record("seq-\(i): \(outcome)")
                    continue
                }
                #expect(version == 1)
                ids["seq-\(i)"] = id
            }
            let sequential = clock.now - sequentialStart
            let concurrentStart = clock.now
            let concurrent = try await withThrowingTaskGroup(of: (String, ClusterOutcome).self) { group in
                for i in 0..<500 {
                    group.addTask { ("par-\(i)", try await node.propose(createThing("par-\(i)"))) }
                }
                var all: [(String, ClusterOutcome)] = []
                for try await r in group { all.append(r) }
                return all
            }
            let parallel = clock.now - concurrentStart
            for (name, outcome) in concurrent {
                guard case .success(.thing(let id, version: 1)) = outcome else {
                    Issue.record("\(name): \(outcome)")
                    continue
                }
                ids[name] = id
            }
            #expect(ids.count == 1_000)
            #expect(Set(ids.values).count == 1_000, "thing ids are unique")

            // A duplicate with another configuration is an answer, not a thrown error; the same one is idempotent.
            let duplicate = try await node.propose(createThing("seq-7", attributes: ["i": "other"]))
            #expect(duplicate == .failure(.resourceAlreadyExists))
            let same = try await node.propose(createThing("seq-7", attributes: ["i": "7"]))
            #expect(same == .success(.thing(thingId: ids["seq-7"]!, version: 1)))
            let stale = try await node.propose(.updateThing(.init(
                tenant: acme, thingName: "seq-7", attributes: ["i": "8"], expectedVersion: 5, nowMs: 2)))
            #expect(stale == .failure(.versionConflict))

            // 200 retained commands: 150 sets, then 50 clears.
            for i in 0..<150 {
                #expect(try await node.propose(setRetained("r/\(i)", "v\(i)")) == .success(.done))
            }
            for i in stride(from: 0, to: 150, by: 3) {
                #expect(try await node.propose(.clearRetained(tenant: acme, topic: "r/\(i)")) == .success(.done))
            }

            // Read-your-writes: `read` right after the proposals returned sees all of them.
            node.read { state in
                #expect(state.tenant(acme)?.name == "Acme")
                #expect(state.things(tenant: acme).count == 1_000)
                #expect(state.thing(tenant: acme, name: "seq-499")?.attributes == ["i": "499"])
                #expect(state.thing(tenant: acme, name: "par-0")?.thingId == ids["par-0"])
                #expect(state.retainedCount(tenant: acme) == 100)
                #expect(state.retained(tenant: acme, topic: "r/0") == nil)
                #expect(state.retained(tenant: acme, topic: "r/1")?.payload == Array("v1".utf8))
            }
            let count = try await node.linearizableRead {
                $0.retainedMatching(tenant: acme, filter: "r/#", nowMs: 0).count
            }
            #expect(count == 100)
            let status = await node.status()
            #expect(status.role == .leader)
            #expect(node.read(\.lastAppliedIndex) <= status.appliedIndex)
            #expect(node.read(\.lastAppliedIndex) > 0)
            log("""
                ClusterNode single node: 500 sequential creates in \(sequential) \
                (\(Int(500 / sequential.seconds))/s), 500 concurrent in \(parallel) (\(Int(500 / parallel.seconds))/s)
                """)
            await node.shutdown()
            await #expect(throws: ClusterNodeError.shuttingDown) { try await node.propose(createThing("late")) }
        }
    }

    @Test("restart on the same data directory, past several snapshots, gives byte-identical state")
    func restart() async throws {
        let dir = makeTempDir("restart")
        defer { removeDir(dir) }
        let port = freeLoopbackPort()
        let peers = [ClusterPeer(id: 1, address: "127.0.0.1:\(port)")]
        let config = testConfiguration(id: 1, port: port, dir: dir, snapshotThreshold: 32, snapshotTrailing: 8)

        let first = ClusterNode(configuration: config)
        let second = ClusterNode(configuration: config)
        try await withShutdown([first, second]) {
            try await first.start(.bootstrap(peers))
            _ = try await waitForLeader([first])
            #expect(try await first.propose(.createTenant(acme, name: "Acme")) == .success(.done))
            for i in 0..<150 {  // one entry each: well past the threshold, so snapshots are taken and the log compacted
                _ = try await first.propose(createThing("t-\(i)", attributes: ["n": "\(i)"], nowMs: Int64(i)))
                if i % 5 == 0 { _ = try await first.propose(setRetained("a/\(i)", "x")) }
            }
            let before = first.stateSnapshot()
            let indexBefore = first.read(\.lastAppliedIndex)
            await first.shutdown()
            let snapshots = try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                $0.hasPrefix("snapshot-") && !$0.hasSuffix(".meta")
            }
            #expect(!snapshots.isEmpty, "libraft took a snapshot: \(snapshots)")

            let clock = ContinuousClock()
            let restartStart = clock.now
            try await second.start(.bootstrap(peers))
            _ = try await waitForLeader([second])
            let after = try await second.linearizableRead { $0.snapshot() }
            let restartTime = clock.now - restartStart
            #expect(second.snapshotsRestored == 1)
            #expect(after == before)
            #expect(second.read(\.lastAppliedIndex) == indexBefore)
            #expect(second.read { $0.things(tenant: acme).count } == 150)
            // Same future behaviour: the thing counter continued from the snapshot, so the next id is fresh.
            guard case .success(.thing(let id, 1)) = try await second.propose(createThing("after")) else {
                Issue.record("create after restart failed")
                return
            }
            #expect(second.read { $0.things(tenant: acme).filter { $0.thingId == id }.count } == 1)
            log("ClusterNode restart (snapshot restore + tail replay + barrier): \(restartTime)")
        }
    }

    @Test("the state machine answers garbage with outcomes and refuses bad snapshots, without trapping")
    func garbage() throws {
        let applied = ClusterNode.AppliedState()
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let machine = ClusterNode.stateMachine(applied, maxSnapshotBytes: 1 << 20, logger: quiet)
        let garbage: [[UInt8]] = [[], [0], [1], [1, 200], [9, 1, 2, 3], Array(repeating: 0xFF, count: 64)]
        for (i, bytes) in garbage.enumerated() {
            let decoded = ClusterNode.decodeAnswer(machine.apply(bytes, UInt64(i + 1)))
            #expect(decoded?.position == AppliedPosition(index: UInt64(i + 1), ordinal: 0))
            let answer = decoded?.outcome
            switch answer {
            case .failure(.malformedCommand)?:
                #expect(bytes.first == nil || bytes.first == ClusterCommand.formatVersion)
            case .failure(.unsupportedCommandVersion(let v))?:
                #expect(v == bytes.first)
            default: Issue.record("\(bytes) → \(String(describing: answer))")
            }
        }
        #expect(applied.state.withLock { $0.lastAppliedIndex } == UInt64(garbage.count))
        _ = machine.apply(ClusterCommand.createTenant(acme, name: "Acme").encoded(), 10)
        let good = try machine.snapshot()
        // Not LZ4, LZ4 of garbage, and a frame over the size cap: all refused, the state untouched.
        #expect(throws: (any Error).self) { try machine.restore([1, 2, 3]) }
        #expect(throws: (any Error).self) { try machine.restore(try LZ4Frame.compress([1, 2, 3])) }
        #expect(throws: (any Error).self) {
            try machine.restore(try LZ4Frame.compress(Array(repeating: 0, count: 2 << 20)))
        }
        #expect(applied.state.withLock { $0.tenant(acme) } != nil)
        try machine.restore(good)
        #expect(applied.state.withLock { $0.snapshot() } == (try LZ4Frame.decompress(good)))
        #expect(applied.restores.load(ordering: .relaxed) == 1)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

@Suite("ClusterNode applied-outcome observer")
struct AppliedObserverTests {
    @Test("the applied-outcome observer sees every apply once, and stays one call deep over 100,000 applies")
    func observerStaysFlat() {
        // Guards the fix for a closure kept bare in a generic Mutex, which was re-wrapped in thunks on every read so
        // the call chain grew by two frames per apply (seen in gdb at ~47,000 frames under load).
        let applied = ClusterNode.AppliedState()
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let machine = ClusterNode.stateMachine(applied, maxSnapshotBytes: 1 << 20, logger: quiet)
        let count = Mutex(0)
        applied.observer.withLock { $0 = ClusterNode.Observer { _ in count.withLock { $0 += 1 } } }
        let command = ClusterCommand.createTenant(acme, name: "Acme").encoded()
        for index in 1...100_000 { _ = machine.apply(command, UInt64(index)) }
        #expect(count.withLock { $0 } == 100_000)
    }
}
