import Broker
import IoTTypes
import Synchronization
import TopicTrie

/// A cluster-wide subscription table held in one process, as if gossip were instant and perfect: every node's
/// directory writes its own rows into the same table and reads the others'. For tests and single-process setups;
/// the gossiped table (issue 7, `Sources/Gossip`) replaces it in a real cluster. Matching is a linear scan.
public final class InMemoryRouteTable: Sendable {
    struct Row: Hashable, Sendable {
        var tenant: TenantID
        var filter: String
        var shareGroup: String?
    }

    let rows = Mutex<[UInt64: [Row: Int]]>([:])

    public init() {}

    /// The directory node `node` uses.
    public func directory(for node: UInt64) -> any RouteDirectory { Directory(table: self, node: node) }

    /// Adds (or removes) a row of `node` by hand, as another node's gossip would.
    public func add(node: UInt64, tenant: TenantID, filter: String) { change(node, tenant, filter, +1) }
    public func remove(node: UInt64, tenant: TenantID, filter: String) { change(node, tenant, filter, -1) }

    /// Forgets every row of `node` (declared dead).
    public func drop(node: UInt64) { _ = rows.withLock { $0.removeValue(forKey: node) } }

    /// `node`'s rows as `tenant`'s filter strings (tests).
    public func rows(of node: UInt64, tenant: TenantID) -> Set<String> { rowStrings(node, tenant) }

    private func rowStrings(_ node: UInt64, _ tenant: TenantID) -> Set<String> {
        rows.withLock { t in
            Set((t[node] ?? [:]).keys.filter { $0.tenant == tenant }.map { r in
                r.shareGroup.map { "$share/\($0)/\(r.filter)" } ?? r.filter
            })
        }
    }

    private func change(_ node: UInt64, _ tenant: TenantID, _ filter: String, _ delta: Int) {
        guard let parsed = try? Topic.parseFilter(filter, limits: .unlimited) else { return }
        let row = Row(tenant: tenant, filter: parsed.filter, shareGroup: parsed.shareGroup)
        rows.withLock { t in
            let n = (t[node]?[row] ?? 0) + delta
            t[node, default: [:]][row] = n > 0 ? n : nil
        }
    }

    func matches(excluding me: UInt64, tenant: TenantID, topic: String) -> [RemoteRoute] {
        rows.withLock { t in
            var out: [RemoteRoute] = []
            for (node, table) in t where node != me {
                for row in table.keys where row.tenant == tenant && Topic.matches(filter: row.filter, topic: topic) {
                    out.append(RemoteRoute(node: node, filter: row.filter, shareGroup: row.shareGroup))
                }
            }
            return out
        }
    }

    struct Directory: RouteDirectory {
        let table: InMemoryRouteTable
        let node: UInt64
        func remoteMatches(tenant: TenantID, topic: String) -> [RemoteRoute] {
            table.matches(excluding: node, tenant: tenant, topic: topic)
        }
        func localRowAdded(tenant: TenantID, filter: String) { table.add(node: node, tenant: tenant, filter: filter) }
        func localRowRemoved(tenant: TenantID, filter: String) {
            table.remove(node: node, tenant: tenant, filter: filter)
        }
    }
}
