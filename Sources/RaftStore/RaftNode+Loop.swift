internal import CRaft
import Foundation

// Everything in this file runs on the node's loop thread.

extension RaftNode {
    // MARK: lifecycle

    func threadMain(_ mode: RaftStartMode, started: CheckedContinuation<Result<Void, RaftError>, Never>) {
        let setup = setUpRaft(mode)
        started.resume(returning: setup)
        if case .failure = setup { closing = true }
        uv_run(loop, UV_RUN_DEFAULT)
        let rc = uv_loop_close(loop)
        assert(rc == 0, "uv_loop_close: \(rc)")
        finish()
    }

    /// raft_uv_tcp_init → raft_uv_init → raft_init → raft_bootstrap → tuning → raft_start (TOOLCHAIN §1).
    /// On failure, starts closing whatever was opened; the loop then runs until those handles are closed.
    private func setUpRaft(_ mode: RaftStartMode) -> Result<Void, RaftError> {
        let config = configuration
        try? FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
        transport.initialize(to: raft_uv_transport())
        io.initialize(to: raft_io())
        raftPtr.initialize(to: raft())
        fsm.initialize(to: raft_fsm())

        var rv = raft_uv_tcp_init(transport, loop)
        guard rv == 0 else {
            closeHandles()
            return .failure(.raft(code: rv, message: "raft_uv_tcp_init: " + String(cString: raft_strerror(rv))))
        }
        installNoDelay()
        rv = raft_uv_init(io, loop, config.dataDirectory, transport)
        guard rv == 0 else {
            let message = Self.errmsg(&io.pointee.errmsg)
            raft_uv_tcp_close(transport)
            closeHandles()
            return .failure(.raft(code: rv, message: "raft_uv_init(\(config.dataDirectory)): \(message)"))
        }
        raft_uv_set_connect_retry_delay(io, config.connectRetryDelay.wholeMilliseconds)

        fsm.pointee.version = 1  // snapshot on the loop thread; raft frees what it gets (raft_malloc)
        fsm.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        fsm.pointee.apply = fsmApplyThunk
        fsm.pointee.snapshot = fsmSnapshotThunk
        fsm.pointee.restore = fsmRestoreThunk

        rv = raft_init(raftPtr, io, fsm, config.id, config.address)
        guard rv == 0 else {
            let message = String(cString: raft_errmsg(raftPtr))
            raft_uv_close(io)
            raft_uv_tcp_close(transport)
            closeHandles()
            return .failure(.raft(code: rv, message: "raft_init: \(message)"))
        }
        raftPtr.pointee.data = Unmanaged.passUnretained(self).toOpaque()

        if case .bootstrap(let peers) = mode {
            var conf = raft_configuration()
            raft_configuration_init(&conf)
            defer { raft_configuration_close(&conf) }
            for peer in peers {
                rv = raft_configuration_add(&conf, peer.id, peer.address, RAFT_VOTER)
                guard rv == 0 else { return failStart(rv, "raft_configuration_add(\(peer.id))") }
            }
            rv = raft_bootstrap(raftPtr, &conf)
            // RAFT_CANTBOOTSTRAP: the directory already holds state, which is how a restart looks.
            guard rv == 0 || rv == RAFT_CANTBOOTSTRAP else { return failStart(rv, "raft_bootstrap") }
        }
        raft_set_election_timeout(raftPtr, config.electionTimeout.wholeMilliseconds)
        raft_set_heartbeat_timeout(raftPtr, config.heartbeatTimeout.wholeMilliseconds)
        raft_set_pre_vote(raftPtr, config.preVote)
        raft_set_snapshot_threshold(raftPtr, config.snapshotThreshold)
        raft_set_snapshot_trailing(raftPtr, config.snapshotTrailing)

        rv = raft_start(raftPtr)
        guard rv == 0 else { return failStart(rv, "raft_start") }
        uv_timer_start(ticker, tickThunk, 20, 20)
        return .success(())
    }

    /// After raft_init succeeded, a failure is cleaned up through raft_close like a normal shutdown.
    private func failStart(_ rv: Int32, _ what: String) -> Result<Void, RaftError> {
        let message = lastThunkError.map { "\(what): \(String(cString: raft_errmsg(raftPtr))) (\($0))" }
            ?? "\(what): \(String(cString: raft_errmsg(raftPtr)))"
        raft_close(raftPtr, raftCloseThunk)
        return .failure(.raft(code: rv, message: message))
    }

    /// Closes our own handles, marking the inbox closed first so nobody signals a closing async handle.
    func closeHandles() {
        closing = true
        drainInbox(markClosed: true)
        uv_timer_stop(ticker)
        uv_close(UnsafeMutableRawPointer(ticker).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(wakeup).assumingMemoryBound(to: uv_handle_t.self), nil)
    }

    /// The `shutdown()` job: fail what never reached libraft, then raft_close → (callback) io, transport, handles.
    /// Requests inside libraft get their callbacks with an error during the close.
    func beginClose() {
        guard !closing else { return }
        closing = true
        drainInbox(markClosed: true)
        failQueue(.shuttingDown)
        uv_timer_stop(ticker)
        raft_close(raftPtr, raftCloseThunk)
    }

    /// After uv_run returned: resume whatever is left, publish the final status, wake `shutdown()` callers.
    private func finish() {
        removeNoDelay()
        failQueue(.shuttingDown)
        for (_, batch) in inFlight { for c in batch.continuations { c.resume(returning: .failure(.shuttingDown)) } }
        inFlight.removeAll()
        for (_, waiter) in waiters { waiter.continuation.resume(returning: .failure(.shuttingDown)) }
        waiters.removeAll()
        appliedWaits.removeAll()
        lowestAppliedWait = .max
        let waiting = inbox.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.phase = .finished
            if state.lastStatus == nil { state.lastStatus = stoppedStatus() }
            state.lastStatus?.role = .stopped
            defer { state.shutdownWaiters.removeAll() }
            return state.shutdownWaiters
        }
        for w in waiting { w.resume() }
    }

    // MARK: jobs

    /// Runs the queued jobs; `markClosed` also closes the inbox to new jobs (under the same lock).
    func drainInbox(markClosed: Bool = false) {
        while true {
            let jobs = inbox.withLock { state -> [@Sendable (RaftNode) -> Void] in
                if markClosed { state.phase = .closed }
                defer { state.jobs.removeAll(keepingCapacity: true) }
                return state.jobs
            }
            if jobs.isEmpty { return }
            for job in jobs { job(self) }
        }
    }

    func onWakeup() {
        drainInbox()
        pumpRequested = false
        pump()
    }

    /// Asks for a pump on the next loop turn (never call raft_apply from inside a libraft callback).
    func requestPump() {
        guard !pumpRequested, !closing else { return }
        pumpRequested = true
        uv_async_send(wakeup)
    }

    // MARK: proposals

    func enqueueProposal(_ command: [UInt8], _ continuation: ProposalWaiter) {
        if closing { return continuation.resume(returning: .failure(.shuttingDown)) }
        guard isLeader else { return continuation.resume(returning: .failure(notLeaderError())) }
        queue.append(Queued(command: command, continuation: continuation, deadline: deadline()))
    }

    /// Packs queued proposals into entries and hands them to raft_apply while the in-flight budget allows.
    func pump() {
        guard !closing, queueHead < queue.count else { return }
        guard isLeader else { return failQueue(notLeaderError()) }
        let config = configuration
        while queueHead < queue.count {
            var size = EntryBatch.headerSize
            var end = queueHead
            while end < queue.count && end - queueHead < config.maxCommandsPerEntry {
                let more = 4 + queue[end].command.count
                if end > queueHead && size + more > config.maxEntryBytes { break }
                size += more
                end += 1
            }
            if inFlightBytes > 0 && inFlightBytes + size > config.inFlightByteBudget { break }
            let items = queue[queueHead..<end]
            queueHead = end
            submitEntry(items, size: size)
        }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead > 4096 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    private func submitEntry(_ items: ArraySlice<Queued>, size encodedSize: Int) {
        let sequence = nextSequence
        nextSequence += 1
        let continuations = items.map(\.continuation)
        // libraft 0.15 writes and reads entries as if their length were a multiple of 8 (uv_segment.c TODO,
        // canonical/raft#304): other lengths corrupt closed segments and multi-entry AppendEntries. Zero-pad;
        // EntryBatch.decode ignores the tail.
        let size = (encodedSize + 7) & ~7
        guard let base = raft_malloc(size) else {
            for c in continuations { c.resume(returning: .failure(.raft(code: RAFT_NOMEM, message: "raft_malloc"))) }
            return
        }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        EntryBatch.encode(
            into: UnsafeMutableRawBufferPointer(start: base, count: encodedSize), incarnation: incarnation,
            sequence: sequence, commands: items.lazy.map(\.command))
        let request = UnsafeMutablePointer<raft_apply>.allocate(capacity: 1)
        request.initialize(to: raft_apply())
        request.pointee.data = Unmanaged.passRetained(RequestBox(self, token: sequence, bytes: size)).toOpaque()
        // Register before raft_apply: a single voter may apply synchronously inside the call.
        inFlight[sequence] = Batch(continuations, deadline: items.first?.deadline)
        inFlightBytes += size
        var buffer = raft_buffer(base: base, len: size)
        let rv = raft_apply(raftPtr, request, &buffer, 1, applyDoneThunk)
        if rv != 0 {
            let error = mapError(rv)
            raft_free(base)
            Unmanaged<RequestBox>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            inFlightBytes -= size
            if let batch = inFlight.removeValue(forKey: sequence) {
                for c in batch.continuations { c.resume(returning: .failure(error)) }
            }
        }
    }

    /// fsm->apply: apply every command of the entry; resolve our own proposers with the results.
    func applyEntry(_ raw: UnsafeRawBufferPointer) -> Int32 {
        var results: [[UInt8]] = []
        let apply = machine.apply
        // libraft applies entries in order and sets last_applied after each (also for barrier and configuration
        // entries, and to the snapshot index on restore), so the entry being applied is the next one.
        let index = raft_last_applied(externalRaft ?? raftPtr) + 1
        do {
            let header = try EntryBatch.decode(raw) { command in results.append(apply([UInt8](command), index)) }
            if header.incarnation == incarnation, let batch = inFlight.removeValue(forKey: header.sequence) {
                for (c, result) in zip(batch.continuations, results) { c.resume(returning: .success(result)) }
                for c in batch.continuations.dropFirst(results.count) {
                    c.resume(returning: .failure(.raft(code: RAFT_MALFORMED, message: "entry lost a command")))
                }
            }
            resolveAppliedWaits(upTo: index)
            return 0
        } catch {
            lastThunkError = "malformed entry: \(error)"
            return RAFT_MALFORMED
        }
    }

    /// raft_apply's callback: the entry is applied (status 0) or failed.
    func applyDone(_ box: RequestBox, status: Int32) {
        inFlightBytes -= box.bytes
        if let batch = inFlight.removeValue(forKey: box.token) {
            let error: RaftError =
                status == 0
                ? .raft(code: 0, message: "entry applied without its commands") : mapError(status)
            for c in batch.continuations { c.resume(returning: .failure(error)) }
        }
        requestPump()
    }

    func failQueue(_ error: RaftError) {
        for item in queue[queueHead...] { item.continuation.resume(returning: .failure(error)) }
        queue.removeAll()
        queueHead = 0
    }

    // MARK: barrier, membership, transfer

    func registerWaiter(_ continuation: VoidContinuation, timeout: Duration? = nil) -> UInt64 {
        let token = nextWaiterToken
        nextWaiterToken += 1
        waiters[token] = (continuation, timeout.map { uv_now(loop) + UInt64($0.wholeMilliseconds) } ?? deadline())
        return token
    }

    func resolveWaiter(_ token: UInt64, _ result: Result<Void, RaftError>) {
        if appliedWaits.removeValue(forKey: token) != nil && appliedWaits.isEmpty { lowestAppliedWait = .max }
        waiters.removeValue(forKey: token)?.continuation.resume(returning: result)
    }

    // MARK: waiting for the local apply

    func waitForAppliedOnLoop(_ token: UInt64, index: UInt64) {
        if raft_last_applied(raftPtr) >= index { return resolveWaiter(token, .success(())) }
        appliedWaits[token] = index
        lowestAppliedWait = min(lowestAppliedWait, index)
    }

    /// Resolves the `waitForApplied` calls satisfied once the log is applied up to `applied`. Called after each
    /// applied entry and on every tick (which also covers snapshot restores and entries that skip `fsm->apply`).
    func resolveAppliedWaits(upTo applied: UInt64) {
        guard applied >= lowestAppliedWait else { return }
        var lowest = UInt64.max
        var ready: [UInt64] = []
        for (token, index) in appliedWaits {
            if index <= applied { ready.append(token) } else { lowest = min(lowest, index) }
        }
        lowestAppliedWait = lowest
        for token in ready {
            appliedWaits.removeValue(forKey: token)
            waiters.removeValue(forKey: token)?.continuation.resume(returning: .success(()))
        }
    }

    func barrierOnLoop(_ token: UInt64) {
        guard isLeader else { return resolveWaiter(token, .failure(notLeaderError())) }
        let request = UnsafeMutablePointer<raft_barrier>.allocate(capacity: 1)
        request.initialize(to: raft_barrier())
        request.pointee.data = Unmanaged.passRetained(RequestBox(self, token: token)).toOpaque()
        let rv = raft_barrier(raftPtr, request, barrierDoneThunk)
        if rv != 0 {
            Unmanaged<RequestBox>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            resolveWaiter(token, .failure(mapError(rv)))
        }
    }

    func addOnLoop(_ token: UInt64, id: UInt64, address: String) {
        guard isLeader else { return resolveWaiter(token, .failure(notLeaderError())) }
        changeRequest(token, target: id) { raft_add(self.raftPtr, $0, id, address, changeDoneThunk) }
    }

    /// Second half of addVoter, run as a fresh job after raft_add's change committed.
    func assignVoterOnLoop(_ token: UInt64, id: UInt64) {
        guard !closing else { return resolveWaiter(token, .failure(.shuttingDown)) }
        guard isLeader else { return resolveWaiter(token, .failure(notLeaderError())) }
        changeRequest(token, target: 0) { raft_assign(self.raftPtr, $0, id, RAFT_VOTER, changeDoneThunk) }
    }

    func removeOnLoop(_ token: UInt64, id: UInt64) {
        guard isLeader else { return resolveWaiter(token, .failure(notLeaderError())) }
        changeRequest(token, target: 0) { raft_remove(self.raftPtr, $0, id, changeDoneThunk) }
    }

    /// `target` != 0 marks the raft_add step, whose success continues with raft_assign.
    private func changeRequest(
        _ token: UInt64, target: UInt64, _ call: (UnsafeMutablePointer<raft_change>) -> Int32
    ) {
        let request = UnsafeMutablePointer<raft_change>.allocate(capacity: 1)
        request.initialize(to: raft_change())
        request.pointee.data = Unmanaged.passRetained(RequestBox(self, token: token, target: target)).toOpaque()
        let rv = call(request)
        if rv != 0 {
            Unmanaged<RequestBox>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            resolveWaiter(token, .failure(mapError(rv)))
        }
    }

    func changeDone(_ box: RequestBox, status: Int32) {
        guard status == 0 else { return resolveWaiter(box.token, .failure(mapError(status))) }
        guard box.target != 0 else { return resolveWaiter(box.token, .success(())) }
        let token = box.token
        let id = box.target
        // The caller gave up (timed out) while the server caught up: leave it a spare rather than promote it
        // behind their back; an operator retrying sees it in the configuration and decides.
        guard waiters[token] != nil else { return }
        if let error = submit({ node in node.assignVoterOnLoop(token, id: id) }) {
            resolveWaiter(token, .failure(error))
        }
    }

    func transferOnLoop(_ token: UInt64, id: UInt64) {
        guard isLeader else { return resolveWaiter(token, .failure(notLeaderError())) }
        let request = UnsafeMutablePointer<raft_transfer>.allocate(capacity: 1)
        request.initialize(to: raft_transfer())
        request.pointee.data = Unmanaged.passRetained(RequestBox(self, token: token, target: id)).toOpaque()
        let rv = raft_transfer(raftPtr, request, id, transferDoneThunk)
        if rv != 0 {
            Unmanaged<RequestBox>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            resolveWaiter(token, .failure(mapError(rv)))
        }
    }

    func transferDone(_ box: RequestBox) {
        let target = box.target
        let leader = currentLeader().id
        if leader != nil && leader != configuration.id && (target == 0 || leader == target) {
            resolveWaiter(box.token, .success(()))
        } else {
            resolveWaiter(box.token, .failure(.transferFailed(leaderID: leader)))
        }
    }

    // MARK: timer

    /// Every 20 ms: resolve applied waits a restore satisfied; fail proposals and requests past their deadline.
    func onTick() {
        guard !closing else { return }
        resolveAppliedWaits(upTo: raft_last_applied(raftPtr))
        let now = uv_now(loop)
        if queueHead < queue.count, let d = queue[queueHead].deadline, d <= now {
            var kept: [Queued] = []
            for item in queue[queueHead...] {
                if let d = item.deadline, d <= now {
                    item.continuation.resume(returning: .failure(.timeout))
                } else {
                    kept.append(item)
                }
            }
            queue = kept
            queueHead = 0
        }
        for (sequence, batch) in inFlight where (batch.deadline ?? .max) <= now {
            inFlight.removeValue(forKey: sequence)
            for c in batch.continuations { c.resume(returning: .failure(.timeout)) }
        }
        for (token, waiter) in waiters where (waiter.deadline ?? .max) <= now {
            resolveWaiter(token, .failure(.timeout))
        }
    }

    // MARK: helpers

    var isLeader: Bool { Int(raft_state(raftPtr)) == RAFT_LEADER }

    func currentLeader() -> (id: UInt64?, address: String?) {
        var id: raft_id = 0
        var address: UnsafePointer<CChar>? = nil
        raft_leader(raftPtr, &id, &address)
        guard id != 0 else { return (nil, nil) }
        return (id, address.map { String(cString: $0) })
    }

    func notLeaderError() -> RaftError {
        let leader = currentLeader()
        return .notLeader(leaderID: leader.id, address: leader.address)
    }

    func deadline() -> UInt64? {
        configuration.requestTimeout.map { uv_now(loop) + UInt64($0.wholeMilliseconds) }
    }

    /// A libraft status code as a RaftError, with libraft's message copied now.
    func mapError(_ code: Int32) -> RaftError {
        switch code {
        case RAFT_NOTLEADER: return notLeaderError()
        case RAFT_LEADERSHIPLOST: return closing ? .shuttingDown : .leadershipLost
        case RAFT_SHUTDOWN, RAFT_CANCELED: return .shuttingDown
        default:
            if closing { return .shuttingDown }
            var message = String(cString: raft_strerror(code))
            let detail = String(cString: raft_errmsg(raftPtr))
            if !detail.isEmpty && detail != message { message += ": " + detail }
            if let thunk = lastThunkError { message += " (\(thunk))" }
            return .raft(code: code, message: message)
        }
    }

    static func errmsg<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    func statusOnLoop() -> RaftStatus {
        let role: RaftRole
        switch Int(raft_state(raftPtr)) {
        case RAFT_FOLLOWER: role = .follower
        case RAFT_CANDIDATE: role = .candidate
        case RAFT_LEADER: role = .leader
        default: role = .unavailable
        }
        let leader = currentLeader()
        let configuration = raftPtr.pointee.configuration
        var peers: [RaftMemberStatus] = []
        for i in 0..<Int(configuration.n) {
            let server = configuration.servers[i]
            let memberRole: RaftMemberRole =
                switch server.role {
                case RAFT_VOTER: .voter
                case RAFT_STANDBY: .standby
                default: .spare
                }
            peers.append(
                RaftMemberStatus(id: server.id, address: String(cString: server.address), role: memberRole))
        }
        return RaftStatus(
            id: self.configuration.id, role: role, term: raftPtr.pointee.current_term, leaderID: leader.id,
            leaderAddress: leader.address, commitIndex: raftPtr.pointee.commit_index,
            appliedIndex: raft_last_applied(raftPtr), lastIndex: raft_last_index(raftPtr), peers: peers,
            inFlightBytes: inFlightBytes, queuedProposals: queue.count - queueHead)
    }
}

/// Rides in a request's `data` (retained) until libraft calls back; carries the node and what the callback needs.
final class RequestBox {
    let node: RaftNode
    let token: UInt64
    let bytes: Int
    let target: UInt64
    init(_ node: RaftNode, token: UInt64, bytes: Int = 0, target: UInt64 = 0) {
        self.node = node
        self.token = token
        self.bytes = bytes
        self.target = target
    }
}
