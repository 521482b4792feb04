import ClusterBus
import ClusterNode
import ClusterState
import Foundation
import IoTTypes
import Logging
import NIOCore
import NIOPosix
import NetTestKit
import Testing

@testable import ClusterService

let acme = TenantID("111111111111")
let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

func createThing(_ name: String, attributes: [String: String] = [:]) -> ClusterCommand {
    .createThing(.init(tenant: acme, thingName: name, attributes: attributes, nowMs: 1))
}

func log(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

/// Three services on loopback ports and temp dirs, at test settings (fast elections, 5 s request timeout).
struct Trio {
    let services: [ClusterService]
    let dirs: [String]

    init(group: any EventLoopGroup) {
        let dirs = (1...3).map { makeTempDir("svc-\($0)") }
        self.dirs = dirs
        let peers = (1...3).map {
            ClusterServicePeer(nodeID: UInt64($0), raftAddress: "127.0.0.1:\(freeLoopbackPort())",
                               busAddress: PeerAddress(host: "127.0.0.1", port: freeLoopbackPort()))
        }
        services = peers.enumerated().map { i, peer in
            var node = ClusterNodeConfiguration(nodeID: peer.nodeID, raftAddress: peer.raftAddress,
                                                dataDirectory: dirs[i])
            node.electionTimeout = .milliseconds(300)
            node.heartbeatTimeout = .milliseconds(50)
            node.connectRetryDelay = .milliseconds(50)
            node.requestTimeout = .seconds(5)
            var c = ClusterServiceConfiguration(node: node, peers: peers)
            c.requestTimeout = .seconds(5)
            return ClusterService(configuration: c, group: group, logger: quiet)
        }
    }

    func start() async throws {
        for s in services { try await s.start(.bootstrap(s.configuration.raftPeers)) }
    }

    func shutdown() async {
        for s in services { await s.shutdown() }
        dirs.forEach(removeDir)
    }
}

/// Runs `body` with a new (not yet started) `Trio` and shuts it down afterwards, also when `body` throws.
func withTrio(_ body: (Trio) async throws -> Void) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let trio = Trio(group: group)
    do {
        try await body(trio)
    } catch {
        await trio.shutdown()
        try await group.shutdownGracefully()
        throw error
    }
    await trio.shutdown()
    try await group.shutdownGracefully()
}

/// The service among `services` that leads and whom the others follow, once they agree.
func waitForLeader(_ services: [ClusterService]) async throws -> ClusterService {
    var found: ClusterService?
    try await waitUntil("an agreed leader", timeout: .seconds(10)) {
        var leaderID: UInt64?
        found = nil
        for s in services {
            let status = await s.status()
            if status.role == .leader { found = s }
            guard let id = status.leaderID, leaderID == nil || leaderID == id else { return false }
            leaderID = id
        }
        return found != nil && found?.configuration.node.nodeID == leaderID
    }
    return found!
}

/// Waits until every service's applied state has the same snapshot bytes; returns them.
@discardableResult
func waitForEqualState(_ services: [ClusterService]) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    try await waitUntil("byte-identical state", timeout: .seconds(10)) {
        let all = services.map { $0.node.stateSnapshot() }
        bytes = all[0]
        return all.allSatisfy { $0 == all[0] }
    }
    return bytes
}

/// Proposes through `service` and checks, right after it returns, that the same node reads the thing.
func createAndReadBack(_ service: ClusterService, _ name: String) async throws {
    let outcome = try await service.propose(createThing(name))
    guard case .success(.thing(_, 1)) = outcome else {
        Issue.record("\(name) on node \(service.configuration.node.nodeID): \(outcome)")
        return
    }
    #expect(service.read { $0.thing(tenant: acme, name: name) } != nil,
            "read-your-writes: \(name) missing on node \(service.configuration.node.nodeID)")
}

@Suite("ClusterService: proposals from any node", .serialized)
struct ForwardingTests {
    @Test("writes on every node succeed, read back at once on that node, and replicate byte-identically; failover")
    func writesFromEveryNode() async throws {
        try await withTrio { trio in
            try await trio.start()
            let leader = try await waitForLeader(trio.services)
            let followers = trio.services.filter { $0 !== leader }
            let clock = ContinuousClock()

            // Sequential: 50 per node, each read back on the node that proposed it.
            let sequentialStart = clock.now
            for (n, service) in trio.services.enumerated() {
                for i in 0..<50 { try await createAndReadBack(service, "seq-\(n)-\(i)") }
            }
            let sequentialTime = clock.now - sequentialStart

            // Concurrent: 50 more per node, all at once.
            let concurrentStart = clock.now
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for (n, service) in trio.services.enumerated() {
                    for i in 0..<50 { tasks.addTask { try await createAndReadBack(service, "conc-\(n)-\(i)") } }
                }
                try await tasks.waitForAll()
            }
            let concurrentTime = clock.now - concurrentStart

            // A duplicate create through a follower is a domain outcome, not an error.
            let duplicate = try await followers[0].propose(createThing("seq-0-0", attributes: ["other": "1"]))
            #expect(duplicate == .failure(.resourceAlreadyExists))

            let replicated = try await waitForEqualState(trio.services)
            for s in trio.services { #expect(s.read { $0.things(tenant: acme).count } == 300) }

            // The leader goes away: once the survivors have a new one, proposals on both succeed again.
            await leader.shutdown()
            let failoverStart = clock.now
            for (n, survivor) in followers.enumerated() {
                // Idempotent (same attributes), so retrying after an "outcome unknown" is safe here.
                let id = survivor.configuration.node.nodeID
                try await waitUntil("a write through node \(id)", timeout: .seconds(10)) {
                    (try? await survivor.propose(createThing("after-\(n)"))) != nil
                }
            }
            let failoverTime = clock.now - failoverStart
            for (n, survivor) in followers.enumerated() {
                for i in 0..<20 { try await createAndReadBack(survivor, "late-\(n)-\(i)") }
            }
            let final = try await waitForEqualState(followers)
            #expect(final != replicated)
            for s in followers { #expect(s.read { $0.things(tenant: acme).count } == 342) }
            log("""
                ClusterService 3 nodes: 150 sequential creates (1/3 on the leader) \(sequentialTime), \
                150 concurrent \(concurrentTime); leader shut down → a write on each survivor \(failoverTime)
                """)
        }
    }

    @Test("forward answers round-trip; bad requests are refused without proposing")
    func wire() async throws {
        let outcome = ClusterOutcome.success(.thing(thingId: "id", version: 3))
        let position = AppliedPosition(index: 42, ordinal: 3)
        #expect(ForwardWire.decodeAnswer(ForwardWire.encodeApplied(outcome, position: position))
                == .applied(outcome, position: position))
        #expect(ForwardWire.decodeAnswer(ForwardWire.encodeNotLeader(7)) == .notLeader(7))
        #expect(ForwardWire.decodeAnswer(ForwardWire.encodeNotLeader(nil)) == .notLeader(nil))
        #expect(ForwardWire.decodeAnswer(ByteBuffer(bytes: [0, 1])) == nil)
        #expect(ForwardWire.decodeAnswer(ByteBuffer(bytes: [9, 0, 0, 0, 0, 0, 0, 0, 0])) == nil)

        // The leader side refuses unknown kinds and undecodable commands before touching raft (this node is
        // not even started: a proposal would answer `unavailable`, not `badRequest`).
        let dir = makeTempDir("svc-wire")
        defer { removeDir(dir) }
        let node = ClusterNode(
            configuration: ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:1", dataDirectory: dir))
        let closing = ClusterService.Closing()
        let badRequest = ForwardWire.ErrorCode.badRequest.rawValue
        for (kind, payload) in [(UInt16(9), createThing("x").encoded()), (ForwardWire.forwardProposal, [1, 250])] {
            let reply = await ClusterService.serve(
                kind: kind, payload: ByteBuffer(bytes: payload), node: node, closing: closing)
            guard case .error(badRequest, _) = reply else {
                Issue.record("kind \(kind) payload \(payload) → \(reply)")
                continue
            }
        }
        let notStarted = await ClusterService.serve(
            kind: ForwardWire.forwardProposal, payload: ByteBuffer(bytes: createThing("x").encoded()), node: node,
            closing: closing)
        guard case .error(ForwardWire.ErrorCode.unavailable.rawValue, _) = notStarted else {
            Issue.record("not started → \(notStarted)")
            return
        }
    }
}

@Suite("ClusterService: forwarding in batches", .serialized)
struct ForwardBatchTests {
    @Test("batch requests and answers round-trip; bad framing is refused")
    func batchWire() {
        let commands = [createThing("a").encoded(), [], createThing("b").encoded()]
        #expect(ForwardWire.decodeBatch(ForwardWire.encodeBatch(commands)) == commands)
        #expect(ForwardWire.decodeBatch(ForwardWire.encodeBatch([])) == [])
        var truncated = ForwardWire.encodeBatch(commands)
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        #expect(ForwardWire.decodeBatch(truncated) == nil)
        var trailing = ForwardWire.encodeBatch(commands)
        trailing.writeInteger(UInt8(0))
        #expect(ForwardWire.decodeBatch(trailing) == nil)
        #expect(ForwardWire.decodeBatch(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])) == nil)

        let outcome = ClusterOutcome.success(.thing(thingId: "id", version: 3))
        let items: [ForwardWire.BusReplyParts] = [
            .ok(ForwardWire.encodeApplied(outcome, position: AppliedPosition(index: 9, ordinal: 2))),
            .ok(ForwardWire.encodeNotLeader(3)),
            .error(.outcomeUnknown, "leadership lost"),
        ]
        #expect(ForwardWire.decodeBatchAnswer(ForwardWire.encodeBatchAnswer(items)) == [
            .applied(outcome, position: AppliedPosition(index: 9, ordinal: 2)), .notLeader(3),
            .failed(code: ForwardWire.ErrorCode.outcomeUnknown.rawValue, message: "leadership lost"),
        ])
        var cut = ForwardWire.encodeBatchAnswer(items)
        cut.moveWriterIndex(to: cut.writerIndex - 3)
        #expect(ForwardWire.decodeBatchAnswer(cut) == nil)
    }

    @Test("the leader side answers each command of a batch on its own, and refuses bad framing whole")
    func serveBatch() async throws {
        let dir = makeTempDir("svc-batch")
        defer { removeDir(dir) }
        // Not started: every decodable command answers `unavailable`, an undecodable one `badRequest`.
        let node = ClusterNode(
            configuration: ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:1", dataDirectory: dir))
        let closing = ClusterService.Closing()
        let reply = await ClusterService.serve(
            kind: ForwardWire.forwardBatch, payload: ForwardWire.encodeBatch([createThing("x").encoded(), [1, 250]]),
            node: node, closing: closing)
        guard case .ok(let payload) = reply, let answers = ForwardWire.decodeBatchAnswer(payload) else {
            Issue.record("batch → \(reply)")
            return
        }
        guard answers.count == 2, case .failed(ForwardWire.ErrorCode.unavailable.rawValue, _) = answers[0],
              case .failed(ForwardWire.ErrorCode.badRequest.rawValue, _) = answers[1]
        else {
            Issue.record("answers: \(answers)")
            return
        }
        let malformed = await ClusterService.serve(
            kind: ForwardWire.forwardBatch, payload: ByteBuffer(bytes: [0, 0, 0, 2, 0]), node: node, closing: closing)
        guard case .error(ForwardWire.ErrorCode.badRequest.rawValue, _) = malformed else {
            Issue.record("malformed batch → \(malformed)")
            return
        }
    }

    @Test("many concurrent writes through a follower share requests, each answered and read back on that node")
    func followerBatches() async throws {
        try await withTrio { trio in
            try await trio.start()
            let leader = try await waitForLeader(trio.services)
            let follower = trio.services.first { $0 !== leader }!
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for i in 0..<400 { tasks.addTask { try await createAndReadBack(follower, "batched-\(i)") } }
                try await tasks.waitForAll()
            }
            let requests = follower.batcher.sent.load(ordering: .relaxed)
            let carried = follower.batcher.carried.load(ordering: .relaxed)
            #expect(carried == 400)
            #expect(requests < carried, "400 concurrent forwards went out in \(requests) requests")
            try await waitForEqualState(trio.services)
            log("ClusterService: 400 concurrent creates through a follower in \(requests) bus requests")
        }
    }

    @Test("a stale leader hint costs a refusal, not the write: the refusing node proposes nothing")
    func staleLeaderHint() async throws {
        try await withTrio { trio in
            try await trio.start()
            let leader = try await waitForLeader(trio.services)
            let followers = trio.services.filter { $0 !== leader }
            // Point the first follower at the other follower, as if leadership had moved away from it.
            followers[0].leaderHint.store(followers[1].configuration.node.nodeID, ordering: .relaxed)
            try await createAndReadBack(followers[0], "after-stale-hint")
            #expect(followers[0].leaderHint.load(ordering: .relaxed) == leader.configuration.node.nodeID)
            // And a hint naming the node itself is never used: the leader proposes locally.
            leader.leaderHint.store(leader.configuration.node.nodeID, ordering: .relaxed)
            try await createAndReadBack(leader, "hint-is-self")
            let replicated = try await waitForEqualState(trio.services)
            #expect(!replicated.isEmpty)
            for s in trio.services { #expect(s.read { $0.things(tenant: acme).count } == 2) }
        }
    }
}
