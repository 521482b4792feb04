// swift-tools-version:6.0
// Flotilla benchmarks: a standalone package so the load generator never links the code under test.
// `mqtt-load` speaks MQTT 3.1.1 through its own tiny client codec (LoadClientCodec), over TCP or TLS (swift-nio-ssl),
// and can be pointed at any broker.
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "flotilla-benchmarks",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mqtt-load", targets: ["MQTTLoad"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Only for `mqtt-load --tls`: the client side of the TLS benchmarks. BoringSSL inside, so the client's TLS
        // stack is not the OpenSSL that the broker under test (Flotilla, mosquitto) uses.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
    ],
    targets: [
        // Client side of MQTT 3.1.1 only: CONNECT, PUBLISH, PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT out;
        // CONNACK, PUBLISH, PUBACK, SUBACK, PINGRESP in.
        .target(
            name: "LoadClientCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "MQTTLoad",
            dependencies: [
                "LoadClientCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "LoadClientCodecTests",
            dependencies: [
                "LoadClientCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
