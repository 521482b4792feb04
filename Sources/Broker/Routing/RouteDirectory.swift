import IoTTypes

/// One row of another live node's subscription table that matches a topic: that node has at least one session
/// (connected or parked) subscribed with `filter` (the topic filter proper, without any `$share/<group>/` prefix),
/// shared in `shareGroup` when set.
public struct RemoteRoute: Sendable, Hashable {
    public var node: UInt64
    public var filter: String
    public var shareGroup: String?
    public init(node: UInt64, filter: String, shareGroup: String?) {
        self.node = node
        self.filter = filter
        self.shareGroup = shareGroup
    }
}

/// The cluster-wide subscription table as the broker sees it (issue 7): which other nodes have rows matching a
/// topic, and this node's own rows as they come and go. The gossiped table implements it; nil in the broker means
/// a single node (no lookup, no forwarding).
///
/// A row is (tenant, filter string as subscribed, `$share/<group>/` prefix included). This node's rows are reported
/// exactly at their edges: ``localRowAdded(tenant:filter:)`` when the first session on this node (connected or
/// parked) subscribes with that filter, ``localRowRemoved(tenant:filter:)`` when the last one unsubscribes or its
/// session ends (cleaned or expired). A resubscription is not an edge; a parked persistent session keeps its rows.
/// Both are called under the broker's state lock, in the order the changes happened: they must be quick (enqueue)
/// and must not call back into the broker.
public protocol RouteDirectory: Sendable {
    /// The rows of other live nodes whose filters match `topic` (never this node's own rows).
    func remoteMatches(tenant: TenantID, topic: String) -> [RemoteRoute]
    func localRowAdded(tenant: TenantID, filter: String)
    func localRowRemoved(tenant: TenantID, filter: String)
    /// Whether this node sees a majority of the cluster's members alive. A node cut off from the majority cannot
    /// know where the subscribers are (their rows go when it declares their nodes dead), so it must not acknowledge
    /// QoS 1/2 messages it may fail to deliver (issue 8: found by the chaos suite's isolated-leader partitions).
    var seesMajority: Bool { get }
}

extension RouteDirectory {
    public var seesMajority: Bool { true }
}

/// A change of this node's rows, collected by ``BrokerState`` for the shell to hand to the ``RouteDirectory``.
public enum LocalRowChange: Sendable, Hashable {
    case added(tenant: TenantID, filter: String)
    case removed(tenant: TenantID, filter: String)
}

/// A `$share` group as routing sees it: the group name and its topic filter (the tenant is the message's).
public struct SharedGroupKey: Sendable, Hashable, Comparable {
    public var group: String
    public var filter: String
    public init(group: String, filter: String) {
        self.group = group
        self.filter = filter
    }
    public static func < (a: Self, b: Self) -> Bool { (a.group, a.filter) < (b.group, b.filter) }
}

/// Which `$share` groups a ``BrokerState/route(_:now:serving:pick:)`` call delivers to.
public enum SharedGroupSelection: Sendable, Hashable {
    /// Every matching group (a single node, or this node serves them all).
    case all
    /// Only these (the rest are served by other nodes, or were not asked of this node).
    case only(Set<SharedGroupKey>)

    func includes(_ key: SharedGroupKey) -> Bool {
        switch self {
        case .all: return true
        case .only(let set): return set.contains(key)
        }
    }
}

/// The cross-node routing decision for one message, pure: which remote nodes get it, and which shared groups each
/// node (this one included) serves.
///
/// - Every remote node with a matching non-shared row gets the message once.
/// - Each matching `$share` group (group, filter) is served by exactly one node, picked uniformly among the nodes
///   with a row for it (this node included when it has members that match); that node delivers it to one of its
///   members. A node picked only to serve a group gets the message too, with that group named.
public struct ForwardPlan: Sendable, Equatable {
    /// The shared groups this node serves.
    public var localGroups: Set<SharedGroupKey>
    /// Remote nodes to send the message to, each with the shared groups it is to serve (empty: non-shared only).
    public var remote: [UInt64: [SharedGroupKey]]

    public init(localGroups: Set<SharedGroupKey>, remote: [UInt64: [SharedGroupKey]]) {
        self.localGroups = localGroups
        self.remote = remote
    }

    /// - Parameters:
    ///   - localGroups: the shared groups with members on this node whose filter matches the topic.
    ///   - remote: the matching rows of other nodes (``RouteDirectory/remoteMatches(tenant:topic:)``).
    ///   - pick: chooses an index in `0..<n` (seeded in tests, random in production).
    public static func make(localGroups: Set<SharedGroupKey>, remote: [RemoteRoute], pick: (Int) -> Int) -> ForwardPlan {
        var plan = ForwardPlan(localGroups: [], remote: [:])
        // Candidate nodes per group; `nil` stands for this node.
        var candidates: [SharedGroupKey: [UInt64?]] = [:]
        for key in localGroups { candidates[key] = [nil] }
        for r in remote {
            guard let g = r.shareGroup else {
                if plan.remote[r.node] == nil { plan.remote[r.node] = [] }
                continue
            }
            let key = SharedGroupKey(group: g, filter: r.filter)
            if !(candidates[key]?.contains(r.node) ?? false) { candidates[key, default: []].append(r.node) }
        }
        // Sorted so that a seeded `pick` gives the same plan whatever the order of the rows.
        for key in candidates.keys.sorted() {
            let nodes = candidates[key]!.sorted { ($0 ?? 0) < ($1 ?? 0) }
            let chosen = nodes[min(max(0, pick(nodes.count)), nodes.count - 1)]
            if let node = chosen {
                plan.remote[node, default: []].append(key)
            } else {
                plan.localGroups.insert(key)
            }
        }
        return plan
    }
}
