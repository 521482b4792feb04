import NetTestKit
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

/// Test settings: fast elections (TOOLCHAIN: ~300 ms gives ~0.5 s failover).
func testConfiguration(id: UInt64, port: Int, dir: String) -> RaftConfiguration {
    var c = RaftConfiguration(id: id, address: "127.0.0.1:\(port)", dataDirectory: dir)
    c.electionTimeout = .milliseconds(300)
    c.heartbeatTimeout = .milliseconds(50)
    c.connectRetryDelay = .milliseconds(50)
    c.requestTimeout = .seconds(10)
    return c
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
