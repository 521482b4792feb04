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
import TopicTrie

@testable import ClusterBrokerStore

/// Two nodes in one process (real raft, real bus): bus request kind 7 between `SessionTakeover`s, with each node's
/// broker state a `BrokerState` behind a lock (what `BrokerCore.handOff` does for a parked session).
@Suite(.serialized) struct SessionTakeoverTests {
    final class Node: Sendable {
        let service: ClusterService
        let store: ClusterBrokerStore
        let takeover: SessionTakeover
        let broker = Mutex(BrokerState<Int>(replicateQueues: true))

        init(service: ClusterService, peers: [UInt64]) {
            self.service = service
            store = ClusterBrokerStore(cluster: service, maxSessionQueue: 10, logger: quiet)
            var settings = SessionTakeover.Settings()
            settings.timeout = .milliseconds(500)
            takeover = SessionTakeover(cluster: service, store: store, peers: { peers }, settings: settings,
                                       logger: quiet)
            takeover.serve { [self] tenant, clientID, cleanStart, _ in
                let found = broker.withLock { s in
                    let r = s.handOff(tenant: tenant, clientID: clientID, cleanStart: cleanStart, token: 1)
                    self.store.record(s.takeRecordWrites(), now: t0)
                    return r
                }
                if case .absent = found { return .absent }
                await self.written()  // as BrokerCore.handOff: answer once this node's writes are applied
                switch found {
                case .absent: return .absent
                case .discarded: return .discarded
                case .handedOver(let session, let expiry): return .handedOver(session, expiry: expiry)
                case .kick: return .timedOut
                }
            }
        }

        /// Parks a persistent session subscribed to `t/#` (QoS 1) and queues `payloads` for it, replicating as a
        /// node does.
        func park(_ clientID: String, queue payloads: [String]) {
            broker.withLock { s in
                _ = s.openSession(tenant: acme, clientID: clientID, handle: 1, cleanStart: false, now: t0)
                let f = try! Topic.parseFilter("t/#")
                s.subscribe(tenant: acme, clientID: clientID, filter: f, options: SubscriptionOptions(qos: .atLeastOnce))
                var st = SessionState(tenant: acme, clientID: clientID, protocolVersion: .v5)
                st.subscriptions["t/#"] = .init(filter: f, options: SubscriptionOptions(qos: .atLeastOnce))
                _ = s.sessionClosed(tenant: acme, clientID: clientID, handle: 1, state: st, expiry: 600, will: nil,
                                    willDelay: 0, now: t0)
                for p in payloads { _ = s.route(message("t/x", p), now: t0) { _ in 0 } }
                store.record(s.takeRecordWrites(), now: t0)
            }
        }

        func written() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in store.afterWrites { _ in c.resume() } }
        }
    }

    func withPair(_ body: (Node, Node) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let dirs = (1...2).map { makeTempDir("takeover-\($0)") }
        let peers = (1...2).map {
            ClusterServicePeer(nodeID: UInt64($0), raftAddress: "127.0.0.1:\(freeLoopbackPort())",
                               busAddress: PeerAddress(host: "127.0.0.1", port: freeLoopbackPort()))
        }
        let services = peers.enumerated().map { i, peer in
            var node = ClusterNodeConfiguration(nodeID: peer.nodeID, raftAddress: peer.raftAddress, dataDirectory: dirs[i])
            node.electionTimeout = .milliseconds(300)
            node.heartbeatTimeout = .milliseconds(50)
            node.connectRetryDelay = .milliseconds(50)
            return ClusterService(configuration: ClusterServiceConfiguration(node: node, peers: peers), group: group,
                                  logger: quiet)
        }
        let nodes = [Node(service: services[0], peers: [2]), Node(service: services[1], peers: [1])]
        do {
            for s in services { try await s.start(.bootstrap(s.configuration.raftPeers)) }
            for s in services { _ = await s.waitUntilCurrent(timeout: .seconds(10)) }
            try await body(nodes[0], nodes[1])
        } catch {
            Issue.record("\(error)")
        }
        for s in services { await s.shutdown() }
        dirs.forEach(removeDir)
        try await group.shutdownGracefully()
    }

    func payloads(_ s: SessionState?) -> [String] { s?.pending.elements.map { String(buffer: $0.message.payload) } ?? [] }

    @Test("a parked session moves from node 1 to node 2 over the bus: subscriptions, queue, replicated copy cleared")
    func handedOver() async throws {
        try await withPair { a, b in
            a.park("dev", queue: ["one", "two"])
            await a.written()
            try await waitUntil("the queue replicated on node 2", timeout: .seconds(10)) {
                b.service.read { $0.sessionQueue(tenant: acme, clientID: "dev")?.entries.count } == 2
            }
            let s = await b.takeover.takeOver(tenant: acme, clientID: "dev", cleanStart: false, heldHere: false,
                                              limits: BrokerLimits())
            #expect(payloads(s) == ["one", "two"])
            #expect(s?.subscriptions["t/#"]?.options.qos == .atLeastOnce)
            #expect(!a.broker.withLock { $0.hasSession(tenant: acme, clientID: "dev") })
            // Node 1 answered after its clear was applied: node 2 sees an empty replicated queue at once.
            #expect(b.service.read { $0.sessionQueue(tenant: acme, clientID: "dev")?.entries.isEmpty } == true)
            // Asked again, nobody holds it and the replicated queue is empty: the record alone (subscriptions).
            let again = await b.takeover.takeOver(tenant: acme, clientID: "dev", cleanStart: false, heldHere: false,
                                                  limits: BrokerLimits())
            #expect(again?.subscriptions.keys.sorted() == ["t/#"])
            #expect(payloads(again).isEmpty)
        }
    }

    @Test("no holder hands it over: node 2 resumes from the replicated record and queue, and takes the queue")
    func fromReplica() async throws {
        try await withPair { a, b in
            a.park("lost", queue: ["q1", "q2", "q3"])
            await a.written()
            // Node 1 "restarted": it no longer holds the session, but the replicated record and queue remain.
            a.broker.withLock { $0 = BrokerState<Int>(replicateQueues: true) }
            try await waitUntil("the queue replicated on node 2", timeout: .seconds(10)) {
                b.service.read { $0.sessionQueue(tenant: acme, clientID: "lost")?.entries.count } == 3
            }
            let s = await b.takeover.takeOver(tenant: acme, clientID: "lost", cleanStart: false, heldHere: false,
                                              limits: BrokerLimits())
            #expect(payloads(s) == ["q1", "q2", "q3"])
            #expect(s?.subscriptions.keys.sorted() == ["t/#"])
            await b.written()
            #expect(b.service.read { $0.sessionQueue(tenant: acme, clientID: "lost")?.entries.isEmpty } == true)
            // A clean start finds the record and removes it with its queue.
            _ = await b.takeover.takeOver(tenant: acme, clientID: "lost", cleanStart: true, heldHere: false,
                                          limits: BrokerLimits())
            await b.written()
            #expect(b.service.read { $0.sessionRecord(tenant: acme, clientID: "lost") } == nil)
        }
    }

    @Test("a session held on the asking node wins: the replicated copy is neither read nor taken")
    func heldHere() async throws {
        try await withPair { a, b in
            a.park("mine", queue: ["m"])
            await a.written()
            a.broker.withLock { $0 = BrokerState<Int>(replicateQueues: true) }
            try await waitUntil("the queue replicated on node 2", timeout: .seconds(10)) {
                b.service.read { $0.sessionQueue(tenant: acme, clientID: "mine")?.entries.count } == 1
            }
            let s = await b.takeover.takeOver(tenant: acme, clientID: "mine", cleanStart: false, heldHere: true,
                                              limits: BrokerLimits())
            #expect(s == nil)
            #expect(b.service.read { $0.sessionQueue(tenant: acme, clientID: "mine")?.entries.count } == 1)
        }
    }

    @Test("a node that does not answer is treated as gone: its parked session resumes from the replicated copy")
    func holderGone() async throws {
        try await withPair { a, b in
            a.park("orphan", queue: ["o1", "o2"])
            await a.written()
            try await waitUntil("the queue replicated on node 2", timeout: .seconds(10)) {
                b.service.read { $0.sessionQueue(tenant: acme, clientID: "orphan")?.entries.count } == 2
            }
            await a.service.shutdown()  // node 1 is gone (its bus refuses connections)
            let clock = ContinuousClock()
            let started = clock.now
            let s = await b.takeover.takeOver(tenant: acme, clientID: "orphan", cleanStart: false, heldHere: false,
                                              limits: BrokerLimits())
            #expect(payloads(s) == ["o1", "o2"])
            #expect(s?.subscriptions.keys.sorted() == ["t/#"])
            #expect(clock.now - started < .seconds(2))  // bounded by the ask timeout (0.5 s here)
        }
    }
}
