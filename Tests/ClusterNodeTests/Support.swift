import NetTestKit
import ClusterNode
import ClusterState
import Foundation
import IoTTypes
import MQTTCodec
import Testing

let acme = TenantID("111111111111")

/// Test settings: fast elections and reconnects; the snapshot threshold is the test's to choose.
func testConfiguration(id: UInt64, port: Int, dir: String, snapshotThreshold: UInt32 = 1024,
                       snapshotTrailing: UInt32 = 128) -> ClusterNodeConfiguration {
    var c = ClusterNodeConfiguration(nodeID: id, raftAddress: "127.0.0.1:\(port)", dataDirectory: dir)
    c.electionTimeout = .milliseconds(300)
    c.heartbeatTimeout = .milliseconds(50)
    c.connectRetryDelay = .milliseconds(50)
    c.requestTimeout = .seconds(5)
    c.snapshotThreshold = snapshotThreshold
    c.snapshotTrailing = snapshotTrailing
    return c
}

/// The node among `nodes` that leads and whom every other node follows, if they agree.
func agreedLeader(_ nodes: [ClusterNode]) async -> ClusterNode? {
    var leader: ClusterNode?
    var leaderID: UInt64?
    for n in nodes {
        let s = await n.status()
        if s.role == .leader { leader = n }
        guard let id = s.leaderID, leaderID == nil || leaderID == id else { return nil }
        leaderID = id
    }
    guard let leader, leader.configuration.nodeID == leaderID else { return nil }
    return leader
}

/// Waits until `nodes` agree on a leader and returns it.
func waitForLeader(_ nodes: [ClusterNode], timeout: Duration = .seconds(10)) async throws -> ClusterNode {
    var found: ClusterNode?
    try await waitUntil("an agreed leader", timeout: timeout) {
        found = await agreedLeader(nodes)
        return found != nil
    }
    return found!
}

/// Waits until every node's applied state has the same snapshot bytes; returns them.
@discardableResult
func waitForEqualState(_ nodes: [ClusterNode], timeout: Duration = .seconds(10)) async throws -> [UInt8] {
    var bytes: [UInt8] = []
    try await waitUntil("byte-identical state on \(nodes.map(\.configuration.nodeID))", timeout: timeout) {
        let all = nodes.map { $0.stateSnapshot() }
        bytes = all[0]
        return all.allSatisfy { $0 == all[0] }
    }
    return bytes
}

func createThing(_ name: String, attributes: [String: String] = [:], nowMs: Int64 = 1) -> ClusterCommand {
    .createThing(.init(tenant: acme, thingName: name, attributes: attributes, nowMs: nowMs))
}

func setRetained(_ topic: String, _ payload: String) -> ClusterCommand {
    .setRetained(RetainedMessage(tenant: acme, topic: topic, payload: Array(payload.utf8), qos: .atLeastOnce))
}

/// Proposes through whichever node leads, retrying on `notLeader` / `leadershipLost` / `timeout` until the
/// deadline (a command may then be applied twice: only idempotent commands go through here).
func proposeOnLeader(
    _ nodes: [ClusterNode], _ command: ClusterCommand, timeout: Duration = .seconds(10)
) async throws -> ClusterOutcome {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if let leader = await agreedLeader(nodes) {
            do {
                return try await leader.propose(command)
            } catch {
                guard error.duringElection else { throw error }
            }
        }
        if clock.now >= deadline { throw TimedOut(description: "no leader took \(command) within \(timeout)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

extension ClusterNodeError {
    /// Errors that mean "ask again once a leader is known".
    var duringElection: Bool {
        switch self {
        case .notLeader, .leadershipLost, .timeout, .shuttingDown: true
        case .unavailable, .transferFailed, .malformedOutcome, .internal: false
        }
    }
}

/// Runs `body`, then shuts every node down whether it returned or threw (shutdown is idempotent), so a failing
/// test does not leave raft threads and ports behind for the next one.
func withShutdown<T>(_ nodes: [ClusterNode], _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        for n in nodes { await n.shutdown() }
        return result
    } catch {
        for n in nodes { await n.shutdown() }
        throw error
    }
}

func log(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}
