import Broker
import ClusterBus
import ClusterNode
import ClusterService
import ClusterState
import IoTTypes
import Logging
import MQTTCodec
import NIOCore
import NIOPosix
import NetTestKit
import Synchronization
import Testing

@testable import ClusterBrokerStore

let acme = TenantID("111111111111")
let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
let t0 = Timestamp.seconds(1_000)
let wall0: Int64 = 1_700_000_000_000

func message(_ topic: String, _ payload: String, tenant: TenantID = acme, qos: QoS = .atLeastOnce,
             expiresAt: Timestamp? = nil) -> BrokerMessage {
    BrokerMessage(tenant: tenant, topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: true,
                  expiresAt: expiresAt, publisherClientID: "pub")
}

func texts(_ ms: [BrokerMessage]) -> [String] {
    ms.map { "\($0.topic)=\(String(buffer: $0.payload))" }.sorted()
}

/// A state machine in memory whose proposals wait until the test answers them: each proposal is announced on
/// `proposals`, and `answer` applies it (or fails it). Deterministic: no clocks, no sleeps.
final class GatedStateMachine: ReplicatedStateMachine {
    struct Waiting {
        var command: ClusterCommand
        var continuation: CheckedContinuation<Result<ClusterOutcome, ClusterServiceError>, Never>
    }
    let state = Mutex((machine: ClusterState(), index: UInt64(0), waiting: [Waiting]()))
    let proposals: AsyncStream<ClusterCommand>
    private let announce: AsyncStream<ClusterCommand>.Continuation

    init() {
        (proposals, announce) = AsyncStream.makeStream(of: ClusterCommand.self)
    }

    func propose(_ command: ClusterCommand) async throws(ClusterServiceError) -> ClusterOutcome {
        let result = await withCheckedContinuation { c in
            state.withLock { $0.waiting.append(Waiting(command: command, continuation: c)) }
            announce.yield(command)
        }
        return try result.get()
    }

    func read<T>(_ body: (ClusterState) throws -> T) rethrows -> T {
        try state.withLock { s in try body(s.machine) }
    }

    /// Answers the oldest waiting proposal: applies it, or fails it with `error`.
    func answer(failing error: ClusterServiceError? = nil) {
        let (w, outcome) = state.withLock { s -> (Waiting, ClusterOutcome?) in
            let w = s.waiting.removeFirst()
            guard error == nil else { return (w, nil) }
            s.index += 1
            return (w, s.machine.apply(w.command, index: s.index))
        }
        if let outcome {
            w.continuation.resume(returning: .success(outcome))
        } else {
            w.continuation.resume(returning: .failure(error!))
        }
    }
}

/// Completion results, in the order they arrived, announced on a stream.
final class Completions: Sendable {
    let results: AsyncStream<(String, Bool)>
    private let yield: AsyncStream<(String, Bool)>.Continuation
    init() { (results, yield) = AsyncStream.makeStream(of: (String, Bool).self) }
    func callback(_ name: String) -> @Sendable (Bool) -> Void { { [yield] ok in yield.yield((name, ok)) } }
}

@Suite("ClusterBrokerStore")
struct ClusterBrokerStoreTests {
    func store(_ machine: GatedStateMachine, limits: ClusterBrokerStore.Limits = .init()) -> ClusterBrokerStore {
        ClusterBrokerStore(cluster: machine, limits: limits, logger: quiet, wallClockMs: { wall0 })
    }

    @Test("a retained write is visible here at once, committed in order, batched while one is in flight")
    func orderAndOverlay() async throws {
        let machine = GatedStateMachine()
        let s = store(machine)
        let done = Completions()
        var proposals = machine.proposals.makeAsyncIterator()
        var results = done.results.makeAsyncIterator()

        s.storeRetained(message("a", "1"), now: t0, completion: done.callback("a1"))
        #expect(texts(s.retained(tenant: acme, filter: "#", now: t0)) == ["a=1"])  // before any commit
        let first = await proposals.next()
        guard case .setRetained(let r)? = first else {
            Issue.record("expected setRetained, got \(String(describing: first))")
            return
        }
        #expect(r.payload == Array("1".utf8) && r.topic == "a")
        // Three more while the first is in flight: they go out together, in order.
        s.storeRetained(message("a", "2"), now: t0, completion: done.callback("a2"))
        s.storeRetained(message("b", "x"), now: t0, completion: done.callback("bx"))
        s.storeRetained(message("a", ""), now: t0, completion: done.callback("a-clear"))
        #expect(texts(s.retained(tenant: acme, filter: "#", now: t0)) == ["b=x"])  // the pending clear hides a
        machine.answer()
        #expect(await results.next()! == ("a1", true))
        let second = await proposals.next()
        guard case .batch(let members)? = second else {
            Issue.record("expected a batch, got \(String(describing: second))")
            return
        }
        #expect(members.count == 3)
        guard case .setRetained(let m0) = members[0], case .setRetained(let m1) = members[1],
              case .clearRetained(_, "a") = members[2] else {
            Issue.record("unexpected members \(members)")
            return
        }
        #expect(m0.payload == Array("2".utf8) && m1.topic == "b")
        machine.answer()
        for expected in ["a2", "bx", "a-clear"] {
            #expect(await results.next()! == (expected, true))
        }
        // Applied: the replicated state answers, the overlay is empty.
        #expect(s.state.withLock { $0.overlay.isEmpty })
        #expect(texts(s.retained(tenant: acme, filter: "#", now: t0)) == ["b=x"])
        #expect(machine.read { $0.retainedCount(tenant: acme) } == 1)
        #expect(s.queuedWrites == 0)
    }

    @Test("a failed write reports false, and the replicated value shows again")
    func failure() async throws {
        let machine = GatedStateMachine()
        let s = store(machine)
        let done = Completions()
        var proposals = machine.proposals.makeAsyncIterator()
        var results = done.results.makeAsyncIterator()
        s.storeRetained(message("t", "old"), now: t0, completion: done.callback("old"))
        _ = await proposals.next()
        machine.answer()
        #expect(await results.next()! == ("old", true))

        s.storeRetained(message("t", "new"), now: t0, completion: done.callback("new"))
        #expect(texts(s.retained(tenant: acme, filter: "t", now: t0)) == ["t=new"])
        _ = await proposals.next()
        machine.answer(failing: .noLeader)
        #expect(await results.next()! == ("new", false))
        #expect(texts(s.retained(tenant: acme, filter: "t", now: t0)) == ["t=old"])
    }

    @Test("past maxQueued a write fails at once; tenants never see each other's pending writes")
    func boundedAndIsolated() async throws {
        let machine = GatedStateMachine()
        var limits = ClusterBrokerStore.Limits()
        limits.maxQueued = 2
        let s = store(machine, limits: limits)
        let done = Completions()
        var results = done.results.makeAsyncIterator()
        var proposals = machine.proposals.makeAsyncIterator()
        s.storeRetained(message("a", "1"), now: t0, completion: done.callback("1"))
        s.storeRetained(message("b", "2", tenant: .default), now: t0, completion: done.callback("2"))
        s.storeRetained(message("c", "3"), now: t0, completion: done.callback("3"))
        #expect(await results.next()! == ("3", false))  // refused at once: two are queued
        #expect(texts(s.retained(tenant: acme, filter: "#", now: t0)) == ["a=1"])
        #expect(texts(s.retained(tenant: .default, filter: "#", now: t0)) == ["b=2"])
        // The two accepted writes go out as one or two proposals (the drain may start before the second).
        let commands = await answerAll(machine, &proposals, until: 2)
        #expect(commands.count == 2)
        #expect(await results.next()! == ("1", true))
        #expect(await results.next()! == ("2", true))
    }

    /// Answers proposals until `count` commands (batch members counted one by one) went through; returns them.
    func answerAll(_ machine: GatedStateMachine, _ proposals: inout AsyncStream<ClusterCommand>.Iterator,
                   until count: Int) async -> [ClusterCommand] {
        var seen: [ClusterCommand] = []
        while seen.count < count, let next = await proposals.next() {
            if case .batch(let members) = next { seen += members } else { seen.append(next) }
            machine.answer()
        }
        return seen
    }

    @Test("session records replicate in order, with the disconnect time on the wall clock")
    func sessionRecords() async throws {
        let machine = GatedStateMachine()
        let s = store(machine)
        var proposals = machine.proposals.makeAsyncIterator()
        let record = SessionRecord(tenant: acme, clientID: "c", protocolVersion: .v5,
                                   subscriptions: ["a/#": SubscriptionOptions(qos: .atLeastOnce)], expiryInterval: 60,
                                   disconnectedAt: t0.adding(seconds: -2))
        s.record([.put(record), .remove(tenant: acme, clientID: "c"), .put(record)], now: t0)
        let commands = await answerAll(machine, &proposals, until: 3)
        guard commands.count == 3, case .putSessionRecord(let e) = commands[0],
              case .removeSessionRecord(acme, "c") = commands[1], case .putSessionRecord = commands[2] else {
            Issue.record("expected put, remove, put; got \(commands)")
            return
        }
        #expect(e.disconnectedAtMs == wall0 - 2_000 && e.expiryInterval == 60 && e.clientID == "c")
        #expect(machine.read { $0.sessionRecord(tenant: acme, clientID: "c") } != nil)
        // Drained: a further write starts a new drain.
        s.record([.remove(tenant: acme, clientID: "c")], now: t0)
        #expect(await answerAll(machine, &proposals, until: 1).count == 1)
        #expect(machine.read { $0.sessionRecord(tenant: acme, clientID: "c") } == nil)
    }

    @Test("conversion: an expiry is the same wall-clock instant on nodes whose monotonic clocks differ")
    func expiryAcrossNodes() {
        let nodeA = RetainedConversion.Clocks(monotonic: .seconds(1_000), wallMs: wall0)
        let nodeB = RetainedConversion.Clocks(monotonic: .seconds(7), wallMs: wall0 + 250)
        var m = message("t", "x", expiresAt: Timestamp.seconds(1_000).adding(seconds: 60))
        m.properties = [.payloadFormatIndicator(1), .contentType("text/plain"), .responseTopic("r"),
                        .correlationData(ByteBuffer(bytes: [1, 2])), .userProperty("k", "v"), .userProperty("k", "w")]
        let replicated = RetainedConversion.replicated(m, clocks: nodeA)
        #expect(replicated.expiresAtMs == wall0 + 60_000)
        let onB = RetainedConversion.broker(replicated, clocks: nodeB)
        // On B, 250 ms of wall time have passed since A's reading: 59.75 s remain.
        #expect(onB.expiresAt == Timestamp.seconds(7).adding(nanoseconds: 59_750_000_000))
        #expect(onB.properties == m.properties)
        #expect(onB.retain && onB.payload == m.payload && onB.qos == m.qos)
        #expect(RetainedConversion.broker(RetainedConversion.replicated(message("t", "y"), clocks: nodeA),
                                          clocks: nodeB).expiresAt == nil)
    }

    @Test("on a real one-node cluster: stored, applied, read back; expired messages are not delivered")
    func realCluster() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let dir = makeTempDir("cbs")
        var node = ClusterNodeConfiguration(nodeID: 1, raftAddress: "127.0.0.1:\(freeLoopbackPort())",
                                            dataDirectory: dir)
        node.electionTimeout = .milliseconds(300)
        node.heartbeatTimeout = .milliseconds(50)
        let peer = ClusterServicePeer(nodeID: 1, raftAddress: node.raftAddress,
                                      busAddress: PeerAddress(host: "127.0.0.1", port: freeLoopbackPort()))
        let service = ClusterService(configuration: ClusterServiceConfiguration(node: node, peers: [peer]),
                                     group: group, logger: quiet)
        do {
            try await service.start(.bootstrap(service.configuration.raftPeers))
            let s = ClusterBrokerStore(cluster: service, logger: quiet)
            let done = Completions()
            var results = done.results.makeAsyncIterator()
            for i in 0..<50 {
                s.storeRetained(message("dev/\(i)", "v\(i)"), now: t0, completion: done.callback("\(i)"))
            }
            s.storeRetained(message("short", "x", expiresAt: t0.adding(seconds: 1)), now: t0,
                            completion: done.callback("short"))
            var ok = 0
            for _ in 0..<51 where await results.next()!.1 { ok += 1 }
            #expect(ok == 51)
            #expect(service.read { $0.retainedCount(tenant: acme) } == 51)
            #expect(s.retained(tenant: acme, filter: "dev/+", now: t0).count == 50)
            #expect(s.retained(tenant: acme, filter: "short", now: t0).count == 1)
            // Two monotonic seconds later, read with the wall clock of "now": the store converts with real
            // clocks, so ask the state directly for an instant past the expiry.
            let expiresAtMs = service.read { $0.retained(tenant: acme, topic: "short")?.expiresAtMs }
            #expect(expiresAtMs != nil)
            #expect(service.read { $0.retainedMatching(tenant: acme, filter: "short", nowMs: expiresAtMs!) }.isEmpty)
        } catch {
            Issue.record("\(error)")
        }
        await service.shutdown()
        removeDir(dir)
        try await group.shutdownGracefully()
    }
}
