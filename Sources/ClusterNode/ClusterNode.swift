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
        /// Snapshots loaded (at start or installed from the leader): a figure for status and tests.
        let restores = Atomic<Int>(0)
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
        let answer: [UInt8]
        do {
            answer = try await raft.propose(command.encoded())
        } catch {
            throw ClusterNodeError(error)
        }
        guard let outcome = ClusterOutcomeCodec.decode(answer) else { throw .malformedOutcome }
        return outcome
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
        do {
            try await raft.barrier()
        } catch {
            throw ClusterNodeError(error)
        }
        return read(body)
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

    /// The closures RaftNode calls on its thread. Separate from `init` so tests can drive them directly.
    static func stateMachine(_ applied: AppliedState, maxSnapshotBytes: Int, logger: Logger) -> RaftStateMachine {
        RaftStateMachine(
            applyAtIndex: { bytes, index in
                let outcome = applied.state.withLock { $0.decodeAndApply(bytes, index: index) }
                return ClusterOutcomeCodec.encode(outcome)
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
                applied.restores.add(1, ordering: .relaxed)
                logger.info(
                    "restored a snapshot",
                    metadata: ["lastAppliedIndex": "\(restoredState.lastAppliedIndex)", "bytes": "\(bytes.count)"])
            })
    }
}
