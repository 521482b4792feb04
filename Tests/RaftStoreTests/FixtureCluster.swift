import CRaft
import Synchronization
import Testing

@testable import RaftStore

// A harness around libraft's raft_fixture (raft/fixture.h): an in-memory cluster whose io, network and clock are
// simulated and advanced one event at a time, so a run depends only on the calls made. Each fixture server's fsm
// is a RaftNode's, filled with the production thunks (RaftNode.serveFSM); the node is never started. Everything
// runs on the test's thread. Invariants are collected as messages, not trapped, so a test reports them with its seed.

/// One command as a test machine applied it: the raft index of its entry and its bytes.
struct AppliedCommand: Equatable, CustomStringConvertible {
    var index: UInt64
    var command: [UInt8]
    var description: String { "#\(FixtureCluster.commandID(command))@\(index)" }
}

/// The history all servers must agree on. The first server to apply position p fixes it; every other server must
/// apply the same (index, command) at p, and a restored snapshot must be a prefix-compatible slice of it (Raft §5.4.3,
/// State Machine Safety). Checked on every apply, so a divergence is caught where it happens.
final class Ledger: Sendable {
    private struct State {
        var history: [AppliedCommand] = []
        var violations: [String] = []
    }
    private let state = Mutex(State())

    var violations: [String] { state.withLock { $0.violations } }

    func note(_ violation: String) {
        state.withLock { s in if s.violations.count < 20 { s.violations.append(violation) } }
    }

    func recordApply(_ entry: AppliedCommand, at position: Int, server: Int) {
        let problem = state.withLock { s -> String? in
            if position < s.history.count {
                let agreed = s.history[position]
                return agreed == entry ? nil : "server \(server) applied \(entry) at \(position), not \(agreed)"
            }
            guard position == s.history.count else {
                return "server \(server) applied position \(position) past the history (\(s.history.count))"
            }
            s.history.append(entry)
            return nil
        }
        if let problem { note(problem) }
    }

    func recordRestore(_ applied: [AppliedCommand], server: Int) {
        for (position, entry) in applied.enumerated() { recordApply(entry, at: position, server: server) }
    }
}

/// The state machine behind each fixture server: an append-only list of (index, command), snapshotted whole.
final class LedgerMachine: Sendable {
    struct State {
        var applied: [AppliedCommand] = []
        var snapshots = 0
        var restores = 0
        /// Snapshot calls that throw (the thunk then returns RAFT_BUSY), counted down.
        var failingSnapshots = 0
        var failedSnapshots = 0
        /// The index of the last applied command at each snapshot call, failed or not.
        var snapshotCalls: [UInt64] = []
    }
    let state = Mutex(State())
    let server: Int
    let ledger: Ledger

    init(server: Int, ledger: Ledger) {
        self.server = server
        self.ledger = ledger
    }

    var applied: [AppliedCommand] { state.withLock { $0.applied } }
    var commands: [[UInt8]] { applied.map(\.command) }
    var snapshots: Int { state.withLock { $0.snapshots } }
    var restores: Int { state.withLock { $0.restores } }

    enum Failure: Error { case injected, truncated }

    var machine: RaftStateMachine {
        RaftStateMachine(
            applyAtIndex: { [self] command, index in
                let entry = AppliedCommand(index: index, command: command)
                let (position, previous) = state.withLock { s in
                    let previous = s.applied.last?.index
                    s.applied.append(entry)
                    return (s.applied.count - 1, previous)
                }
                if let previous, index < previous {
                    ledger.note("server \(server): index went back from \(previous) to \(index)")
                }
                ledger.recordApply(entry, at: position, server: server)
                return []
            },
            snapshot: { [self] in
                try state.withLock { s in
                    s.snapshotCalls.append(s.applied.last?.index ?? 0)
                    if s.failingSnapshots > 0 {
                        s.failingSnapshots -= 1
                        s.failedSnapshots += 1
                        throw Failure.injected
                    }
                    s.snapshots += 1
                    return Self.encode(s.applied)
                }
            },
            restore: { [self] bytes in
                let applied = try Self.decode(bytes)
                state.withLock { s in
                    s.applied = applied
                    s.restores += 1
                }
                ledger.recordRestore(applied, server: server)
            })
    }

    static func encode(_ applied: [AppliedCommand]) -> [UInt8] {
        var out = le(UInt64(applied.count))
        for a in applied { out += le(a.index) + le(UInt64(a.command.count)) + a.command }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws -> [AppliedCommand] {
        var offset = 0
        func u64() throws -> UInt64 {
            guard offset + 8 <= bytes.count else { throw Failure.truncated }
            defer { offset += 8 }
            return bytes[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        var applied: [AppliedCommand] = []
        for _ in 0..<(try u64()) {
            let index = try u64()
            let length = Int(try u64())
            guard offset + length <= bytes.count else { throw Failure.truncated }
            applied.append(AppliedCommand(index: index, command: Array(bytes[offset..<offset + length])))
            offset += length
        }
        return applied
    }

    static func le(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// One raft_apply on some server, resolved by its callback.
final class Proposal {
    let commands: [[UInt8]]
    let server: Int
    /// Where the server appended the entry (`raft_last_index` right after raft_apply).
    var index: UInt64 = 0
    /// Every status the callback reported (exactly one is the contract).
    var statuses: [Int32] = []
    /// The callback's `result`: the apply thunk sets none (results travel through RaftNode's in-flight table).
    var resultWasNil = true

    init(commands: [[UInt8]], server: Int) {
        self.commands = commands
        self.server = server
    }
    var status: Int32? { statuses.first }
}

/// One raft_add / raft_assign, resolved by its callback.
final class ChangeRequest {
    var statuses: [Int32] = []
    var status: Int32? { statuses.first }
}

private func fixtureApplyDone(
    _ req: UnsafeMutablePointer<raft_apply>?, _ status: Int32, _ result: UnsafeMutableRawPointer?
) {
    guard let req else { return }
    let proposal = Unmanaged<Proposal>.fromOpaque(req.pointee.data).takeRetainedValue()
    proposal.statuses.append(status)
    if result != nil { proposal.resultWasNil = false }
    req.deallocate()
}

private func fixtureChangeDone(_ req: UnsafeMutablePointer<raft_change>?, _ status: Int32) {
    guard let req else { return }
    Unmanaged<ChangeRequest>.fromOpaque(req.pointee.data).takeRetainedValue().statuses.append(status)
    req.deallocate()
}

final class FixtureCluster {
    let fixture: UnsafeMutablePointer<raft_fixture>
    private(set) var nodes: [RaftNode] = []
    private(set) var machines: [LedgerMachine] = []
    let ledger = Ledger()
    private(set) var proposals: [Proposal] = []
    /// Entries whose EntryBatch encoding was not a multiple of 8 bytes before padding.
    private(set) var paddedEntries = 0
    private(set) var steps = 0
    let snapshotThreshold: UInt32
    let snapshotTrailing: UInt32
    private var nextCommandID: UInt64 = 1
    private var nextSequence: UInt64 = 1
    private var closed = false
    /// Entries proposed by the tests carry this incarnation; RaftNode's is random in 1…max, so none of them
    /// resolves a node's (empty) in-flight table.
    static let testIncarnation: UInt64 = 0

    /// `servers` voters, bootstrapped and started (not yet led). Pre-vote is on, as in RaftConfiguration.
    init(
        servers: Int, snapshotThreshold: UInt32 = 1024, snapshotTrailing: UInt32 = 128,
        electionTimeouts: [UInt32]? = nil
    ) throws {
        self.snapshotThreshold = snapshotThreshold
        self.snapshotTrailing = snapshotTrailing
        fixture = .allocate(capacity: 1)
        UnsafeMutableRawPointer(fixture).initializeMemory(
            as: UInt8.self, repeating: 0, count: MemoryLayout<raft_fixture>.size)
        try #require(raft_fixture_initialize(fixture) == 0)
        for _ in 0..<servers { try grow() }
        if let electionTimeouts {
            for (i, ms) in electionTimeouts.enumerated() {
                raft_fixture_set_randomized_election_timeout(fixture, UInt32(i), ms)
            }
        }
        var conf = raft_configuration()
        raft_configuration_init(&conf)
        defer { raft_configuration_close(&conf) }
        try #require(raft_fixture_configuration(fixture, UInt32(servers), &conf) == 0)
        try #require(raft_fixture_bootstrap(fixture, &conf) == 0)
        try #require(raft_fixture_start(fixture) == 0)
    }

    /// Closes the fixture (libraft fails what is still pending), then lets the nodes go.
    func close() {
        guard !closed else { return }
        closed = true
        raft_fixture_close(fixture)
        fixture.deallocate()
        nodes.removeAll()
    }

    deinit { close() }

    // MARK: servers

    /// Adds an empty server (id = index + 1) whose fsm is a fresh RaftNode's; not started, not in the configuration.
    @discardableResult
    func grow() throws -> Int {
        let i = nodes.count
        let machine = LedgerMachine(server: i, ledger: ledger)
        let config = RaftConfiguration(id: UInt64(i + 1), address: "\(i + 1)", dataDirectory: "/nonexistent")
        let node = RaftNode(configuration: config, stateMachine: machine.machine)
        var grown: Int32 = 0
        node.serveFSM { fsm in
            grown = raft_fixture_grow(fixture, fsm)
            return raft_fixture_get(fixture, UInt32(i))
        }
        try #require(grown == 0)
        let r = raft(i)
        raft_set_snapshot_threshold(r, snapshotThreshold)
        raft_set_snapshot_trailing(r, snapshotTrailing)
        raft_set_pre_vote(r, true)
        nodes.append(node)
        machines.append(machine)
        return i
    }

    var count: Int { nodes.count }
    func raft(_ i: Int) -> UnsafeMutablePointer<raft> { raft_fixture_get(fixture, UInt32(i)) }
    func isAlive(_ i: Int) -> Bool { raft_fixture_alive(fixture, UInt32(i)) }
    func kill(_ i: Int) { raft_fixture_kill(fixture, UInt32(i)) }
    func revive(_ i: Int) { raft_fixture_revive(fixture, UInt32(i)) }
    func state(_ i: Int) -> Int { Int(raft_state(raft(i))) }
    func lastIndex(_ i: Int) -> UInt64 { raft_last_index(raft(i)) }
    func lastApplied(_ i: Int) -> UInt64 { raft_last_applied(raft(i)) }
    func snapshotIndex(_ i: Int) -> UInt64 { raft(i).pointee.log.snapshot.last_index }

    /// The fixture's stable leader (acknowledged by a majority), if any.
    var leader: Int? {
        let i = Int(raft_fixture_leader_index(fixture))
        return i < count ? i : nil
    }

    /// Elects server `i`. Only valid with no leader and every server a follower (libraft's own precondition).
    func elect(_ i: Int) { raft_fixture_elect(fixture, UInt32(i)) }

    // MARK: stepping

    /// Fires fixture events one by one until `done` holds, at most `maxSteps` of them; after each event checks
    /// Election Safety (Raft §5.2: at most one leader per term), which libraft's release build does not assert.
    @discardableResult
    func step(atMost maxSteps: Int, until done: () -> Bool = { false }) -> Bool {
        for _ in 0..<maxSteps {
            if done() { return true }
            raft_fixture_step(fixture)
            steps += 1
            checkElectionSafety()
        }
        return done()
    }

    func allApplied(through index: UInt64, servers: [Int]? = nil) -> Bool {
        (servers ?? Array(0..<count)).allSatisfy { lastApplied($0) >= index }
    }

    var allProposalsResolved: Bool { proposals.allSatisfy { $0.status != nil } }

    private func checkElectionSafety() {
        for i in 0..<count where state(i) == RAFT_LEADER {
            for j in (i + 1)..<count where state(j) == RAFT_LEADER {
                let (ti, tj) = (raft(i).pointee.current_term, raft(j).pointee.current_term)
                if ti == tj { ledger.note("servers \(i) and \(j) both lead term \(ti) (step \(steps))") }
            }
        }
    }

    // MARK: proposals

    /// A fresh command: an 8-byte unique id, then filler up to `length` (≥ 8).
    func makeCommand(length: Int) -> [UInt8] {
        let id = nextCommandID
        nextCommandID += 1
        return LedgerMachine.le(id) + [UInt8](repeating: UInt8(truncatingIfNeeded: id), count: max(length - 8, 0))
    }

    static func commandID(_ command: [UInt8]) -> UInt64 {
        command.prefix(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Packs `commands` into one entry the way RaftNode.submitEntry does (EntryBatch, zero-padded to a multiple of
    /// 8 bytes for libraft 0.15, canonical/raft#304) and hands it to raft_apply on server `i`. Nil if libraft
    /// refused it (for example: `i` is not leader).
    @discardableResult
    func propose(on i: Int, _ commands: [[UInt8]]) -> Proposal? {
        let size = EntryBatch.encodedSize(commands.map(\.count))
        let padded = (size + 7) & ~7
        guard let base = raft_malloc(padded) else { return nil }
        base.initializeMemory(as: UInt8.self, repeating: 0, count: padded)
        EntryBatch.encode(
            into: UnsafeMutableRawBufferPointer(start: base, count: size), incarnation: Self.testIncarnation,
            sequence: nextSequence, commands: commands)
        nextSequence += 1
        let proposal = Proposal(commands: commands, server: i)
        let request = UnsafeMutablePointer<raft_apply>.allocate(capacity: 1)
        request.initialize(to: raft_apply())
        request.pointee.data = Unmanaged.passRetained(proposal).toOpaque()
        var buffer = raft_buffer(base: base, len: padded)
        let rv = raft_apply(raft(i), request, &buffer, 1, fixtureApplyDone)
        guard rv == 0 else {
            raft_free(base)
            Unmanaged<Proposal>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            return nil
        }
        if padded != size { paddedEntries += 1 }
        proposal.index = lastIndex(i)
        proposals.append(proposal)
        return proposal
    }

    /// `entries` entries of 1…5 commands with odd lengths (9, 11, 13, …), proposed on server `i`; their commands.
    func proposeBatches(on i: Int, entries: Int) -> [[UInt8]] {
        var all: [[UInt8]] = []
        for e in 0..<entries {
            let commands = (0..<(1 + e % 5)).map { makeCommand(length: 9 + 2 * ((e + $0) % 4)) }
            if propose(on: i, commands) != nil { all += commands }
        }
        return all
    }

    /// raft_add (as spare) then raft_assign(voter) on server `leader`, stepping until each change resolves.
    func addVoter(_ id: Int, on leader: Int, maxSteps: Int) throws {
        let address = "\(id + 1)"
        for assign in [false, true] {
            let change = ChangeRequest()
            let request = UnsafeMutablePointer<raft_change>.allocate(capacity: 1)
            request.initialize(to: raft_change())
            request.pointee.data = Unmanaged.passRetained(change).toOpaque()
            let rv =
                assign
                ? raft_assign(raft(leader), request, UInt64(id + 1), RAFT_VOTER, fixtureChangeDone)
                : raft_add(raft(leader), request, UInt64(id + 1), address, fixtureChangeDone)
            if rv != 0 {
                Unmanaged<ChangeRequest>.fromOpaque(request.pointee.data).release()
                request.deallocate()
            }
            try #require(rv == 0, "raft_\(assign ? "assign" : "add")(\(id + 1)): \(String(cString: raft_strerror(rv)))")
            try #require(step(atMost: maxSteps) { change.status != nil }, "change callback within \(maxSteps) steps")
            try #require(change.status == 0, "change status \(change.status ?? -1)")
        }
    }

    // MARK: checks

    /// The command entries in server `i`'s raft log up to what it applied, decoded with EntryBatch; so the index a
    /// machine saw can be compared with the entry libraft holds at that index. Also counts entries whose length is
    /// not a multiple of 8 and entries that do not decode.
    func loggedCommands(_ i: Int) -> (commands: [AppliedCommand], unpadded: Int, undecodable: Int, firstIndex: UInt64) {
        let log = raft(i).pointee.log
        let firstIndex = log.offset + 1
        guard log.size > 0, let entries = log.entries else { return ([], 0, 0, firstIndex) }
        let n = log.back >= log.front ? log.back - log.front : log.size - log.front + log.back
        let applied = lastApplied(i)
        var commands: [AppliedCommand] = []
        var unpadded = 0
        var undecodable = 0
        for k in 0..<n {
            let index = log.offset + 1 + UInt64(k)
            guard index <= applied else { break }
            let entry = entries[(log.front + k) % log.size]
            guard Int(entry.type) == Int(RAFT_COMMAND) else { continue }
            if entry.buf.len % 8 != 0 { unpadded += 1 }
            let raw = UnsafeRawBufferPointer(start: entry.buf.base, count: entry.buf.len)
            do {
                _ = try EntryBatch.decode(raw) { commands.append(AppliedCommand(index: index, command: Array($0))) }
            } catch {
                undecodable += 1
            }
        }
        return (commands, unpadded, undecodable, firstIndex)
    }

    /// Everything that must hold whenever the cluster is quiet, as failure messages (empty when all holds):
    /// the ledger and election-safety violations seen so far; every machine's commands at the indices libraft still
    /// logs match those log entries; every proposal got exactly one callback, without a result; a command appears
    /// at most once, and only at the index its proposal was appended at.
    func problems() -> [String] {
        var problems = ledger.violations
        for i in 0..<count {
            let logged = loggedCommands(i)
            if logged.unpadded > 0 { problems.append("server \(i): \(logged.unpadded) logged entries not padded") }
            if logged.undecodable > 0 { problems.append("server \(i): \(logged.undecodable) entries do not decode") }
            let applied = lastApplied(i)
            let seen = machines[i].applied.filter { $0.index >= logged.firstIndex && $0.index <= applied }
            if seen != logged.commands {
                problems.append(
                    "server \(i): machine \(seen.prefix(6))… vs log \(logged.commands.prefix(6))… "
                        + "(from \(logged.firstIndex) to \(applied))")
            }
            if let last = machines[i].applied.last, last.index > applied {
                problems.append("server \(i): machine at index \(last.index) past last_applied \(applied)")
            }
        }
        var proposedAt: [UInt64: UInt64] = [:]
        for p in proposals {
            if p.statuses.count > 1 { problems.append("proposal @\(p.index): callbacks \(p.statuses)") }
            if !p.resultWasNil { problems.append("proposal @\(p.index): apply result not nil") }
            for c in p.commands { proposedAt[Self.commandID(c)] = p.index }
        }
        for (i, m) in machines.enumerated() {
            var ids = Set<UInt64>()
            for a in m.applied {
                let id = Self.commandID(a.command)
                if !ids.insert(id).inserted { problems.append("server \(i): command #\(id) applied twice") }
                if proposedAt[id] != a.index {
                    problems.append("server \(i): #\(id) applied at \(a.index), proposed at \(proposedAt[id] ?? 0)")
                }
            }
        }
        return problems
    }

    /// What leader `l` believes server `i` has replicated (its progress match index), nil if `l` does not lead.
    func matchIndex(leader l: Int, of i: Int) -> UInt64? {
        guard state(l) == RAFT_LEADER, let progress = raft(l).pointee.leader_state.progress else { return nil }
        let configuration = raft(l).pointee.configuration
        for k in 0..<Int(configuration.n) where configuration.servers[k].id == UInt64(i + 1) {
            return progress[k].match_index
        }
        return nil
    }

    /// Followers for which leader `l` records a match index whose entry differs (by term) from its own: they hold
    /// an uncommitted tail the leader believes replicated (libraft 0.15, see the random schedule test).
    func staleTailFollowers(leader l: Int) -> [Int] {
        (0..<count).filter { f in
            guard f != l, let m = matchIndex(leader: l, of: f), m > 0 else { return false }
            let (mine, theirs) = (term(l, at: m), term(f, at: m))
            return mine != 0 && theirs != 0 && mine != theirs
        }
    }

    /// The term of the entry at `index` in server `i`'s in-memory log (0 if not there).
    func term(_ i: Int, at index: UInt64) -> UInt64 {
        let log = raft(i).pointee.log
        guard log.size > 0, let entries = log.entries, index > log.offset else { return 0 }
        let n = log.back >= log.front ? log.back - log.front : log.size - log.front + log.back
        let k = Int(index - log.offset - 1)
        return k < n ? entries[(log.front + k) % log.size].term : 0
    }

    /// Fixture time, steps, the leader's view of replication (server id: progress state/next/match) and each
    /// server's raft and machine state (last index with its term), for logs and failure messages.
    var summary: String {
        let servers = (0..<count).map { i in
            let r = raft(i).pointee
            let error = nodes[i].lastThunkError.map { " error: " + $0 } ?? ""
            return "s\(i){\(isAlive(i) ? "" : "dead ")state \(state(i)) term \(r.current_term) "
                + "last \(lastIndex(i))(t\(term(i, at: lastIndex(i)))) stored \(r.last_stored) "
                + "commit \(r.commit_index) applied \(lastApplied(i)) snap@\(snapshotIndex(i)) "
                + "snapshots \(machines[i].snapshots) restores \(machines[i].restores) "
                + "cmds \(machines[i].applied.count)\(error)}"
        }
        let unresolved = proposals.filter { $0.status == nil }.map(\.index)
        var progress = ""
        let leaders = (0..<count).filter { state($0) == RAFT_LEADER && isAlive($0) }
        if let l = leader ?? leaders.max(by: { raft($0).pointee.current_term < raft($1).pointee.current_term }),
            let p = raft(l).pointee.leader_state.progress
        {
            let configuration = raft(l).pointee.configuration
            progress =
                "progress "
                + (0..<Int(configuration.n)).map { k in
                    "\(configuration.servers[k].id):\(p[k].state)/\(p[k].next_index)/\(p[k].match_index)"
                }.joined(separator: " ") + " "
        }
        return "t=\(raft_fixture_time(fixture))ms steps=\(steps) leader \(leader.map(String.init) ?? "none") "
            + "unresolved \(unresolved) " + progress + servers.joined(separator: " ")
    }
}
