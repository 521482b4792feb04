import ArgumentParser
import ClusterBus
import ClusterService
import Foundation
import Logging
import NIOCore
import NIOPosix
import RaftBench

/// `flotilla bench …`: benchmarks that need the node's own modules. (The MQTT load generator, which must not share
/// code with the broker it measures, is the separate package in benchmarks/.)
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks of the node's internals (see benchmarks/README.md).",
        subcommands: [BenchRaft.self, BenchRaftNode.self])
}

struct BenchRaft: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft",
        abstract: "Committed commands/s and commit latency on 1 and 3 local nodes (loopback, temp data dirs).")

    @Option(help: "Comma-separated scenarios: 1, 3-leader, 3-follower.")
    var scenarios = "1,3-leader,3-follower"
    @Option(help: "Comma-separated proposers in flight; one run per value and scenario.")
    var concurrency = "64,256,1024"
    @Option(help: "Measured seconds per run.")
    var duration = 10.0
    @Option(help: "Seconds per run before measuring.")
    var warmup = 2.0
    @Option(help: "Encoded size of each command in bytes.")
    var commandBytes = 100
    @Flag(help: "Run nodes 2 and 3 in this process instead of in child processes.")
    var inProcess = false
    @Option(help: "Event-loop threads per node (default: cores).")
    var eventLoopThreads = System.coreCount
    @Option(help: "Directory for the JSON results (created if missing); empty: no file.")
    var out = "benchmarks/results"
    @Option(help: "Commit (or any label) recorded in the results.")
    var commit: String?
    @Option(help: "Parent of the temporary data directories.")
    var dataRoot = NSTemporaryDirectory()
    @Option(help: "Raft snapshot threshold in log entries on every node (default: the production setting).")
    var snapshotThreshold: UInt32?

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        var options = RaftBenchOptions(
            executablePath: selfExecutable(), childCommand: ["bench", "raft-node"],
            eventLoopThreads: eventLoopThreads)
        options.scenarios = try scenarios.split(separator: ",").map { name in
            guard let s = RaftBenchOptions.Scenario(rawValue: String(name)) else {
                throw ValidationError("unknown scenario '\(name)' (1, 3-leader, 3-follower)")
            }
            return s
        }
        options.concurrency = try concurrency.split(separator: ",").map {
            guard let k = Int($0), k > 0 else { throw ValidationError("bad --concurrency value '\($0)'") }
            return k
        }
        guard duration > 0, warmup >= 0 else { throw ValidationError("need --duration > 0 and --warmup ≥ 0") }
        options.duration = .milliseconds(Int64(duration * 1000))
        options.warmup = .milliseconds(Int64(warmup * 1000))
        options.commandBytes = commandBytes
        options.separateProcesses = !inProcess
        options.dataRoot = dataRoot
        options.snapshotThreshold = snapshotThreshold

        let progress: @Sendable (String) -> Void = { line in
            FileHandle.standardError.write(Data(("[bench raft] " + line + "\n").utf8))
        }
        let report = try await RaftBench.run(
            options, commit: commit, logger: Logger(label: "flotilla.bench"), progress: progress)
        print(RaftBench.table(report))
        if !out.isEmpty {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let stamp = report.startedAt.replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
            let path = (out as NSString).appendingPathComponent("raft-\(stamp).json")
            try RaftBench.json(report).write(to: URL(fileURLWithPath: path))
            progress("wrote \(path)")
        }
    }

    /// This binary's path, so the benchmark can start its other nodes as child processes.
    private func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
    }
}

/// One member of a `bench raft` cluster in its own process; started by the benchmark, not by hand.
struct BenchRaftNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raft-node", abstract: "(internal) one node of a `bench raft` cluster, driven over stdin.",
        shouldDisplay: false)

    @Option var nodeId: UInt64
    @Option(help: "Every member, this one included: id@host:raftPort:busPort,...")
    var members: String
    @Option var dataDir: String
    @Option var electionTimeoutMs = 3000
    @Option var eventLoopThreads = System.coreCount
    @Option var snapshotThreshold: UInt32?

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let id = nodeId
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            h[metadataKey: "cluster.node"] = "\(id)"
            return h
        }
        let peers = try PeerSpec.parseList([members]).map {
            ClusterServicePeer(
                nodeID: $0.id, raftAddress: "\($0.host):\($0.raftPort)",
                busAddress: PeerAddress(host: $0.host, port: $0.busPort))
        }
        guard peers.contains(where: { $0.nodeID == nodeId }) else {
            throw ValidationError("--members has no row for node \(nodeId)")
        }
        try await RaftBenchNode.run(
            nodeID: nodeId, members: peers, dataDirectory: dataDir,
            electionTimeout: .milliseconds(electionTimeoutMs), snapshotThreshold: snapshotThreshold,
            eventLoopThreads: eventLoopThreads,
            logger: Logger(label: "flotilla.bench"))
    }
}
