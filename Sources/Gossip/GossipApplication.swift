import IoTTypes

/// A cluster member's identity on the gossip: the same number as its raft `--node-id`.
public typealias GossipNodeID = UInt64

/// One piece of application state to spread by piggybacking it on the membership protocol's messages.
/// A later broadcast with the same `key` supersedes an earlier one still being retransmitted (nil: never superseded).
public struct GossipBroadcast: Sendable, Hashable {
    public var key: [UInt8]?
    public var bytes: [UInt8]
    public init(key: [UInt8]?, bytes: [UInt8]) {
        self.key = key
        self.bytes = bytes
    }
}

/// The application state that rides on the membership protocol (ARCHITECTURE §3, regime 2): for Flotilla, the
/// subscription table. The membership layer owns transmission — which messages carry which broadcasts, and how
/// many times each is retransmitted (a multiple of log n) — and calls back into the application for content.
/// Everything here is pure: no clock, no I/O; time and randomness stay in the membership layer.
public protocol GossipApplication: Sendable {
    /// Broadcasts produced since the last call (each handed out once; the membership layer retransmits).
    mutating func takeNewBroadcasts() -> [GossipBroadcast]
    /// A broadcast from `origin`'s piggyback arrived (possibly late, duplicated or out of order).
    mutating func receiveBroadcast(_ bytes: [UInt8], from origin: GossipNodeID)
    /// Anti-entropy (push/pull): what this node sends to a peer in a full-state exchange.
    func pushPullState() -> [UInt8]
    /// Anti-entropy: merges a peer's `pushPullState()`.
    mutating func mergePushPullState(_ bytes: [UInt8], from peer: GossipNodeID)
    /// The membership layer's view of a member changed: `alive == false` when it was declared dead or left
    /// (its state must stop counting: nothing is routed to it), `true` when it is alive again or new.
    mutating func memberChanged(_ node: GossipNodeID, alive: Bool)
}
