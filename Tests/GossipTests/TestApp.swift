import Gossip

/// A grow-only set of numbers: each local `add` is one broadcast; push/pull carries the whole set. Records every
/// `memberChanged` call, so tests can see the membership layer drive the application.
struct GrowSet: GossipApplication {
    struct MemberCall: Sendable, Equatable {
        var node: GossipNodeID
        var alive: Bool
    }
    var owner: GossipNodeID
    var elements: Set<UInt64> = []
    var pending: [GossipBroadcast] = []
    var memberCalls: [MemberCall] = []
    var received = 0

    init(owner: GossipNodeID) { self.owner = owner }

    mutating func add(_ e: UInt64) {
        guard elements.insert(e).inserted else { return }
        pending.append(GossipBroadcast(key: nil, bytes: Self.encode([e])))
    }

    mutating func takeNewBroadcasts() -> [GossipBroadcast] {
        defer { pending = [] }
        return pending
    }

    mutating func receiveBroadcast(_ bytes: [UInt8], from origin: GossipNodeID) {
        received += 1
        elements.formUnion(Self.decode(bytes))
    }

    func pushPullState() -> [UInt8] { Self.encode(elements.sorted()) }

    mutating func mergePushPullState(_ bytes: [UInt8], from peer: GossipNodeID) {
        elements.formUnion(Self.decode(bytes))
    }

    mutating func memberChanged(_ node: GossipNodeID, alive: Bool) {
        memberCalls.append(MemberCall(node: node, alive: alive))
    }

    static func encode(_ values: [UInt64]) -> [UInt8] {
        var out: [UInt8] = []
        for v in values { for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
        return out
    }

    static func decode(_ bytes: [UInt8]) -> [UInt64] {
        stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { i in
            bytes[i..<i + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
    }
}

/// An application that carries nothing (membership-only runs).
struct NoApp: GossipApplication {
    mutating func takeNewBroadcasts() -> [GossipBroadcast] { [] }
    mutating func receiveBroadcast(_ bytes: [UInt8], from origin: GossipNodeID) {}
    func pushPullState() -> [UInt8] { [] }
    mutating func mergePushPullState(_ bytes: [UInt8], from peer: GossipNodeID) {}
    mutating func memberChanged(_ node: GossipNodeID, alive: Bool) {}
}
