// swift-tools-version:6.0
// Flotilla: a clustered, multi-tenant re-implementation of AWS IoT Core.
// Layers (imports only go down): L0 IoTTypes → L1 MQTTCodec, TopicTrie → L2 Broker → L3 BrokerNIO → L4 flotilla.
import PackageDescription

// Release builds optimise across modules: BrokerState<ConnectionHandle>, SubscriptionTrie and the codec are used
// from other modules, and without it their generic code runs unspecialised (profiled: ~6% of fan-in CPU spent
// in generic metadata lookups).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "flotilla",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flotilla", targets: ["Flotilla"]),
        .library(name: "MQTTCodec", targets: ["MQTTCodec"]),
        .library(name: "TopicTrie", targets: ["TopicTrie"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // L0
        .target(name: "IoTTypes", swiftSettings: strict),
        // L1 pure domain
        .target(
            name: "MQTTCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        .target(name: "TopicTrie", swiftSettings: strict),
        // L2 pure composition
        .target(
            name: "Broker",
            dependencies: [
                "IoTTypes", "MQTTCodec", "TopicTrie",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // L3 shells
        .target(
            name: "BrokerNIO",
            dependencies: [
                "Broker", "MQTTCodec", "TopicTrie", "IoTTypes",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        // L4 executable
        .executableTarget(
            name: "Flotilla",
            dependencies: [
                "BrokerNIO", "Broker", "ClusterService", "ClusterNode", "ClusterBus", "ClusterBrokerStore", "ClusterRouting",
                "Gossip", "GossipNIO",
                "ControlPlane", "ControlPlaneHTTP", "ClusterState", "IoTTypes", "Policy", "RaftBench", "Shadow", "TLS",
                "TLSConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        // Test kit (not for production): packet builders shared by tests, fuzzers and benchmarks.
        .target(
            name: "BrokerTestKit",
            dependencies: ["MQTTCodec", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        .testTarget(
            name: "MQTTCodecTests",
            dependencies: [
                "MQTTCodec", "BrokerTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(name: "TopicTrieTests", dependencies: ["TopicTrie", "BrokerTestKit"], swiftSettings: strict),
        .testTarget(
            name: "BrokerTests",
            dependencies: ["Broker", "MQTTCodec", "TopicTrie", "IoTTypes", "BrokerTestKit"],
            swiftSettings: strict),
        .testTarget(
            name: "BrokerNIOTests",
            dependencies: [
                "BrokerNIO", "Broker", "MQTTCodec", "BrokerTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // Issue 3: the replicated state machine (L2, pure) and LZ4 for its snapshots (L3: C library behind a wrapper).
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .target(name: "LZ4", dependencies: ["CLZ4"], swiftSettings: strict),
        .target(name: "ClusterState", dependencies: ["IoTTypes", "MQTTCodec", "Shadow", "TopicTrie"], swiftSettings: strict),
        .testTarget(
            name: "ClusterStateTests",
            dependencies: ["ClusterState", "LZ4", "IoTTypes", "MQTTCodec", "BrokerTestKit", "Shadow"],
            swiftSettings: strict),
        // L3 raft shell: libraft + libuv behind RaftStore (STYLE C7); only RaftStore imports CRaft.
        .systemLibrary(name: "CRaft", pkgConfig: "raft", providers: [.apt(["libraft-dev", "libuv1-dev"])]),
        .target(name: "RaftStore", dependencies: ["CRaft"], swiftSettings: strict),
        // CRaft for raft/fixture.h: tests drive RaftNode's fsm thunks inside libraft's in-memory cluster.
        .testTarget(name: "RaftStoreTests", dependencies: ["RaftStore", "CRaft", "NetTestKit"], swiftSettings: strict),
        // Test kit (not for production): real-socket test helpers (free ports, temp dirs, bounded waits).
        .target(name: "NetTestKit", swiftSettings: strict),
        // L3 ClusterNode: ClusterState replicated on a RaftNode, snapshots in LZ4, a read model for every thread.
        .target(
            name: "ClusterNode",
            dependencies: [
                "RaftStore", "ClusterState", "LZ4", "IoTTypes",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ClusterNodeTests",
            dependencies: ["ClusterNode", "ClusterState", "RaftStore", "LZ4", "IoTTypes", "MQTTCodec", "NetTestKit"],
            swiftSettings: strict),
        // Cluster bus (port 7001): the frame format (L1, pure) and the NIO client/server (L3), domain-free.
        .target(
            name: "BusProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        .target(
            name: "ClusterBus",
            dependencies: [
                "BusProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "BusProtocolTests",
            dependencies: [
                "BusProtocol", "BrokerTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict),
        // L3 ClusterService: proposals from any node (followers forward to the leader over the bus).
        .target(
            name: "ClusterService",
            dependencies: [
                "ClusterNode", "ClusterBus", "ClusterState", "BusProtocol", "IoTTypes",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ClusterServiceTests",
            dependencies: [
                "ClusterService", "ClusterNode", "ClusterBus", "ClusterState", "IoTTypes", "NetTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // L3 ControlPlane: the AWS `iot` API (things so far) and the cluster admin routes as pure request →
        // command / read → response mappings, plus a router over a backend protocol. No NIO and no clock: the HTTP
        // shell and the ClusterService backend live in Flotilla (issue 5 moves the shell to Hummingbird).
        .target(name: "ControlPlane", dependencies: ["ClusterState", "IoTTypes", "Shadow", "SigV4"], swiftSettings: strict),
        // L3 shell: the control plane's HTTP server (Hummingbird), /metrics and /health.
        .target(
            name: "ControlPlaneHTTP",
            dependencies: [
                "ControlPlane",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ControlPlaneTests", dependencies: ["ControlPlane", "ClusterState", "IoTTypes", "SigV4", "TLS"],
            swiftSettings: strict),
        // `flotilla bench raft` (issue 3): commit throughput and latency through ClusterService on 1 and 3 local
        // nodes. Here, not in benchmarks/ (a standalone package that must not link the broker it measures),
        // because it drives ClusterService in-process.
        .target(
            name: "RaftBench",
            dependencies: [
                "ClusterService", "ClusterNode", "ClusterBus", "ClusterState", "IoTTypes", "MQTTCodec",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(name: "RaftBenchTests", dependencies: ["RaftBench", "ClusterState"], swiftSettings: strict),
        .testTarget(
            name: "ClusterBusTests",
            dependencies: [
                "ClusterBus", "BusProtocol", "NetTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // L3 ClusterRouting (issue 7): cross-node message forwarding, per-peer links on the cluster bus (kind 6).
        .target(
            name: "ClusterRouting",
            dependencies: [
                "Broker", "BrokerNIO", "ClusterService", "ClusterBus", "LZ4", "IoTTypes", "MQTTCodec", "TopicTrie",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "GossipNIOTests",
            dependencies: [
                "GossipNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ClusterRoutingTests",
            dependencies: [
                "ClusterRouting", "Broker", "BrokerNIO", "ClusterService", "ClusterNode", "ClusterBus", "IoTTypes",
                "MQTTCodec", "BrokerTestKit", "NetTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // L3 ClusterBrokerStore: the broker's retained messages and session records, replicated through
        // ClusterService (ordered writes, batched; read-your-writes overlay).
        .target(
            name: "ClusterBrokerStore",
            dependencies: [
                "Broker", "ClusterNode", "ClusterService", "ClusterState", "IoTTypes", "MQTTCodec", "TopicTrie",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ClusterBrokerStoreTests",
            dependencies: [
                "ClusterBrokerStore", "Broker", "ClusterService", "ClusterNode", "ClusterBus", "ClusterState",
                "IoTTypes", "MQTTCodec", "NetTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Issue 5, SigV4: a pure verifier of AWS Signature Version 4 (header and presigned-query forms). `now`, the
        // key lookup and the accepted regions and services are injected; swift-crypto supplies SHA-256 and HMAC.
        .target(name: "SigV4", dependencies: [.product(name: "Crypto", package: "swift-crypto")], swiftSettings: strict),
        .testTarget(
            name: "SigV4Tests", dependencies: ["SigV4"], exclude: ["make-vectors.py"], swiftSettings: strict),
        // Issue 4, TLS: a pure SNI → domain-entry selector (L1), and the OpenSSL shell (L3) behind which the system
        // libssl stays (STYLE C7): only TLS imports COpenSSL.
        .target(name: "TLSConfig", swiftSettings: strict),
        // Issue 5, IoT policies: documents parsed from their JSON text (no Foundation) and a pure evaluator (L1).
        .target(name: "Policy", dependencies: ["IoTTypes"], swiftSettings: strict),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "IoTTypes"], swiftSettings: strict),
        // Issue 6, Device Shadow: documents, merge, delta, metadata, versions and every §5 limit and error as pure
        // functions over request bytes (L1, own JSON reader and canonical writer; time passed in).
        .target(name: "Shadow", swiftSettings: strict),
        // Issue 7: gossip membership (SWIM with Lifeguard) and the subscription table it carries, pure.
        .target(name: "Gossip", dependencies: ["IoTTypes", "TopicTrie"], swiftSettings: strict),
        // Issue 7: the gossip's shell — UDP datagrams and TCP push/pull on one port, timers, lifecycle.
        .target(
            name: "GossipNIO",
            dependencies: [
                "Gossip", "IoTTypes",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // Test kit (not for production): a virtual clock, a simulated network and many Gossip instances in one
        // process, with scenario files. Pure: no clock, no threads.
        .target(name: "SimKit", dependencies: ["Gossip", "IoTTypes"], swiftSettings: strict),
        .testTarget(
            name: "GossipTests", dependencies: ["Gossip", "SimKit", "IoTTypes", "TopicTrie"], exclude: ["Scenarios"],
            swiftSettings: strict),
        .testTarget(name: "TLSConfigTests", dependencies: ["TLSConfig"], swiftSettings: strict),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(
            name: "TLS",
            dependencies: [
                "COpenSSL", "TLSConfig",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        // COpenSSL here for the in-memory test client (a plain SSL object on memory BIOs).
        .testTarget(
            name: "TLSTests",
            dependencies: [
                "TLS", "TLSConfig", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Issue 6: the Shadow module's golden tables, determinism and storage round trip.
        .testTarget(name: "ShadowTests", dependencies: ["Shadow"], swiftSettings: strict),
    ]
)
