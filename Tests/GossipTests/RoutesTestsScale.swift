@testable import Gossip
import IoTTypes
import Testing

@Suite("SubscriptionTable: push/pull size")
struct RoutesScaleTests {
    /// Rows per owner: 1,000 gives the figures quoted in ops/design-notes.md (3,019,934 and 2,530 bytes; the
    /// test then takes about 12 s in a debug build, so it runs with fewer).
    static let rowsPerOwner = 100

    @Test("push/pull sizes at 100 owners follow the documented formula")
    func sizes() throws {
        // 100 owners with `rowsPerOwner` rows each over 10 tenants, filters like "fleet/0042/device-0317/cmd/+"
        // (28 bytes).
        let rowsPerOwner = Self.rowsPerOwner
        var observer = SubscriptionTable(node: 1_000, epoch: 1)
        for owner in 0..<100 as Range<GossipNodeID> {
            var table = SubscriptionTable(node: owner, epoch: 1_700_000_000_000)
            for row in 0..<rowsPerOwner {
                let tenant = TenantID("\(100_000_000_000 + row % 10)")
                let fleet = String(repeating: "0", count: 4 - String(owner).count) + String(owner)
                let device = String(repeating: "0", count: 4 - String(row).count) + String(row)
                table.addLocal(tenant: tenant, filter: "fleet/\(fleet)/device-\(device)/cmd/+")
            }
            observer.mergePushPullState(table.pushPullState(), from: owner)
        }
        #expect(observer.remoteRowCount == 100 * rowsPerOwner)
        let full = observer.pushPullState()
        let digest = observer.pushPullDigest()
        // Per row: 2-byte length + 28 bytes; per owner: 25 bytes of header + 4 + 10 groups × (1 + 12 + 4).
        #expect(full.count == 5 + 101 * 25 + 100 * (4 + 10 * 17 + rowsPerOwner * 30) + 4)
        #expect(digest.count == 5 + 101 * 25)
        print("routes scale (\(rowsPerOwner) rows per owner): full push/pull state \(full.count) bytes, digest \(digest.count) bytes")
        // The matching index answers one topic with exactly its row.
        let hits = observer.matches(tenant: TenantID("100000000007"), topic: "fleet/0042/device-0057/cmd/reboot")
        #expect(hits == [RouteMatch(node: 42, filter: "fleet/0042/device-0057/cmd/+", shareGroup: nil)])
    }
}
