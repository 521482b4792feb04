@testable import Gossip
import IoTTypes
import Testing

@Suite("SubscriptionTable: local rows, deltas, anti-entropy, death")
struct RoutesTests {
    @Test("two local sessions on one filter make one row; only the first add and the last remove broadcast")
    func refcounts() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        let changed1 = a.addLocal(tenant: routesTenantA, filter: "a/+")
        #expect(changed1)
        let changed2 = a.addLocal(tenant: routesTenantA, filter: "a/+")
        #expect(!changed2)
        #expect(a.localRefcount(tenant: routesTenantA, filter: "a/+") == 2)
        #expect(a.localRowCount == 1)
        #expect(a.takeNewBroadcasts().count == 1)
        #expect(a.localVersion == RouteVersion(epoch: 10, seq: 1))
        let changed3 = a.removeLocal(tenant: routesTenantA, filter: "a/+")
        #expect(!changed3)
        #expect(a.takeNewBroadcasts().isEmpty)
        let changed4 = a.removeLocal(tenant: routesTenantA, filter: "a/+")
        #expect(changed4)
        #expect(a.localRefcount(tenant: routesTenantA, filter: "a/+") == 0)
        #expect(a.takeNewBroadcasts().count == 1)
        #expect(a.localVersion == RouteVersion(epoch: 10, seq: 2))
        #expect(a.rows(of: 1).isEmpty)
        // Removing a row not held, and adding an invalid filter or tenant, are refused and counted.
        let changed5 = a.removeLocal(tenant: routesTenantA, filter: "a/+")
        #expect(!changed5)
        let changed6 = a.addLocal(tenant: routesTenantA, filter: "a/#/b")
        #expect(!changed6)
        let changed7 = a.addLocal(tenant: routesTenantA, filter: "$share/g/")
        #expect(!changed7)
        let changed8 = a.addLocal(tenant: TenantID(""), filter: "a")
        #expect(!changed8)
        #expect(a.counters.localRejected == 4)
        #expect(a.takeNewBroadcasts().isEmpty)
        #expect(a.localVersion == RouteVersion(epoch: 10, seq: 2))
    }

    @Test("deltas in order reproduce the owner's rows, version and matches")
    func inOrder() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "a/+")
        a.addLocal(tenant: routesTenantA, filter: "x/#")
        a.addLocal(tenant: routesTenantA, filter: "gone")
        a.removeLocal(tenant: routesTenantA, filter: "gone")
        b.receiveAll(a.takeDeltaBytes())
        #expect(b.rows(of: 1) == a.rows(of: 1))
        #expect(b.version(of: 1) == RouteVersion(epoch: 10, seq: 4))
        #expect(b.counters.deltasApplied == 4)
        #expect(b.matchStrings(tenant: routesTenantA, topic: "a/b") == ["1:a/+"])
        #expect(b.matchStrings(tenant: routesTenantA, topic: "x") == ["1:x/#"])
        #expect(b.matchStrings(tenant: routesTenantA, topic: "gone").isEmpty)
        #expect(b.ownersBehind.isEmpty)
        #expect(b.remoteRowCount == 2)
        #expect(b.remoteOwnerCount == 1)
    }

    @Test("out-of-order deltas wait in the reorder buffer and apply once the gap closes")
    func outOfOrder() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        for i in 0..<5 { a.addLocal(tenant: routesTenantA, filter: "t/\(i)") }
        a.removeLocal(tenant: routesTenantA, filter: "t/2")
        let deltas = a.takeDeltaBytes()
        b.receiveAll(Array(deltas.reversed().dropLast()))
        #expect(b.rows(of: 1).isEmpty)
        #expect(b.bufferedDeltaCount == 5)
        #expect(b.ownersBehind == [1])
        b.receiveBroadcast(deltas[0], from: 1)
        #expect(b.rows(of: 1) == a.rows(of: 1))
        #expect(b.version(of: 1) == a.localVersion)
        #expect(b.bufferedDeltaCount == 0)
        #expect(b.ownersBehind.isEmpty)
        #expect(b.digest == a.digest)
    }

    @Test("duplicated and late deltas change nothing")
    func duplicates() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "a")
        a.removeLocal(tenant: routesTenantA, filter: "a")
        a.addLocal(tenant: routesTenantA, filter: "b")
        let deltas = a.takeDeltaBytes()
        b.receiveAll(deltas)
        b.receiveAll(deltas)
        b.receiveBroadcast(deltas[0], from: 3)  // the add of "a" again, late: must not resurrect it
        #expect(b.rows(of: 1) == [RouteRow(tenant: routesTenantA, filter: "b")])
        #expect(b.counters.deltasApplied == 3)
        #expect(b.counters.deltasStale == 4)
        // A duplicate of a buffered delta is not buffered twice.
        var c = SubscriptionTable(node: 3, epoch: 30)
        c.receiveBroadcast(deltas[2], from: 1)
        c.receiveBroadcast(deltas[2], from: 1)
        #expect(c.bufferedDeltaCount == 1)
    }

    @Test("a lost delta leaves the owner behind; a push/pull from the owner or a third node closes the gap")
    func gapClosedByAntiEntropy() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        var c = SubscriptionTable(node: 3, epoch: 30)
        for i in 0..<4 { a.addLocal(tenant: routesTenantA, filter: "t/\(i)") }
        let deltas = a.takeDeltaBytes()
        c.receiveAll(deltas)
        b.receiveAll([deltas[0], deltas[2], deltas[3]])  // deltas[1] lost
        #expect(b.rows(of: 1) == [RouteRow(tenant: routesTenantA, filter: "t/0")])
        #expect(b.ownersBehind == [1])
        var b2 = b
        // From the third node, which holds a's rows.
        b.mergePushPullState(c.pushPullState(), from: 3)
        #expect(b.rows(of: 1) == a.rows(of: 1))
        #expect(b.version(of: 1) == a.localVersion)
        #expect(b.ownersBehind.isEmpty)
        #expect(b.bufferedDeltaCount == 0)
        // From the owner itself.
        b2.mergePushPullState(a.pushPullState(), from: 1)
        #expect(b2.rows(of: 1) == a.rows(of: 1))
        #expect(b2.ownersBehind.isEmpty)
        // Everyone's push/pull state carries everyone's rows: after b ↔ c and b ↔ a, all three agree.
        a.mergePushPullState(b.pushPullState(), from: 2)
        c.mergePushPullState(b.pushPullState(), from: 2)
        #expect(a.digest == b.digest && b.digest == c.digest)
    }

    @Test("a push/pull block older than the rows held is ignored")
    func stalePushIgnored() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "old")
        let oldState = a.pushPullState()
        a.removeLocal(tenant: routesTenantA, filter: "old")
        a.addLocal(tenant: routesTenantA, filter: "new")
        b.mergePushPullState(a.pushPullState(), from: 1)
        b.mergePushPullState(oldState, from: 3)
        #expect(b.rows(of: 1) == [RouteRow(tenant: routesTenantA, filter: "new")])
        #expect(b.counters.blocksStale >= 1)
    }

    @Test("a dead owner's rows go at once and late deltas or pushes do not bring them back until it is alive")
    func deadOwner() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        var c = SubscriptionTable(node: 3, epoch: 30)
        a.addLocal(tenant: routesTenantA, filter: "a/#")
        a.addLocal(tenant: routesTenantA, filter: "$share/g/a/+")
        let early = a.takeDeltaBytes()
        a.addLocal(tenant: routesTenantA, filter: "late")
        let late = a.takeDeltaBytes()
        b.receiveAll(early)
        c.receiveAll(early + late)
        #expect(b.matches(tenant: routesTenantA, topic: "a/b").count == 2)

        b.memberChanged(1, alive: false)
        #expect(b.isDead(1))
        #expect(b.rows(of: 1).isEmpty)
        #expect(b.version(of: 1) == nil)
        #expect(b.matches(tenant: routesTenantA, topic: "a/b").isEmpty)
        #expect(b.remoteRowCount == 0)
        #expect(b.digest == RouteTableDigest())

        // Late deltas (older and newer than what b held), a third node's push, the owner's own push: all ignored.
        b.receiveAll(early + late)
        b.mergePushPullState(c.pushPullState(), from: 3)
        b.mergePushPullState(a.pushPullState(), from: 1)
        #expect(b.rows(of: 1).isEmpty)
        #expect(b.matches(tenant: routesTenantA, topic: "a/b").isEmpty)
        #expect(b.counters.ignoredDead == 5)
        // b's own push/pull state no longer mentions the dead owner, so it cannot spread its rows either.
        var d = SubscriptionTable(node: 4, epoch: 40)
        d.mergePushPullState(b.pushPullState(), from: 2)
        #expect(d.version(of: 1) == nil)

        // Alive again (a refuted the suspicion): rows come back through the ordinary paths.
        b.memberChanged(1, alive: true)
        #expect(!b.isDead(1))
        #expect(b.ownersBehind == [1])
        b.mergePushPullState(c.pushPullState(), from: 3)
        #expect(b.rows(of: 1) == a.rows(of: 1))
        #expect(b.matches(tenant: routesTenantA, topic: "a/b").count == 2)
        #expect(b.ownersBehind.isEmpty)
    }

    @Test("after a death, the owner's rows never come back at a version older than the one held when it died")
    func noResurrectionBelowTheFloor() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "one")
        let older = a.pushPullState()
        let olderDelta = a.takeDeltaBytes()
        a.removeLocal(tenant: routesTenantA, filter: "one")
        a.addLocal(tenant: routesTenantA, filter: "two")
        b.receiveAll(olderDelta + a.takeDeltaBytes())
        b.memberChanged(1, alive: false)
        b.memberChanged(1, alive: true)
        b.mergePushPullState(older, from: 3)
        b.receiveAll(olderDelta)
        #expect(b.rows(of: 1).isEmpty)
        #expect(b.ownersBehind == [1])
        b.mergePushPullState(a.pushPullState(), from: 1)
        #expect(b.rows(of: 1) == [RouteRow(tenant: routesTenantA, filter: "two")])
    }

    @Test("memberChanged for a node never heard of, and repeated, behaves")
    func unknownAndRepeatedMembership() {
        var b = SubscriptionTable(node: 2, epoch: 20)
        b.memberChanged(9, alive: true)
        #expect(!b.isDead(9))
        b.memberChanged(9, alive: false)
        b.memberChanged(9, alive: false)
        #expect(b.isDead(9))
        #expect(b.deadOwnerCount == 1)
        b.memberChanged(9, alive: true)
        b.memberChanged(9, alive: true)
        #expect(!b.isDead(9))
        #expect(b.ownersBehind.isEmpty)
        var nine = SubscriptionTable(node: 9, epoch: 1)
        nine.addLocal(tenant: routesTenantA, filter: "x")
        b.receiveAll(nine.takeDeltaBytes())
        #expect(b.rows(of: 9).count == 1)
    }

    @Test("a restarted owner (higher epoch) replaces its rows, by delta or by push/pull, even with a gap")
    func restartedOwner() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        var c = SubscriptionTable(node: 3, epoch: 30)
        a.addLocal(tenant: routesTenantA, filter: "before/1")
        a.addLocal(tenant: routesTenantA, filter: "before/2")
        let before = a.takeDeltaBytes()
        b.receiveAll(before)
        c.receiveAll(before)

        var restarted = SubscriptionTable(node: 1, epoch: 11)
        restarted.addLocal(tenant: routesTenantA, filter: "after/1")
        restarted.addLocal(tenant: routesTenantA, filter: "after/2")
        let after = restarted.takeDeltaBytes()
        // In order: the first delta of the new epoch drops the old rows.
        b.receiveBroadcast(after[0], from: 1)
        #expect(b.rows(of: 1) == [RouteRow(tenant: routesTenantA, filter: "after/1")])
        b.receiveBroadcast(after[1], from: 1)
        #expect(b.rows(of: 1) == restarted.rows(of: 1))
        #expect(b.version(of: 1) == RouteVersion(epoch: 11, seq: 2))
        // Late deltas of the old epoch change nothing.
        b.receiveAll(before)
        #expect(b.rows(of: 1) == restarted.rows(of: 1))

        // With a gap: the old rows still go at once; the owner is behind until push/pull.
        c.receiveBroadcast(after[1], from: 1)
        #expect(c.rows(of: 1).isEmpty)
        #expect(c.version(of: 1) == RouteVersion(epoch: 11, seq: 0))
        #expect(c.ownersBehind == [1])
        c.mergePushPullState(restarted.pushPullState(), from: 1)
        #expect(c.rows(of: 1) == restarted.rows(of: 1))
        #expect(c.ownersBehind.isEmpty)

        // By push/pull alone: a newer epoch with no rows at all replaces the old rows with none.
        var d = SubscriptionTable(node: 4, epoch: 40)
        d.receiveAll(before)
        d.mergePushPullState(SubscriptionTable(node: 1, epoch: 12).pushPullState(), from: 1)
        #expect(d.rows(of: 1).isEmpty)
        #expect(d.version(of: 1) == RouteVersion(epoch: 12, seq: 0))
    }

    @Test("this node's rows are never dropped, never matched, never overwritten by what others say about it")
    func ownRows() {
        var b = SubscriptionTable(node: 2, epoch: 20)
        b.addLocal(tenant: routesTenantA, filter: "a/#")
        b.memberChanged(2, alive: false)
        #expect(b.rows(of: 2) == [RouteRow(tenant: routesTenantA, filter: "a/#")])
        #expect(b.matches(tenant: routesTenantA, topic: "a/b").isEmpty)
        // An impostor claiming b's id, at a higher epoch, by delta and by push/pull.
        var impostor = SubscriptionTable(node: 2, epoch: 99)
        impostor.addLocal(tenant: routesTenantA, filter: "evil")
        b.receiveAll(impostor.takeDeltaBytes())
        b.mergePushPullState(impostor.pushPullState(), from: 2)
        #expect(b.rows(of: 2) == [RouteRow(tenant: routesTenantA, filter: "a/#")])
        #expect(b.localVersion == RouteVersion(epoch: 20, seq: 1))
        #expect(b.counters.ignoredSelf == 2)
    }

    @Test("shared rows keep $share in the table and match split into filter and group")
    func sharedRows() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "$share/g/a/+")
        a.addLocal(tenant: routesTenantA, filter: "$share/h/a/+")
        a.addLocal(tenant: routesTenantA, filter: "a/+")
        a.addLocal(tenant: routesTenantA, filter: "$share/g/#")
        b.receiveAll(a.takeDeltaBytes())
        #expect(b.rows(of: 1).map(\.filter) == ["$share/g/#", "$share/g/a/+", "$share/h/a/+", "a/+"])
        let found = b.matches(tenant: routesTenantA, topic: "a/b")
        #expect(Set(found) == [
            RouteMatch(node: 1, filter: "a/+", shareGroup: "g"),
            RouteMatch(node: 1, filter: "a/+", shareGroup: "h"),
            RouteMatch(node: 1, filter: "a/+", shareGroup: nil),
            RouteMatch(node: 1, filter: "#", shareGroup: "g"),
        ])
        #expect(found.count == 4)
        // Removing one shared row leaves the other rows with the same filter in the index.
        a.removeLocal(tenant: routesTenantA, filter: "$share/g/a/+")
        b.receiveAll(a.takeDeltaBytes())
        #expect(b.matchStrings(tenant: routesTenantA, topic: "a/b") == ["1:$share/g/#", "1:$share/h/a/+", "1:a/+"])
        // The $-rule holds through the index: `#` in a share group does not match `$aws/…`.
        #expect(b.matchStrings(tenant: routesTenantA, topic: "$aws/x").isEmpty)
    }

    @Test("a tenant never matches another tenant's rows")
    func tenantIsolation() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        a.addLocal(tenant: routesTenantA, filter: "#")
        a.addLocal(tenant: routesTenantB, filter: "only/b")
        b.receiveAll(a.takeDeltaBytes())
        #expect(b.matchStrings(tenant: routesTenantA, topic: "only/b") == ["1:#"])
        #expect(b.matchStrings(tenant: routesTenantB, topic: "only/b") == ["1:only/b"])
        #expect(b.matchStrings(tenant: routesTenantB, topic: "x").isEmpty)
        #expect(b.matchStrings(tenant: TenantID("333333333333"), topic: "x").isEmpty)
    }

    @Test("matches lists every live remote node with a matching row, one entry per row")
    func matchesSeveralNodes() {
        var b = SubscriptionTable(node: 2, epoch: 20)
        for id in [1, 3, 4] as [GossipNodeID] {
            var owner = SubscriptionTable(node: id, epoch: 10)
            owner.addLocal(tenant: routesTenantA, filter: "s/+/t")
            owner.addLocal(tenant: routesTenantA, filter: "s/#")
            b.receiveAll(owner.takeDeltaBytes())
        }
        b.addLocal(tenant: routesTenantA, filter: "s/#")
        #expect(b.matches(tenant: routesTenantA, topic: "s/x/t").count == 6)
        b.memberChanged(3, alive: false)
        #expect(b.matchStrings(tenant: routesTenantA, topic: "s/x/t") == ["1:s/#", "1:s/+/t", "4:s/#", "4:s/+/t"])
    }

    @Test("a full reorder buffer drops further deltas (counted) and anti-entropy still converges")
    func reorderBufferBound() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20, maxBufferedDeltasPerOwner: 2)
        for i in 0..<6 { a.addLocal(tenant: routesTenantA, filter: "t/\(i)") }
        let deltas = a.takeDeltaBytes()
        b.receiveAll(Array(deltas.dropFirst()))
        #expect(b.bufferedDeltaCount == 2)
        #expect(b.counters.deltasOverflowed == 3)
        b.receiveBroadcast(deltas[0], from: 1)
        #expect(b.version(of: 1) == RouteVersion(epoch: 10, seq: 3))
        #expect(b.ownersBehind == [1])
        b.mergePushPullState(a.pushPullState(), from: 1)
        #expect(b.rows(of: 1) == a.rows(of: 1))
        #expect(b.ownersBehind.isEmpty)
    }

    @Test("digest-first anti-entropy: the answer carries rows only where the asker is behind, and converges")
    func answeringExchange() throws {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var b = SubscriptionTable(node: 2, epoch: 20)
        var c = SubscriptionTable(node: 3, epoch: 30)
        a.addLocal(tenant: routesTenantA, filter: "a")
        c.addLocal(tenant: routesTenantA, filter: "c")
        b.addLocal(tenant: routesTenantA, filter: "b")
        let aDeltas = a.takeDeltaBytes()
        b.receiveAll(aDeltas)
        c.receiveAll(aDeltas)
        // c asks b with its digest; b answers with b's rows only (c already has a's, b lacks c's).
        let digest = c.pushPullDigest()
        b.mergePushPullState(digest, from: 3)
        #expect(b.ownersBehind == [3])
        let answer = try b.pushPullState(answering: digest).get()
        let blocks = try RouteCodec.decodeState(answer)
        #expect(blocks.filter { $0.rows != nil }.map(\.owner) == [2])
        #expect(blocks.map(\.owner) == [1, 2])
        c.mergePushPullState(answer, from: 2)
        // c answers b's answer with what b lacks: c's own rows.
        let back = try c.pushPullState(answering: answer).get()
        #expect(try RouteCodec.decodeState(back).filter { $0.rows != nil }.map(\.owner) == [3])
        b.mergePushPullState(back, from: 3)
        #expect(b.digest == c.digest)
        #expect(b.ownersBehind.isEmpty && c.ownersBehind.isEmpty)
        #expect(throws: RouteCodecError.truncated) { try b.pushPullState(answering: [2, 0]).get() }
    }

    @Test("the digest depends on the rows only, not on the order they were learnt in")
    func digestOrderIndependent() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        var x = SubscriptionTable(node: 5, epoch: 50)
        var y = SubscriptionTable(node: 6, epoch: 60)
        for filter in ["p", "q/+", "r/#", "$share/g/s"] { a.addLocal(tenant: routesTenantA, filter: filter) }
        let deltas = a.takeDeltaBytes()
        x.receiveAll(deltas)
        y.receiveAll(deltas.reversed())
        y.receiveAll(deltas.reversed())
        #expect(x.digest == y.digest)
        #expect(x.digest.rows == 4)
        #expect(x.digest != SubscriptionTable(node: 5, epoch: 50).digest)
        // Same rows under another owner: another digest.
        var other = SubscriptionTable(node: 7, epoch: 70)
        for filter in ["p", "q/+", "r/#", "$share/g/s"] { other.addLocal(tenant: routesTenantA, filter: filter) }
        var z = SubscriptionTable(node: 5, epoch: 50)
        z.receiveAll(other.takeDeltaBytes())
        #expect(z.digest != x.digest)
    }

    @Test("rows compare by bytes: canonically equivalent filters are two rows")
    func bytewiseRows() {
        var a = SubscriptionTable(node: 1, epoch: 10)
        let changed9 = a.addLocal(tenant: routesTenantA, filter: "caf\u{E9}")
        #expect(changed9)
        let changed10 = a.addLocal(tenant: routesTenantA, filter: "cafe\u{301}")
        #expect(changed10)
        #expect(a.localRowCount == 2)
        var b = SubscriptionTable(node: 2, epoch: 20)
        b.receiveAll(a.takeDeltaBytes())
        #expect(b.matches(tenant: routesTenantA, topic: "caf\u{E9}").count == 1)
        b.mergePushPullState(a.pushPullState(), from: 1)
        #expect(b.digest == a.digest)
    }
}
