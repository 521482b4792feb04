/// Where a member listens: the UDP port for probes and piggybacked gossip, and the TCP port (same number) for
/// push/pull. `host` is whatever the shell resolves (an IP literal in practice).
public struct GossipAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var host: String
    public var port: UInt16
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }
    public var description: String { "\(host):\(port)" }
    public static func < (a: GossipAddress, b: GossipAddress) -> Bool { (a.host, a.port) < (b.host, b.port) }
}

/// A member's state in SWIM order: for one incarnation, `suspect` overrides `alive`; `dead` and `left` override both.
/// A higher incarnation's `alive` (only the member itself issues those) overrides everything below it.
public enum GossipMemberState: UInt8, Sendable, Equatable, CustomStringConvertible {
    case alive = 0
    case suspect = 1
    case dead = 2
    case left = 3
    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        }
    }
    /// Alive or suspect: still probed, still counted, still routed to.
    public var isLive: Bool { self == .alive || self == .suspect }
}

/// One row of a member's view of the cluster (itself included).
public struct GossipMember: Sendable, Equatable {
    public var id: GossipNodeID
    public var address: GossipAddress
    public var state: GossipMemberState
    public var incarnation: UInt64
    /// `now` (ms) of the last state change, for reaping dead rows and gossiping to the recently dead.
    public var stateChangedAt: UInt64
}

extension GossipMember {
    /// Whether the live members (alive or suspect) of a view are more than half of its members not gone for good
    /// (`left`): a node that sees no majority is cut off from most of the cluster.
    public static func majorityLive(_ view: [GossipMember]) -> Bool {
        var live = 0
        var counted = 0
        for member in view where member.state != .left {
            counted += 1
            if member.state.isLive { live += 1 }
        }
        return 2 * live > counted
    }
}

/// A change in this member's view, reported as a directive for logs and metrics (the application hears about it
/// through `GossipApplication.memberChanged`, called by the membership itself).
public struct GossipMemberEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// First heard of (alive).
        case joined
        /// Alive again: refuted a suspicion, or came back after dead/left with a higher incarnation.
        case alive
        case suspect
        case dead
        case left
    }
    public var node: GossipNodeID
    public var kind: Kind
    public var incarnation: UInt64
    public var address: GossipAddress
    public var description: String { "\(node)@\(address) \(kind) inc=\(incarnation)" }
}

/// What the shell must do after an event.
public enum GossipDirective: Sendable, Equatable {
    /// Send one UDP datagram (never longer than `GossipConfiguration.maxDatagramSize`).
    case send(to: GossipAddress, bytes: [UInt8])
    /// Open a TCP connection to `to`, send `request` (framed by the shell), read the reply and hand it to
    /// `handlePushPullReply(_:from:now:)`, or call `pushPullFailed(to:now:)` on any error or timeout.
    case pushPull(to: GossipAddress, request: [UInt8])
    /// For logs and metrics.
    case memberEvent(GossipMemberEvent)
}

/// Protocol parameters. Times are milliseconds; "protocol period" below means `probeIntervalMs` (scaled by local
/// health). The defaults are the usual LAN values for SWIM + Lifeguard deployments.
public struct GossipConfiguration: Sendable, Equatable {
    /// One protocol period: a probe starts every period (× the local health multiplier).
    public var probeIntervalMs: UInt64 = 1_000
    /// How long to wait for a direct ack before asking `indirectChecks` members to probe (× health multiplier).
    public var probeTimeoutMs: UInt64 = 500
    /// Members asked to probe indirectly (ping-req) when the direct ack does not come (SWIM's k).
    public var indirectChecks: Int = 3
    /// Piggyback-only datagrams: every `gossipIntervalMs`, to `gossipFanout` random members, if anything is queued.
    public var gossipIntervalMs: UInt64 = 200
    public var gossipFanout: Int = 3
    /// Each queued update is sent `retransmitMult × ceil(log10(n + 1))` times.
    public var retransmitMult: Int = 4
    /// Lifeguard α: the minimum suspicion timeout is `α × max(1, log10(n)) × probeInterval`.
    public var suspicionMult: Int = 4
    /// Lifeguard β: the maximum suspicion timeout is `β × minimum` (used when nobody else confirms).
    public var suspicionMaxTimeoutMult: Int = 6
    /// Lifeguard local health: the multiplier on probe interval and timeout goes from 1 up to this.
    public var awarenessMaxMultiplier: Int = 8
    /// Periodic full-state exchange (TCP) with one random live member.
    public var pushPullIntervalMs: UInt64 = 30_000
    /// Now and then, a push/pull with a random dead member or a seed that is not a live member (partitions heal).
    public var reconnectIntervalMs: UInt64 = 10_000
    /// While alone (no other live member), a join attempt (push/pull with a seed) this often.
    public var joinRetryIntervalMs: UInt64 = 1_000
    /// Dead members still receive piggyback gossip for this long, so they learn it and refute.
    public var gossipToTheDeadMs: UInt64 = 30_000
    /// Dead and left rows are forgotten after this long (reconnect attempts stop then).
    public var deadRetentionMs: UInt64 = 3_600_000
    /// The largest datagram sent; piggybacked updates are packed up to this size.
    public var maxDatagramSize: Int = 1_400
    /// Bound on queued broadcasts (membership updates + application broadcasts); the most-sent are dropped first.
    public var maxQueuedBroadcasts: Int = 4_096
    public init() {}
}

/// Monotonic counters for metrics and tests.
public struct GossipCounters: Sendable, Equatable {
    public var datagramsReceived: UInt64 = 0
    public var datagramsSent: UInt64 = 0
    /// Datagrams or push/pull payloads that failed to decode (see `lastDecodeError`).
    public var malformed: UInt64 = 0
    public var lastDecodeError: GossipCodecError?
    public var probes: UInt64 = 0
    public var probeFailures: UInt64 = 0
    public var indirectProbes: UInt64 = 0
    public var nacksReceived: UInt64 = 0
    public var pingsMisdirected: UInt64 = 0
    public var suspicionsRaised: UInt64 = 0
    public var refutations: UInt64 = 0
    public var declaredDead: UInt64 = 0
    public var pushPullsStarted: UInt64 = 0
    public var pushPullsFailed: UInt64 = 0
    public var pushPullsServed: UInt64 = 0
    public var appBroadcastsReceived: UInt64 = 0
    public var appBroadcastsOversized: UInt64 = 0
    public var queueDropped: UInt64 = 0
    public init() {}
}

/// SplitMix64: the membership's own seeded generator (all randomness in the state machine comes from it, so a run
/// replays from its seed). Not cryptographic.
public struct GossipRNG: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
