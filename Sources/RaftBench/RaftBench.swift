// `flotilla bench raft`: committed commands/s and commit latency of the replicated state (issue 3), on one node
// and on three local nodes, through the leader and through a follower (which forwards over the cluster bus).
//
// What is measured, and how:
// - Closed loop, pipelined: `concurrency` proposers each call `ClusterService.propose` on node 1 and propose again
//   as soon as it returns, so `concurrency` commands are always in flight. RaftNode packs whatever is queued into
//   one entry per loop wake (EntryBatch), so the in-flight depth is what batching has to work with.
// - Commands are `setRetained`, `commandBytes` (100) encoded bytes each, one topic per proposer (BenchCommand).
// - A command counts when `propose` returned inside the window: committed on a majority *and* applied on node 1
//   (read-your-writes; through a follower that includes the forward and the wait for the follower's apply).
// - Latency is that `propose` call, start to return. The warm-up (bus connections opening, allocator and caches
//   warming, the first snapshots) is excluded.
// - Node 1 runs in this process together with the load; nodes 2 and 3 run in child processes (this binary,
//   re-executed) unless `separateProcesses` is off. Durable: libraft writes the log with O_DSYNC into temp dirs.

import ClusterService
import Foundation
import Logging

public struct RaftBenchOptions: Sendable {
    public enum Scenario: String, CaseIterable, Sendable {
        /// One voter; proposals on it.
        case single = "1"
        /// Three voters; proposals on the leader (node 1).
        case leader = "3-leader"
        /// Three voters; proposals on a follower (node 1 while node 2 leads), forwarded over the bus.
        case follower = "3-follower"

        var title: String {
            switch self {
            case .single: "1 node"
            case .leader: "3 nodes, via leader"
            case .follower: "3 nodes, via follower"
            }
        }
    }

    public var scenarios: [Scenario] = Scenario.allCases
    /// Proposers in flight; one run per value and scenario.
    public var concurrency: [Int] = [64, 256, 1024]
    public var duration: Duration = .seconds(10)
    public var warmup: Duration = .seconds(2)
    public var commandBytes = 100
    /// Nodes 2 and 3 in child processes (else in this process).
    public var separateProcesses = true
    /// This binary, and the arguments that make it run one member (`bench raft-node`).
    public var executablePath: String
    public var childCommand: [String]
    /// Event-loop threads per node (cluster bus).
    public var eventLoopThreads: Int
    /// Raft snapshot threshold in entries on every node (nil: the production default).
    public var snapshotThreshold: UInt32?
    /// Parent of the temporary data directories (removed afterwards).
    public var dataRoot: String = NSTemporaryDirectory()

    public init(executablePath: String, childCommand: [String], eventLoopThreads: Int) {
        self.executablePath = executablePath
        self.childCommand = childCommand
        self.eventLoopThreads = eventLoopThreads
    }
}

/// One line of the results.
public struct RaftBenchRow: Codable, Sendable {
    public var scenario: String
    public var nodes: Int
    public var proposeVia: String
    public var concurrency: Int
    public var commandBytes: Int
    public var measured: Measured

    public struct Measured: Codable, Sendable {
        public var windowS: Double
        /// Commands whose `propose` returned successfully inside the window.
        public var committed: Int
        public var commandsPerS: Double
        public var latency: LatencySummary
        /// Failed proposals by error (a clean run has none).
        public var errors: [String: Int]
        /// Raft log entries committed in the window, as node 1 saw them (barriers included).
        public var logEntries: UInt64
        public var commandsPerEntry: Double
        /// Sampled every 100 ms on node 1: proposals waiting for the in-flight budget, and bytes in flight.
        public var meanQueuedProposals: Double
        public var meanInFlightKibibytes: Double
        /// CPU used in the window, % of one core, per process.
        public var cpuPercent: [String: Double]
        /// The whole machine's CPU in use in the window (every process, ours and others'), % of all cores.
        public var machineBusyPercent: Double?
    }
}

public struct RaftBenchReport: Codable, Sendable {
    public var tool = "flotilla bench raft"
    public var startedAt: String
    public var commit: String?
    public var cores: Int
    public var kernel: String
    public var loadAverageAtStart: String
    public var loadAverageAtEnd: String
    public var separateProcesses: Bool
    public var eventLoopThreadsPerNode: Int
    public var warmupS: Double
    public var durationS: Double
    public var dataRoot: String
    /// The raft snapshot threshold if the run overrode the default.
    public var snapshotThreshold: UInt32?
    public var rows: [RaftBenchRow]
}

public enum RaftBench {
    /// Runs every scenario and concurrency in `options`; `progress` gets a line per step.
    public static func run(_ options: RaftBenchOptions, commit: String?, logger: Logger,
                           progress: @Sendable (String) -> Void) async throws -> RaftBenchReport {
        guard options.concurrency.allSatisfy({ $0 > 0 }), !options.concurrency.isEmpty else {
            throw BenchError.invalidOption("--concurrency needs positive values")
        }
        _ = try BenchCommand.make(proposer: options.concurrency.max()!, bytes: options.commandBytes)
        var report = RaftBenchReport(
            startedAt: ISO8601DateFormatter().string(from: Date()), commit: commit,
            cores: ProcessInfo.processInfo.activeProcessorCount, kernel: kernelRelease(),
            loadAverageAtStart: loadAverage(), loadAverageAtEnd: "", separateProcesses: options.separateProcesses,
            eventLoopThreadsPerNode: options.eventLoopThreads, warmupS: options.warmup.seconds,
            durationS: options.duration.seconds, dataRoot: options.dataRoot,
            snapshotThreshold: options.snapshotThreshold, rows: [])

        if options.scenarios.contains(.single) {
            progress("starting a one-node cluster")
            let cluster = try await BenchCluster.start(size: 1, options: options, logger: logger)
            do {
                for k in options.concurrency {
                    report.rows.append(try await measure(.single, k, cluster, options, progress))
                }
            } catch {
                await cluster.shutdown()
                throw error
            }
            await cluster.shutdown()
        }
        let three = options.scenarios.filter { $0 != .single }
        if !three.isEmpty {
            progress("starting a three-node cluster (\(options.separateProcesses ? "3 processes" : "one process"))")
            let cluster = try await BenchCluster.start(size: 3, options: options, logger: logger)
            do {
                for scenario in three {
                    let leader: UInt64 = scenario == .leader ? 1 : 2
                    try await cluster.moveLeadership(to: leader)
                    progress("node \(leader) leads")
                    for k in options.concurrency {
                        report.rows.append(try await measure(scenario, k, cluster, options, progress))
                    }
                }
            } catch {
                await cluster.shutdown()
                throw error
            }
            await cluster.shutdown()
        }
        report.loadAverageAtEnd = loadAverage()
        return report
    }

    private static func measure(
        _ scenario: RaftBenchOptions.Scenario, _ concurrency: Int, _ cluster: BenchCluster,
        _ options: RaftBenchOptions, _ progress: @Sendable (String) -> Void
    ) async throws -> RaftBenchRow {
        progress("\(scenario.title), \(concurrency) in flight: \(options.warmup) warm-up + \(options.duration)")
        let run = LoadRun(
            concurrency: concurrency, commandBytes: options.commandBytes, warmup: options.warmup,
            duration: options.duration,
            otherProcesses: cluster.childPIDs.enumerated().map { ("node-\($0.offset + 2)", $0.element) })
        let measured = try await run.run(through: cluster.local)
        let row = RaftBenchRow(
            scenario: scenario.title, nodes: scenario == .single ? 1 : 3,
            proposeVia: scenario == .follower ? "follower" : "leader", concurrency: concurrency,
            commandBytes: options.commandBytes, measured: measured)
        progress(tableLine(row))
        return row
    }

    // MARK: output

    public static let tableHeader = """
        | scenario | in flight | commands/s | p50 | p90 | p99 | max | entries | commands/entry | CPU % of a core | machine busy | errors |
        |---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|
        """

    /// One markdown table row.
    public static func tableLine(_ row: RaftBenchRow) -> String {
        let m = row.measured
        let cpu = m.cpuPercent.keys.sorted().map { "\($0) \(Int(m.cpuPercent[$0]!.rounded()))" }
            .joined(separator: ", ")
        let errors = m.errors.values.reduce(0, +)
        return "| \(row.scenario) | \(row.concurrency) | \(grouped(Int(m.commandsPerS.rounded()))) | "
            + "\(ms(m.latency.p50Us)) | \(ms(m.latency.p90Us)) | \(ms(m.latency.p99Us)) | \(ms(m.latency.maxUs)) | "
            + "\(grouped(Int(m.logEntries))) | \(String(format: "%.1f", m.commandsPerEntry)) | \(cpu) | "
            + "\(m.machineBusyPercent.map { "\(Int($0.rounded())) %" } ?? "?") | \(errors) |"
    }

    public static func table(_ report: RaftBenchReport) -> String {
        ([tableHeader] + report.rows.map(tableLine)).joined(separator: "\n")
    }

    public static func json(_ report: RaftBenchReport) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(report)
    }

    static func ms(_ us: Double) -> String {
        us < 1000 ? "\(Int(us.rounded())) µs" : String(format: "%.1f ms", us / 1000)
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    static func kernelRelease() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
