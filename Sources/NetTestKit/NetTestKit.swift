// Test kit (not for production): helpers for tests that run real sockets, processes and data directories.
import Foundation

/// Test ports come from a process-wide counter in 20000–32767, below the kernel's ephemeral range (32768–60999
/// here): a port handed out by "bind to 0, read it back, close" is itself ephemeral, and under parallel tests an
/// outgoing connection (raft peers and bus clients open many) could take it before the test binds it — seen as
/// `raft_start: raft error 18 (IOERR)`. Each process starts at a random offset so concurrent test processes rarely
/// meet, and a port is only handed out if it can be bound right now.
private final class PortAllocator: @unchecked Sendable {
    private let lock = NSLock()
    private var next: Int
    static let low = 20_000
    static let high = 32_767

    init() { next = PortAllocator.low + Int.random(in: 0..<((PortAllocator.high - PortAllocator.low) / 2)) }

    func take() -> Int {
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<(PortAllocator.high - PortAllocator.low) {
            let port = next
            next = next >= PortAllocator.high ? PortAllocator.low : next + 1
            if canBind(port) { return port }
        }
        preconditionFailure("no bindable loopback port in \(PortAllocator.low)...\(PortAllocator.high)")
    }

    private func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                bind(fd, sp, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

private let portAllocator = PortAllocator()

/// A port on 127.0.0.1, free now and never handed out twice in this process (see ``PortAllocator``).
public func freeLoopbackPort() -> Int { portAllocator.take() }

/// A fresh directory under the temporary directory; the caller removes it (`defer { removeDir(path) }`).
public func makeTempDir(_ tag: String) -> String {
    let path = NSTemporaryDirectory() + "flotilla-test-\(tag)-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

public func removeDir(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

public struct TimedOut: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// Polls `condition` every 10 ms until it holds; throws after `timeout`. The only kind of waiting the
/// real-socket tests do: bounded, never a bare sleep.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(10), _ condition: () async -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !(await condition()) {
        if clock.now >= deadline { throw TimedOut(description: "timed out after \(timeout): \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
