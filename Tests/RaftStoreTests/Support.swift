import Foundation
import Synchronization
import Testing

@testable import RaftStore

/// An append-only log of commands plus a counter: the smallest FSM that shows order, replay and restore.
/// `apply` returns the command's 1-based position as 8 little-endian bytes.
final class TestFSM: Sendable {
    struct State: Equatable {
        var entries: [[UInt8]] = []
        var restores = 0
    }
    let state = Mutex(State())
    /// When set, applying a command equal to `gateCommand` blocks the raft thread until the gate opens.
    let gate = DispatchSemaphore(value: 0)
    let gateEntered = Atomic<Bool>(false)
    static let gateCommand: [UInt8] = Array("GATE".utf8)

    var entries: [[UInt8]] { state.withLock { $0.entries } }
    var count: Int { state.withLock { $0.entries.count } }
    var restores: Int { state.withLock { $0.restores } }

    var machine: RaftStateMachine {
        RaftStateMachine(
            apply: { [self] command in
                if command == Self.gateCommand {
                    gateEntered.store(true, ordering: .sequentiallyConsistent)
                    _ = gate.wait(timeout: .now() + 10)
                }
                let position = state.withLock { s in
                    s.entries.append(command)
                    return UInt64(s.entries.count)
                }
                return Self.encode(position)
            },
            snapshot: { [self] in
                let entries = state.withLock { $0.entries }
                var out = Self.encode(UInt64(entries.count))
                for e in entries { out += Self.encode(UInt64(e.count)) + e }
                return out
            },
            restore: { [self] bytes in
                var offset = 0
                func next() throws -> UInt64 {
                    guard offset + 8 <= bytes.count else { throw RestoreError.truncated }
                    defer { offset += 8 }
                    return Self.decode(bytes[offset..<offset + 8])
                }
                let n = try next()
                var entries: [[UInt8]] = []
                for _ in 0..<n {
                    let len = Int(try next())
                    guard offset + len <= bytes.count else { throw RestoreError.truncated }
                    entries.append(Array(bytes[offset..<offset + len]))
                    offset += len
                }
                state.withLock { s in
                    s.entries = entries
                    s.restores += 1
                }
            })
    }

    enum RestoreError: Error { case truncated }

    static func encode(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func decode(_ b: some Collection<UInt8>) -> UInt64 {
        b.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}

/// A port on 127.0.0.1 that was free a moment ago (bind to 0, read it back, close).
func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(fd >= 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
            bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0
        }
    }
    precondition(ok, "bind/getsockname failed")
    return Int(UInt16(bigEndian: addr.sin_port))
}

func makeTempDir(_ tag: String) -> String {
    let path = NSTemporaryDirectory() + "raftstore-\(tag)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeDir(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// Test settings: fast elections (TOOLCHAIN: ~300 ms gives ~0.5 s failover).
func testConfiguration(id: UInt64, port: Int, dir: String) -> RaftConfiguration {
    var c = RaftConfiguration(id: id, address: "127.0.0.1:\(port)", dataDirectory: dir)
    c.electionTimeout = .milliseconds(300)
    c.heartbeatTimeout = .milliseconds(50)
    c.connectRetryDelay = .milliseconds(50)
    c.requestTimeout = .seconds(10)
    return c
}

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` every 10 ms until it holds; throws after `timeout`. The only kind of waiting these tests do.
func waitUntil(
    _ what: String, timeout: Duration = .seconds(10), _ condition: () async -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !(await condition()) {
        if clock.now >= deadline { throw TimedOut(description: "timed out after \(timeout): \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// The id of the single node among `nodes` that reports itself leader and whom every other node follows.
func agreedLeader(_ nodes: [RaftNode]) async -> RaftNode? {
    var leader: RaftNode?
    var leaderID: UInt64?
    for n in nodes {
        let s = await n.status()
        if s.role == .leader { leader = n }
        guard let id = s.leaderID, leaderID == nil || leaderID == id else { return nil }
        leaderID = id
    }
    guard let leader, leader.configuration.id == leaderID else { return nil }
    return leader
}

func log(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}
