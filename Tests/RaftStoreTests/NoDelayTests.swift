import Foundation
import NetTestKit
import Testing

@testable import RaftStore

/// libraft 0.15's TCP transport leaves Nagle on; RaftNode wraps its listen/connect to set TCP_NODELAY
/// (RaftNode+NoDelay.swift). Checked on the real sockets: every TCP socket of this process whose local or peer
/// port is a raft port must have it, on both the connecting and the accepting side.
@Suite(.serialized) struct NoDelayTests {
    @Test func everyRaftConnectionHasNoDelay() async throws {
        let dirs = (1...3).map { makeTempDir("nd\($0)") }
        defer { dirs.forEach(removeDir) }
        let ports = (1...3).map { _ in freeLoopbackPort() }
        let configs = (1...3).map { testConfiguration(id: UInt64($0), port: ports[$0 - 1], dir: dirs[$0 - 1]) }
        let peers = configs.map { RaftPeer(id: $0.id, address: $0.address) }
        let nodes = configs.map { RaftNode(configuration: $0, stateMachine: TestFSM().machine) }
        for n in nodes { try await n.start(.bootstrap(peers)) }
        var leader: RaftNode?
        try await waitUntil("a leader") {
            leader = await agreedLeader(nodes)
            return leader != nil
        }
        for i in 0..<20 { _ = try await leader!.propose([UInt8(i)]) }
        // Every node sends over a connection it opened: at least leader → each follower and each follower →
        // leader, and both ends of each are in this process.
        var sockets: [(fd: Int32, noDelay: Bool)] = []
        try await waitUntil("at least 8 raft socket ends") {
            sockets = raftSockets(ports: Set(ports))
            return sockets.count >= 8
        }
        for n in nodes { await n.shutdown() }
        let without = sockets.filter { !$0.noDelay }.map(\.fd)
        #expect(without.isEmpty, "raft sockets without TCP_NODELAY: fds \(without) of \(sockets.count)")
    }
}

/// The connected TCP sockets of this process with a raft port at either end, and whether TCP_NODELAY is set.
private func raftSockets(ports: Set<Int>) -> [(fd: Int32, noDelay: Bool)] {
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    var found: [(fd: Int32, noDelay: Bool)] = []
    for name in fds {
        guard let fd = Int32(name) else { continue }
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue),
              let local = port(of: fd, peer: false), let peer = port(of: fd, peer: true),
              ports.contains(local) || ports.contains(peer)
        else { continue }
        var flag: Int32 = 0
        length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &flag, &length) == 0 else { continue }
        found.append((fd, flag != 0))
    }
    return found
}

private func port(of fd: Int32, peer: Bool) -> Int? {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let rv = withUnsafeMutablePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
        }
    }
    guard rv == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
    return Int(UInt16(bigEndian: address.sin_port))
}
