import ClusterBus
import ClusterNode
import ClusterService
import Foundation
import Logging
import NIOPosix
import Synchronization

// A benchmark member in its own process: the driver re-executes its own binary (`flotilla bench raft-node …`),
// which runs `RaftBenchNode.run`. They talk over the child's stdin/stdout, one line each way:
//
//   child → driver   "ready"                      the service started (bus listening, raft running)
//   driver → child   "transfer <id>"              hand leadership to <id> if this node leads
//   child → driver   "ok" | "error <text>"        the answer to a transfer
//   driver → child   "quit" (or stdin closes)     shut down and exit 0
//
// stdin closing is the safety net: if the driver dies, its children shut down instead of lingering.

/// The child side: one `ClusterService` controlled through stdin.
public enum RaftBenchNode {
    /// Runs until told to quit (or stdin closes). `members` includes this node; the cluster bootstraps from it.
    public static func run(nodeID: UInt64, members: [ClusterServicePeer], dataDirectory: String,
                           electionTimeout: Duration, snapshotThreshold: UInt32?, eventLoopThreads: Int,
                           logger: Logger) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoopThreads)
        let service = ClusterService(
            configuration: BenchSettings.serviceConfiguration(
                nodeID: nodeID, members: members, dataDirectory: dataDirectory, electionTimeout: electionTimeout,
                snapshotThreshold: snapshotThreshold),
            group: group, logger: logger)
        do {
            try await service.start(.bootstrap(members.map { ClusterPeer(id: $0.nodeID, address: $0.raftAddress) }))
        } catch {
            writeLine(1, "error \(error)")
            try? await group.shutdownGracefully()
            throw error
        }
        writeLine(1, "ready")
        let lines = LineReader(fd: 0)
        while let line = await lines.next() {
            let words = line.split(separator: " ")
            if words.first == "quit" { break }
            if words.count == 2, words[0] == "transfer", let target = UInt64(words[1]) {
                do {
                    try await service.node.transferLeadership(to: target)
                    writeLine(1, "ok")
                } catch {
                    writeLine(1, "error \(error)")
                }
            } else {
                writeLine(1, "error unknown command '\(line)'")
            }
        }
        await service.shutdown()
        try? await group.shutdownGracefully()
    }
}

/// Settings shared by the driver's node and its children, so every member runs the same configuration.
enum BenchSettings {
    static func serviceConfiguration(nodeID: UInt64, members: [ClusterServicePeer], dataDirectory: String,
                                     electionTimeout: Duration,
                                     snapshotThreshold: UInt32?) -> ClusterServiceConfiguration {
        guard let me = members.first(where: { $0.nodeID == nodeID }) else {
            preconditionFailure("member table without node \(nodeID)")
        }
        // Production defaults (heartbeat 100 ms, snapshot threshold, 1 MiB in flight) except the election timeout,
        // which the driver uses to decide who leads first, and the snapshot threshold if the run sets one.
        var node = ClusterNodeConfiguration(nodeID: nodeID, raftAddress: me.raftAddress, dataDirectory: dataDirectory)
        node.electionTimeout = electionTimeout
        if let snapshotThreshold { node.snapshotThreshold = snapshotThreshold }
        return ClusterServiceConfiguration(node: node, peers: members)
    }
}

/// The driver side of one child process.
final class ChildNode: @unchecked Sendable {
    let nodeID: UInt64
    private let process: Process
    private let input: FileHandle
    private let outputPipe: Pipe
    private let output: LineReader

    /// Starts `executable arguments…` with piped stdin/stdout (stderr is inherited: the child's log).
    init(nodeID: UInt64, executable: String, arguments: [String]) throws {
        self.nodeID = nodeID
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        self.process = process
        self.input = stdin.fileHandleForWriting
        self.outputPipe = stdout
        self.output = LineReader(fd: stdout.fileHandleForReading.fileDescriptor)
    }

    var pid: Int32 { process.processIdentifier }

    /// The child's next line, or nil once its stdout closed or `timeout` passed.
    func nextLine(timeout: Duration) async -> String? {
        await output.next(timeout: timeout)
    }

    func send(_ line: String) {
        guard process.isRunning else { return }  // never write to a dead child's pipe (EPIPE)
        try? input.write(contentsOf: Array((line + "\n").utf8))
    }

    /// Asks the child to quit; after `grace` sends SIGTERM to it (this child's pid only).
    func stop(grace: Duration = .seconds(10)) async {
        send("quit")
        try? input.close()
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while process.isRunning && clock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { process.terminate() }
    }
}

/// Lines from a file descriptor, read by a dedicated thread (blocking reads) into a locked buffer.
final class LineReader: Sendable {
    private struct State {
        var lines: [String] = []
        var closed = false
    }
    private let state = Mutex(State())

    init(fd: Int32) {
        let thread = Thread { [self] in
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending.append(contentsOf: chunk[0..<n])
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    state.withLock { $0.lines.append(line) }
                }
            }
            state.withLock { $0.closed = true }
        }
        thread.name = "bench-lines-\(fd)"
        thread.start()
    }

    /// The next line; nil once the descriptor is closed and drained, or after `timeout`. Polls every 5 ms: lines
    /// are rare (a handful per run).
    func next(timeout: Duration? = nil) async -> String? {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        while true {
            let (line, closed) = state.withLock { s -> (String?, Bool) in
                s.lines.isEmpty ? (nil, s.closed) : (s.lines.removeFirst(), false)
            }
            if let line { return line }
            if closed { return nil }
            if let deadline, clock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Writes one line to `fd` with write(2) (Swift 6 rejects the global `stdout`).
func writeLine(_ fd: Int32, _ text: String) {
    let bytes = Array((text + "\n").utf8)
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
