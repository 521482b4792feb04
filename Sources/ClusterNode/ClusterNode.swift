// ClusterNode: the replicated ClusterState on one RaftNode (ARCHITECTURE §3, STYLE C7).
//
// Rules this file keeps:
//
// 1. The raft thread is the only writer. `apply`, `snapshot` and `restore` run there, one at a time, in log
//    order. `apply` mutates the one ClusterState in place under `state`'s lock (a few microseconds), so a command
//    costs no copy of the state.
// 2. Readers never touch the raft thread. `read` copies the struct out under the lock (reference-count bumps
//    only) and runs its body outside it, so a slow reader never holds up apply. A write that lands while a reader
//    still holds its copy pays one copy-on-write of the parts it changes; nobody else does.
// 3. Read-your-writes on the proposing node: RaftNode resumes a proposal after this node's `apply` returned, and
//    `apply` has stored the new state before returning, so `read` right after `propose` sees the write.
// 4. Bad bytes never trap: `decodeAndApply` turns them into `.malformedCommand` / `.unsupportedCommandVersion`
//    outcomes (committed and applied like any command, so every node answers the same), and a bad snapshot makes
//    `restore` throw, which libraft reports instead of loading it.

import ClusterState
import LZ4
import Logging
import RaftStore
import Synchronization

/// Who the node is in its cluster the first time it starts on an empty data directory.
public typealias ClusterStartMode = RaftStartMode
/// A member of the cluster: raft id and raft address.
public typealias ClusterPeer = RaftPeer
/// Role, term, leader, commit/applied indices and members, as the raft shell sees them.
public typealias ClusterStatus = RaftStatus
/// A member's role in the raft configuration (voter, standby, spare).
public typealias ClusterMemberRole = RaftMemberRole

/// Where a command sits in the log: its entry's raft index, then its place among the commands packed into that
/// entry (RaftNode packs several per entry, and ClusterState's `lastAppliedIndex` moves on at the entry's first).
/// Equal on every node, since every node applies the same entries in the same order. After a snapshot restore the
/// ordinal is `.max`: the whole entry is in.
public struct AppliedPosition: Sendable, Hashable, Comparable {
    public var index: UInt64
    public var ordinal: UInt32
    public init(index: UInt64, ordinal: UInt32) {
        self.index = index
        self.ordinal = ordinal
    }
    public static func < (a: Self, b: Self) -> Bool { (a.index, a.ordinal) < (b.index, b.ordinal) }
}

/// One member of the cluster: a `RaftNode` whose state machine is `ClusterState`.
public final class ClusterNode: Sendable {
    public let configuration: ClusterNodeConfiguration
    let raft: RaftNode
    /// The applied state, shared with the state machine closures (which must not capture `self`: the node owns
    /// the RaftNode that owns them).
    let applied: AppliedState

    /// The read model: written only on the raft thread (rule 1), read from anywhere (rule 2).
    final class AppliedState: Sendable {
        let state = Mutex(ClusterState())
        /// Where apply has got to; stored after `state`, so a reader that sees a position sees its writes.
        let position = Mutex(AppliedPosition(index: 0, ordinal: 0))
        /// Snapshots loaded (at start or installed from the leader): a figure for status and tests.
        let restores = Atomic<Int>(0)
        /// Told every outcome this node applies, on the raft thread, after the state holds it (so a reader it
        /// wakes sees the write). Must return quickly: it holds up apply. Boxed in a class: a bare closure kept in a
        /// generic `Mutex` is re-abstracted (wrapped in a thunk) by every `withLock` that reads it back through
        /// `inout`, so the chain grew by two frames per applied entry (measured: 47,000 frames deep, ~1 ms per apply).
        let observer = Mutex<Observer?>(nil)
    }

    final class Observer: Sendable {
        let observe: @Sendable (ClusterOutcome) -> Void
        init(_ observe: @escaping @Sendable (ClusterOutcome) -> Void) { self.observe = observe }
    }

    /// Sets the observer of applied outcomes (see `AppliedState.observer`): e.g. the shadow service publishing
    /// each applied update's messages to this node's subscribers. Outcomes replayed from the log at start are
    /// observed too.
    public func observeApplied(_ observer: @escaping @Sendable (ClusterOutcome) -> Void) {
        let box = Observer(observer)
        applied.observer.withLock { $0 = box }
    }

    public init(configuration: ClusterNodeConfiguration, logger: Logger = Logger(label: "flotilla.cluster")) {
        self.configuration = configuration
        let applied = AppliedState()
        self.applied = applied
        let machine = Self.stateMachine(applied, maxSnapshotBytes: configuration.maxSnapshotBytes, logger: logger)
        self.raft = RaftNode(configuration: configuration.raftConfiguration, stateMachine: machine)
    }

    // MARK: lifecycle

    /// Loads the data directory (newest snapshot, then the log after it), bootstraps on first start, and joins the
    /// cluster. Returns once raft runs; leadership comes later (poll `status()`).
    public func start(_ mode: ClusterStartMode) async throws(ClusterNodeError) {
        do {
            try await raft.start(mode)
        } catch {
            throw ClusterNodeError(error)
        }
    }

    /// Stops raft. Pending proposals resolve with their outcome or `.shuttingDown`. Safe to call twice.
    public func shutdown() async {
        await raft.shutdown()
    }

    // MARK: writes

    /// Proposes one command; answers once it is committed and applied on this node. Domain failures are the
    /// `.failure` of the outcome; thrown errors mean the command was not answered (see `ClusterNodeError`).
    public func propose(_ command: ClusterCommand) async throws(ClusterNodeError) -> ClusterOutcome {
        try await proposeReturningPosition(command).outcome
    }

    /// `propose` for a command already in `ClusterCommand.encoded()` form.
    package func propose(encoded command: [UInt8]) async throws(ClusterNodeError) -> ClusterOutcome {
        try await proposeReturningPosition(encoded: command).outcome
    }

    /// `propose`, also answering where in the log the command was applied. A node forwarding for a follower
    /// sends it back, and the follower waits until its `appliedPosition` reaches it (read-your-writes there).
    public func proposeReturningPosition(
        _ command: ClusterCommand
    ) async throws(ClusterNodeError) -> (outcome: ClusterOutcome, position: AppliedPosition) {
        try await proposeReturningPosition(encoded: command.encoded())
    }

    /// `proposeReturningPosition` for a command already in `ClusterCommand.encoded()` form (the leader serving a
    /// forward proposes the bytes it received, once it has checked they decode).
    package func proposeReturningPosition(
        encoded command: [UInt8]
    ) async throws(ClusterNodeError) -> (outcome: ClusterOutcome, position: AppliedPosition) {
        let answer: [UInt8]
        do {
            answer = try await raft.propose(command)
        } catch {
            throw ClusterNodeError(error)
        }
        guard let decoded = Self.decodeAnswer(answer) else { throw .malformedOutcome }
        return decoded
    }

    /// `proposeReturningPosition` for many encoded commands at once, each answered on its own (see
    /// `RaftNode.proposeAll`): how the leader proposes a follower's forwarded batch.
    package func proposeAllReturningPositions(
        encoded commands: [[UInt8]]
    ) async -> [Result<(outcome: ClusterOutcome, position: AppliedPosition), ClusterNodeError>] {
        await raft.proposeAll(commands).map { result in
            switch result {
            case .success(let answer):
                guard let decoded = Self.decodeAnswer(answer) else { return .failure(.malformedOutcome) }
                return .success(decoded)
            case .failure(let error):
                return .failure(ClusterNodeError(error))
            }
        }
    }

    // MARK: reads

    /// Reads the state this node has applied (data-plane reads: may lag the leader by the replication delay, but
    /// always includes this node's own acknowledged writes).
    public func read<T>(_ body: (ClusterState) throws -> T) rethrows -> T {
        let current = applied.state.withLock { $0 }
        return try body(current)
    }

    /// Reads after a barrier on the leader: sees every write committed before the call (Raft §6.4). Throws
    /// `.notLeader` on a follower.
    public func linearizableRead<T>(_ body: (ClusterState) -> T) async throws(ClusterNodeError) -> T {
        try await barrier()
        return read(body)
    }

    /// A raft barrier on the leader: returns once every entry committed before the call is applied here. Also
    /// tells followers about the latest commit at once (used to nudge them after forwarded proposals).
    public func barrier() async throws(ClusterNodeError) {
        do {
            try await raft.barrier()
        } catch {
            throw ClusterNodeError(error)
        }
    }

    /// How far this node has applied the log: every command at or before this position is in `read`'s state.
    public var appliedPosition: AppliedPosition { applied.position.withLock { $0 } }

    /// Returns once `appliedPosition` has reached `position` (a write the leader answered for), so that `read`
    /// sees it. Woken by the raft thread right after it applied the entry (no polling); `.timeout` after `timeout`,
    /// `.shuttingDown` if the node stops first.
    public func waitForApplied(_ position: AppliedPosition, timeout: Duration) async throws(ClusterNodeError) {
        if appliedPosition >= position { return }
        do {
            // Entries are applied whole, on the raft thread, before it wakes anyone: once raft has applied the
            // entry, every command of it (so the ordinal too) is in the state.
            try await raft.waitForApplied(index: position.index, timeout: timeout)
        } catch {
            throw ClusterNodeError(error)
        }
        guard appliedPosition >= position else {
            throw .internal("entry \(position.index) applied but the position is \(appliedPosition)")
        }
    }

    /// The canonical snapshot bytes of the applied state (uncompressed): equal states give equal bytes.
    public func stateSnapshot() -> [UInt8] {
        read { $0.snapshot() }
    }

    /// Snapshots loaded by this node so far (at start or installed from the leader).
    public var snapshotsRestored: Int { applied.restores.load(ordering: .relaxed) }

    // MARK: cluster management

    public func status() async -> ClusterStatus {
        await raft.status()
    }

    /// Adds a node as a voter (it must be started with `.join`); libraft catches it up first. Call on the leader.
    public func addVoter(id: UInt64, address: String) async throws(ClusterNodeError) {
        do {
            try await raft.addVoter(id: id, address: address)
        } catch {
            throw ClusterNodeError(error)
        }
    }

    /// Removes a node from the configuration. Call on the leader.
    public func remove(id: UInt64) async throws(ClusterNodeError) {
        do {
            try await raft.remove(id: id)
        } catch {
            throw ClusterNodeError(error)
        }
    }

    /// Hands leadership to `id` (0: any up-to-date voter). Call on the leader.
    public func transferLeadership(to id: UInt64) async throws(ClusterNodeError) {
        do {
            try await raft.transferLeadership(to: id)
        } catch {
            throw ClusterNodeError(error)
        }
    }

    // MARK: the state machine (raft thread)

    /// What `apply` hands back to the local proposer (never replicated, never stored): the outcome in
    /// `ClusterOutcomeCodec` bytes, then its position (index u64, ordinal u32, big-endian).
    static func encodeAnswer(_ outcome: ClusterOutcome, position: AppliedPosition) -> [UInt8] {
        var bytes = ClusterOutcomeCodec.encode(outcome)
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: position.index >> UInt64(shift)))
        }
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: position.ordinal >> UInt32(shift)))
        }
        return bytes
    }

    static func decodeAnswer(_ bytes: [UInt8]) -> (outcome: ClusterOutcome, position: AppliedPosition)? {
        guard bytes.count > 12 else { return nil }
        let split = bytes.count - 12
        var index: UInt64 = 0
        for b in bytes[split..<(split + 8)] { index = index << 8 | UInt64(b) }
        var ordinal: UInt32 = 0
        for b in bytes[(split + 8)...] { ordinal = ordinal << 8 | UInt32(b) }
        guard let outcome = ClusterOutcomeCodec.decode(Array(bytes[..<split])) else { return nil }
        return (outcome, AppliedPosition(index: index, ordinal: ordinal))
    }

    /// The closures RaftNode calls on its thread. Separate from `init` so tests can drive them directly.
    static func stateMachine(_ applied: AppliedState, maxSnapshotBytes: Int, logger: Logger) -> RaftStateMachine {
        RaftStateMachine(
            applyAtIndex: { bytes, index in
                let outcome = applied.state.withLock { $0.decodeAndApply(bytes, index: index) }
                let position = applied.position.withLock { p in
                    p = p.index == index ? AppliedPosition(index: index, ordinal: p.ordinal &+ 1)
                        : AppliedPosition(index: index, ordinal: 0)
                    return p
                }
                if let observer = applied.observer.withLock({ $0 }) { observer.observe(outcome) }
                return encodeAnswer(outcome, position: position)
            },
            snapshot: {
                // Copy out (rule 2) and encode outside the lock: readers keep going while the snapshot is built.
                let current = applied.state.withLock { $0 }
                return try LZ4Frame.compress(current.snapshot())
            },
            restore: { bytes in
                let restoredState: ClusterState
                do {
                    restoredState = try ClusterState.restore(LZ4Frame.decompress(bytes, maxSize: maxSnapshotBytes))
                } catch {
                    logger.error("refusing a snapshot", metadata: ["error": "\(error)", "bytes": "\(bytes.count)"])
                    throw error
                }
                applied.state.withLock { $0 = restoredState }
                let restoredPosition = AppliedPosition(index: restoredState.lastAppliedIndex, ordinal: .max)
                applied.position.withLock { $0 = restoredPosition }
                applied.restores.add(1, ordering: .relaxed)
                logger.info(
                    "restored a snapshot",
                    metadata: ["lastAppliedIndex": "\(restoredState.lastAppliedIndex)", "bytes": "\(bytes.count)"])
            })
    }
}
