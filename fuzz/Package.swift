// swift-tools-version:6.0
// libFuzzer harness for the MQTT codec. A separate package so the main build never sees -sanitize=fuzzer.
// Build and run with ./run.sh (see README.md).
import PackageDescription

/// A path dependency's identity is its directory name (e.g. "main" or a worktree name), so derive it.
let rootIdentity = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "flotilla"

let package = Package(
    name: "flotilla-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "MQTTCodecFuzzer",
            dependencies: [
                "CLibFuzzer",
                .product(name: "MQTTCodec", package: rootIdentity),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)])
    ]
)
