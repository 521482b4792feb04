import Gossip
import IoTTypes

/// Views of a simulation whose instances carry the subscription table (`SubscriptionTable` as the app).
extension Simulation where App == SubscriptionTable {
    /// Every running node holds exactly every running node's own rows at the owner's version, and nothing else (no
    /// rows of a stopped node). Checks the O(1) digests first; only when they agree does it compare every view row by row.
    public var tablesAgree: Bool { tableDisagreements(limit: 1).isEmpty }

    /// Up to `limit` descriptions of where a running node's view differs from what the running owners hold
    /// (empty when the tables agree).
    public func tableDisagreements(limit: Int = 5) -> [String] {
        let live = runningNodes
        guard let first = live.first else { return [] }
        let expectedRows = live.reduce(0) { $0 + app($1)!.localRowCount }
        var out: [String] = []
        let reference = app(first)!.digest
        for v in live {
            let d = app(v)!.digest
            if d != reference || d.rows != expectedRows {
                out.append("node \(v): digest \(d), node \(first): \(reference), running owners hold \(expectedRows) rows")
                if out.count >= limit { return out }
            }
        }
        guard out.isEmpty else { return out }
        // Equal digests: confirm row by row (a digest collision must not pass as agreement).
        let own = Dictionary(uniqueKeysWithValues: live.map { ($0, app($0)!.rows(of: $0)) })
        for v in live {
            let table = app(v)!
            for o in live where o != v {
                let held = table.rows(of: o)
                // The version too (equal rows at an older version would be a node still behind), except for an
                // owner with no rows that this node has not heard from since it came back: nothing to route there.
                let version = table.version(of: o)
                let versionOK = version == app(o)!.localVersion || (version == nil && held.isEmpty)
                if held != own[o]! || !versionOK {
                    out.append(
                        "node \(v) holds \(held.count) rows of \(o) at \(table.version(of: o).map(\.description) ?? "-")"
                            + ", \(o) has \(own[o]!.count) at \(app(o)!.localVersion)")
                    if out.count >= limit { return out }
                }
            }
        }
        return out
    }

    /// (observer, node) pairs where a running observer holds `node` dead or left in its membership and still holds
    /// rows of it in its table (so `matches` could route to it). Empty is the invariant.
    public var rowsOfDeadMembers: [(observer: GossipNodeID, node: GossipNodeID)] {
        var out: [(GossipNodeID, GossipNodeID)] = []
        for v in runningNodes {
            let m = membership(v)!
            for member in m.members where member.state == .dead || member.state == .left {
                if !m.app.rows(of: member.id).isEmpty { out.append((v, member.id)) }
            }
        }
        return out
    }
}
