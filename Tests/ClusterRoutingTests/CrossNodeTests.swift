import Broker
import BrokerNIO
import ClusterBus
import ClusterNode
import ClusterRouting
import ClusterService
import IoTTypes
import Logging
import MQTTCodec
import NIOCore
import NIOPosix
import NetTestKit
import Synchronization
import Testing

/// A minimal MQTT client over a real socket: packets out, decoded packets in (bounded waits only).
final class TestClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let version: ProtocolVersion
    let received = Mutex<[MQTTPacket]>([])
    var buffer = ByteBuffer()
    var decoder: MQTTDecoder
    var channel: (any Channel)?

    init(version: ProtocolVersion) {
        self.version = version
        decoder = MQTTDecoder(role: .client, version: version)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        buffer.writeBuffer(&b)
        while let p = try? decoder.decode(&buffer) { received.withLock { $0.append(p) } }
    }

    static func connect(port: Int, group: any EventLoopGroup, id: String, version: ProtocolVersion = .v5) async throws
        -> TestClient
    {
        let client = TestClient(version: version)
        client.channel = try await ClientBootstrap(group: group)
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(client) } }
            .connect(host: "127.0.0.1", port: port).get()
        try await client.send(.connect(ConnectPacket(protocolVersion: version, cleanStart: true, keepAlive: 60, clientID: id)))
        _ = try await client.wait("CONNACK") { if case .connack = $0 { return true } else { return false } }
        return client
    }

    func send(_ packet: MQTTPacket) async throws {
        var b = ByteBuffer()
        MQTTEncoder.encode(packet, version: version, into: &b)
        try await channel!.writeAndFlush(b).get()
    }

    /// Waits for (and removes) the first received packet `match` accepts.
    func wait(_ what: String, _ match: @escaping @Sendable (MQTTPacket) -> Bool) async throws -> MQTTPacket {
        var found: MQTTPacket?
        try await waitUntil(what, timeout: .seconds(10)) {
            found = received.withLock { r in
                guard let i = r.firstIndex(where: match) else { return nil }
                return r.remove(at: i)
            }
            return found != nil
        }
        return found!
    }

    func publishes() -> [PublishPacket] {
        received.withLock { $0.compactMap { if case .publish(let p) = $0 { return p } else { return nil } } }
    }

    func subscribe(_ filter: String, qos: QoS) async throws {
        try await send(.subscribe(SubscribePacket(packetID: 1, subscriptions: [
            TopicSubscription(filter: filter, options: SubscriptionOptions(qos: qos))])))
        _ = try await wait("SUBACK") { if case .suback = $0 { return true } else { return false } }
    }

    func close() async { try? await channel?.close().get() }
}

/// Two or three broker nodes in one process: real ClusterServices on loopback (bus kind 6), real MQTT listeners,
/// and one in-memory route table standing in for gossip.
final class Cluster: @unchecked Sendable {
    let group: any EventLoopGroup
    let services: [ClusterService]
    let cores: [BrokerCore]
    let forwarders: [ClusterForwarder]
    var listeners: [any Channel] = []
    var ports: [Int] = []
    let dirs: [String]
    let table = InMemoryRouteTable()

    init(nodes: Int, group: any EventLoopGroup) async throws {
        self.group = group
        let dirs = (1...nodes).map { makeTempDir("route-\($0)") }
        self.dirs = dirs
        let peers = (1...nodes).map {
            ClusterServicePeer(nodeID: UInt64($0), raftAddress: "127.0.0.1:\(freeLoopbackPort())",
                               busAddress: PeerAddress(host: "127.0.0.1", port: freeLoopbackPort()))
        }
        services = peers.enumerated().map { i, peer in
            var node = ClusterNodeConfiguration(nodeID: peer.nodeID, raftAddress: peer.raftAddress, dataDirectory: dirs[i])
            node.electionTimeout = .milliseconds(300)
            node.heartbeatTimeout = .milliseconds(50)
            node.connectRetryDelay = .milliseconds(50)
            var c = ClusterServiceConfiguration(node: node, peers: peers)
            c.requestTimeout = .seconds(5)
            return ClusterService(configuration: c, group: group, logger: quiet)
        }
        let table = self.table
        cores = peers.map { peer in
            BrokerCore(limits: BrokerLimits(), metrics: BrokerMetrics(), routes: table.directory(for: peer.nodeID),
                       logger: quiet)
        }
        forwarders = zip(cores, services).map { core, service in ClusterForwarder(core: core, cluster: service, logger: quiet) }
        for (f, s) in zip(forwarders, services) { f.install(on: s) }
        for s in services { try await s.start(.bootstrap(s.configuration.raftPeers)) }
        for core in cores {
            let port = freeLoopbackPort()
            let service = BrokerService(core: core, listener: MQTTListenerConfiguration(host: "127.0.0.1", port: port),
                                        group: group, logger: quiet)
            listeners.append(try await service.bind())
            ports.append(port)
        }
    }

    func shutdown() async {
        for l in listeners { try? await l.close().get() }
        for f in forwarders { f.shutdown() }
        for s in services { await s.shutdown() }
        dirs.forEach(removeDir)
    }
}

@Suite(.serialized) struct CrossNodeTests {
    @Test("a publish on node 1 reaches a subscriber on node 2 at QoS 0, 1 and 2; the publisher gets PUBACK and PUBREC")
    func pointToPoint() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let cluster = try await Cluster(nodes: 2, group: group)
        let sub = try await TestClient.connect(port: cluster.ports[1], group: group, id: "sub")
        try await sub.subscribe("t/#", qos: .exactlyOnce)
        #expect(cluster.table.rows(of: 2, tenant: .default) == ["t/#"])
        let pub = try await TestClient.connect(port: cluster.ports[0], group: group, id: "pub")
        let props: MQTTProperties = [.contentType("text/plain"), .userProperty("k", "v"), .responseTopic("reply/1")]
        try await pub.send(.publish(PublishPacket(topic: "t/0", payload: ByteBuffer(string: "zero"), qos: .atMostOnce,
                                                  properties: props)))
        try await pub.send(.publish(PublishPacket(topic: "t/1", payload: ByteBuffer(string: "one"), qos: .atLeastOnce,
                                                  packetID: 11)))
        _ = try await pub.wait("PUBACK 11") { $0 == .puback(PubAckPacket(packetID: 11)) }
        try await pub.send(.publish(PublishPacket(topic: "t/2", payload: ByteBuffer(string: "two"), qos: .exactlyOnce,
                                                  packetID: 12)))
        _ = try await pub.wait("PUBREC 12") { $0 == .pubrec(PubAckPacket(packetID: 12)) }
        for topic in ["t/0", "t/1", "t/2"] {
            let p = try await sub.wait(topic) { if case .publish(let p) = $0 { return p.topic == topic } else { return false } }
            guard case .publish(let got) = p else { continue }
            if topic == "t/0" {
                #expect(String(buffer: got.payload) == "zero")
                #expect(got.properties.list.contains(.contentType("text/plain")))
                #expect(got.properties.list.contains(.userProperty("k", "v")))
                #expect(got.properties.list.contains(.responseTopic("reply/1")))
            }
            #expect(got.qos.rawValue == UInt8(topic.last!.wholeNumberValue!))
        }
        await sub.close()
        await pub.close()
        await cluster.shutdown()
        try await group.shutdownGracefully()
    }

    @Test("a $share group with members on nodes 1 and 2 gets each message exactly once; a plain subscriber on node 3 gets all")
    func sharedAcrossNodes() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let cluster = try await Cluster(nodes: 3, group: group)
        let m1 = try await TestClient.connect(port: cluster.ports[0], group: group, id: "m1")
        let m2 = try await TestClient.connect(port: cluster.ports[1], group: group, id: "m2")
        let plain = try await TestClient.connect(port: cluster.ports[2], group: group, id: "plain")
        try await m1.subscribe("$share/g/s/+", qos: .atLeastOnce)
        try await m2.subscribe("$share/g/s/+", qos: .atLeastOnce)
        try await plain.subscribe("s/+", qos: .atLeastOnce)
        let pub = try await TestClient.connect(port: cluster.ports[2], group: group, id: "pub")
        let n = 60
        for i in 0..<n {
            try await pub.send(.publish(PublishPacket(topic: "s/\(i)", payload: ByteBuffer(string: "\(i)"),
                                                      qos: .atLeastOnce, packetID: UInt16(i + 1))))
        }
        try await waitUntil("all delivered") {
            m1.publishes().count + m2.publishes().count >= n && plain.publishes().count >= n
        }
        let shared = (m1.publishes() + m2.publishes()).map(\.topic)
        #expect(shared.count == n)
        #expect(Set(shared).count == n)
        #expect(!m1.publishes().isEmpty && !m2.publishes().isEmpty)  // both nodes served some
        #expect(Set(plain.publishes().map(\.topic)).count == n)
        for c in [m1, m2, plain, pub] { await c.close() }
        await cluster.shutdown()
        try await group.shutdownGracefully()
    }
}
