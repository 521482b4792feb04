internal import CRaft

// The @convention(c) entry points libraft and libuv call, all on the loop thread. Each recovers its node from a
// `data` field through Unmanaged (the node outlives its loop: the loop thread's closure holds it), never throws,
// and returns a libraft status code where one is expected.

private func node(_ data: UnsafeMutableRawPointer?) -> RaftNode {
    guard let data else { preconditionFailure("raft thunk without its node") }
    return Unmanaged<RaftNode>.fromOpaque(data).takeUnretainedValue()
}

/// Takes back the box passed retained in `req->data`; called exactly once per request, in its callback.
private func takeBox(_ data: UnsafeMutableRawPointer?) -> RequestBox {
    guard let data else { preconditionFailure("raft request without its box") }
    return Unmanaged<RequestBox>.fromOpaque(data).takeRetainedValue()
}

func fsmApplyThunk(
    _ fsm: UnsafeMutablePointer<raft_fsm>?, _ buf: UnsafePointer<raft_buffer>?,
    _ result: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 {
    result?.pointee = nil  // results travel through the proposer's in-flight table, not through libraft
    guard let fsm, let buf else { return RAFT_INVALID }
    let raw = UnsafeRawBufferPointer(start: buf.pointee.base, count: buf.pointee.len)
    return node(fsm.pointee.data).applyEntry(raw)
}

func fsmSnapshotThunk(
    _ fsm: UnsafeMutablePointer<raft_fsm>?, _ bufs: UnsafeMutablePointer<UnsafeMutablePointer<raft_buffer>?>?,
    _ count: UnsafeMutablePointer<UInt32>?
) -> Int32 {
    guard let fsm, let bufs, let count else { return RAFT_INVALID }
    let raftNode = node(fsm.pointee.data)
    let bytes: [UInt8]
    do {
        bytes = try raftNode.machine.snapshot()
    } catch {
        raftNode.lastThunkError = "snapshot failed: \(error)"
        // libraft treats BUSY as transient and tries again at the next applied entry (seen in the fixture tests),
        // so a snapshot that keeps failing is attempted once per applied entry until it succeeds.
        return RAFT_BUSY
    }
    // fsm version 1: libraft frees the array and each base with raft_free, so both come from raft_malloc.
    guard let array = raft_malloc(MemoryLayout<raft_buffer>.stride)?.bindMemory(to: raft_buffer.self, capacity: 1)
    else { return RAFT_NOMEM }
    guard let base = raft_malloc(max(bytes.count, 1)) else {
        raft_free(array)
        return RAFT_NOMEM
    }
    bytes.withUnsafeBytes { src in
        if let from = src.baseAddress { base.copyMemory(from: from, byteCount: src.count) }
    }
    array.initialize(to: raft_buffer(base: base, len: bytes.count))
    bufs.pointee = array
    count.pointee = 1
    return 0
}

func fsmRestoreThunk(_ fsm: UnsafeMutablePointer<raft_fsm>?, _ buf: UnsafeMutablePointer<raft_buffer>?) -> Int32 {
    guard let fsm, let buf else { return RAFT_INVALID }
    let raftNode = node(fsm.pointee.data)
    // restore owns buf->base on success (TOOLCHAIN §1); copy it out and free it.
    let bytes = [UInt8](UnsafeRawBufferPointer(start: buf.pointee.base, count: buf.pointee.len))
    do {
        try raftNode.machine.restore(bytes)
    } catch {
        raftNode.lastThunkError = "restore failed: \(error)"
        return RAFT_MALFORMED  // libraft keeps ownership of the buffer on failure
    }
    raft_free(buf.pointee.base)
    return 0
}

func applyDoneThunk(_ req: UnsafeMutablePointer<raft_apply>?, _ status: Int32, _ result: UnsafeMutableRawPointer?) {
    guard let req else { return }
    let box = takeBox(req.pointee.data)
    req.deallocate()
    box.node.applyDone(box, status: status)
}

func barrierDoneThunk(_ req: UnsafeMutablePointer<raft_barrier>?, _ status: Int32) {
    guard let req else { return }
    let box = takeBox(req.pointee.data)
    req.deallocate()
    box.node.resolveWaiter(box.token, status == 0 ? .success(()) : .failure(box.node.mapError(status)))
}

func changeDoneThunk(_ req: UnsafeMutablePointer<raft_change>?, _ status: Int32) {
    guard let req else { return }
    let box = takeBox(req.pointee.data)
    req.deallocate()
    box.node.changeDone(box, status: status)
}

func transferDoneThunk(_ req: UnsafeMutablePointer<raft_transfer>?) {
    guard let req else { return }
    let box = takeBox(req.pointee.data)
    req.deallocate()
    box.node.transferDone(box)
}

func raftCloseThunk(_ raft: UnsafeMutablePointer<raft>?) {
    guard let raft else { return }
    let raftNode = node(raft.pointee.data)
    raft_uv_close(raftNode.io)
    raft_uv_tcp_close(raftNode.transport)
    raftNode.closeHandles()
}

func asyncThunk(_ handle: UnsafeMutablePointer<uv_async_t>?) {
    guard let handle else { return }
    node(handle.pointee.data).onWakeup()
}

func tickThunk(_ handle: UnsafeMutablePointer<uv_timer_t>?) {
    guard let handle else { return }
    node(handle.pointee.data).onTick()
}
