import IoTTypes

/// The version of one owner's rows: `epoch` is fixed for the life of the owner's process (the shell passes, for
/// example, its start time in milliseconds, strictly greater after every restart); `seq` counts the owner's row
/// changes since that start (0 = no rows yet). Ordered by epoch, then seq: a higher version always describes a
/// later state of the owner's rows.
public struct RouteVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var epoch: UInt64
    public var seq: UInt64

    public init(epoch: UInt64, seq: UInt64) {
        self.epoch = epoch
        self.seq = seq
    }

    /// Below every version an owner can have (epochs start at 1): the version of an owner never heard of.
    public static let zero = RouteVersion(epoch: 0, seq: 0)

    public static func < (a: Self, b: Self) -> Bool { (a.epoch, a.seq) < (b.epoch, b.seq) }

    public var description: String { "\(self.epoch).\(self.seq)" }
}

/// One subscription row of an owner: a tenant and a topic filter exactly as subscribed (a shared subscription keeps
/// its `$share/{group}/` prefix). The owner is not part of the row: rows are grouped by owner.
public struct RouteRow: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var tenant: TenantID
    public var filter: String

    public init(tenant: TenantID, filter: String) {
        self.tenant = tenant
        self.filter = filter
    }

    /// Rows compare and hash by their UTF-8 bytes, not by Swift's `String` equality, which treats canonically
    /// equivalent strings as equal: MQTT topics are never normalised ([MQTT-4.7.3-4]), so `é` as U+00E9 and as
    /// `e` + U+0301 are two rows.
    public static func == (a: Self, b: Self) -> Bool {
        a.tenant.accountID.utf8.elementsEqual(b.tenant.accountID.utf8) && a.filter.utf8.elementsEqual(b.filter.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        for byte in self.tenant.accountID.utf8 { hasher.combine(byte) }
        hasher.combine(0xFF as UInt16)  // separator: never a UTF-8 byte value widened
        for byte in self.filter.utf8 { hasher.combine(byte) }
    }

    /// By tenant bytes, then filter bytes: the order of rows in a push/pull state.
    public static func < (a: Self, b: Self) -> Bool {
        let tenants = routeCompareBytes(a.tenant.accountID.utf8, b.tenant.accountID.utf8)
        if tenants != 0 { return tenants < 0 }
        return routeCompareBytes(a.filter.utf8, b.filter.utf8) < 0
    }

    public var description: String { "\(self.tenant.accountID):\(self.filter)" }
}

/// -1, 0 or 1 as `a` sorts before, equal to or after `b`, byte by byte (a prefix sorts first).
func routeCompareBytes(_ a: String.UTF8View, _ b: String.UTF8View) -> Int {
    var i = a.makeIterator()
    var j = b.makeIterator()
    while true {
        switch (i.next(), j.next()) {
        case (nil, nil): return 0
        case (nil, _): return -1
        case (_, nil): return 1
        case (let x?, let y?): if x != y { return x < y ? -1 : 1 }
        }
    }
}

/// A remote node that wants a message published on a topic, because one of its rows matches it.
///
/// `filter` is the topic filter without any `$share/{group}/` prefix; `shareGroup` is the group of a shared
/// subscription (nil for an ordinary one). A node with several matching rows appears once per row.
public struct RouteMatch: Sendable, Hashable, CustomStringConvertible {
    public var node: GossipNodeID
    public var filter: String
    public var shareGroup: String?

    public init(node: GossipNodeID, filter: String, shareGroup: String?) {
        self.node = node
        self.filter = filter
        self.shareGroup = shareGroup
    }

    public var description: String {
        if let group = self.shareGroup { return "\(self.node):$share/\(group)/\(self.filter)" }
        return "\(self.node):\(self.filter)"
    }
}

/// One row change of one owner, as spread on the gossip: the row appeared (`add`) or disappeared (`remove`) at
/// `version`, whose `seq` is one more than the owner's previous version.
public struct RouteDelta: Sendable, Hashable {
    public enum Operation: UInt8, Sendable, Hashable {
        case add = 1
        case remove = 2
    }

    public var owner: GossipNodeID
    public var version: RouteVersion
    public var operation: Operation
    public var row: RouteRow

    public init(owner: GossipNodeID, version: RouteVersion, operation: Operation, row: RouteRow) {
        self.owner = owner
        self.version = version
        self.operation = operation
        self.row = row
    }
}

/// An order-independent fingerprint of a table's rows: every (owner, tenant, filter) of every live owner, this
/// node's own included. Two tables with the same rows have the same digest whatever order they learnt them in.
/// Maintained incrementally: reading it is O(1).
public struct RouteTableDigest: Sendable, Hashable, CustomStringConvertible {
    /// Number of rows.
    public var rows: Int
    /// Wrapping sum of a 64-bit hash of each row (FNV-1a, then a SplitMix64 finaliser): stable across processes.
    public var hash: UInt64

    public init(rows: Int = 0, hash: UInt64 = 0) {
        self.rows = rows
        self.hash = hash
    }

    public var description: String { "\(self.rows) rows #\(String(self.hash, radix: 16))" }

    mutating func add(owner: GossipNodeID, row: RouteRow) {
        self.rows += 1
        self.hash &+= Self.hash(owner: owner, row: row)
    }

    mutating func remove(owner: GossipNodeID, row: RouteRow) {
        self.rows -= 1
        self.hash &-= Self.hash(owner: owner, row: row)
    }

    static func hash(owner: GossipNodeID, row: RouteRow) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ byte: UInt8) {
            h ^= UInt64(byte)
            h &*= 0x0000_0100_0000_01b3
        }
        for shift in stride(from: 0, to: 64, by: 8) { mix(UInt8(truncatingIfNeeded: owner >> UInt64(shift))) }
        for byte in row.tenant.accountID.utf8 { mix(byte) }
        mix(0)
        for byte in row.filter.utf8 { mix(byte) }
        // SplitMix64 finaliser: spreads FNV's weak high bits so that sums of hashes rarely collide.
        h = (h ^ (h >> 30)) &* 0xbf58_476d_1ce4_e5b9
        h = (h ^ (h >> 27)) &* 0x94d0_49bb_1331_11eb
        return h ^ (h >> 31)
    }
}

/// Event counters of a table, for metrics and tests. Every field only grows.
public struct RouteTableCounters: Sendable, Hashable {
    /// Deltas applied to a remote owner's rows (directly or after waiting in the reorder buffer).
    public var deltasApplied = 0
    /// Deltas at or below the owner's current version (duplicates and late arrivals): ignored.
    public var deltasStale = 0
    /// Deltas ahead of the owner's next version: held in the owner's reorder buffer.
    public var deltasBuffered = 0
    /// Deltas that found the reorder buffer full: dropped (the owner waits for anti-entropy).
    public var deltasOverflowed = 0
    /// Deltas and push/pull blocks about an owner declared dead: ignored until it is alive again.
    public var ignoredDead = 0
    /// Deltas and push/pull blocks about this node itself: ignored (this node alone writes its rows).
    public var ignoredSelf = 0
    /// Push/pull blocks that replaced an owner's rows wholesale.
    public var blocksApplied = 0
    /// Push/pull blocks not newer than what this table holds: ignored.
    public var blocksStale = 0
    /// Push/pull exchanges merged.
    public var pushPullsMerged = 0
    /// Inputs (broadcasts or push/pull states) rejected by the decoder; the last reason is in `lastDecodeError`.
    public var malformed = 0
    /// `addLocal`/`removeLocal` calls refused: a filter that does not parse, or a removal of a row not held.
    public var localRejected = 0

    public init() {}
}
