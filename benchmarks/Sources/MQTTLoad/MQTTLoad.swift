import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

@main
struct MQTTLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt-load",
        abstract: "MQTT 3.1.1 load generator for loopback brokers (p2p, fanout, fanin, idle).",
        subcommands: [RunCommand.self, ReportCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

extension Scenario: ExpressibleByArgument {}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one scenario; print one JSON line on stdout and one human line on stderr."
    )

    @Argument(help: "p2p | fanout | fanin | idle")
    var scenario: Scenario

    @Option(help: "Broker address; only loopback (127.0.0.0/8, ::1, localhost) is allowed.")
    var host = "127.0.0.1"
    @Option(help: "Broker MQTT port.")
    var port = 1883
    @Option(name: .customLong("sub-port"), help: "Subscribers connect to this port instead (another cluster node).")
    var subPort: Int?
    @Option(help: "Name of the broker in the output (e.g. mosquitto, flotilla).")
    var label = "broker"
    @Option(help: "Event loop threads of mqtt-load (default: number of cores).")
    var threads = System.coreCount

    @Option(help: "QoS of PUBLISH and SUBSCRIBE: 0 or 1.")
    var qos: UInt8 = 0
    @Option(help: "Payload bytes (at least 8: the first 8 carry the send time).")
    var payload = 64
    @Option(help: "Measured seconds.")
    var duration = 10.0
    @Option(help: "Seconds of publishing before measurement starts.")
    var warmup = 2.0
    @Option(help: "p2p: publisher → subscriber pairs.")
    var pairs = 10
    @Option(help: "fanout: subscribers; fanin: publishers.")
    var fan = 100
    @Option(name: .customLong("max-inflight"), help: "QoS 1: unacknowledged PUBLISH packets per publisher.")
    var maxInflight = 100
    @Option(help: "Messages/s per publisher; 0 = as fast as backpressure allows.")
    var rate = 0
    @Option(help: "SO_SNDBUF and outbound high-water mark of each client in bytes; 0 = kernel/NIO defaults.")
    var sndbuf = 32_768
    @Option(help: "SO_RCVBUF of each client in bytes; 0 = kernel autotuning.")
    var rcvbuf = 65_536
    @Option(help: "Keepalive seconds in CONNECT (default 300 for idle, 60 otherwise).")
    var keepalive: UInt16?

    @Option(help: "idle: connections to open.")
    var connections = 10_000
    @Option(name: .customLong("connect-concurrency"), help: "Handshakes in flight at once.")
    var connectConcurrency = 100
    @Option(help: "idle: seconds to wait after the last CONNACK before sampling RSS.")
    var settle = 2.0
    @Option(name: .customLong("handshake-timeout"), help: "Seconds allowed per connect + handshake.")
    var handshakeTimeout = 30
    @Option(name: .customLong("broker-pid"), help: "Broker pid for VmRSS (idle) and CPU (all) from /proc.")
    var brokerPID: Int32?

    @Flag(help: "Mutual TLS 1.2/1.3 (swift-nio-ssl) instead of plain TCP; needs --ca, --cert and --key.")
    var tls = false
    @Option(help: "--tls: PEM file of the CA(s) the server certificate must chain to.")
    var ca: String?
    @Option(help: "--tls: PEM client certificate (chain) presented by every client.")
    var cert: String?
    @Option(help: "--tls: PEM private key of --cert.")
    var key: String?
    @Option(name: .customLong("server-name"),
            help: "--tls: SNI and the name checked in the server certificate (default: no SNI, check the IP address).")
    var serverName: String?

    func validate() throws {
        guard Self.isLoopback(self.host) else {
            throw ValidationError("--host must be a loopback address (127.0.0.0/8, ::1 or localhost)")
        }
        guard (1...65_535).contains(self.port) else { throw ValidationError("--port out of range") }
        guard self.qos <= 1 else { throw ValidationError("--qos must be 0 or 1") }
        guard (8...1 << 20).contains(self.payload) else { throw ValidationError("--payload must be 8...1048576") }
        guard self.duration > 0 && self.duration <= 600 else { throw ValidationError("--duration must be 0 < d ≤ 600") }
        guard self.warmup >= 0 && self.warmup <= 120 else { throw ValidationError("--warmup must be 0...120") }
        guard (1...10_000).contains(self.pairs) else { throw ValidationError("--pairs must be 1...10000") }
        guard (1...10_000).contains(self.fan) else { throw ValidationError("--fan must be 1...10000") }
        guard (1...65_535).contains(self.maxInflight) else { throw ValidationError("--max-inflight must be 1...65535") }
        guard self.rate >= 0 else { throw ValidationError("--rate must be ≥ 0") }
        guard (1...60_000).contains(self.connections) else { throw ValidationError("--connections must be 1...60000") }
        guard (1...10_000).contains(self.connectConcurrency) else {
            throw ValidationError("--connect-concurrency must be 1...10000")
        }
        guard self.settle >= 0 && self.settle <= 60 else { throw ValidationError("--settle must be 0...60") }
        guard (1...300).contains(self.handshakeTimeout) else { throw ValidationError("--handshake-timeout 1...300") }
        guard self.sndbuf == 0 || (4_096...(64 << 20)).contains(self.sndbuf) else {
            throw ValidationError("--sndbuf must be 0 or 4096...67108864")
        }
        guard self.rcvbuf == 0 || (4_096...(64 << 20)).contains(self.rcvbuf) else {
            throw ValidationError("--rcvbuf must be 0 or 4096...67108864")
        }
        guard (1...64).contains(self.threads) else { throw ValidationError("--threads must be 1...64") }
        if self.tls {
            guard self.ca != nil, self.cert != nil, self.key != nil else {
                throw ValidationError("--tls needs --ca, --cert and --key")
            }
        } else if self.ca != nil || self.cert != nil || self.key != nil || self.serverName != nil {
            throw ValidationError("--ca, --cert, --key and --server-name only apply with --tls")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "[::1]" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    func run() async throws {
        var tlsClient: TLSClient?
        if self.tls, let ca = self.ca, let cert = self.cert, let key = self.key {
            do {
                tlsClient = try TLSClient(caFile: ca, certificateFile: cert, keyFile: key, serverName: self.serverName)
            } catch {
                throw ValidationError("--tls: cannot load the certificates: \(error)")
            }
        }
        let plan = RunPlan(
            scenario: self.scenario,
            label: self.label,
            host: self.host == "[::1]" ? "::1" : self.host,
            port: self.port,
            subscriberPort: self.subPort,
            threads: self.threads,
            qos: self.qos,
            payload: self.payload,
            duration: self.duration,
            warmup: self.warmup,
            pairs: self.pairs,
            fan: self.fan,
            maxInflight: self.maxInflight,
            rate: self.rate,
            keepAlive: self.keepalive ?? (self.scenario == .idle ? 300 : 60),
            connections: self.connections,
            connectConcurrency: self.connectConcurrency,
            settle: self.settle,
            sendBuffer: self.sndbuf,
            receiveBuffer: self.rcvbuf,
            handshakeTimeout: .seconds(Int64(self.handshakeTimeout)),
            brokerPID: self.brokerPID,
            runID: String(UInt32.random(in: 0...UInt32.max), radix: 16),
            tls: tlsClient
        )
        let group = MultiThreadedEventLoopGroup(numberOfThreads: plan.threads)
        let result: RunResult
        switch plan.scenario {
        case .idle: result = await runIdle(plan, group: group)
        case .p2p, .fanout, .fanin, .shadow: result = await runPubSub(plan, group: group)
        }
        try? await group.shutdownGracefully()
        print(result.jsonLine())
        FileHandle.standardError.write(Data((result.humanLine() + "\n").utf8))
        if result.errors > 0 { throw ExitCode(1) }
    }
}
