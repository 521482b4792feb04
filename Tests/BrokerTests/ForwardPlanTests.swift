import Broker
import BrokerTestKit
import IoTTypes
import MQTTCodec
import NIOCore
import Testing
import TopicTrie

/// Cross-node routing decisions (issue 7), pure: row edges, the plan, and exactly-once delivery for `$share` groups
/// over several simulated nodes with seeded picks.
@Suite struct ForwardPlanTests {
    let t0 = Timestamp.seconds(1000)
    let tenant = TenantID.default

    func msg(_ topic: String, qos: QoS = .atLeastOnce) -> BrokerMessage {
        BrokerMessage(tenant: tenant, topic: topic, payload: ByteBuffer(string: "x"), qos: qos, retain: false,
                      publisherClientID: "pub")
    }

    func filter(_ s: String) -> TopicFilter { try! Topic.parseFilter(s) }

    @Test("row edges: first subscription adds, resubscribe does not, last removal removes; parked keeps, expiry drops")
    func rowEdges() {
        var s = BrokerState<Int>(tracksRows: true)
        _ = s.openSession(tenant: tenant, clientID: "a", handle: 1, cleanStart: false, now: t0)
        _ = s.openSession(tenant: tenant, clientID: "b", handle: 2, cleanStart: true, now: t0)
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("x/+"), options: SubscriptionOptions(qos: .atLeastOnce))
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("x/+"), options: SubscriptionOptions(qos: .exactlyOnce))
        s.subscribe(tenant: tenant, clientID: "b", filter: filter("x/+"), options: SubscriptionOptions())
        s.subscribe(tenant: tenant, clientID: "b", filter: filter("$share/g/x/+"), options: SubscriptionOptions())
        #expect(s.takeRowChanges() == [.added(tenant: tenant, filter: "x/+"), .added(tenant: tenant, filter: "$share/g/x/+")])
        #expect(s.rows(tenant: tenant) == ["x/+": 2, "$share/g/x/+": 1])
        s.unsubscribe(tenant: tenant, clientID: "b", filter: filter("x/+"))
        s.unsubscribe(tenant: tenant, clientID: "b", filter: filter("x/+"))  // twice: no second edge
        #expect(s.takeRowChanges().isEmpty)
        // b's clean session ends: its shared row goes.
        var bState = SessionState(tenant: tenant, clientID: "b", protocolVersion: .v5)
        bState.subscriptions["$share/g/x/+"] = SessionState.Subscription(
            filter: filter("$share/g/x/+"), options: SubscriptionOptions())
        _ = s.sessionClosed(tenant: tenant, clientID: "b", handle: 2, state: bState, expiry: 0, will: nil,
                            willDelay: 0, now: t0)
        #expect(s.takeRowChanges() == [.removed(tenant: tenant, filter: "$share/g/x/+")])
        // a parks: keeps its row; expires: drops it.
        var aState = SessionState(tenant: tenant, clientID: "a", protocolVersion: .v5)
        aState.subscriptions["x/+"] = SessionState.Subscription(filter: filter("x/+"), options: SubscriptionOptions())
        _ = s.sessionClosed(tenant: tenant, clientID: "a", handle: 1, state: aState, expiry: 10, will: nil,
                            willDelay: 0, now: t0)
        #expect(s.takeRowChanges().isEmpty)
        _ = s.sweep(now: t0.adding(seconds: 11))
        #expect(s.takeRowChanges() == [.removed(tenant: tenant, filter: "x/+")])
        #expect(s.rows(tenant: tenant).isEmpty)
    }

    @Test("without tracking, no row changes are collected")
    func noTracking() {
        var s = BrokerState<Int>()
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("x"), options: SubscriptionOptions())
        #expect(s.takeRowChanges().isEmpty)
    }

    @Test("plan: each non-shared node once, each group to exactly one node among its holders")
    func plan() {
        let g = SharedGroupKey(group: "g", filter: "x/+")
        let remote = [
            RemoteRoute(node: 2, filter: "x/+", shareGroup: nil), RemoteRoute(node: 2, filter: "x/#", shareGroup: nil),
            RemoteRoute(node: 3, filter: "x/+", shareGroup: "g"), RemoteRoute(node: 4, filter: "x/+", shareGroup: "g"),
        ]
        // Candidates for g: this node (nil), 3, 4 → pick 0 = here, 1 = node 3, 2 = node 4.
        let here = ForwardPlan.make(localGroups: [g], remote: remote) { _ in 0 }
        #expect(here == ForwardPlan(localGroups: [g], remote: [2: []]))
        let three = ForwardPlan.make(localGroups: [g], remote: remote) { _ in 1 }
        #expect(three == ForwardPlan(localGroups: [], remote: [2: [], 3: [g]]))
        let four = ForwardPlan.make(localGroups: [], remote: remote) { _ in 1 }
        #expect(four == ForwardPlan(localGroups: [], remote: [2: [], 4: [g]]))
    }

    @Test("route(serving:) delivers non-shared matches and only the groups named")
    func serving() {
        var s = BrokerState<Int>()
        _ = s.openSession(tenant: tenant, clientID: "a", handle: 1, cleanStart: true, now: t0)
        _ = s.openSession(tenant: tenant, clientID: "b", handle: 2, cleanStart: true, now: t0)
        s.subscribe(tenant: tenant, clientID: "a", filter: filter("x/1"), options: SubscriptionOptions(qos: .atLeastOnce))
        s.subscribe(tenant: tenant, clientID: "b", filter: filter("$share/g/x/+"), options: SubscriptionOptions(qos: .atLeastOnce))
        #expect(s.route(msg("x/1"), now: t0, serving: .only([]), pick: { _ in 0 }).map(\.handle) == [1])
        let d = s.route(msg("x/1"), now: t0, serving: .only([SharedGroupKey(group: "g", filter: "x/+")]), pick: { _ in 0 })
        #expect(d.map(\.handle).sorted() == [1, 2])
        #expect(s.matchingSharedGroups(tenant: tenant, topic: "x/1") == [SharedGroupKey(group: "g", filter: "x/+")])
    }

    @Test("simulated cluster: every non-shared subscriber once per message, every group exactly once, seeded")
    func exactlyOnceAcrossNodes() {
        let seed: UInt64 = 0x5EED_0007
        var rng = SplitMix64(seed: seed)
        let nodeIDs: [UInt64] = [1, 2, 3, 4, 5]
        var nodes: [UInt64: BrokerState<Int>] = [:]
        var rows: [UInt64: [String: Int]] = [:]  // the "gossiped" table: node → row → count
        var handle = 0
        var owner: [Int: (UInt64, String)] = [:]  // handle → (node, client)
        for id in nodeIDs {
            var s = BrokerState<Int>(tracksRows: true)
            for c in 0..<4 {
                handle += 1
                let client = "n\(id)c\(c)"
                _ = s.openSession(tenant: tenant, clientID: client, handle: handle, cleanStart: true, now: t0)
                owner[handle] = (id, client)
                // A mix: plain subscribers on some nodes, two groups spread over the others.
                let f: String
                switch (Int(id) + c) % 4 {
                case 0: f = "s/+"
                case 1: f = "$share/g1/s/+"
                case 2: f = "$share/g2/s/#"
                default: f = "$share/g1/s/+"
                }
                s.subscribe(tenant: tenant, clientID: client, filter: filter(f), options: SubscriptionOptions(qos: .atLeastOnce))
            }
            for change in s.takeRowChanges() {
                if case .added(_, let f) = change { rows[id, default: [:]][f, default: 0] += 1 }
            }
            nodes[id] = s
        }
        let plainSubscribers = owner.values.filter { o in (Int(o.0) + Int(o.1.split(separator: "c").last!)!) % 4 == 0 }.count
        #expect(plainSubscribers > 0)
        for i in 0..<500 {
            let origin = nodeIDs[Int(rng.next() % UInt64(nodeIDs.count))]
            let m = msg("s/\(i % 7)")
            var remote: [RemoteRoute] = []
            for (id, table) in rows where id != origin {
                for f in table.keys {
                    let tf = filter(f)
                    if Topic.matches(filter: tf.filter, topic: m.topic) {
                        remote.append(RemoteRoute(node: id, filter: tf.filter, shareGroup: tf.shareGroup))
                    }
                }
            }
            var pick = { (n: Int) -> Int in Int(rng.next() % UInt64(n)) }
            let plan = ForwardPlan.make(
                localGroups: nodes[origin]!.matchingSharedGroups(tenant: tenant, topic: m.topic), remote: remote,
                pick: pick)
            var delivered = nodes[origin]!.route(m, now: t0, serving: .only(plan.localGroups), pick: pick).map(\.handle)
            for (id, groups) in plan.remote {
                delivered += nodes[id]!.route(m, now: t0, serving: .only(Set(groups)), pick: pick).map(\.handle)
            }
            pick = { _ in 0 }
            // No handle twice; one per group; every plain subscriber.
            #expect(Set(delivered).count == delivered.count, "seed \(seed), message \(i)")
            var perGroup: [String: Int] = [:]
            var plain = 0
            for h in delivered {
                let (node, client) = owner[h]!
                let c = Int(client.split(separator: "c").last!)!
                switch (Int(node) + c) % 4 {
                case 0: plain += 1
                case 2: perGroup["g2", default: 0] += 1
                default: perGroup["g1", default: 0] += 1
                }
            }
            #expect(perGroup == ["g1": 1, "g2": 1], "seed \(seed), message \(i): \(perGroup)")
            #expect(plain == plainSubscribers, "seed \(seed), message \(i)")
        }
    }
}
