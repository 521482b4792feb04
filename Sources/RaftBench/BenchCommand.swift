import ClusterState
import IoTTypes

/// The commands the benchmark proposes: `setRetained` on one topic per proposer, with the payload sized so that
/// the encoded command (`ClusterCommand.encoded()`, what travels in the raft entry and on the bus) is exactly
/// `bytes` long. One topic per proposer keeps the state at `concurrency` retained messages however long the run,
/// so snapshots stay small and every command does the same work.
public enum BenchCommand {
    public static let tenant = TenantID("000000000042")

    /// The command proposer `proposer` sends. Throws if `bytes` is too small to hold its topic.
    public static func make(proposer: Int, bytes: Int) throws(BenchError) -> ClusterCommand {
        let topic = "bench/p\(proposer)"
        let empty = RetainedMessage(tenant: tenant, topic: topic, payload: [], qos: .atLeastOnce)
        let overhead = ClusterCommand.setRetained(empty).encoded().count
        guard bytes > overhead else {
            throw .invalidOption("--command-bytes \(bytes) is below the \(overhead + 1) B a command needs here")
        }
        // An empty payload would clear the topic instead; `bytes > overhead` keeps at least one byte.
        let payload = (0..<(bytes - overhead)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ proposer) }
        let command = ClusterCommand.setRetained(
            RetainedMessage(tenant: tenant, topic: topic, payload: payload, qos: .atLeastOnce))
        let size = command.encoded().count
        guard size == bytes else { throw .invalidOption("built a \(size) B command, wanted \(bytes) B") }
        return command
    }
}

/// Why a benchmark could not run (bad options, a node that did not start, no leader).
public enum BenchError: Error, CustomStringConvertible, Sendable {
    case invalidOption(String)
    case cluster(String)

    public var description: String {
        switch self {
        case .invalidOption(let why): "invalid option: \(why)"
        case .cluster(let why): "cluster: \(why)"
        }
    }
}
