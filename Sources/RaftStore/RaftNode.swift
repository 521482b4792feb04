// RaftNode: the shell around libraft 0.15 (stock raft_uv io + raft_uv_tcp transport) and its libuv loop.
//
// Rules this file keeps:
//
// 1. One thread owns everything C. A dedicated thread runs the node's own uv loop; every raft_* / uv_* call
//    (except uv_async_send) and every field marked "loop thread" is touched only there. Other threads hand over
//    work as jobs: append to `inbox` under its lock, and call uv_async_send inside that same lock, so nobody
//    signals the async handle after the loop has marked the inbox closed and started closing the handle.
// 2. Ordering. `apply` runs on the loop thread once per committed command, in log order (Raft §5.3), including
//    the replay after a restart. Commands proposed through one node are packed into entries in the order their
//    jobs reached the loop, and entries are appended in that order, so one caller's sequential proposals apply in
//    the order they were made.
// 3. Durability. A proposal resolves only after libraft committed its entry (stored with O_DSYNC on a majority,
//    Raft §5.3) *and* this node applied it; the result is what `apply` returned on this node.
// 4. Batching and budget. Proposals queue on the loop thread; each loop wake packs as many as fit into one entry
//    (EntryBatch: at most `maxEntryBytes` / `maxCommandsPerEntry`) and hands entries to raft_apply while the bytes
//    in flight stay under `inFlightByteBudget` (libraft 0.15 grows its segment buffer quadratically with the
//    bytes pending, TOOLCHAIN §2c). A finished raft_apply frees budget and schedules another pump.
// 5. Every continuation is resumed exactly once: from the apply thunk (success), the raft callback (failure), the
//    request timer (`.timeout`), or shutdown (`.shuttingDown`). Each lives in exactly one table, and resuming
//    means removing it from there first.
// 6. C callbacks are free @convention(c) functions (RaftNode+Thunks.swift); they find the node through
//    `fsm->data`, `raft->data`, handle `data` or a retained request box in `req->data`, never throw, and copy
//    libraft's error text into the Swift error.

internal import CRaft
import Foundation
import Synchronization

/// A raft server on its own thread. All methods may be called from any task.
public final class RaftNode: @unchecked Sendable {
    typealias ProposalContinuation = CheckedContinuation<Result<[UInt8], RaftError>, Never>
    typealias VoidContinuation = CheckedContinuation<Result<Void, RaftError>, Never>

    public let configuration: RaftConfiguration
    let machine: RaftStateMachine
    /// Identifies this instance's proposals inside entries (EntryBatch).
    let incarnation = UInt64.random(in: 1...UInt64.max)

    // MARK: cross-thread state (under the lock)

    enum Phase { case idle, running, closed, finished }
    struct Inbox {
        var phase = Phase.idle
        var jobs: [@Sendable (RaftNode) -> Void] = []
        var closeRequested = false
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
        var lastStatus: RaftStatus?
    }
    let inbox = Mutex(Inbox())

    // MARK: C structs (stable addresses; loop thread once running)

    let loop = UnsafeMutablePointer<uv_loop_t>.allocate(capacity: 1)
    let raftPtr = UnsafeMutablePointer<raft>.allocate(capacity: 1)
    let io = UnsafeMutablePointer<raft_io>.allocate(capacity: 1)
    let transport = UnsafeMutablePointer<raft_uv_transport>.allocate(capacity: 1)
    let fsm = UnsafeMutablePointer<raft_fsm>.allocate(capacity: 1)
    let wakeup = UnsafeMutablePointer<uv_async_t>.allocate(capacity: 1)
    let ticker = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)

    // MARK: loop-thread state

    /// Who waits for one proposal's answer: a `propose` caller, or one slot of a `proposeAll` call.
    enum ProposalWaiter {
        case caller(ProposalContinuation)
        case slot(ProposalGroup, Int)

        func resume(returning result: Result<[UInt8], RaftError>) {
            switch self {
            case .caller(let continuation): continuation.resume(returning: result)
            case .slot(let group, let i): group.complete(i, result)
            }
        }
    }

    /// The answers of one `proposeAll` call. Touched only on the loop thread (that is what makes it Sendable);
    /// resumes its caller once every slot has its answer, each slot being answered exactly once (rule 5).
    final class ProposalGroup: @unchecked Sendable {
        private var results: [Result<[UInt8], RaftError>?]
        private var remaining: Int
        private let continuation: CheckedContinuation<[Result<[UInt8], RaftError>], Never>

        init(count: Int, continuation: CheckedContinuation<[Result<[UInt8], RaftError>], Never>) {
            results = Array(repeating: nil, count: count)
            remaining = count
            self.continuation = continuation
        }

        func complete(_ i: Int, _ result: Result<[UInt8], RaftError>) {
            precondition(results[i] == nil, "proposal slot \(i) answered twice")
            results[i] = result
            remaining -= 1
            if remaining == 0 { continuation.resume(returning: results.map { $0! }) }
        }
    }

    struct Queued {
        var command: [UInt8]
        var continuation: ProposalWaiter
        var deadline: UInt64?
    }
    final class Batch {
        let continuations: [ProposalWaiter]
        let deadline: UInt64?
        init(_ continuations: [ProposalWaiter], deadline: UInt64?) {
            self.continuations = continuations
            self.deadline = deadline
        }
    }
    var closing = false
    var queue: [Queued] = []
    var queueHead = 0
    var inFlight: [UInt64: Batch] = [:]
    var inFlightBytes = 0
    var nextSequence: UInt64 = 1
    var waiters: [UInt64: (continuation: VoidContinuation, deadline: UInt64?)] = [:]
    var nextWaiterToken: UInt64 = 1
    /// `waitForApplied` calls not yet satisfied (token → index; each also has a row in `waiters`), and the lowest
    /// index among them (`.max`: none), so that applying an entry costs one comparison when nobody waits for it.
    var appliedWaits: [UInt64: UInt64] = [:]
    var lowestAppliedWait = UInt64.max
    var pumpRequested = false
    /// Set by a thunk that failed (restore threw, malformed entry); surfaced in `raft(code:message:)` errors.
    var lastThunkError: String?
    /// The raft whose fsm callbacks this node serves when it is not its own `raftPtr`: a raft_fixture server in
    /// tests (RaftNode+Fixture.swift). `applyEntry` numbers entries from its `last_applied`. Nil in production.
    var externalRaft: UnsafeMutablePointer<raft>?

    public init(configuration: RaftConfiguration, stateMachine: RaftStateMachine) {
        self.configuration = configuration
        self.machine = stateMachine
    }

    deinit {
        loop.deallocate()
        raftPtr.deallocate()
        io.deallocate()
        transport.deallocate()
        fsm.deallocate()
        wakeup.deallocate()
        ticker.deallocate()
    }

    // MARK: public API

    /// Starts the node: loads its data directory (restoring the newest snapshot), bootstraps it on first start,
    /// and runs the loop thread. Returns once libraft has started; leadership comes later (poll `status()`).
    public func start(_ mode: RaftStartMode) async throws(RaftError) {
        signal(SIGPIPE, SIG_IGN)  // a write to a dead peer must not kill us (TOOLCHAIN §2b)
        // The handles `submit` signals are initialised under the inbox lock *before* the phase becomes `.running`:
        // a job submitted concurrently (a forwarded proposal, a status call) must never `uv_async_send` to an
        // uninitialised handle. Nothing runs on the loop yet, so initialising here is safe.
        let proceed = inbox.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            loop.initialize(to: uv_loop_t())
            wakeup.initialize(to: uv_async_t())
            ticker.initialize(to: uv_timer_t())
            precondition(uv_loop_init(loop) == 0, "uv_loop_init failed")
            precondition(uv_async_init(loop, wakeup, asyncThunk) == 0, "uv_async_init failed")
            precondition(uv_timer_init(loop, ticker) == 0, "uv_timer_init failed")
            wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
            ticker.pointee.data = Unmanaged.passUnretained(self).toOpaque()
            state.phase = .running
            return true
        }
        guard proceed else { throw .alreadyStarted }

        let result: Result<Void, RaftError> = await withCheckedContinuation { started in
            let thread = Thread { [self] in self.threadMain(mode, started: started) }
            thread.name = "raft-\(configuration.id)"
            thread.start()
        }
        try result.get()
    }

    /// Proposes one command. Resolves with what `apply` returned for it on this node, once it is committed and
    /// applied here. Throws `.notLeader` on a follower (forward to the leader), `.leadershipLost` or `.timeout`
    /// when the outcome is unknown, `.shuttingDown` when the node closes first.
    public func propose(_ command: [UInt8]) async throws(RaftError) -> [UInt8] {
        let result: Result<[UInt8], RaftError> = await withCheckedContinuation { continuation in
            let submitted = submit { node in node.enqueueProposal(command, .caller(continuation)) }
            if let error = submitted { continuation.resume(returning: .failure(error)) }
        }
        return try result.get()
    }

    /// Proposes several commands at once, each exactly as `propose` would (its own answer or error), queued
    /// together and in this order: one hop to the raft thread and one wake-up for all of them, for a caller that
    /// holds many independent commands (the leader serving a follower's forwarded batch).
    public func proposeAll(_ commands: [[UInt8]]) async -> [Result<[UInt8], RaftError>] {
        if commands.isEmpty { return [] }
        return await withCheckedContinuation { continuation in
            let group = ProposalGroup(count: commands.count, continuation: continuation)
            let submitted = submit { node in
                for (i, command) in commands.enumerated() { node.enqueueProposal(command, .slot(group, i)) }
            }
            if let error = submitted {
                continuation.resume(returning: Array(repeating: .failure(error), count: commands.count))
            }
        }
    }

    /// Waits until every entry before it is applied on this node; only the leader can do this (Raft §6.4:
    /// a read after a barrier on the leader is linearizable).
    public func barrier() async throws(RaftError) {
        try await voidRequest { node, token in node.barrierOnLoop(token) }
    }

    /// Waits until this node has applied the log up to `index` (any role): a follower that must see a write the
    /// leader answered for. Resumed right after the entry's `apply` calls returned (or after a snapshot covering
    /// it was restored); `.timeout` after `timeout` (or `requestTimeout` if nil), `.shuttingDown` on shutdown.
    public func waitForApplied(index: UInt64, timeout: Duration? = nil) async throws(RaftError) {
        try await voidRequest(timeout: timeout) { node, token in node.waitForAppliedOnLoop(token, index: index) }
    }

    /// Adds a server as a voter: `raft_add` (as spare), then `raft_assign` to voter once that change commits
    /// (libraft catches the server up first). Call on the leader.
    public func addVoter(id: UInt64, address: String) async throws(RaftError) {
        try await voidRequest { node, token in node.addOnLoop(token, id: id, address: address) }
    }

    /// Removes a server from the configuration. Call on the leader.
    public func remove(id: UInt64) async throws(RaftError) {
        try await voidRequest { node, token in node.removeOnLoop(token, id: id) }
    }

    /// Hands leadership to `id` (0: let libraft pick a voter). Throws `.transferFailed` if the target did not
    /// become leader within an election timeout.
    public func transferLeadership(to id: UInt64) async throws(RaftError) {
        try await voidRequest { node, token in node.transferOnLoop(token, id: id) }
    }

    /// The node's state, read on the raft thread (or the last one seen, with role `.stopped`, once shut down).
    public func status() async -> RaftStatus {
        await withCheckedContinuation { continuation in
            let submitted = submit { node in
                let status = node.statusOnLoop()
                node.inbox.withLock { $0.lastStatus = status }
                continuation.resume(returning: status)
            }
            if submitted != nil {
                var status = inbox.withLock { $0.lastStatus } ?? stoppedStatus()
                status.role = .stopped
                continuation.resume(returning: status)
            }
        }
    }

    /// Closes raft and the loop. Every pending proposal and request resolves with `.shuttingDown` (or with its
    /// real outcome if libraft finished it first). Safe to call more than once and from several tasks.
    public func shutdown() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let resumeNow = inbox.withLock { state -> Bool in
                switch state.phase {
                case .idle, .finished:
                    state.phase = .finished
                    return true
                case .running, .closed:
                    state.shutdownWaiters.append(done)
                    if state.phase == .running && !state.closeRequested {
                        state.closeRequested = true
                        state.jobs.append { node in node.beginClose() }
                        uv_async_send(wakeup)
                    }
                    return false
                }
            }
            if resumeNow { done.resume() }
        }
    }

    /// `waitForApplied` calls waiting on the loop (tests).
    func appliedWaitCount() async -> Int {
        await withCheckedContinuation { continuation in
            if submit({ continuation.resume(returning: $0.appliedWaits.count) }) != nil {
                continuation.resume(returning: 0)
            }
        }
    }

    // MARK: submission

    /// Queues `job` for the loop thread; returns the error to report if the node cannot take jobs.
    func submit(_ job: @escaping @Sendable (RaftNode) -> Void) -> RaftError? {
        inbox.withLock { state -> RaftError? in
            switch state.phase {
            case .idle: return .notStarted
            case .closed, .finished: return .shuttingDown
            case .running:
                state.jobs.append(job)
                uv_async_send(wakeup)
                return nil
            }
        }
    }

    private func voidRequest(
        timeout: Duration? = nil, _ body: @escaping @Sendable (RaftNode, UInt64) -> Void
    ) async throws(RaftError) {
        let result: Result<Void, RaftError> = await withCheckedContinuation { continuation in
            let submitted = submit { node in
                if node.closing { return continuation.resume(returning: .failure(.shuttingDown)) }
                let token = node.registerWaiter(continuation, timeout: timeout)
                body(node, token)
            }
            if let error = submitted { continuation.resume(returning: .failure(error)) }
        }
        try result.get()
    }

    func stoppedStatus() -> RaftStatus {
        RaftStatus(
            id: configuration.id, role: .stopped, term: 0, leaderID: nil, leaderAddress: nil, commitIndex: 0,
            appliedIndex: 0, lastIndex: 0, peers: [], inFlightBytes: 0, queuedProposals: 0)
    }
}
