// Test kit (not for production): helpers for tests that run real sockets, processes and data directories.
import Foundation

/// A port on 127.0.0.1 that was free a moment ago (bind to 0, read it back, close).
public func freeLoopbackPort() -> Int {
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
