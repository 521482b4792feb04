internal import CRaft

// Testing hook: lets a raft that is not the node's own drive the node's state machine through the production fsm
// thunks (fsmApplyThunk, fsmSnapshotThunk, fsmRestoreThunk). Tests use it with libraft's raft_fixture, an
// in-memory cluster stepped in virtual time (Tests/RaftStoreTests/FixtureTests.swift). Such a node is never
// started: no loop thread, socket or disk; every thunk runs on the thread that steps the fixture.

extension RaftNode {
    /// Fills the node's `raft_fsm` the way `setUpRaft` does for its own raft and hands it to `attach` (for
    /// example `raft_fixture_grow` followed by `raft_fixture_get`), which returns the raft that will call it. From
    /// then on `applyEntry` numbers entries from that raft's `last_applied`. The node must outlive that raft.
    func serveFSM(to attach: (UnsafeMutablePointer<raft_fsm>) -> UnsafeMutablePointer<raft>) {
        precondition(inbox.withLock { $0.phase == .idle }, "serveFSM on a started node")
        precondition(externalRaft == nil, "serveFSM called twice")
        fsm.initialize(to: raft_fsm())
        fsm.pointee.version = 1  // as in setUpRaft: synchronous snapshot, buffers from raft_malloc
        fsm.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        fsm.pointee.apply = fsmApplyThunk
        fsm.pointee.snapshot = fsmSnapshotThunk
        fsm.pointee.restore = fsmRestoreThunk
        externalRaft = attach(fsm)
    }
}
