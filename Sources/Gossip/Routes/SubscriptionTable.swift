import IoTTypes
import TopicTrie

/// The cluster's subscription table (ARCHITECTURE §3, regime 2), as carried by the gossip: which node holds
/// subscriptions to which (tenant, topic filter). A pure value: no clock, no I/O.
///
/// Ownership. Each node alone writes its own rows — `addLocal` / `removeLocal`, reference-counted over the local
/// sessions (connected or parked) that hold a filter — and learns everyone else's rows from the gossip. A row is
/// (tenant, filter as subscribed); `$share/{group}/{filter}` is kept whole and reported split by `matches`.
///
/// Versions. An owner's rows carry one version, (epoch, seq): `epoch` is given by the shell at init and is strictly
/// greater after a restart; `seq` is 0 with no rows and +1 per row that appears or disappears. A version names one
/// exact set of rows, so "newer version" means "newer rows", and an owner's rows at (epoch, 0) are empty.
///
/// Spread. Every local row change is one delta (owner, version, add/remove, row) handed to the membership layer by
/// `takeNewBroadcasts`. A receiver applies a delta whose seq is the next one for that owner; drops it when not
/// newer (duplicate or late); and holds it in a bounded per-owner reorder buffer when it is further ahead, applying
/// it once the gap closes (by the missing delta, or by anti-entropy). A delta from a later epoch first resets the
/// owner to (epoch, 0) with no rows — its previous process is gone — then applies or buffers as above.
///
/// Anti-entropy. `pushPullState` lists every live owner's version and full rows; `mergePushPullState` replaces an
/// owner's rows wholesale when the peer's version is newer. `pushPullDigest` / `pushPullState(answering:)` are a
/// cheaper variant (versions only, then rows only where the asker is behind) that a shell may use instead.
///
/// Death. `memberChanged(n, alive: false)` drops n's rows at once and ignores everything about n until
/// `memberChanged(n, alive: true)`; afterwards n's rows come back through deltas and push/pull, but never at a
/// version below the one held when it died (no resurrection of older state). This node's own rows are never dropped.
///
/// Routing. `matches` answers from one `SubscriptionTrie` per tenant holding the rows of other live nodes only,
/// updated with each row change (never rebuilt per query). See ops/design-notes.md, "The subscription table".
public struct SubscriptionTable: GossipApplication {
    /// This node.
    public let node: GossipNodeID
    /// This node's epoch (≥ 1), fixed for this process's life.
    public let epoch: UInt64
    /// Deltas held per owner while waiting for a missing earlier one.
    public let maxBufferedDeltasPerOwner: Int

    /// This node's rows, each with the number of local sessions holding it (≥ 1).
    private var localRefcounts: [RouteRow: Int] = [:]
    private var localSeq: UInt64 = 0
    private var outbox: [GossipBroadcast] = []

    private var owners: [GossipNodeID: OwnerState] = [:]
    /// Rows of live remote owners, per tenant: the routing index.
    private var index: [TenantID: SubscriptionTrie<RouteIndexKey, Bool>] = [:]

    /// Fingerprint of every row this table holds (own rows and live owners' rows).
    public private(set) var digest = RouteTableDigest()
    public private(set) var counters = RouteTableCounters()
    /// Why the last rejected input was rejected (nil if none was).
    public private(set) var lastDecodeError: RouteCodecError?
    /// Rows of live remote owners.
    public private(set) var remoteRowCount = 0

    /// - Parameters:
    ///   - node: this node's id.
    ///   - epoch: ≥ 1, strictly greater than any epoch an earlier process of this node used (start time in ms).
    ///   - maxBufferedDeltasPerOwner: bound of each owner's reorder buffer.
    public init(node: GossipNodeID, epoch: UInt64, maxBufferedDeltasPerOwner: Int = 256) {
        precondition(epoch >= 1, "SubscriptionTable: the epoch must be at least 1 (0 is the version of nobody)")
        self.node = node
        self.epoch = epoch
        self.maxBufferedDeltasPerOwner = max(0, maxBufferedDeltasPerOwner)
    }

    // MARK: - This node's rows

    /// A local session now holds `filter` (as subscribed, `$share/…` included) in `tenant`. Returns true when the
    /// row appeared (the first holder): only then is a delta broadcast. False also when the input is invalid (an
    /// empty or over-255-byte tenant, a filter that is not a valid MQTT filter), counted in `localRejected`.
    @discardableResult
    public mutating func addLocal(tenant: TenantID, filter: String) -> Bool {
        guard Self.isValidTenant(tenant), Self.isValidFilter(filter) else {
            self.counters.localRejected += 1
            return false
        }
        let row = RouteRow(tenant: tenant, filter: filter)
        let holders = self.localRefcounts[row, default: 0] + 1
        self.localRefcounts[row] = holders
        guard holders == 1 else { return false }
        self.digest.add(owner: self.node, row: row)
        self.emit(.add, row)
        return true
    }

    /// A local session no longer holds `filter` in `tenant`. Returns true when the row disappeared (the last holder
    /// left): only then is a delta broadcast. Removing a row not held returns false and counts in `localRejected`.
    @discardableResult
    public mutating func removeLocal(tenant: TenantID, filter: String) -> Bool {
        let row = RouteRow(tenant: tenant, filter: filter)
        guard let holders = self.localRefcounts[row] else {
            self.counters.localRejected += 1
            return false
        }
        guard holders == 1 else {
            self.localRefcounts[row] = holders - 1
            return false
        }
        self.localRefcounts[row] = nil
        self.digest.remove(owner: self.node, row: row)
        self.emit(.remove, row)
        return true
    }

    /// How many local sessions hold `filter` in `tenant` (0 when the row does not exist).
    public func localRefcount(tenant: TenantID, filter: String) -> Int {
        self.localRefcounts[RouteRow(tenant: tenant, filter: filter)] ?? 0
    }

    /// This node's own version.
    public var localVersion: RouteVersion { RouteVersion(epoch: self.epoch, seq: self.localSeq) }

    /// Number of this node's own rows.
    public var localRowCount: Int { self.localRefcounts.count }

    private mutating func emit(_ operation: RouteDelta.Operation, _ row: RouteRow) {
        self.localSeq += 1
        let delta = RouteDelta(owner: self.node, version: self.localVersion, operation: operation, row: row)
        // No key: each delta is needed for contiguity, so none may supersede another in the retransmit queue.
        self.outbox.append(GossipBroadcast(key: nil, bytes: RouteCodec.encode(delta)))
    }

    // MARK: - GossipApplication

    public mutating func takeNewBroadcasts() -> [GossipBroadcast] {
        defer { self.outbox = [] }
        return self.outbox
    }

    /// Applies a delta (`origin`, the relaying node, plays no part: the owner is in the delta).
    public mutating func receiveBroadcast(_ bytes: [UInt8], from origin: GossipNodeID) {
        let delta: RouteDelta
        do {
            delta = try RouteCodec.decodeDelta(bytes)
        } catch {
            self.rejected(error)
            return
        }
        self.receive(delta)
    }

    /// Every live owner's version and full rows (this node's included), ascending by owner.
    public func pushPullState() -> [UInt8] {
        RouteCodec.encode(state: self.stateBlocks { _, _ in true })
    }

    /// Merges a peer's `pushPullState()` (or `pushPullDigest()`, or `pushPullState(answering:)`): each owner block
    /// newer than what this table holds replaces that owner's rows; a digest-only entry newer than what this table
    /// holds marks the owner as behind. A malformed input changes nothing (counted in `malformed`).
    public mutating func mergePushPullState(_ bytes: [UInt8], from peer: GossipNodeID) {
        let blocks: [RouteStateBlock]
        do {
            blocks = try RouteCodec.decodeState(bytes)
        } catch {
            self.rejected(error)
            return
        }
        self.counters.pushPullsMerged += 1
        for block in blocks { self.merge(block) }
    }

    /// `alive == false`: drops the node's rows now and ignores deltas and blocks about it until it is alive again.
    /// `alive == true`: lets its rows come back through deltas and push/pull, at versions not below the one held
    /// when it died. Ignored for this node itself.
    public mutating func memberChanged(_ node: GossipNodeID, alive: Bool) {
        guard node != self.node else { return }
        if alive {
            guard var owner = self.owners[node] else { return }
            guard owner.dead else { return }
            owner.dead = false
            owner.floor = max(owner.floor, owner.version)
            owner.newestHeard = max(owner.newestHeard, owner.floor)
            owner.version = .zero
            self.owners[node] = owner
        } else {
            guard self.owners[node]?.dead != true else { return }
            self.replaceRows(of: node, with: [])
            self.owners[node, default: OwnerState()].buffered = [:]
            self.owners[node, default: OwnerState()].dead = true
        }
    }

    // MARK: - Cheaper anti-entropy (optional for the shell)

    /// Versions only: every live owner's version, no rows. A peer answers it with `pushPullState(answering:)`.
    public func pushPullDigest() -> [UInt8] {
        RouteCodec.encode(state: self.stateBlocks { _, _ in false })
    }

    /// A reply to a peer's state or digest: every live owner's version, with full rows only for the owners where
    /// this table is newer than the peer (or the peer does not list). Merged by `mergePushPullState`.
    public func pushPullState(answering peerState: [UInt8]) -> Result<[UInt8], RouteCodecError> {
        let peer: [RouteStateBlock]
        do {
            peer = try RouteCodec.decodeState(peerState)
        } catch {
            return .failure(error)
        }
        var peerVersions: [GossipNodeID: RouteVersion] = [:]
        for block in peer { peerVersions[block.owner] = block.version }
        return .success(RouteCodec.encode(state: self.stateBlocks { owner, version in
            guard let theirs = peerVersions[owner] else { return true }
            return version > theirs
        }))
    }

    // MARK: - Queries

    /// The other live nodes with a row matching `topic` in `tenant`: one entry per matching row, never this node,
    /// never a node declared dead. `filter` is the filter without `$share/{group}/`; `shareGroup` its group.
    public func matches(tenant: TenantID, topic: String) -> [RouteMatch] {
        guard let trie = self.index[tenant] else { return [] }
        var found: [RouteMatch] = []
        trie.match(topic: topic) { filter, key, _ in
            found.append(RouteMatch(node: key.node, filter: filter, shareGroup: key.shareGroup))
        }
        return found
    }

    /// The rows of `node` as this table holds them, sorted (this node's own when `node == self.node`; none for a
    /// dead node).
    public func rows(of node: GossipNodeID) -> [RouteRow] {
        if node == self.node { return self.localRefcounts.keys.sorted() }
        return self.owners[node]?.rows.sorted() ?? []
    }

    /// The version of `node`'s rows this table holds; nil for a node never heard of or declared dead.
    public func version(of node: GossipNodeID) -> RouteVersion? {
        if node == self.node { return self.localVersion }
        guard let owner = self.owners[node], !owner.dead, owner.version > .zero else { return nil }
        return owner.version
    }

    /// Whether `node` is declared dead (its rows dropped and not accepted until it is alive again).
    public func isDead(_ node: GossipNodeID) -> Bool { self.owners[node]?.dead ?? false }

    /// Live owners known to have a newer version than this table holds (a delta is missing, or a peer's digest is
    /// ahead): a push/pull with any up-to-date peer closes the gap. Ascending.
    public var ownersBehind: [GossipNodeID] {
        self.owners.filter { !$0.value.dead && $0.value.newestHeard > $0.value.version }.keys.sorted()
    }

    /// Live remote owners this table holds a version for.
    public var remoteOwnerCount: Int { self.owners.values.count { !$0.dead && $0.version > .zero } }

    /// Owners declared dead (and not alive since).
    public var deadOwnerCount: Int { self.owners.values.count { $0.dead } }

    /// Deltas waiting in reorder buffers, all owners together.
    public var bufferedDeltaCount: Int { self.owners.values.reduce(0) { $0 + $1.buffered.count } }

    // MARK: - Validation (shared with the codec)

    /// A tenant a row may carry: 1–255 bytes, no NUL.
    public static func isValidTenant(_ tenant: TenantID) -> Bool {
        let utf8 = tenant.accountID.utf8
        return (1...255).contains(utf8.count) && !utf8.contains(0)
    }

    /// A filter a row may carry: a valid MQTT topic filter (`$share/{group}/…` included) of at most 65,535 bytes.
    public static func isValidFilter(_ filter: String) -> Bool {
        guard filter.utf8.count <= 65_535 else { return false }
        do {
            _ = try Topic.parseFilter(filter, limits: .unlimited)
            return true
        } catch {
            return false
        }
    }

    // MARK: - Receiving

    private mutating func rejected(_ error: RouteCodecError) {
        self.counters.malformed += 1
        self.lastDecodeError = error
    }

    private mutating func receive(_ delta: RouteDelta) {
        let id = delta.owner
        guard id != self.node else {
            self.counters.ignoredSelf += 1
            return
        }
        let owner = self.owners[id]?.summary ?? OwnerState.Summary()
        guard !owner.dead else {
            self.counters.ignoredDead += 1
            return
        }
        guard delta.version > owner.version, delta.version >= owner.floor else {
            self.counters.deltasStale += 1
            return
        }
        if delta.version.epoch > owner.version.epoch {
            // The owner restarted: rows of its earlier epoch are gone, and at (epoch, 0) it had none.
            self.replaceRows(of: id, with: [])
            self.owners[id, default: OwnerState()].version = RouteVersion(epoch: delta.version.epoch, seq: 0)
            self.owners[id, default: OwnerState()].buffered = [:]
        }
        self.owners[id, default: OwnerState()].newestHeard = max(owner.newestHeard, delta.version)
        if delta.version.seq == self.owners[id, default: OwnerState()].version.seq + 1 {
            self.apply(delta)
            self.drainBuffer(of: id)
        } else if self.owners[id, default: OwnerState()].buffered[delta.version.seq] != nil {
            self.counters.deltasStale += 1  // already waiting
        } else if self.owners[id, default: OwnerState()].buffered.count < self.maxBufferedDeltasPerOwner {
            self.owners[id, default: OwnerState()].buffered[delta.version.seq] = delta
            self.counters.deltasBuffered += 1
        } else {
            self.counters.deltasOverflowed += 1
        }
    }

    /// Applies the next delta of its owner (the caller checked contiguity).
    private mutating func apply(_ delta: RouteDelta) {
        switch delta.operation {
        case .add: self.insertRemote(delta.row, owner: delta.owner)
        case .remove: self.removeRemote(delta.row, owner: delta.owner)
        }
        self.owners[delta.owner, default: OwnerState()].version = delta.version
        self.counters.deltasApplied += 1
    }

    /// Applies buffered deltas that have become contiguous, and forgets those now stale.
    private mutating func drainBuffer(of id: GossipNodeID) {
        while true {
            let version = self.owners[id, default: OwnerState()].version
            guard let next = self.owners[id, default: OwnerState()].buffered.removeValue(forKey: version.seq + 1) else {
                break
            }
            self.apply(next)
        }
        let version = self.owners[id, default: OwnerState()].version
        self.owners[id, default: OwnerState()].buffered = self.owners[id, default: OwnerState()].buffered.filter {
            $0.value.version.epoch == version.epoch && $0.key > version.seq
        }
    }

    private mutating func merge(_ block: RouteStateBlock) {
        let id = block.owner
        guard id != self.node else {
            self.counters.ignoredSelf += 1
            return
        }
        let owner = self.owners[id]?.summary ?? OwnerState.Summary()
        guard !owner.dead else {
            self.counters.ignoredDead += 1
            return
        }
        guard block.version > owner.version, block.version >= owner.floor else {
            if block.rows != nil { self.counters.blocksStale += 1 }
            return
        }
        self.owners[id, default: OwnerState()].newestHeard = max(owner.newestHeard, block.version)
        guard let rows = block.rows else { return }  // digest only: now known to be behind
        self.replaceRows(of: id, with: Set(rows))
        self.owners[id, default: OwnerState()].version = block.version
        self.counters.blocksApplied += 1
        self.drainBuffer(of: id)
    }

    // MARK: - Rows and index

    /// Sets `id`'s rows, updating the index and digest by the difference only.
    private mutating func replaceRows(of id: GossipNodeID, with rows: Set<RouteRow>) {
        let current = self.owners[id]?.rows ?? []
        let removed = current.subtracting(rows)
        let added = rows.subtracting(current)
        for row in removed { self.removeRemote(row, owner: id) }
        for row in added { self.insertRemote(row, owner: id) }
    }

    private mutating func insertRemote(_ row: RouteRow, owner id: GossipNodeID) {
        guard self.owners[id, default: OwnerState()].rows.insert(row).inserted else { return }
        let (filter, group) = Self.split(row.filter)
        self.index[row.tenant, default: SubscriptionTrie()].insert(
            filter: filter, key: RouteIndexKey(node: id, shareGroup: group), value: true)
        self.digest.add(owner: id, row: row)
        self.remoteRowCount += 1
    }

    private mutating func removeRemote(_ row: RouteRow, owner id: GossipNodeID) {
        guard self.owners[id]?.rows.remove(row) != nil else { return }
        let (filter, group) = Self.split(row.filter)
        self.index[row.tenant]?.remove(filter: filter, key: RouteIndexKey(node: id, shareGroup: group))
        if self.index[row.tenant]?.isEmpty == true { self.index[row.tenant] = nil }
        self.digest.remove(owner: id, row: row)
        self.remoteRowCount -= 1
    }

    /// `$share/{group}/{filter}` → (filter, group); anything else → (itself, nil). Rows are validated before they
    /// get here, so this agrees with `Topic.parseFilter`.
    static func split(_ raw: String) -> (filter: String, group: String?) {
        let prefix = "$share/".utf8
        let utf8 = raw.utf8
        guard utf8.starts(with: prefix) else { return (raw, nil) }
        let groupStart = utf8.index(utf8.startIndex, offsetBy: prefix.count)
        guard let groupEnd = utf8[groupStart...].firstIndex(of: UInt8(ascii: "/")) else { return (raw, nil) }
        return (String(raw[utf8.index(after: groupEnd)...]), String(raw[groupStart..<groupEnd]))
    }

    /// Owner blocks for a push/pull state, ascending: this node and every live owner with a version;
    /// `withRows(owner, version)` says which carry their rows.
    private func stateBlocks(withRows: (GossipNodeID, RouteVersion) -> Bool) -> [RouteStateBlock] {
        var blocks: [RouteStateBlock] = []
        let ids = (self.owners.filter { !$0.value.dead && $0.value.version > .zero }.keys + [self.node]).sorted()
        for id in ids {
            if id == self.node {
                let version = self.localVersion
                blocks.append(RouteStateBlock(
                    owner: id, version: version, rows: withRows(id, version) ? self.localRefcounts.keys.sorted() : nil))
            } else if let owner = self.owners[id] {
                blocks.append(RouteStateBlock(
                    owner: id, version: owner.version, rows: withRows(id, owner.version) ? owner.rows.sorted() : nil))
            }
        }
        return blocks
    }
}

/// What the table knows of one remote owner.
private struct OwnerState: Sendable {
    /// The version `rows` are at (`.zero`: nothing known, no rows).
    var version = RouteVersion.zero
    var rows: Set<RouteRow> = []
    /// Declared dead: no rows, nothing about it accepted.
    var dead = false
    /// Versions below this are never accepted: the version held when the owner was last declared dead.
    var floor = RouteVersion.zero
    /// The newest version heard of (from a delta or a digest); above `version` means behind.
    var newestHeard = RouteVersion.zero
    /// Deltas of `version.epoch` with seq > `version.seq + 1`, by seq, waiting for the gap to close.
    var buffered: [UInt64: RouteDelta] = [:]

    /// The scalar fields, read without copying `rows` (a copy would make the next row change copy the set).
    struct Summary {
        var version = RouteVersion.zero
        var dead = false
        var floor = RouteVersion.zero
        var newestHeard = RouteVersion.zero
    }

    var summary: Summary {
        Summary(version: self.version, dead: self.dead, floor: self.floor, newestHeard: self.newestHeard)
    }
}

/// The routing index's key for one row: its node and share group. Compared by bytes, like rows.
struct RouteIndexKey: Sendable, Hashable {
    var node: GossipNodeID
    var shareGroup: String?

    static func == (a: Self, b: Self) -> Bool {
        guard a.node == b.node else { return false }
        switch (a.shareGroup, b.shareGroup) {
        case (nil, nil): return true
        case (let x?, let y?): return x.utf8.elementsEqual(y.utf8)
        case (nil, _?), (_?, nil): return false
        }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(self.node)
        if let group = self.shareGroup {
            hasher.combine(1 as UInt8)
            for byte in group.utf8 { hasher.combine(byte) }
        } else {
            hasher.combine(0 as UInt8)
        }
    }
}
