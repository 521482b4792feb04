@testable import Gossip
import IoTTypes
import TopicTrie

let routesTenantA = TenantID("111111111111")
let routesTenantB = TenantID("222222222222")

extension SubscriptionTable {
    /// The bytes of the broadcasts produced since the last call.
    mutating func takeDeltaBytes() -> [[UInt8]] { self.takeNewBroadcasts().map(\.bytes) }

    /// Delivers every delta in `bytes`, in order.
    mutating func receiveAll(_ bytes: [[UInt8]], from origin: GossipNodeID = 0) {
        for delta in bytes { self.receiveBroadcast(delta, from: origin) }
    }

    /// `matches` as sorted strings, for comparisons.
    func matchStrings(tenant: TenantID, topic: String) -> [String] {
        self.matches(tenant: tenant, topic: topic).map(\.description).sorted()
    }
}

/// Reference matcher: every row of every listed owner, tested with `Topic.matches`.
func routesBruteForceMatches(
    owners: [(node: GossipNodeID, rows: [RouteRow])], tenant: TenantID, topic: String
) -> [String] {
    var found: [String] = []
    for (node, rows) in owners {
        for row in rows where row.tenant == tenant {
            guard let parsed = try? Topic.parseFilter(row.filter, limits: .unlimited) else { continue }
            if Topic.matches(filter: parsed.filter, topic: topic) {
                found.append(RouteMatch(node: node, filter: parsed.filter, shareGroup: parsed.shareGroup).description)
            }
        }
    }
    return found.sorted()
}

/// SplitMix64: a small seeded generator, so randomized tests replay from their seed.
struct RoutesRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
