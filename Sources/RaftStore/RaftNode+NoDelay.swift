internal import CRaft
import Synchronization

// libraft 0.15's TCP transport (raft_uv_tcp) never sets TCP_NODELAY, and its connections carry data one way only:
// each server sends its messages over the connection it opened, and the receiver answers over its own. So the
// receiving side only ever sends bare ACKs, which Linux delays (40 ms minimum), and the sender's Nagle algorithm
// holds back each small message written while an earlier one is unacknowledged: an AppendEntries could wait
// 40 ms for nothing. Measured with `flotilla bench raft` (3 nodes, 64 in flight): p99 commit latency 44 ms
// before, see benchmarks/README.md for after.
//
// The transport is a struct of function pointers, so we wrap two of them. `listen` gets our accept callback,
// `connect` our connect callback; each sets TCP_NODELAY on the stream, then calls libraft's own callback. The
// originals are kept per transport and per connect request in one process-wide table: libraft keeps the
// transport's `data` field for itself, and nodes in one process run on different loop threads.

private typealias ListenFunction = @convention(c) (
    UnsafeMutablePointer<raft_uv_transport>?, raft_uv_accept_cb?
) -> Int32
private typealias ConnectFunction = @convention(c) (
    UnsafeMutablePointer<raft_uv_transport>?, UnsafeMutablePointer<raft_uv_connect>?, raft_id,
    UnsafePointer<CChar>?, raft_uv_connect_cb?
) -> Int32

/// C function pointers are plain addresses; the table is only touched under its Mutex.
private struct NoDelayTable: @unchecked Sendable {
    struct Wrapped {
        var listen: ListenFunction?
        var connect: ConnectFunction?
        var accept: raft_uv_accept_cb?
    }
    /// By transport address.
    var transports: [UInt: Wrapped] = [:]
    /// libraft's connect callback, by connect request address, until it has been called.
    var connects: [UInt: raft_uv_connect_cb] = [:]
}

private let noDelayTable = Mutex(NoDelayTable())

private func key(_ pointer: UnsafeMutableRawPointer?) -> UInt { UInt(bitPattern: pointer) }

/// Turns Nagle off on a stream the TCP transport hands over (a `uv_tcp_t`). Failure only costs latency.
private func setNoDelay(_ stream: UnsafeMutablePointer<uv_stream_t>?) {
    guard let stream else { return }
    _ = uv_tcp_nodelay(UnsafeMutableRawPointer(stream).assumingMemoryBound(to: uv_tcp_t.self), 1)
}

private func noDelayAccept(
    _ t: UnsafeMutablePointer<raft_uv_transport>?, _ id: raft_id, _ address: UnsafePointer<CChar>?,
    _ stream: UnsafeMutablePointer<uv_stream_t>?
) {
    setNoDelay(stream)
    let accept = noDelayTable.withLock { $0.transports[key(t)]?.accept }
    guard let accept else { preconditionFailure("TCP_NODELAY wrapper: accept on an unknown transport") }
    accept(t, id, address, stream)
}

private func noDelayListen(_ t: UnsafeMutablePointer<raft_uv_transport>?, _ cb: raft_uv_accept_cb?) -> Int32 {
    let listen = noDelayTable.withLock { table -> NoDelayTable.Wrapped? in
        table.transports[key(t)]?.accept = cb
        return table.transports[key(t)]
    }?.listen
    guard let listen else { preconditionFailure("TCP_NODELAY wrapper: listen on an unknown transport") }
    return listen(t, cb == nil ? nil : noDelayAccept)
}

private func noDelayConnected(
    _ req: UnsafeMutablePointer<raft_uv_connect>?, _ stream: UnsafeMutablePointer<uv_stream_t>?, _ status: Int32
) {
    if status == 0 { setNoDelay(stream) }
    let cb = noDelayTable.withLock { $0.connects.removeValue(forKey: key(req)) }
    guard let cb else { preconditionFailure("TCP_NODELAY wrapper: a connect callback without its request") }
    cb(req, stream, status)
}

private func noDelayConnect(
    _ t: UnsafeMutablePointer<raft_uv_transport>?, _ req: UnsafeMutablePointer<raft_uv_connect>?, _ id: raft_id,
    _ address: UnsafePointer<CChar>?, _ cb: raft_uv_connect_cb?
) -> Int32 {
    let connect = noDelayTable.withLock { table -> ConnectFunction? in
        if let cb { table.connects[key(req)] = cb }
        return table.transports[key(t)]?.connect
    }
    guard let connect else { preconditionFailure("TCP_NODELAY wrapper: connect on an unknown transport") }
    let rv = connect(t, req, id, address, cb == nil ? nil : noDelayConnected)
    // Not started: the callback will never come.
    if rv != 0 { _ = noDelayTable.withLock { $0.connects.removeValue(forKey: key(req)) } }
    return rv
}

extension RaftNode {
    /// Wraps the TCP transport's `listen` and `connect` so that every raft connection runs with TCP_NODELAY.
    /// Call after raft_uv_tcp_init and before raft_uv_init (which starts using them).
    func installNoDelay() {
        let t = transport
        noDelayTable.withLock { table in
            table.transports[key(t)] = .init(listen: t.pointee.listen, connect: t.pointee.connect, accept: nil)
        }
        t.pointee.listen = noDelayListen
        t.pointee.connect = noDelayConnect
    }

    /// Forgets the transport's originals (once the loop has ended: libraft no longer calls them).
    func removeNoDelay() {
        let k = key(transport)
        _ = noDelayTable.withLock { $0.transports.removeValue(forKey: k) }
    }
}
